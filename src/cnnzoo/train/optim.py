"""Optimizers of the recipes, with weight decay optionally off for BatchNorm parameters and biases."""
import torch
from torch import nn

from .recipes import Recipe


def param_groups(model: nn.Module, recipe: Recipe) -> list[dict]:
    if recipe.decay_norm_and_bias:
        return [{"params": [p for p in model.parameters() if p.requires_grad], "weight_decay": recipe.weight_decay}]
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.dim() <= 1 else decay).append(p)  # norms' scales and shifts, and biases, are 1-D
    return [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(model: nn.Module, recipe: Recipe, lr: float) -> torch.optim.Optimizer:
    groups = param_groups(model, recipe)
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
