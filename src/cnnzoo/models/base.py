"""The face every cnnzoo model shows: forward_features / forward_head / num_features /
reset_classifier, an input check that fails early and clearly, and a shared weight init."""
import dataclasses
import inspect
from collections import OrderedDict
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ..errors import CnnzooError, InputShapeError
from ..registry import register_model
from .features import FeatureInfo, probe_feature_info, run_trunk, take_indices


class AuxOutputs(NamedTuple):
    """Training-mode output of nets with auxiliary classifiers (GoogLeNet, Inception-v3)."""

    logits: Tensor
    aux_logits: tuple[Tensor, ...]


def _is_tracing() -> bool:
    return (
        torch.jit.is_tracing()
        or torch.jit.is_scripting()
        or torch.compiler.is_compiling()
        or torch.onnx.is_in_onnx_export()
        or torch.fx._symbolic_trace.is_fx_symbolic_tracing()
    )


_MIN_INPUT: dict[tuple[str, bool], int] = {}  # (structure, training) -> smallest input side


class ImageClassifier(nn.Module):
    """Base class of every cnnzoo model.

    Subclasses build `self.features` (image -> feature map) and a head with `_build_head`
    (pool, pre-logits layers, the classifier `fc` on `num_features` inputs), or override
    `forward_features` / `forward_head`; `forward_head(x, pre_logits=True)` returns the
    `num_features`-d vector the classifier sees.
    """

    num_classes: int
    num_features: int
    in_chans: int = 3
    input_size: int = 224  # native resolution: inputs at least this large skip the size probe
    grad_checkpointing: bool = False

    def trunk(self) -> list[tuple[str, nn.Module]]:
        """The modules forward_features runs one after another, with their names in the model."""
        return [(f"features.{n}", m) for n, m in self.features.named_children()]

    def forward_features(self, x: Tensor) -> Tensor:
        return run_trunk(self, x, checkpoint=self._checkpointing())[0]

    # -- backbone use, as timm --------------------------------------------------------------------

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Activation checkpointing of every trunk module in training: its activations are dropped
        after the forward pass and recomputed in the backward pass (less memory, more compute)."""
        self.grad_checkpointing = enable

    def _checkpointing(self) -> bool:
        return self.grad_checkpointing and self.training and torch.is_grad_enabled()

    @property
    def feature_info(self) -> FeatureInfo:
        """Each stage's output: num_chs, reduction, module (see cnnzoo.models.features)."""
        if "_feature_info" not in self.__dict__:
            self.__dict__["_feature_info"] = probe_feature_info(self, self.input_size)
        return self.__dict__["_feature_info"]

    def forward_intermediates(self, x: Tensor, indices: int | list[int] | None = None, norm: bool = False, stop_early: bool = False,
                              output_fmt: str = "NCHW", intermediates_only: bool = False):  # fmt: skip
        """timm's: the feature maps of the stages `indices` (None: all; n: the last n), and the final
        features unless `intermediates_only` (which, like `stop_early`, stops after the last stage
        asked for). `norm` is accepted for timm's signature; these nets have no final norm."""
        if output_fmt != "NCHW":
            raise CnnzooError(f"output_fmt={output_fmt!r}: convolutional feature maps come as NCHW")
        if not _is_tracing():
            self.check_input(x)
        info = self.feature_info
        take = take_indices(len(info), indices)
        stop = max(info[i]["index"] for i in take) if (stop_early or intermediates_only) else None
        x, seen = run_trunk(self, x, stop, self._checkpointing(), [info[i]["module"] for i in take])
        features = [seen[info[i]["module"]] for i in take]
        return features if intermediates_only else (x, features)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.pre_logits(self.pool(x).flatten(1))
        return x if pre_logits else self.fc(x)

    def _build_head(self, num_features: int, num_classes: int, pre_logits: nn.Module | None = None, pool: int = 1) -> None:
        """The usual head: average pool to `pool` x `pool`, `pre_logits` (dropout, or the FC layers
        before the classifier) giving `num_features`, then the classifier `fc`."""
        self.pool = nn.AdaptiveAvgPool2d(pool)
        self.pre_logits = pre_logits if pre_logits is not None else nn.Identity()
        self.num_features = num_features
        self.reset_classifier(num_classes)

    def forward(self, x: Tensor) -> Tensor | AuxOutputs:
        if not (_is_tracing() or self.__dict__.get("_probing")):
            self.check_input(x)
        return self._forward_impl(x)

    def _forward_impl(self, x: Tensor) -> Tensor | AuxOutputs:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last layer with a fresh one for `num_classes` (0: no classifier, features out)."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    # -- input checks -------------------------------------------------------------------------

    def check_input(self, x: Tensor) -> None:
        """Raise InputShapeError for an input this model cannot run on, before any layer sees it."""
        if x.dim() != 4 or x.shape[1] != self.in_chans:
            raise InputShapeError(
                f"{type(self).__name__} expects a batch of {self.in_chans}-channel images shaped "
                f"N x {self.in_chans} x H x W; got a tensor of shape {tuple(x.shape)}"
            )
        side = min(x.shape[-2:])
        if side >= self.input_size:
            return
        need = self.min_input_size()
        if side < need:
            raise InputShapeError(
                f"input {x.shape[-2]}x{x.shape[-1]} is too small for {type(self).__name__}"
                f"{' in training mode' if self.training else ''}: it needs at least {need}x{need} "
                f"pixels (native {self.input_size}x{self.input_size}); resize or pad the images"
            )

    def min_input_size(self) -> int:
        """Smallest square input this model (in its current train/eval mode) can run on.

        Found by running the network on meta tensors (shapes only, no arithmetic), once per
        architecture: the answer is cached under the model's structure (every module's type and
        settings), so a second model of the same configuration does not probe again.
        """
        key = (self._structure(), self.training)
        if key not in _MIN_INPUT:
            _MIN_INPUT[key] = self._probe_min_input_size()
        return _MIN_INPUT[key]

    def _structure(self) -> str:
        """Every module's name, type and plain settings (channels, kernels, strides, flags, configs)."""
        plain = (bool, int, float, str, tuple, type(None))
        parts = []
        for name, m in self.named_modules():
            settings = sorted((k, repr(v)) for k, v in vars(m).items()
                              if k != "training" and not k.startswith("_") and (isinstance(v, plain) or dataclasses.is_dataclass(v)))  # fmt: skip
            parts.append(f"{name}:{type(m).__module__}.{type(m).__qualname__}:{settings}")
        return "\n".join(parts)

    def _runs_at(self, size: int, meta_state: dict[str, Tensor]) -> bool:
        x = torch.empty(2, self.in_chans, size, size, device="meta")
        try:
            functional_call(self, meta_state, (x,), kwargs=None, strict=False)
            return True
        except (RuntimeError, ValueError, IndexError):
            return False

    def _probe_min_input_size(self) -> int:
        meta_state = {k: torch.empty_like(v, device="meta") for k, v in self.state_dict(keep_vars=True).items()}
        # A cumulative-average BatchNorm (momentum None, as BatchNorm recalibration sets it) reads its batch count as a
        # number, which a meta tensor has not: it probes with a momentum instead (the shapes are the same).
        cumulative = [m for m in self.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.momentum is None]
        for m in cumulative:
            m.momentum = 0.1
        # The probe is invisible to the modules' forward hooks (a user's recorder would see meta tensors).
        hooks = {m: (m._forward_pre_hooks, m._forward_hooks) for m in self.modules() if m._forward_pre_hooks or m._forward_hooks}
        for m in hooks:
            m._forward_pre_hooks, m._forward_hooks = OrderedDict(), OrderedDict()
        # Skip our own check while probing, so the probe sees the layers' own limits.
        self.__dict__["_probing"] = True
        try:
            if self._runs_at(1, meta_state):
                return 1
            lo, hi = 1, self.input_size  # lo fails, hi runs
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self._runs_at(mid, meta_state):
                    hi = mid
                else:
                    lo = mid
            return hi
        finally:
            del self.__dict__["_probing"]
            for m in cumulative:
                m.momentum = None
            for m, (pre, post) in hooks.items():
                m._forward_pre_hooks, m._forward_hooks = pre, post


def build(cls: type[nn.Module], config, **options) -> nn.Module:
    """`cls(config, **rest)`, where options naming a field of a dataclass `config` replace that field."""
    if dataclasses.is_dataclass(config):
        fields = {f.name for f in dataclasses.fields(config)}
        overrides = {k: options.pop(k) for k in list(options) if k in fields}
        config = dataclasses.replace(config, **overrides)
    return cls(config, **options)


def register_variant(
    name: str, cls: type[nn.Module], config, doc: str, module: str, fixed=None, defaults=None, **info
):
    """Register `name(**options)`, a builder of `cls` on one fixed `config` (a column of a paper's table).

    Its options are the constructor's keywords and, for a dataclass config, the config's fields
    (defaulting to this variant's values). `fixed` are constructor options the name implies
    (batch_norm=True for vgg16_bn); `defaults` change a constructor option's default (se=16).
    """
    fixed = dict(fixed or {})
    defaults = {"num_classes": info.get("num_classes", 1000), **(defaults or {})}

    def builder(**options) -> nn.Module:
        return build(cls, config, **fixed, **(defaults | options))

    keyword = inspect.Parameter.KEYWORD_ONLY
    init = inspect.signature(cls.__init__).parameters
    options = [
        inspect.Parameter(n, keyword, default=defaults.get(n, p.default))
        for n, p in init.items()
        if n not in ("self", "config", *fixed)
    ]
    if dataclasses.is_dataclass(config):
        options += [inspect.Parameter(f.name, keyword, default=getattr(config, f.name)) for f in dataclasses.fields(config)]
    builder.__signature__ = inspect.Signature(options)
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc
    builder.__module__ = module
    return register_model(**info)(builder)


def on_meta(model: nn.Module) -> bool:
    """Built on the meta device (for counting): random init there would only cost time."""
    return any(p.is_meta for p in model.parameters())


def init_weights(model: nn.Module) -> None:
    """He (fan-out) init for convolutions, N(0, 0.01) for linear layers, identity BatchNorm."""
    if on_meta(model):
        return
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)

