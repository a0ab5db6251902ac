"""Xception: Chollet, "Xception: Deep Learning with Depthwise Separable Convolutions", CVPR 2017
(arXiv:1610.02357). Fig. 5: an entry flow, a middle flow repeated eight times and an exit flow,
36 convolutional layers in 14 modules, all but the first and last with residual connections.
The paper's studied variants are options: `pointwise_first=True` (Fig. 4's "extreme" Inception order)
and `intermediate_act="relu"` or `"elu"` (Fig. 10); the defaults are the paper's network."""
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

from torch import Tensor, nn

from ..errors import InvalidOptionError
from ..layers import ConvNormAct, MaxPool2dSame, SeparableConv2d
from ..reference.accuracy import timm_published
from ..registry import Paper, Peer
from .base import ImageClassifier, init_weights, register_variant

XCEPTION_PAPER = Paper(
    "Xception: Deep Learning with Depthwise Separable Convolutions", "François Chollet", 2016, "1610.02357"
)


@dataclass(frozen=True)
class XceptionBlock:
    """One residual module of Fig. 5: `reps` x (ReLU, SeparableConv, BN), a 3x3/2 max pool when
    strided, and a 1x1 projection shortcut where the shape changes."""

    out_channels: int
    reps: int
    stride: int = 1
    grow_first: bool = True  # widen at the first separable conv (entry flow) or the last (exit flow)
    start_with_relu: bool = True  # the first module follows the stem's ReLU already


@dataclass(frozen=True)
class XceptionConfig:
    blocks: tuple[XceptionBlock, ...]
    exit_channels: tuple[int, int] = (1536, 2048)  # the two separable convs after the last module
    pointwise_first: bool = False  # Fig. 4's "extreme" Inception order: 1x1, then a 3x3 per output channel
    intermediate_act: str | None = None  # between the depthwise and pointwise parts, Fig. 10: None, "relu", "elu"
    tf_padding: bool = False  # the max pools padded as TensorFlow's "same" (Keras's weights need it)


# Fig. 5, top to bottom.
XCEPTION = XceptionConfig(
    blocks=(
        XceptionBlock(128, 2, 2, start_with_relu=False),  # entry flow: 147 -> 74
        XceptionBlock(256, 2, 2),  # -> 37
        XceptionBlock(728, 2, 2),  # -> 19
        *[XceptionBlock(728, 3)] * 8,  # middle flow, "repeated eight times"
        XceptionBlock(1024, 2, 2, grow_first=False),  # exit flow: -> 10
    )
)


class XceptionModule(nn.Module):
    def __init__(self, in_channels: int, spec: XceptionBlock, separable=SeparableConv2d, tf_padding: bool = False):
        super().__init__()
        out = spec.out_channels
        self.shortcut = (
            ConvNormAct(in_channels, out, 1, spec.stride, act_layer=None)
            if spec.stride != 1 or in_channels != out
            else None
        )
        body, channels = [], in_channels
        for i in range(spec.reps):
            width = out if spec.grow_first or i == spec.reps - 1 else in_channels
            if i > 0 or spec.start_with_relu:
                body.append(nn.ReLU(inplace=i > 0))  # the first must leave the shortcut's input intact
            body += [separable(channels, width), nn.BatchNorm2d(width)]
            channels = width
        if spec.stride != 1:
            body.append(MaxPool2dSame(3, spec.stride) if tf_padding else nn.MaxPool2d(3, spec.stride, 1))
        self.body = nn.Sequential(*body)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


class Xception(ImageClassifier):
    def __init__(self, config: XceptionConfig, num_classes: int = 1000, in_chans: int = 3, dropout: float = 0.5):
        super().__init__()
        self.config = config
        self.num_classes, self.in_chans, self.input_size = num_classes, in_chans, 299
        layers = OrderedDict(
            conv1=ConvNormAct(in_chans, 32, 3, 2, padding=0),  # 299 -> 149
            conv2=ConvNormAct(32, 64, 3, padding=0),  # -> 147
        )
        if config.intermediate_act not in (None, "relu", "elu"):
            raise InvalidOptionError(f"intermediate_act must be None, 'relu' or 'elu' (Fig. 10), got {config.intermediate_act!r}")
        separable = partial(SeparableConv2d, pointwise_first=config.pointwise_first, act=config.intermediate_act)
        channels = 64
        for i, spec in enumerate(config.blocks, 1):
            layers[f"block{i}"] = XceptionModule(channels, spec, separable, config.tf_padding)
            channels = spec.out_channels
        for i, width in enumerate(config.exit_channels, 3):
            layers[f"conv{i}"] = nn.Sequential(separable(channels, width), nn.BatchNorm2d(width), nn.ReLU(inplace=True))
            channels = width
        self.features = nn.Sequential(layers)  # N x 2048 x 10 x 10 at 299
        self._build_head(channels, num_classes, nn.Dropout(dropout))  # Sec. 4.3: dropout 0.5 before the classifier
        init_weights(self)




    def feature_taps(self) -> list[str]:
        """timm's stages of Xception: the stem's ReLU, then the ReLU that opens each module after a
        downsampling one (timm's `block2.rep.0`, ...: the previous module's output, rectified), then
        the exit flow's last ReLU."""
        strided = [name for name, block in self.features.named_children() if isinstance(block, XceptionModule) and block.shortcut is not None
                   and block.shortcut.conv.stride != (1, 1)]  # fmt: skip
        return ["features.conv2", *(f"features.{name}.body.0" for name in strided[1:]), f"features.conv{2 + len(self.config.exit_channels)}"]


register_variant(
    "xception",
    Xception,
    XCEPTION,
    "Xception: entry flow, middle flow x8, exit flow of depthwise separable convolutions, 299 input.",
    __name__,
    paper=XCEPTION_PAPER,
    follows="Fig. 5 and Sec. 4.3",
    input_size=299,
    params=22_855_952,
    macs=8.3574e9,
    reference="timm legacy_xception",
    peer=Peer("timm", "legacy_xception"),
    recipe="xception",
    published=timm_published("legacy_xception.tf_in1k"),
)
