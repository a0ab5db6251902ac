"""Depthwise separable convolution: a depthwise spatial conv, then a pointwise 1x1 (Xception Fig. 4).

Xception's two studied details are options: the order of the parts (`pointwise_first`: the "extreme
Inception" of Fig. 4, a 1x1 then one spatial filter per output channel, as an Inception module with
one tower per channel) and a non-linearity between them (`act`, Fig. 10: none, ReLU or ELU)."""
from torch import Tensor, nn

from .activations import create_act


class SeparableConv2d(nn.Module):
    """Depthwise k x k (one filter per input channel), then 1x1 across channels, with nothing in
    between by default: Xception finds no non-linearity there works best (Sec. 4.7, Fig. 10)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 1,
                 pointwise_first: bool = False, act: str | None = None):  # fmt: skip
        super().__init__()
        spatial = out_channels if pointwise_first else in_channels  # the channels the depthwise filters see
        self.pointwise_first = pointwise_first
        self.depthwise = nn.Conv2d(spatial, spatial, kernel_size, stride, padding, groups=spatial, bias=False)
        self.act = create_act(act, inplace=True) if act else None
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        first, second = (self.pointwise, self.depthwise) if self.pointwise_first else (self.depthwise, self.pointwise)
        x = first(x)
        return second(x if self.act is None else self.act(x))
