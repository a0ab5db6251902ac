"""Counting rules: what each layer or operator costs, in multiply-accumulates, by category.

The reference convention (REFERENCE.md, torchvision's weight metadata) counts convolutions and
fully connected layers only. The other categories are options; each is one operation per
element it produces unless said otherwise, and is labelled as such in every report:

    conv    k_h * k_w * C_in / groups per output element (grouped and depthwise included)
    linear  in_features per output element
    bias    1 per output element of a conv or linear layer with a bias
    norm    1 per element (BatchNorm in inference is one fused multiply-add)
    lrn     n + 1 per element (the window's n squares summed, then the scale)
    act     1 per element (ReLU, ReLU6, sigmoid, hard-swish, ...)
    pool    k_h * k_w per output element; global/adaptive pools: 1 per input element
    add     1 per element (residual sums)
    scale   1 per element (SE's channel rescaling, Inception-ResNet's residual scaling)

A FLOP is two MACs. A layer or operator without a rule is reported as uncounted, never as zero.
"""
import math
from dataclasses import dataclass, fields

from torch import Tensor, nn

from ..layers import LocalResponseNorm as PaperLRN

CATEGORIES = ("conv", "linear", "bias", "norm", "lrn", "act", "pool", "add", "scale")


@dataclass(frozen=True)
class Conventions:
    """Which categories count as MACs beyond conv and linear (which always count)."""

    bias: bool = False
    norm: bool = False
    lrn: bool = False
    act: bool = False
    pool: bool = False
    add: bool = False
    scale: bool = False

    @classmethod
    def all(cls) -> "Conventions":
        return cls(**{f.name: True for f in fields(cls)})

    def counts(self, category: str) -> bool:
        return category in ("conv", "linear") or getattr(self, category, False)

    def label(self) -> str:
        extra = [f.name for f in fields(self) if getattr(self, f.name)]
        return "MACs: conv + linear" + "".join(f" + {c}" for c in extra)


DEFAULT = Conventions()

Costs = dict[str, int]


def _per_image(t: Tensor) -> int:
    return math.prod(t.shape[1:]) if t.dim() > 0 else 1


def _window(module) -> int:
    k = module.kernel_size
    return math.prod(k) if isinstance(k, tuple) else k * k


_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.Sigmoid, nn.GELU, nn.Tanh, nn.LeakyReLU, nn.ELU)
_NORMS = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)
_FREE_MODULES = (nn.Dropout, nn.Identity, nn.Flatten)


def module_costs(module: nn.Module, inp: Tensor | None, out: Tensor) -> Costs | None:
    """Costs of one image through a leaf module, or None when no rule knows the module."""
    n = _per_image(out)
    if isinstance(module, nn.modules.conv._ConvNd):
        costs = {"conv": n * (module.in_channels // module.groups) * math.prod(module.kernel_size)}
        return costs | ({"bias": n} if module.bias is not None else {})
    if isinstance(module, nn.Linear):
        costs = {"linear": n * module.in_features}
        return costs | ({"bias": n} if module.bias is not None else {})
    if isinstance(module, _NORMS):
        return {"norm": n}
    if isinstance(module, (PaperLRN, nn.LocalResponseNorm)):
        return {"lrn": n * (module.size + 1)}
    if isinstance(module, _ACTIVATIONS):
        return {"act": n}
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        return {"pool": n * _window(module)}
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return {"pool": _per_image(inp) if inp is not None else n}
    if isinstance(module, _FREE_MODULES):
        return {}
    return None


# Operators (aten) that rearrange or create memory without arithmetic.
_FREE_OPS = {"cat", "constant_pad_nd", "empty", "zeros", "ones", "clone", "copy_", "contiguous", "stack"}
_ACT_OPS = {"relu", "relu_", "hardtanh", "hardtanh_", "sigmoid", "sigmoid_", "hardswish", "hardswish_",
            "hardsigmoid", "hardsigmoid_", "silu", "silu_", "gelu", "tanh", "leaky_relu", "leaky_relu_"}  # fmt: skip


def op_costs(op: str, is_view: bool, inputs: list[Tensor], out: Tensor, args: tuple) -> Costs | None:
    """Costs of one image through an operator called outside any known leaf module (a functional
    add, SE's mean and product, a concat), or None when no rule knows it."""
    if is_view or op in _FREE_OPS:
        return {}
    n = _per_image(out)
    if op in ("add", "add_", "sub", "sub_"):
        return {"add": n}
    if op in ("mul", "mul_", "div", "div_"):
        return {"scale": n}
    if op in _ACT_OPS:
        return {"act": n}
    if op in ("mean", "sum", "_adaptive_avg_pool2d", "adaptive_max_pool2d"):
        return {"pool": _per_image(inputs[0])}
    if op in ("avg_pool2d", "max_pool2d_with_indices", "max_pool2d"):
        k = list(args[1]) if isinstance(args[1], (list, tuple)) else [args[1]]
        return {"pool": n * k[0] * k[-1]}
    if op == "convolution":  # (input, weight, bias, ...): C_in / groups * k_h * k_w per output
        return {"conv": n * math.prod(inputs[1].shape[1:])} | ({"bias": n} if len(inputs) > 2 else {})
    if op in ("addmm", "mm"):  # (bias,) input, weight.t(): in_features per output
        return {"linear": n * inputs[-1].shape[0]} | ({"bias": n} if op == "addmm" else {})
    if op in ("native_batch_norm", "_native_batch_norm_legit_no_training", "batch_norm"):
        return {"norm": n}
    return None
