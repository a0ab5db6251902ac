"""Conv -> norm -> activation, the unit every family stacks."""
from collections.abc import Callable

from torch import nn

from .activations import ActLayer, create_act
from .padding import Conv2dSame

NormLayer = Callable[[int], nn.Module]


class ConvNormAct(nn.Sequential):
    """`conv` (k x k, "same" padding by default), then optional `bn` and `act`.

    `padding="tf"`: TensorFlow's "same" padding (`Conv2dSame`) where the stride makes it differ
    from the symmetric one, as weights trained in Keras need.

    The conv has a bias exactly when there is no norm after it (a norm's shift makes it
    redundant), which is what the BN-era papers and torchvision do.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | str | None = None,
        groups: int = 1,
        norm_layer: NormLayer | None = nn.BatchNorm2d,
        act_layer: str | ActLayer | None = "relu",
        bias: bool | None = None,
    ):
        conv = nn.Conv2d
        if padding == "tf":
            conv, padding = (Conv2dSame, 0) if stride > 1 else (nn.Conv2d, None)
        if padding is None:
            padding = (kernel_size - 1) // 2
        if bias is None:
            bias = norm_layer is None
        super().__init__()
        self.conv = conv(in_channels, out_channels, kernel_size, stride, padding, groups=groups, bias=bias)
        if norm_layer is not None:
            self.bn = norm_layer(out_channels)
        if act_layer is not None:
            self.act = create_act(act_layer)
        self.out_channels = out_channels
