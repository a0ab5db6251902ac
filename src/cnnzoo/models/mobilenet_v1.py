"""MobileNet v1: Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications", 2017 (arXiv:1704.04861).

Table 1 is the body: a full 3x3 convolution, then 13 depthwise separable layers (a 3x3
depthwise conv and a 1x1 pointwise conv, each with BatchNorm and ReLU, Fig. 3). The width
multiplier alpha thins every layer (Sec. 3.3); the resolution multiplier rho is just the input
size (Sec. 3.4): any resolution runs. Table 4's full-convolution net and Table 5's shallow net
are registered beside it. For 32-pixel images (CIFAR), `stem_stride=1` keeps the first convolution at
full resolution, so the last layers see 2x2 maps rather than 1x1 (a named deviation; the paper's is 2).
"""
from collections import OrderedDict
from dataclasses import dataclass

from torch import nn

from ..errors import InvalidOptionError
from ..layers import ConvNormAct
from ..reference.accuracy import paper_reported
from ..registry import Paper, Peer
from .base import ImageClassifier, init_weights, register_variant

MOBILENET_PAPER = Paper(
    "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications",
    "Andrew G. Howard, Menglong Zhu, Bo Chen, Dmitry Kalenichenko, Weijun Wang, Tobias Weyand, "
    "Marco Andreetto, Hartwig Adam",
    2017,
    "1704.04861",
)


@dataclass(frozen=True)
class SeparableRow:
    """A "Conv dw / s" row and the "Conv / s1" 1x1 row under it in Table 1."""

    stride: int
    out_channels: int


# Table 1 (input 224): after "Conv / s2, 3x3x3x32". The last depthwise row prints "s2", but its
# input and output are both 7x7 (and the release uses stride 1): stride 1 here.
TABLE1 = (
    SeparableRow(1, 64),  # 112x112
    SeparableRow(2, 128),
    SeparableRow(1, 128),  # 56x56
    SeparableRow(2, 256),
    SeparableRow(1, 256),  # 28x28
    SeparableRow(2, 512),
    *[SeparableRow(1, 512)] * 5,  # "5x" at 14x14
    SeparableRow(2, 1024),
    SeparableRow(1, 1024),  # 7x7
)
SHALLOW = TABLE1[:6] + TABLE1[11:]  # Table 5: "removing the set of 5 layers of separable filters with feature size 14x14x512"


@dataclass(frozen=True)
class MobileNetV1Config:
    rows: tuple[SeparableRow, ...]
    separable: bool = True  # False: each pair becomes one full 3x3 conv (Table 4's "Conv MobileNet")
    width_mult: float = 1.0  # alpha, Sec. 3.3 (1.0, 0.75, 0.5, 0.25 in the paper)
    act: str = "relu"  # the paper's ReLU; "relu6" as TF's release and timm
    dropout: float = 0.0
    stem_stride: int = 2  # the paper's; 1 for 32-pixel images (CIFAR): a 2x2 final map instead of 1x1
    tf_padding: bool = False  # TensorFlow's "same" padding at stride 2 (extra pixel bottom/right), as Keras's weights need


def _width(channels: int, alpha: float) -> int:
    return max(int(channels * alpha), 8)  # the release's `depth()` rounding: at least 8 channels


class MobileNetV1(ImageClassifier):
    def __init__(self, config: MobileNetV1Config, num_classes: int = 1000, in_chans: int = 3):
        super().__init__()
        if not config.width_mult > 0:
            raise InvalidOptionError(f"width_mult must be > 0, got {config.width_mult!r}")
        self.config = config
        self.num_classes, self.in_chans = num_classes, in_chans
        act = config.act
        channels = _width(32, config.width_mult)
        if config.stem_stride not in (1, 2):
            raise InvalidOptionError(f"stem_stride must be 1 or 2, got {config.stem_stride!r}")
        pad = "tf" if config.tf_padding else None
        layers = OrderedDict(conv1=ConvNormAct(in_chans, channels, 3, config.stem_stride, pad, act_layer=act))  # 224 -> 112
        for i, row in enumerate(config.rows, 1):
            out = _width(row.out_channels, config.width_mult)
            if config.separable:
                layers[f"sep{i}"] = nn.Sequential(OrderedDict(
                    dw=ConvNormAct(channels, channels, 3, row.stride, pad, groups=channels, act_layer=act),
                    pw=ConvNormAct(channels, out, 1, act_layer=act),
                ))  # fmt: skip
            else:
                layers[f"conv{i + 1}"] = ConvNormAct(channels, out, 3, row.stride, pad, act_layer=act)
            channels = out
        self.features = nn.Sequential(layers)  # N x 1024 x 7 x 7 at 224, then "Avg Pool / s1, Pool 7x7"
        self._build_head(channels, num_classes, nn.Dropout(config.dropout) if config.dropout > 0 else None)
        init_weights(self)




_COMMON = dict(paper=MOBILENET_PAPER, deviations=("the last depthwise conv has stride 1 (Table 1 prints s2 at 7x7)",))

register_variant(
    "mobilenet_v1",
    MobileNetV1,
    MobileNetV1Config(TABLE1),
    "MobileNet v1 (Table 1): 13 depthwise separable layers; width_mult is alpha, any input size is rho.",
    __name__,
    follows="Table 1, Sec. 3.3-3.4",
    params=4_231_976,
    macs=0.5687e9,
    reference="timm mobilenetv1_100",
    peer=Peer("timm", "mobilenetv1_100", ours=dict(act="relu6")),
    **_COMMON,
    recipe="mobilenet",
    published=paper_reported(70.6, "MobileNet paper, Tables 4 and 6"),
)
register_variant(
    "mobilenet_v1_conv",
    MobileNetV1,
    MobileNetV1Config(TABLE1, separable=False),
    "Table 4's 'Conv MobileNet': every depthwise separable pair replaced by a full 3x3 convolution.",
    __name__,
    follows="Table 4",
    **_COMMON,
    recipe="mobilenet",
    published=paper_reported(71.7, "MobileNet paper, Table 4"),
)
register_variant(
    "mobilenet_v1_shallow",
    MobileNetV1,
    MobileNetV1Config(SHALLOW),
    "Table 5's 'Shallow MobileNet': Table 1 without the five 14x14x512 separable layers.",
    __name__,
    follows="Table 5",
    **_COMMON,
    recipe="mobilenet",
    published=paper_reported(65.3, "MobileNet paper, Table 5"),
)
