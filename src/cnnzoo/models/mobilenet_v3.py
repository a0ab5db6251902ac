"""MobileNetV3: Howard et al., "Searching for MobileNetV3", ICCV 2019 (arXiv:1905.02244).

Tables 1 (Large) and 2 (Small): MobileNetV2 bottlenecks ("bneck") with 3x3 or 5x5 depthwise
convs, squeeze-excitation with a hard-sigmoid gate on some (Sec. 5.3), h-swish in the deeper
half (Sec. 5.2), and an efficient last stage: pool first, then 1x1 convs without BatchNorm.
"""
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

from torch import nn

from ..errors import InvalidOptionError
from ..layers import ConvNormAct, SqueezeExcite, create_act, make_divisible, set_drop_path
from ..reference.accuracy import torchvision_v1
from ..registry import Paper, Peer
from .base import ImageClassifier, init_weights, register_variant
from .mobilenet_v2 import InvertedResidual

MOBILENET_V3_PAPER = Paper(
    "Searching for MobileNetV3",
    "Andrew Howard, Mark Sandler, Grace Chu, Liang-Chieh Chen, Bo Chen, Mingxing Tan, Weijun Wang, "
    "Yukun Zhu, Ruoming Pang, Vijay Vasudevan, Quoc V. Le, Hartwig Adam",
    2019,
    "1905.02244",
)
RE, HS = "relu", "hard_swish"


@dataclass(frozen=True)
class Bneck:
    """A bneck row of Tables 1-2: kernel, exp size, #out, SE, NL, s."""

    kernel: int
    exp: int
    out: int
    se: bool
    act: str
    stride: int


@dataclass(frozen=True)
class MobileNetV3Config:
    rows: tuple[Bneck, ...]
    last_conv: int  # the "conv2d 1x1" before the pool (960 Large, 576 Small)
    head: int  # the "conv2d 1x1, NBN" after it (1280 Large, 1024 Small)
    width_mult: float = 1.0
    dropout: float = 0.2
    tf_padding: bool = False  # TensorFlow's "same" padding at stride 2 (extra pixel bottom/right), as Keras's weights need
    drop_path_rate: float = 0.0  # stochastic depth on the inverted residuals: the last one's drop probability


# Table 1, MobileNetV3-Large, after "conv2d, 16, HS, s2" on 224x224x3.
LARGE = MobileNetV3Config(
    rows=(
        Bneck(3, 16, 16, False, RE, 1),  # 112x112
        Bneck(3, 64, 24, False, RE, 2),
        Bneck(3, 72, 24, False, RE, 1),  # 56x56
        Bneck(5, 72, 40, True, RE, 2),
        Bneck(5, 120, 40, True, RE, 1),  # 28x28
        Bneck(5, 120, 40, True, RE, 1),
        Bneck(3, 240, 80, False, HS, 2),
        Bneck(3, 200, 80, False, HS, 1),  # 14x14
        Bneck(3, 184, 80, False, HS, 1),
        Bneck(3, 184, 80, False, HS, 1),
        Bneck(3, 480, 112, True, HS, 1),
        Bneck(3, 672, 112, True, HS, 1),
        Bneck(5, 672, 160, True, HS, 2),
        Bneck(5, 960, 160, True, HS, 1),  # 7x7
        Bneck(5, 960, 160, True, HS, 1),
    ),
    last_conv=960,
    head=1280,
)

# Table 2, MobileNetV3-Small.
SMALL = MobileNetV3Config(
    rows=(
        Bneck(3, 16, 16, True, RE, 2),  # 112x112 -> 56x56
        Bneck(3, 72, 24, False, RE, 2),
        Bneck(3, 88, 24, False, RE, 1),  # 28x28
        Bneck(5, 96, 40, True, HS, 2),
        Bneck(5, 240, 40, True, HS, 1),  # 14x14
        Bneck(5, 240, 40, True, HS, 1),
        Bneck(5, 120, 48, True, HS, 1),
        Bneck(5, 144, 48, True, HS, 1),
        Bneck(5, 288, 96, True, HS, 2),
        Bneck(5, 576, 96, True, HS, 1),  # 7x7
        Bneck(5, 576, 96, True, HS, 1),
    ),
    last_conv=576,
    head=1024,
)


class MobileNetV3(ImageClassifier):
    def __init__(self, config: MobileNetV3Config, num_classes: int = 1000, in_chans: int = 3):
        super().__init__()
        if not config.width_mult > 0:
            raise InvalidOptionError(f"width_mult must be > 0, got {config.width_mult!r}")
        self.config = config
        self.num_classes, self.in_chans = num_classes, in_chans
        width = lambda c: make_divisible(c * config.width_mult, 8)  # noqa: E731
        norm = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)  # the TF release's BatchNorm
        channels = width(16)
        pad = "tf" if config.tf_padding else None
        layers = OrderedDict(conv1=ConvNormAct(in_chans, channels, 3, 2, pad, norm_layer=norm, act_layer=HS))
        for i, row in enumerate(config.rows, 1):
            expanded, out = width(row.exp), width(row.out)
            # Squeeze to a quarter of the expansion, rounded to 8 as the paper's code does; hard-sigmoid gate.
            se = SqueezeExcite(expanded, rd_channels=make_divisible(expanded // 4, 8), gate_layer="hard_sigmoid") if row.se else None
            layers[f"bneck{i}"] = InvertedResidual(channels, expanded, out, row.kernel, row.stride, row.act, se, norm, pad)
            channels = out
        last = 6 * channels  # 960 = 6 x 160 (Large), 576 = 6 x 96 (Small)
        layers["conv_last"] = ConvNormAct(channels, last, 1, norm_layer=norm, act_layer=HS)
        self.features = nn.Sequential(layers)  # N x 960 x 7 x 7 at 224 (Large)
        head = width(config.head)
        # "conv2d 1x1, NBN" on the pooled 1x1 map: a linear layer, then h-swish.
        self._build_head(head, num_classes, nn.Sequential(nn.Linear(last, head), create_act(HS), nn.Dropout(config.dropout)))
        init_weights(self)
        set_drop_path(self, config.drop_path_rate)




_DEVIATIONS = (
    "channels (and the 1280/1024 head) scale with width_mult and round to multiples of 8, as torchvision",
    "dropout 0.2 before the classifier, as torchvision and the TF release",
)
register_variant(
    "mobilenet_v3_large",
    MobileNetV3,
    LARGE,
    "MobileNetV3-Large (Table 1): bnecks with SE and h-swish, 960 -> 1280 head.",
    __name__,
    paper=MOBILENET_V3_PAPER,
    follows="Table 1",
    params=5_483_032,
    macs=0.2166e9,
    reference="torchvision mobilenet_v3_large",
    deviations=_DEVIATIONS,
    peer=Peer("torchvision", "mobilenet_v3_large"),
    recipe="mobilenet",
    published=torchvision_v1(74.042, 91.340),
)
register_variant(
    "mobilenet_v3_small",
    MobileNetV3,
    SMALL,
    "MobileNetV3-Small (Table 2): bnecks with SE and h-swish, 576 -> 1024 head.",
    __name__,
    paper=MOBILENET_V3_PAPER,
    follows="Table 2",
    params=2_542_856,
    macs=0.0565e9,
    reference="torchvision mobilenet_v3_small",
    deviations=_DEVIATIONS
    + ("no SE on the last 1x1 conv: Table 2 marks one there, the authors' code and torchvision have none",),
    peer=Peer("torchvision", "mobilenet_v3_small"),
    recipe="mobilenet",
    published=torchvision_v1(67.668, 87.402),
)
