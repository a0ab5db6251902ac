"""Inception-ResNet-v1 and -v2: Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet
and the Impact of Residual Connections on Learning", AAAI 2017 (arXiv:1602.07261).

Residual Inception blocks on three grids (35x35, 17x17, 8x8), each block's output scaled down
before the sum (Sec. 3.3), with the reduction modules of Figs. 7, 12 and 18 between them.
v1 follows the paper's Figs. 10-15; v2 follows the TF-slim release (as timm), whose stem and
repeats (10/20/10) differ from the paper's Fig. 15 (5/10/5).
"""
from dataclasses import dataclass

from ..errors import InvalidOptionError
from ..reference.accuracy import timm_published
from ..registry import Paper, Peer
from .base import register_variant
from .inception_blocks import Branch, Conv, InceptionNet, InceptionNetConfig, Layer, Pool, PoolStyle, Residual

INCEPTION_RESNET_PAPER = Paper(
    "Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning",
    "Christian Szegedy, Sergey Ioffe, Vincent Vanhoucke, Alex Alemi",
    2016,
    "1602.07261",
)


@dataclass(frozen=True)
class InceptionResNetConfig:
    stem: tuple[tuple[str, Layer], ...]  # to the 35x35 grid
    block_a: tuple[Branch, ...]  # 35x35 residual block
    reduction_a: tuple[Branch, ...]  # 35 -> 17 (Fig. 7)
    block_b: tuple[Branch, ...]  # 17x17
    reduction_b: tuple[Branch, ...]  # 17 -> 8
    block_c: tuple[Branch, ...]  # 8x8
    repeats: tuple[int, int, int]  # blocks on each grid
    scales: tuple[float, float, float]  # residual scaling of A, B, C blocks (Sec. 3.3)
    head: tuple[tuple[str, Layer], ...] = ()  # v2's final 1x1 conv
    pools: PoolStyle = PoolStyle()
    drop_path_rate: float = 0.0  # stochastic depth (Huang et al. 2016) on the residual blocks: the last one's

    def net_config(self) -> InceptionNetConfig:
        if any(n < 1 for n in self.repeats) or len(self.repeats) != 3:
            raise InvalidOptionError(f"repeats must be three block counts >= 1, got {self.repeats}")
        a, b, c = self.repeats
        layers = list(self.stem)
        layers += [(f"block_a{i + 1}", Residual(self.block_a, self.scales[0])) for i in range(a)]
        layers += [("reduction_a", self.reduction_a)]
        layers += [(f"block_b{i + 1}", Residual(self.block_b, self.scales[1])) for i in range(b)]
        layers += [("reduction_b", self.reduction_b)]
        layers += [(f"block_c{i + 1}", Residual(self.block_c, self.scales[2])) for i in range(c - 1)]
        layers += [(f"block_c{c}", Residual(self.block_c, 1.0, activate=False))]  # the release's last block
        return InceptionNetConfig(
            layers=tuple(layers + list(self.head)), input_size=299, bn_eps=1e-3, pools=self.pools, dropout=0.2,
            drop_path_rate=self.drop_path_rate,
        )


class InceptionResNet(InceptionNet):
    """An InceptionNet whose layer list is generated from the blocks and their repeats."""

    def __init__(self, config: InceptionResNetConfig, num_classes: int = 1000, in_chans: int = 3):
        super().__init__(config.net_config(), num_classes, in_chans, aux_logits=False)


def reduction_a(k: int, l: int, m: int, n: int) -> tuple[Branch, ...]:  # noqa: E741  (the paper's letters)
    """Fig. 7, with Table 1's k, l, m, n."""
    return (Branch((Conv(n, 3, 2),)), Branch((Conv(k), Conv(l, 3), Conv(m, 3, 2))), Branch(pool="max/2"))


# The first six layers of Fig. 14, shared by the TF-slim v2 stem: 299 -> 71 x 71 x 192.
STEM = (
    ("conv1a", Conv(32, 3, 2)),
    ("conv2a", Conv(32, 3, padding=0)),
    ("conv2b", Conv(64, 3)),
    ("pool3a", Pool()),
    ("conv3b", Conv(80)),
    ("conv4a", Conv(192, 3, padding=0)),
)

# -- v1: Figs. 10-15 -----------------------------------------------------------------------------

INCEPTION_RESNET_V1 = InceptionResNetConfig(
    stem=STEM + (("conv4b", Conv(256, 3, 2)),),  # Fig. 14: 299 -> 35 x 35 x 256
    block_a=(  # Fig. 10, to 1x1 256
        Branch((Conv(32),)),
        Branch((Conv(32), Conv(32, 3))),
        Branch((Conv(32), Conv(32, 3), Conv(32, 3))),
    ),
    reduction_a=reduction_a(k=192, l=192, m=256, n=384),  # Table 1, Inception-ResNet-v1: 896 out
    block_b=(  # Fig. 11, to 1x1 896
        Branch((Conv(128),)),
        Branch((Conv(128), Conv(128, (1, 7)), Conv(128, (7, 1)))),
    ),
    reduction_b=(  # Fig. 12: 1792 out
        Branch((Conv(256), Conv(384, 3, 2))),
        Branch((Conv(256), Conv(256, 3, 2))),
        Branch((Conv(256), Conv(256, 3), Conv(256, 3, 2))),
        Branch(pool="max/2"),
    ),
    block_c=(  # Fig. 13, to 1x1 1792
        Branch((Conv(192),)),
        Branch((Conv(192), Conv(192, (1, 3)), Conv(192, (3, 1)))),
    ),
    repeats=(5, 10, 5),  # Fig. 15
    scales=(0.17, 0.10, 0.20),
)

# -- v2: the TF-slim release (timm's inception_resnet_v2) ---------------------------------------------

INCEPTION_RESNET_V2 = InceptionResNetConfig(
    stem=STEM  # TF-slim: 299 -> 35 x 35 x 192, then an Inception-A module to 320 (Fig. 3's stem gives 384)
    + (
        ("pool5a", Pool()),
        (
            "mixed5b",
            (
                Branch((Conv(96),)),
                Branch((Conv(48), Conv(64, 5))),
                Branch((Conv(64), Conv(96, 3), Conv(96, 3))),
                Branch((Conv(64),), pool="avg"),
            ),
        ),
    ),
    block_a=(  # Fig. 16, to 1x1 320
        Branch((Conv(32),)),
        Branch((Conv(32), Conv(32, 3))),
        Branch((Conv(32), Conv(48, 3), Conv(64, 3))),
    ),
    reduction_a=reduction_a(k=256, l=256, m=384, n=384),  # Table 1, Inception-ResNet-v2: 1088 out
    block_b=(  # Fig. 17, to 1x1 1088
        Branch((Conv(192),)),
        Branch((Conv(128), Conv(160, (1, 7)), Conv(192, (7, 1)))),
    ),
    reduction_b=(  # Fig. 18: 2080 out
        Branch((Conv(256), Conv(384, 3, 2))),
        Branch((Conv(256), Conv(288, 3, 2))),
        Branch((Conv(256), Conv(288, 3), Conv(320, 3, 2))),
        Branch(pool="max/2"),
    ),
    block_c=(  # Fig. 19, to 1x1 2080
        Branch((Conv(192),)),
        Branch((Conv(192), Conv(224, (1, 3)), Conv(256, (3, 1)))),
    ),
    repeats=(10, 20, 10),  # TF-slim; the paper's Fig. 15 draws 5, 10, 5: repeats=(5, 10, 5)
    scales=(0.17, 0.10, 0.20),
    head=(("conv7b", Conv(1536)),),
    pools=PoolStyle(count_include_pad=False),  # TF 'SAME' average pools ignore the padding
)

_COMMON = (
    "the last 8x8 block has scale 1 and no ReLU, as the TF-slim release",
    "residual scales 0.17 / 0.10 / 0.20 from the release; the paper gives 'between 0.1 and 0.3' (Sec. 3.3)",
)

register_variant(
    "inception_resnet_v1",
    InceptionResNet,
    INCEPTION_RESNET_V1,
    "Inception-ResNet-v1: Fig. 14 stem, 5/10/5 residual Inception blocks (Figs. 10-13), 1792 features.",
    __name__,
    paper=INCEPTION_RESNET_PAPER,
    follows="Figs. 7, 10-15 and Table 1",
    input_size=299,
    deviations=_COMMON,
    recipe="inception_resnet",
)
register_variant(
    "inception_resnet_v2",
    InceptionResNet,
    INCEPTION_RESNET_V2,
    "Inception-ResNet-v2 in the TF-slim layout: 10/20/10 residual blocks (Figs. 16-19), 1536-d head conv.",
    __name__,
    paper=INCEPTION_RESNET_PAPER,
    follows="Figs. 7, 16-19 and Table 1, in the TF-slim release's layout",
    input_size=299,
    params=55_843_464,
    macs=13.1558e9,
    reference="timm inception_resnet_v2",
    deviations=(
        "TF-slim stem (conv/pool stem, then a 320-wide Inception-A module) instead of Fig. 3's",
        "10/20/10 blocks as released; repeats=(5, 10, 5) gives the paper's Fig. 15",
    )
    + _COMMON,
    peer=Peer("timm", "inception_resnet_v2"),
    recipe="inception_resnet",
    published=timm_published("inception_resnet_v2.tf_in1k"),
)
