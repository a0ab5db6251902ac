"""Optimizers of the recipes, with weight decay optionally off for BatchNorm parameters and biases."""
import torch
from torch import nn

from ..recipes import Recipe


def head_parameters(model: nn.Module) -> set[int]:
    """ids of the classifier's parameters (and the auxiliary classifiers'): what fine-tuning replaces."""
    heads = [model.get_classifier(), *getattr(model, "aux_heads", ())] if hasattr(model, "get_classifier") else []
    return {id(p) for head in heads for p in head.parameters()}


def param_groups(model: nn.Module, recipe: Recipe, pretrained: bool = False) -> list[dict]:
    """Parameter groups with their weight decay and, for a pretrained backbone, their lr multiple
    (`lr_factor`, applied by the loop at every step)."""
    head = head_parameters(model) if pretrained else set()
    groups: dict[tuple[float, float], list] = {}
    for p in model.parameters():
        if not p.requires_grad:
            continue
        decay = recipe.weight_decay if recipe.decay_norm_and_bias or p.dim() > 1 else 0.0  # norms and biases are 1-D
        factor = recipe.backbone_lr if pretrained and id(p) not in head else 1.0
        groups.setdefault((decay, factor), []).append(p)
    return [{"params": ps, "weight_decay": decay, "lr_factor": factor} for (decay, factor), ps in groups.items()]


def freeze_backbone(model: nn.Module) -> None:
    """Everything but the classifiers stops learning."""
    head = head_parameters(model)
    for p in model.parameters():
        p.requires_grad_(id(p) in head)


def backbone_to_eval(model: nn.Module) -> None:
    """A frozen backbone's BatchNorm keeps its pretrained statistics, and its dropout is off."""
    heads = [model.get_classifier(), *getattr(model, "aux_heads", ())]
    keep = {id(m) for head in heads for m in head.modules()}
    for m in model.modules():
        if id(m) not in keep and m is not model:
            m.eval()


def build_optimizer(model: nn.Module, recipe: Recipe, lr: float, pretrained: bool = False) -> torch.optim.Optimizer:
    groups = param_groups(model, recipe, pretrained)
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=recipe.momentum, nesterov=recipe.nesterov and recipe.momentum > 0)
    if recipe.optimizer == "rmsprop":  # TF's RMSProp, as Inception-v3 and MobileNet: decay 0.9, epsilon 1.0
        return torch.optim.RMSprop(groups, lr=lr, alpha=0.9, eps=1.0, momentum=recipe.momentum)
    return torch.optim.AdamW(groups, lr=lr)


class EMA:
    """Exponential moving average of a model's parameters and buffers: ema = d ema + (1 - d) w."""

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(self.decay).add_(v.detach(), alpha=1 - self.decay)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self) -> dict:
        return self.shadow

    def load_state_dict(self, state: dict) -> None:
        self.shadow = {k: v.clone() for k, v in state.items()}
