"""Inception-v3 and BN-Inception, and their SE variants.

Inception-v3: Szegedy et al., "Rethinking the Inception Architecture for Computer Vision",
CVPR 2016 (arXiv:1512.00567): factorised convolutions (Figs. 5-7), efficient grid-size
reduction (Fig. 10), a BatchNorm auxiliary classifier on the last 17x17 layer (Sec. 7).
BN-Inception: Ioffe & Szegedy, "Batch Normalization", ICML 2015 (arXiv:1502.03167), Fig. 5:
GoogLeNet with BatchNorm, 5x5 convolutions replaced by two 3x3s, and stride-2 Inception
modules for grid reduction; the net the SENet paper calls BN-Inception.
SE-Inception: Hu et al., SENet, Fig. 2: SE on the output of every Inception module.
"""
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ..reference.accuracy import torchvision_v1
from ..registry import Paper, Peer
from .base import register_variant
from .inception_blocks import Branch, Conv, InceptionNet, InceptionNetConfig, Pool, PoolStyle
from .senet import SENET_PAPER

INCEPTION_V3_PAPER = Paper(
    "Rethinking the Inception Architecture for Computer Vision",
    "Christian Szegedy, Vincent Vanhoucke, Sergey Ioffe, Jonathon Shlens, Zbigniew Wojna",
    2015,
    "1512.00567",
)
BN_PAPER = Paper(
    "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift",
    "Sergey Ioffe, Christian Szegedy",
    2015,
    "1502.03167",
)

# -- Inception-v3: the modules of Figs. 5, 6, 7 and 10, with the released model's widths ----------


def fig5(pool_proj: int) -> tuple[Branch, ...]:
    """35x35 module (Fig. 5). The release keeps a 5x5 branch beside the two-3x3 branch."""
    return (
        Branch((Conv(64),)),
        Branch((Conv(48), Conv(64, 5))),
        Branch((Conv(64), Conv(96, 3), Conv(96, 3))),
        Branch((Conv(pool_proj),), pool="avg"),
    )


def fig6(c7: int) -> tuple[Branch, ...]:
    """17x17 module (Fig. 6, n = 7): 7x7 factorised into 1x7 and 7x1."""
    return (
        Branch((Conv(192),)),
        Branch((Conv(c7), Conv(c7, (1, 7)), Conv(192, (7, 1)))),
        Branch((Conv(c7), Conv(c7, (7, 1)), Conv(c7, (1, 7)), Conv(c7, (7, 1)), Conv(192, (1, 7)))),
        Branch((Conv(192),), pool="avg"),
    )


def fig7() -> tuple[Branch, ...]:
    """8x8 module with expanded filter bank outputs (Fig. 7): 1x3 and 3x1 side by side."""
    return (
        Branch((Conv(320),)),
        Branch((Conv(384),), split=(Conv(384, (1, 3)), Conv(384, (3, 1)))),
        Branch((Conv(448), Conv(384, 3)), split=(Conv(384, (1, 3)), Conv(384, (3, 1)))),
        Branch((Conv(192),), pool="avg"),
    )


def fig10_35() -> tuple[Branch, ...]:
    """Grid reduction 35 -> 17 (Fig. 10): strided convs beside a strided pool."""
    return (
        Branch((Conv(384, 3, 2),)),
        Branch((Conv(64), Conv(96, 3), Conv(96, 3, 2))),
        Branch(pool="max/2"),
    )


def fig10_17() -> tuple[Branch, ...]:
    """Grid reduction 17 -> 8."""
    return (
        Branch((Conv(192), Conv(320, 3, 2))),
        Branch((Conv(192), Conv(192, (1, 7)), Conv(192, (7, 1)), Conv(192, 3, 2))),
        Branch(pool="max/2"),
    )


class InceptionV3Aux(nn.Module):
    """Auxiliary classifier on the last 17x17 grid (Sec. 7; Fig. 8), with BatchNorm."""

    def __init__(self, in_channels: int, num_classes: int, conv):
        super().__init__()
        self.conv0 = conv(in_channels, 128, 1)
        self.conv1 = conv(128, 768, 5, 1, 0)
        self.reset(num_classes)

    def reset(self, num_classes: int) -> None:
        self.fc = nn.Linear(768, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = F.avg_pool2d(x, 5, 3)  # N x 768 x 5 x 5 from 17 x 17
        x = self.conv1(self.conv0(x))  # N x 768 x 1 x 1
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


INCEPTION_V3 = InceptionNetConfig(
    layers=(
        ("conv1a", Conv(32, 3, 2)),  # 299 -> 149
        ("conv2a", Conv(32, 3, padding=0)),  # -> 147
        ("conv2b", Conv(64, 3)),
        ("pool1", Pool()),  # -> 73
        ("conv3b", Conv(80)),
        ("conv4a", Conv(192, 3, padding=0)),  # -> 71
        ("pool2", Pool()),  # -> 35 x 35 x 192
        ("mixed5b", fig5(32)),  # 256
        ("mixed5c", fig5(64)),  # 288
        ("mixed5d", fig5(64)),  # 288
        ("mixed6a", fig10_35()),  # 17 x 17 x 768
        ("mixed6b", fig6(128)),
        ("mixed6c", fig6(160)),
        ("mixed6d", fig6(160)),
        ("mixed6e", fig6(192)),
        ("mixed7a", fig10_17()),  # 8 x 8 x 1280
        ("mixed7b", fig7()),  # 2048
        ("mixed7c", fig7()),
    ),
    input_size=299,
    bn_eps=1e-3,
    dropout=0.5,
    aux_taps=("mixed6e",),
    aux_head=InceptionV3Aux,
)

_V3_DEVIATIONS = (
    "the authors' released model (as torchvision and TF-slim), not Table 1: 35x35 modules keep a 5x5 "
    "branch, the stem is 3x3/2-3x3-3x3-pool-1x1-3x3-pool, and module widths are the release's",
    "average pools count the zero padding (torchvision), where TF-slim's 'SAME' pools do not",
)

register_variant(
    "inception_v3",
    InceptionNet,
    INCEPTION_V3,
    "Inception-v3: factorised 7x7s (Figs. 5-7), grid reductions (Fig. 10), BN auxiliary classifier, 299 input.",
    __name__,
    paper=INCEPTION_V3_PAPER,
    follows="Figs. 5, 6, 7, 10 and Sec. 7, with the released model's widths",
    input_size=299,
    params=23_834_568,
    macs=5.7132e9,
    reference="torchvision inception_v3 without the aux head (27,161,264 with it)",
    reference_options=dict(aux_logits=False),
    deviations=_V3_DEVIATIONS,
    peer=Peer("torchvision", "inception_v3", kwargs=dict(init_weights=True), aux_prefixes=("AuxLogits.",)),
    recipe="inception_v3",
    published=torchvision_v1(77.294, 93.450),
)
register_variant(
    "se_inception_v3",
    InceptionNet,
    INCEPTION_V3,
    "SE-Inception-v3: Inception-v3 with SE (r=16) on every Inception module (SENet Fig. 2).",
    __name__,
    defaults=dict(se=16),
    paper=SENET_PAPER,
    follows="Fig. 2 (SE-Inception module) on Inception-v3",
    input_size=299,
    reference_options=dict(aux_logits=False),
    deviations=_V3_DEVIATIONS,
    recipe="inception_v3",
)

# -- BN-Inception: the table of Fig. 5 of the BatchNorm paper ---------------------------------------


@dataclass(frozen=True)
class BNInceptionRow:
    """One Inception row of Fig. 5. A row with no 1x1 branch is a stride-2 (grid-reducing) module
    whose pool passes its input through."""

    ch1x1: int
    ch3x3_reduce: int
    ch3x3: int
    double3x3_reduce: int
    double3x3: int
    pool: str  # "avg" or "max"
    pool_proj: int  # 0: pass through

    def branches(self) -> tuple[Branch, ...]:
        stride = 2 if self.ch1x1 == 0 else 1
        pad = 1  # Caffe pads the strided 3x3s: 28 -> 14 -> 7
        branches = (
            Branch((Conv(self.ch3x3_reduce), Conv(self.ch3x3, 3, stride, pad))),
            Branch((Conv(self.double3x3_reduce), Conv(self.double3x3, 3), Conv(self.double3x3, 3, stride, pad))),
        )
        if stride == 2:
            return branches + (Branch(pool="max/2"),)
        return (Branch((Conv(self.ch1x1),)),) + branches + (Branch((Conv(self.pool_proj),), pool=self.pool),)


# Fig. 5, columns: #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, Pool + proj
FIG5 = {
    "inception3a": BNInceptionRow(64,   64,  64,  64,  96, "avg",  32),
    "inception3b": BNInceptionRow(64,   64,  96,  64,  96, "avg",  64),
    "inception3c": BNInceptionRow(0,   128, 160,  64,  96, "max",   0),  # stride 2
    "inception4a": BNInceptionRow(224,  64,  96,  96, 128, "avg", 128),
    "inception4b": BNInceptionRow(192,  96, 128,  96, 128, "avg", 128),
    "inception4c": BNInceptionRow(160, 128, 160, 128, 160, "avg", 128),
    "inception4d": BNInceptionRow(96,  128, 192, 160, 192, "avg", 128),
    "inception4e": BNInceptionRow(0,   128, 192, 192, 256, "max",   0),  # stride 2
    "inception5a": BNInceptionRow(352, 192, 320, 160, 224, "avg", 128),
    "inception5b": BNInceptionRow(352, 192, 320, 192, 224, "max", 128),
}  # fmt: skip

BN_INCEPTION = InceptionNetConfig(
    layers=(
        ("conv1", Conv(64, 7, 2, 3)),  # 224 -> 112
        ("pool1", Pool()),  # -> 56
        ("conv2_reduce", Conv(64)),
        ("conv2", Conv(192, 3)),
        ("pool2", Pool()),  # -> 28 x 28 x 192
        *((name, row.branches()) for name, row in FIG5.items()),
    ),
    input_size=224,
    bn_eps=1e-5,
    pools=PoolStyle(ceil_mode=True),  # the Caffe release rounds pooled sizes up
)

_BN_DEVIATIONS = (
    "conv1 is a plain 7x7/2 convolution, as in the Caffe release the SENet authors used",
    "convolutions have no bias (BatchNorm's shift replaces it, Sec. 3.2); conv_bias=True matches the Caffe "
    "release's weights",
)

register_variant(
    "bn_inception",
    InceptionNet,
    BN_INCEPTION,
    "BN-Inception: GoogLeNet with BatchNorm, double 3x3s for 5x5s, stride-2 Inception modules (Fig. 5).",
    __name__,
    paper=BN_PAPER,
    follows="Fig. 5 (the Inception table) and Sec. 4.2",
    deviations=_BN_DEVIATIONS,
    recipe="googlenet",
)
register_variant(
    "se_bn_inception",
    InceptionNet,
    BN_INCEPTION,
    "SE-BN-Inception: BN-Inception with SE (r=16) on every Inception module (SENet Fig. 2).",
    __name__,
    defaults=dict(se=16),
    paper=SENET_PAPER,
    follows="Fig. 2 (SE-Inception module) on BN-Inception",
    deviations=_BN_DEVIATIONS,
    recipe="googlenet",
)
