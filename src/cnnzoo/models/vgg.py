"""VGG: Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015 (arXiv:1409.1556). Table 1 is the family: each column a net."""
from collections import OrderedDict
from dataclasses import dataclass

from torch import nn

from ..layers import ConvNormAct, LocalResponseNorm
from ..reference.accuracy import torchvision_v1
from ..registry import Paper, Peer
from .base import ImageClassifier, init_weights, register_variant

VGG_PAPER = Paper(
    "Very Deep Convolutional Networks for Large-Scale Image Recognition",
    "Karen Simonyan, Andrew Zisserman",
    2014,
    "1409.1556",
)


@dataclass(frozen=True)
class VGGLayer:
    kind: str  # "conv", "maxpool" or "lrn"
    out_channels: int = 0
    kernel_size: int = 3


def conv3(channels: int) -> VGGLayer:
    return VGGLayer("conv", channels, 3)


def conv1(channels: int) -> VGGLayer:
    return VGGLayer("conv", channels, 1)


M = VGGLayer("maxpool")  # 2x2 max pool, stride 2
LRN = VGGLayer("lrn")  # A-LRN's local response normalisation, as in AlexNet

_B3 = [conv3(256), conv3(256)]  # the first two convs of blocks 3-5 are common to every column
_B4 = [conv3(512), conv3(512)]

# Table 1, "ConvNet configuration", column by column ("conv3-64" is conv3(64)).
VGG_CONFIGS: dict[str, list[VGGLayer]] = {
    "A":     [conv3(64), M,                   conv3(128), M,                     *_B3, M,              *_B4, M,              *_B4, M],
    "A-LRN": [conv3(64), LRN, M,              conv3(128), M,                     *_B3, M,              *_B4, M,              *_B4, M],
    "B":     [conv3(64), conv3(64), M,        conv3(128), conv3(128), M,         *_B3, M,              *_B4, M,              *_B4, M],
    "C":     [conv3(64), conv3(64), M,        conv3(128), conv3(128), M,         *_B3, conv1(256), M,  *_B4, conv1(512), M,  *_B4, conv1(512), M],
    "D":     [conv3(64), conv3(64), M,        conv3(128), conv3(128), M,         *_B3, conv3(256), M,  *_B4, conv3(512), M,  *_B4, conv3(512), M],
    "E":     [conv3(64), conv3(64), M,        conv3(128), conv3(128), M,         *_B3, conv3(256), conv3(256), M,
              *_B4, conv3(512), conv3(512), M,                                   *_B4, conv3(512), conv3(512), M],
}  # fmt: skip


class VGG(ImageClassifier):
    """Stacked convolutions (padding keeps the size), five 2x2 pools, FC-4096, FC-4096, classifier."""

    def __init__(
        self,
        config: list[VGGLayer],
        num_classes: int = 1000,
        in_chans: int = 3,
        batch_norm: bool = False,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        channels, block, index = in_chans, 1, 1
        for layer in config:
            if layer.kind == "maxpool":
                layers[f"pool{block}"] = nn.MaxPool2d(2, 2)
                block, index = block + 1, 1
            elif layer.kind == "lrn":
                layers[f"lrn{block}"] = LocalResponseNorm()
            else:
                # The paper has no BatchNorm; the _bn variants (torchvision's) keep the conv bias.
                layers[f"conv{block}_{index}"] = ConvNormAct(
                    channels, layer.out_channels, layer.kernel_size,
                    norm_layer=nn.BatchNorm2d if batch_norm else None, bias=True,
                )  # fmt: skip
                channels, index = layer.out_channels, index + 1
        self.features = nn.Sequential(layers)  # N x 512 x 7 x 7 at 224
        fc67 = nn.Sequential(OrderedDict(
            fc6=nn.Linear(channels * 49, 4096), relu6=nn.ReLU(True), drop6=nn.Dropout(dropout),
            fc7=nn.Linear(4096, 4096), relu7=nn.ReLU(True), drop7=nn.Dropout(dropout),
        ))  # fmt: skip
        self._build_head(4096, num_classes, fc67, pool=7)  # the 7x7 pool: identity at 224, lets other sizes run
        init_weights(self)




_DEVIATIONS = (
    "adaptive 7x7 average pool before fc6: the identity at 224x224, it lets other sizes run",
    "He (fan-out) init instead of the paper's pre-training of deeper nets from config A",
)
_BN_DEVIATIONS = ("BatchNorm after every conv (conv bias kept): torchvision's variant, not in the paper",)


def _register_vgg(name: str, column: str, params=None, macs=None, batch_norm=False, published=None):
    """Register one Table 1 column under `name`."""
    depth = sum(layer.kind == "conv" for layer in VGG_CONFIGS[column]) + 3
    peer = None if column in ("A-LRN", "C") else Peer("torchvision", name)
    return register_variant(
        name,
        VGG,
        VGG_CONFIGS[column],
        f"VGG-{depth}, configuration {column} of Table 1{' with BatchNorm' if batch_norm else ''}.",
        __name__,
        fixed=dict(batch_norm=batch_norm),
        paper=VGG_PAPER,
        follows=f"Table 1, column {column}",
        params=params,
        macs=macs,
        reference=None if params is None else ("torchvision " + name if peer else "hand count from Table 1"),
        deviations=_DEVIATIONS + (_BN_DEVIATIONS if batch_norm else ()),
        peer=peer,
        recipe="vgg",
        published=published,
    )


vgg11 = _register_vgg("vgg11", "A", params=132_863_336, macs=7.6091e9, published=torchvision_v1(69.020, 88.628))
vgg11_lrn = _register_vgg("vgg11_lrn", "A-LRN", params=132_863_336)
vgg13 = _register_vgg("vgg13", "B", params=133_047_848, macs=11.3085e9, published=torchvision_v1(69.928, 89.246))
vgg16_c = _register_vgg("vgg16_c", "C", params=133_638_952)
vgg16 = _register_vgg("vgg16", "D", params=138_357_544, macs=15.4703e9, published=torchvision_v1(71.592, 90.382))
vgg19 = _register_vgg("vgg19", "E", params=143_667_240, macs=19.6321e9, published=torchvision_v1(72.376, 90.876))
vgg11_bn = _register_vgg("vgg11_bn", "A", batch_norm=True)
vgg13_bn = _register_vgg("vgg13_bn", "B", batch_norm=True)
vgg16_bn = _register_vgg("vgg16_bn", "D", batch_norm=True, published=torchvision_v1(73.360, 91.516))
vgg19_bn = _register_vgg("vgg19_bn", "E", batch_norm=True)
