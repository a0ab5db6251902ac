"""TensorFlow's "same" padding, for weights trained in Keras or TensorFlow.

A strided layer padded "same" in TensorFlow gives ceil(input / stride) outputs and, when the total
padding is odd, puts the extra pixel at the bottom and right; PyTorch pads both sides equally. The
weights are the same either way; the outputs are not, so a net that takes Keras's weights pads as
TensorFlow does (a model option, `tf_padding`).
"""
import math

import torch.nn.functional as F
from torch import Tensor, nn


def tf_same_pads(x: Tensor, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> list[int]:
    """F.pad's (left, right, top, bottom) for TensorFlow's "same" on x's last two dimensions."""
    pads = []
    for size, k, s, d in zip(x.shape[:-3:-1], kernel[::-1], stride[::-1], dilation[::-1]):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return pads


class Conv2dSame(nn.Conv2d):
    """A convolution padded as TensorFlow's "same" (build it with padding=0)."""

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(F.pad(x, tf_same_pads(x, self.kernel_size, self.stride, self.dilation)), self.weight, self.bias)


class MaxPool2dSame(nn.MaxPool2d):
    """A max pool padded as TensorFlow's "same" (the padding never wins the max)."""

    def __init__(self, kernel_size: int, stride: int):
        super().__init__(kernel_size, stride, 0)

    def forward(self, x: Tensor) -> Tensor:
        pads = tf_same_pads(x, (self.kernel_size,) * 2, (self.stride,) * 2)
        return F.max_pool2d(F.pad(x, pads, value=float("-inf")), self.kernel_size, self.stride)
