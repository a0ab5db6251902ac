"""MobileNetV2: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018
(arXiv:1801.04381). Table 2 is the body: rows of inverted residual bottlenecks (Table 1,
Fig. 4d): 1x1 expansion by t, 3x3 depthwise, linear 1x1 projection, a shortcut where the shape
is kept. Channels follow width_mult, rounded to multiples of 8 as the paper's code does.
"""
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

from torch import Tensor, nn

from ..errors import InvalidOptionError
from ..layers import ConvNormAct, make_divisible, set_drop_path
from ..reference.accuracy import torchvision_v1
from ..registry import Paper, Peer
from .base import ImageClassifier, init_weights, register_variant

MOBILENET_V2_PAPER = Paper(
    "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
    "Mark Sandler, Andrew Howard, Menglong Zhu, Andrey Zhmoginov, Liang-Chieh Chen",
    2018,
    "1801.04381",
)


class InvertedResidual(nn.Module):
    """Expand (1x1, skipped when the expansion is 1), depthwise k x k, optional SE, linear projection.

    MobileNetV2's bottleneck (Table 1) and MobileNetV3's bneck (Fig. 4) are both this block.
    """

    def __init__(self, in_channels, expanded, out_channels, kernel, stride, act, se=None, norm=nn.BatchNorm2d, padding=None):
        super().__init__()
        conv = partial(ConvNormAct, norm_layer=norm)
        self.expand = conv(in_channels, expanded, 1, act_layer=act) if expanded != in_channels else None
        self.depthwise = conv(expanded, expanded, kernel, stride, padding, groups=expanded, act_layer=act)
        self.se = se
        self.project = conv(expanded, out_channels, 1, act_layer=None)  # linear bottleneck (Sec. 3.2)
        self.residual = stride == 1 and in_channels == out_channels
        if self.residual:
            self.drop_path = nn.Identity()  # stochastic depth's slot (set_drop_path)

    def forward(self, x: Tensor) -> Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.depthwise(out)
        if self.se is not None:
            out = self.se(out)
        out = self.project(out)
        return x + self.drop_path(out) if self.residual else out


@dataclass(frozen=True)
class BottleneckRow:
    """A row of Table 2: expansion t, output channels c, repeats n, first stride s."""

    t: int
    c: int
    n: int
    s: int


# Table 2, after "conv2d 3x3, 32, s2" on 224x224x3.
TABLE2 = (
    BottleneckRow(t=1, c=16, n=1, s=1),  # 112x112
    BottleneckRow(t=6, c=24, n=2, s=2),
    BottleneckRow(t=6, c=32, n=3, s=2),
    BottleneckRow(t=6, c=64, n=4, s=2),
    BottleneckRow(t=6, c=96, n=3, s=1),  # 14x14
    BottleneckRow(t=6, c=160, n=3, s=2),
    BottleneckRow(t=6, c=320, n=1, s=1),  # 7x7
)


@dataclass(frozen=True)
class MobileNetV2Config:
    rows: tuple[BottleneckRow, ...]
    width_mult: float = 1.0
    stem_channels: int = 32
    last_channels: int = 1280  # "conv2d 1x1, 1280", widened (never narrowed) by width_mult
    dropout: float = 0.2
    tf_padding: bool = False  # TensorFlow's "same" padding at stride 2 (extra pixel bottom/right), as Keras's weights need
    drop_path_rate: float = 0.0  # stochastic depth on the inverted residuals: the last one's drop probability


class MobileNetV2(ImageClassifier):
    def __init__(self, config: MobileNetV2Config, num_classes: int = 1000, in_chans: int = 3):
        super().__init__()
        if not config.width_mult > 0:
            raise InvalidOptionError(f"width_mult must be > 0, got {config.width_mult!r}")
        self.config = config
        self.num_classes, self.in_chans = num_classes, in_chans
        width = lambda c: make_divisible(c * config.width_mult, 8)  # noqa: E731
        channels = width(config.stem_channels)
        pad = "tf" if config.tf_padding else None
        layers = OrderedDict(conv1=ConvNormAct(in_chans, channels, 3, 2, pad, act_layer="relu6"))
        for i, row in enumerate(config.rows, 1):
            for j in range(row.n):
                out = width(row.c)
                block = InvertedResidual(channels, channels * row.t, out, 3, row.s if j == 0 else 1, "relu6", padding=pad)
                layers[f"block{i}_{j + 1}"] = block
                channels = out
        last = make_divisible(config.last_channels * max(1.0, config.width_mult), 8)
        layers["conv_last"] = ConvNormAct(channels, last, 1, act_layer="relu6")
        self.features = nn.Sequential(layers)  # N x 1280 x 7 x 7 at 224
        self._build_head(last, num_classes, nn.Dropout(config.dropout))
        init_weights(self)
        set_drop_path(self, config.drop_path_rate)




register_variant(
    "mobilenet_v2",
    MobileNetV2,
    MobileNetV2Config(TABLE2),
    "MobileNetV2 (Table 2): inverted residuals with linear bottlenecks, ReLU6; width_mult rounds to 8.",
    __name__,
    paper=MOBILENET_V2_PAPER,
    follows="Tables 1-2",
    params=3_504_872,
    macs=0.3008e9,
    reference="torchvision mobilenet_v2",
    deviations=("dropout 0.2 before the classifier, as torchvision (the paper does not say)",),
    peer=Peer("torchvision", "mobilenet_v2"),
    recipe="mobilenet",
    published=torchvision_v1(71.878, 90.286),
)
