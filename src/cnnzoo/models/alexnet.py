"""AlexNet and ZFNet: five convolutions, three fully connected layers.

AlexNet: Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional
Neural Networks", NIPS 2012 (Sec. 3, Fig. 2). The two GPU towers are filter groups of 2 on
conv2, conv4 and conv5 (conv3 and the FC layers see both towers).
ZFNet: Zeiler & Fergus, "Visualizing and Understanding Convolutional Networks", ECCV 2014
(Sec. 2-4, Fig. 3), a single-tower AlexNet with a 7x7/2 first layer.
"""
import dataclasses
from collections import OrderedDict
from dataclasses import dataclass

from torch import nn

from ..errors import InvalidOptionError
from ..layers import LocalResponseNorm
from ..reference.accuracy import torchvision_v1
from ..registry import Paper, Peer
from .base import ImageClassifier, init_weights, on_meta, register_variant

ALEXNET_PAPER = Paper(
    "ImageNet Classification with Deep Convolutional Neural Networks",
    "Alex Krizhevsky, Ilya Sutskever, Geoffrey E. Hinton",
    2012,
)
OWT_PAPER = Paper("One weird trick for parallelizing convolutional neural networks", "Alex Krizhevsky", 2014, "1404.5997")
ZFNET_PAPER = Paper("Visualizing and Understanding Convolutional Networks", "Matthew D. Zeiler, Rob Fergus", 2013, "1311.2901")


@dataclass(frozen=True)
class ConvLayer:
    """One convolutional layer and what follows its ReLU."""

    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    split: bool = False  # split across the GPU towers: a grouped conv (AlexNet conv2, conv4, conv5)
    lrn: bool = False  # response normalisation (Sec. 3.3)
    pool: bool = False  # 3x3/2 overlapping max pool (Sec. 3.4)
    bias_init: float = 0.0  # AlexNet Sec. 5 starts some biases at 1


@dataclass(frozen=True)
class AlexNetConfig:
    convs: tuple[ConvLayer, ...]
    input_size: int
    groups: int = 1  # filter groups of the split layers: AlexNet's 2 towers (the lecture also trains 1 and 4)
    pool_ceil: bool = False  # Caffe-style ceil rounding of pooled sizes (ZFNet's 110 -> 55 -> 26 -> 13)
    lrn_after_pool: bool = False  # ZFNet pools, then normalises; AlexNet normalises, then pools
    dropout_first: bool = False  # torchvision puts dropout before fc6/fc7; the paper after
    fc_bias_init: float = 0.0
    init_std: float | None = 0.01  # N(0, std) weights as the papers did; None: He init


# AlexNet, Sec. 3.5 and Fig. 2: 227 -> 55 -> 27 -> 13 -> 13 -> 13 -> 6.
ALEXNET = AlexNetConfig(
    convs=(
        ConvLayer(96, 11, stride=4, lrn=True, pool=True),
        ConvLayer(256, 5, padding=2, split=True, lrn=True, pool=True, bias_init=1.0),
        ConvLayer(384, 3, padding=1),
        ConvLayer(384, 3, padding=1, split=True, bias_init=1.0),
        ConvLayer(256, 3, padding=1, split=True, pool=True, bias_init=1.0),
    ),
    input_size=227,
    groups=2,
    fc_bias_init=1.0,
)

# "One weird trick", Sec. 4: the single-tower 64-192-384-256-256 net torchvision ships.
ALEXNET_OWT = AlexNetConfig(
    convs=(
        ConvLayer(64, 11, stride=4, padding=2, pool=True),
        ConvLayer(192, 5, padding=2, pool=True),
        ConvLayer(384, 3, padding=1),
        ConvLayer(256, 3, padding=1),
        ConvLayer(256, 3, padding=1, pool=True),
    ),
    input_size=224,
    dropout_first=True,
    init_std=None,
)

# ZFNet, Fig. 3: 224 -> 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6, one tower.
ZFNET = AlexNetConfig(
    convs=(
        ConvLayer(96, 7, stride=2, padding=1, lrn=True, pool=True),
        ConvLayer(256, 5, stride=2, lrn=True, pool=True),
        ConvLayer(384, 3, padding=1),
        ConvLayer(384, 3, padding=1),
        ConvLayer(256, 3, padding=1, pool=True),
    ),
    input_size=224,
    pool_ceil=True,
    lrn_after_pool=True,
)

# The lecture's ZFNet slide: conv3-5 widened to 512-1024-512 (a larger net of the paper's Table 2).
ZFNET_WIDE = dataclasses.replace(
    ZFNET,
    convs=ZFNET.convs[:2]
    + (ConvLayer(512, 3, padding=1), ConvLayer(1024, 3, padding=1), ConvLayer(512, 3, padding=1, pool=True)),
)


class AlexNet(ImageClassifier):
    """Convolutions per `config`, then FC-4096, FC-4096 (dropout 0.5 on both) and the classifier."""

    def __init__(
        self,
        config: AlexNetConfig,
        num_classes: int = 1000,
        in_chans: int = 3,
        dropout: float = 0.5,
        hidden: int = 4096,
    ):
        super().__init__()
        self.num_classes, self.in_chans, self.input_size = num_classes, in_chans, config.input_size
        self.config = config
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels = in_chans
        for i, c in enumerate(config.convs, 1):
            groups = config.groups if c.split else 1
            if channels % groups or c.out_channels % groups:
                raise InvalidOptionError(f"groups={groups} does not divide conv{i}'s {channels} -> {c.out_channels} channels")
            layers[f"conv{i}"] = nn.Conv2d(channels, c.out_channels, c.kernel_size, c.stride, c.padding, groups=groups)
            layers[f"relu{i}"] = nn.ReLU(inplace=True)
            after = [("norm", LocalResponseNorm())] if c.lrn else []
            after += [("pool", nn.MaxPool2d(3, 2, ceil_mode=config.pool_ceil))] if c.pool else []
            if config.lrn_after_pool:
                after.reverse()
            for kind, module in after:
                layers[f"{kind}{i}"] = module
            channels = c.out_channels
        self.features = nn.Sequential(layers)  # N x 256 x 6 x 6 at the native size
        # The head's 6x6 adaptive pool is the identity at the native size; other sizes reach fc6's input.

        def fc(in_features: int, name: str):
            drop = [(f"drop{name}", nn.Dropout(dropout))]
            body = [(f"fc{name}", nn.Linear(in_features, hidden)), (f"relu{name}", nn.ReLU(inplace=True))]
            return drop + body if config.dropout_first else body + drop

        self._build_head(hidden, num_classes, nn.Sequential(OrderedDict(fc(channels * 36, "6") + fc(hidden, "7"))), pool=6)
        self._init_weights()

    def _init_weights(self) -> None:
        if self.config.init_std is None or on_meta(self):
            return init_weights(self)
        convs = [m for m in self.features if isinstance(m, nn.Conv2d)]
        for conv, layer in zip(convs, self.config.convs):
            nn.init.normal_(conv.weight, 0, self.config.init_std)
            nn.init.constant_(conv.bias, layer.bias_init)
        for m in self.pre_logits:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, self.config.init_std)
                nn.init.constant_(m.bias, self.config.fc_bias_init)
        if isinstance(self.fc, nn.Linear):
            nn.init.normal_(self.fc.weight, 0, self.config.init_std)
            nn.init.zeros_(self.fc.bias)




register_variant(
    "alexnet",
    AlexNet,
    ALEXNET,
    "AlexNet as in the paper: 96-256-384-384-256, LRN, overlapping pools, 227 input; `groups` sets the towers.",
    __name__,
    paper=ALEXNET_PAPER,
    follows="Sec. 3.5 and Fig. 2 (both GPU towers as filter groups)",
    input_size=227,
    params=60_965_224,
    reference="hand count from Sec. 3.5 (62,378,344 with groups=1)",
    deviations=(
        "adaptive 6x6 average pool before fc6: the identity at 227x227, it lets other sizes run",
        "groups=1 or 4 are the lecture's filter-groups experiment, not the paper's net",
    ),
    recipe="alexnet",
)
register_variant(
    "alexnet_owt",
    AlexNet,
    ALEXNET_OWT,
    'AlexNet, single-tower "one weird trick" variant (64-192-384-256-256), as torchvision ships it.',
    __name__,
    paper=OWT_PAPER,
    follows="Sec. 4, the one-tower net of torchvision",
    params=61_100_840,
    macs=0.7142e9,
    reference="torchvision alexnet",
    peer=Peer("torchvision", "alexnet"),
    recipe="alexnet",
    published=torchvision_v1(56.522, 79.066),
)

_ZF_DEVIATIONS = (
    "contrast normalisation is AlexNet's LRN (k=2, n=5, alpha=1e-4, beta=0.75): the paper gives no constants",
    "conv1 padding 1 and ceil-rounded pools reproduce Fig. 3's 110/55/26/13 sizes",
)
register_variant(
    "zfnet",
    AlexNet,
    ZFNET,
    "ZFNet: AlexNet with a 7x7/2 conv1 and 5x5/2 conv2 on one tower, 96-256-384-384-256.",
    __name__,
    paper=ZFNET_PAPER,
    follows="Fig. 3",
    params=62_357_608,
    reference="hand count from Fig. 3",
    deviations=_ZF_DEVIATIONS,
    recipe="alexnet",
)
register_variant(
    "zfnet_wide",
    AlexNet,
    ZFNET_WIDE,
    "ZFNet with conv3, conv4, conv5 of 512, 1024, 512 filters, as the lecture states it.",
    __name__,
    paper=ZFNET_PAPER,
    follows="the lecture's ZFNet slide; the paper's Table 2 net with layers 3-5 of 512, 1024, 512 maps",
    params=107_627_624,
    reference="hand count from the lecture's layer sizes",
    deviations=_ZF_DEVIATIONS,
    recipe="alexnet",
)
