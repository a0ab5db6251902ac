"""Squeeze-and-excitation (Hu et al., "Squeeze-and-Excitation Networks", Sec. 3, Fig. 2-3).

    s = gate(W2 act(W1 GAP(u))),   output = u * s   (channel-wise)

W1 reduces C channels to C / r, W2 restores them. The two fully connected layers are 1x1
convolutions (same weights as Linear, kept 4-D as in the SENet release and torchvision).
"""
from torch import Tensor, nn

from ..errors import InvalidOptionError
from .activations import ActLayer, create_act


class SqueezeExcite(nn.Module):
    """SE block: `reduction` r (default 16, the paper's choice) or an explicit `rd_channels`."""

    def __init__(
        self,
        channels: int,
        reduction: float = 16,
        rd_channels: int | None = None,
        act_layer: str | ActLayer = "relu",
        gate_layer: str | ActLayer = "sigmoid",
    ):
        super().__init__()
        if rd_channels is None:
            rd_channels = int(channels // reduction)
        if rd_channels < 1:
            raise InvalidOptionError(
                f"squeeze-excitation on {channels} channels with reduction {reduction} leaves "
                f"{rd_channels} channels; use a smaller reduction ratio"
            )
        self.fc1 = nn.Conv2d(channels, rd_channels, 1)
        self.act = create_act(act_layer)
        self.fc2 = nn.Conv2d(rd_channels, channels, 1)
        self.gate = create_act(gate_layer, inplace=False)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean((2, 3), keepdim=True)  # squeeze: N x C x 1 x 1
        s = self.gate(self.fc2(self.act(self.fc1(s))))  # excitation
        return x * s


def make_se(se: bool | float | None, channels: int, **kwargs) -> nn.Module | None:
    """The `se=` option of a block: None/False for none, True for r=16, a number for that r."""
    if se is None or se is False:
        return None
    if se is True:
        return SqueezeExcite(channels, **kwargs)
    if isinstance(se, (int, float)) and se > 0:
        return SqueezeExcite(channels, reduction=se, **kwargs)
    raise InvalidOptionError(f"se must be True, False/None or a reduction ratio > 0, got {se!r}")
