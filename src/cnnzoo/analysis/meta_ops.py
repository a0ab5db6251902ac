"""Output shapes of the common operators and leaf modules, computed directly.

PyTorch computes many meta (shape-only) results through Python reference implementations:
BatchNorm alone costs about 1.5 ms a call that way. The analyzer asks this module first and
falls back to PyTorch's meta kernels, or to the module's own forward, for anything it does not
list. Outputs are contiguous meta tensors of the right shape and dtype; the tests compare the
analyzer's shapes and counts with real runs and with torch's FlopCounterMode for every model.
"""
import torch
from torch import Tensor, nn

from ..layers import LocalResponseNorm

aten = torch.ops.aten

_IN_PLACE_UNARY = {aten.relu_.default, aten.hardtanh_.default, aten.hardswish_.default, aten.hardsigmoid_.default,
                   aten.sigmoid_.default, aten.silu_.default}  # fmt: skip
_UNARY = {aten.relu.default, aten.hardtanh.default, aten.hardswish.default, aten.hardsigmoid.default,
          aten.sigmoid.default, aten.silu.default, aten.gelu.default, aten.tanh.default}  # fmt: skip
_BINARY = {aten.add.Tensor, aten.mul.Tensor, aten.sub.Tensor, aten.div.Tensor}
_BINARY_IN_PLACE = {aten.add_.Tensor, aten.mul_.Tensor, aten.sub_.Tensor, aten.div_.Tensor}


def _empty(shape, like: Tensor) -> Tensor:
    return torch.empty(shape, dtype=like.dtype, device="meta")


def _window_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil_mode: bool = False) -> int:
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:  # the last window must start inside the input
        out -= 1
    return out


def _pair(v) -> list[int]:
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * 2 if len(v) == 1 else v


def fast_meta(func, args: tuple, kwargs: dict):
    """The op's meta result, or NotImplemented to let PyTorch compute it."""
    if func in _IN_PLACE_UNARY or func in _BINARY_IN_PLACE:
        return args[0]
    if func in _UNARY:
        return _empty(args[0].shape, args[0])
    if func in _BINARY:
        a, b = args[0], args[1]
        if not isinstance(b, Tensor) or b.shape == a.shape:
            return _empty(a.shape, a)
        if isinstance(b, Tensor) and a.dtype == b.dtype:
            return _empty(torch.broadcast_shapes(a.shape, b.shape), a)
        return NotImplemented
    if func is aten.convolution.default and not args[6]:  # not transposed
        x, w = args[0], args[1]
        stride, padding, dilation = _pair(args[3]), _pair(args[4]), _pair(args[5])
        if x.dim() != 4:
            return NotImplemented
        h, wd = (_window_out(x.shape[2 + i], w.shape[2 + i], stride[i], padding[i], dilation[i]) for i in range(2))
        return _empty((x.shape[0], w.shape[0], h, wd), x)
    if func in (aten.native_batch_norm.default, aten._native_batch_norm_legit_no_training.default):
        x = args[0]
        stats = (x.shape[1],) if func is aten.native_batch_norm.default and args[5] else (0,)
        return _empty(x.shape, x), _empty(stats, x), _empty(stats, x)
    if func is aten.max_pool2d_with_indices.default:
        x = args[0]
        kernel = _pair(args[1])
        stride = _pair(args[2]) if len(args) > 2 and args[2] else kernel
        padding = _pair(args[3]) if len(args) > 3 else [0, 0]
        dilation = _pair(args[4]) if len(args) > 4 else [1, 1]
        ceil = args[5] if len(args) > 5 else False
        h, w = (_window_out(x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i], ceil) for i in range(2))
        shape = (*x.shape[:2], h, w)
        return _empty(shape, x), torch.empty(shape, dtype=torch.long, device="meta")
    return NotImplemented


# -- leaf modules: their output computed from the input's shape alone ---------------------------------

def _conv2d(m, x: Tensor) -> Tensor:
    if isinstance(m.padding, str) or x.dim() != 4:
        return NotImplemented
    h, w = (_window_out(x.shape[2 + i], m.kernel_size[i], m.stride[i], m.padding[i], m.dilation[i]) for i in range(2))
    return _empty((x.shape[0], m.out_channels, h, w), x)


def _pool2d(m, x: Tensor) -> Tensor:
    kernel, stride, padding = _pair(m.kernel_size), _pair(m.stride or m.kernel_size), _pair(m.padding)
    dilation = _pair(getattr(m, "dilation", 1))
    h, w = (_window_out(x.shape[2 + i], kernel[i], stride[i], padding[i], dilation[i], m.ceil_mode) for i in range(2))
    return _empty((*x.shape[:2], h, w), x)


def _adaptive2d(m, x: Tensor) -> Tensor:
    size = _pair(m.output_size)
    return _empty((*x.shape[:2], *(s if s is not None else x.shape[2 + i] for i, s in enumerate(size))), x)


def _same_shape(m, x: Tensor) -> Tensor:
    return x if getattr(m, "inplace", False) else _empty(x.shape, x)


def _linear(m, x: Tensor) -> Tensor:
    return _empty((*x.shape[:-1], m.out_features), x)


def _passthrough(m, x: Tensor) -> Tensor:
    return x


LEAF_SHAPES = {
    nn.Conv2d: _conv2d,
    nn.Linear: _linear,
    nn.MaxPool2d: _pool2d,
    nn.AvgPool2d: _pool2d,
    nn.AdaptiveAvgPool2d: _adaptive2d,
    nn.AdaptiveMaxPool2d: _adaptive2d,
    nn.BatchNorm2d: _same_shape,
    nn.ReLU: _same_shape,
    nn.ReLU6: _same_shape,
    nn.Hardswish: _same_shape,
    nn.Hardsigmoid: _same_shape,
    nn.Sigmoid: _same_shape,
    nn.SiLU: _same_shape,
    nn.LocalResponseNorm: _same_shape,
    LocalResponseNorm: _same_shape,
    nn.Dropout: _passthrough,
    nn.Identity: _passthrough,
}
"""Exact module types (not subclasses, which may change `forward`) whose output shape is known."""
