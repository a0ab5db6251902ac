"""Depthwise separable convolution: a depthwise spatial conv, then a pointwise 1x1 (Xception Fig. 4)."""
from torch import Tensor, nn


class SeparableConv2d(nn.Module):
    """Depthwise k x k (one filter per input channel), then 1x1 across channels, with nothing in
    between: Xception finds no non-linearity there works best (Sec. 4.7, Fig. 10)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 1):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride, padding, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.pointwise(self.depthwise(x))
