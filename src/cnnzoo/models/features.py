"""Feature maps of every stage, as timm gives them: `model.feature_info`, `model.forward_intermediates`,
and `create_model(name, features_only=True, out_indices=...)`.

Every cnnzoo network computes its features as a trunk: a list of modules run one after another
(ResNet: the stem's layers, then the stages; the others: the children of `features`). A stage is a
run of trunk modules at one reduction (input size / map size: 2, 4, 8, ...), and its feature map is
the output of its last module, which is timm's choice for the same architectures (ResNet's `act1`,
`layer1`..`layer4`; MobileNet's stage ends; Inception-ResNet-v2's `conv2d_2b`, `conv2d_4a`, `repeat`,
...). A family whose stages end elsewhere names its taps (Xception: the ReLU that opens the next
module, as timm's `block2.rep.0`).
"""
import contextlib
import math
from collections.abc import Iterator, Sequence

import torch
import torch.utils.checkpoint
from torch import Tensor, nn
from torch.func import functional_call

from ..errors import CnnzooError


class FeatureInfo(list):
    """One dict per stage: num_chs, reduction, module (its name in the model), index (in the trunk).
    A list, as timm's `model.feature_info`, with the accessors of timm's `FeatureInfo`."""

    def _get(self, key: str, idx: int | Sequence[int] | None):
        if idx is None:
            return [f[key] for f in self]
        if isinstance(idx, int):
            return self[idx][key]
        return [self[i][key] for i in idx]

    def channels(self, idx=None):
        return self._get("num_chs", idx)

    def reduction(self, idx=None):
        return self._get("reduction", idx)

    def module_name(self, idx=None):
        return self._get("module", idx)

    def get_dicts(self, keys: Sequence[str] | None = None, idx=None) -> list[dict]:
        chosen = self if idx is None else ([self[idx]] if isinstance(idx, int) else [self[i] for i in idx])
        return [dict(f) if keys is None else {k: f[k] for k in keys} for f in chosen]


def take_indices(num_stages: int, indices: int | Sequence[int] | None) -> list[int]:
    """timm's meaning: None all stages; an int n the last n; a sequence those stages (negatives count
    from the end). Out of range is an error naming the stages there are."""
    if indices is None:
        return list(range(num_stages))
    if isinstance(indices, int):
        if not 0 < indices <= num_stages:
            raise CnnzooError(f"indices={indices}: this model has {num_stages} feature stages (take 1 to {num_stages})")
        return list(range(num_stages - indices, num_stages))
    taken = []
    for i in indices:
        if not -num_stages <= i < num_stages:
            raise CnnzooError(f"feature stage {i} does not exist: this model has stages 0 to {num_stages - 1}")
        taken.append(i % num_stages)
    return taken


class _Trunk(nn.Module):
    """Runs a model's trunk, so that functional_call can probe it on meta tensors."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        for _, module in self.model.trunk():
            x = module(x)
        return x


def probe_feature_info(model: nn.Module, size: int) -> FeatureInfo:
    """The stages of `model`'s trunk, from one pass of shapes only (meta tensors, no arithmetic) at
    size x size: each trunk module's output shape, grouped by reduction, the last of each group."""
    trunk = model.trunk()
    shapes: dict[str, torch.Size] = {}
    taps = getattr(model, "feature_taps", lambda: None)()
    watched = [(name, model.get_submodule(name)) for name in taps] if taps else trunk
    handles = [m.register_forward_hook(lambda _m, _i, out, name=name: shapes.__setitem__(name, out.shape)) for name, m in watched]
    wrapper = _Trunk(model)
    state = {f"model.{k}": torch.empty_like(v, device="meta") for k, v in model.state_dict(keep_vars=True).items()}
    try:
        model.__dict__["_probing"] = True
        functional_call(wrapper, state, (torch.empty(1, model.in_chans, size, size, device="meta"),), strict=False)
    finally:
        model.__dict__.pop("_probing", None)
        for h in handles:
            h.remove()
    names = [name for name, _ in trunk]
    stages: list[dict] = []
    for name, _ in watched:
        channels, height = shapes[name][1], shapes[name][-2]
        reduction = 2 ** round(math.log2(size / height))
        position = names.index(name) if name in names else next(i for i, n in enumerate(names) if name.startswith(n + "."))
        entry = dict(num_chs=int(channels), reduction=int(reduction), module=name, index=position)
        if not taps and stages and stages[-1]["reduction"] == reduction:
            stages[-1] = entry  # a later module at the same reduction ends the stage
        else:
            stages.append(entry)
    return FeatureInfo(stages)


@contextlib.contextmanager
def _statistics_kept(module: nn.Module) -> Iterator[None]:
    """The recomputation of a checkpointed module leaves its BatchNorm statistics as the forward pass
    left them (run again, it would update them a second time)."""
    buffers = [b for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) for b in m.buffers()]
    saved = [b.clone() for b in buffers]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, s in zip(buffers, saved):
                b.copy_(s)


def checkpointed(module: nn.Module, x: Tensor) -> Tensor:
    """module(x) under activation checkpointing: its inner activations are not kept for the backward
    pass but recomputed there (same gradients, same random numbers, same BatchNorm statistics)."""
    return torch.utils.checkpoint.checkpoint(module, x, use_reentrant=False,
                                             context_fn=lambda: (contextlib.nullcontext(), _statistics_kept(module)))  # fmt: skip


def run_trunk(model: nn.Module, x: Tensor, stop: int | None = None, checkpoint: bool = False,
              hooks: Sequence[str] = ()) -> tuple[Tensor, dict[str, Tensor]]:  # fmt: skip
    """x through the trunk (up to and including module `stop`); the outputs of the trunk modules or
    submodules named in `hooks` alongside. `checkpoint`: each trunk module under activation
    checkpointing (its activations recomputed in the backward pass)."""
    seen: dict[str, Tensor] = {}
    nested = [n for n in hooks if n not in dict(model.trunk())]
    handles = [model.get_submodule(n).register_forward_hook(lambda _m, _i, out, n=n: seen.__setitem__(n, out)) for n in nested]
    try:
        for i, (name, module) in enumerate(model.trunk()):
            x = checkpointed(module, x) if checkpoint else module(x)
            if name in hooks:
                seen[name] = x
            if stop is not None and i >= stop:
                break
    finally:
        for h in handles:
            h.remove()
    return x, seen


class FeatureListNet(nn.Module):
    """`create_model(name, features_only=True)`: the model without its head, returning the feature
    maps of the stages `out_indices` (a list, shallowest first), as timm's FeatureListNet."""

    def __init__(self, model: nn.Module, out_indices: Sequence[int] | int | None = None):
        super().__init__()
        self.out_indices = tuple(take_indices(len(model.feature_info), out_indices))
        self.feature_info = FeatureInfo(model.feature_info[i] for i in self.out_indices)
        model.reset_classifier(0)
        model.pre_logits = nn.Identity()  # VGG's and AlexNet's FC layers are the head, not features
        if hasattr(model, "aux_heads"):  # so are Inception's auxiliary classifiers
            model.aux_heads, model.aux_taps = nn.ModuleList(), ()
        self.model = model

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.model.forward_intermediates(x, self.out_indices, stop_early=True, intermediates_only=True)
