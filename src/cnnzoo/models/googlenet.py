"""GoogLeNet: Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (arXiv:1409.4842).

Table 1 is the net, one Inception module per row; Sec. 5 describes the two auxiliary
classifiers. `googlenet_bn` is the BatchNorm port torchvision ships (from TF-slim). `naive=True`
builds every module as Fig. 2a's "naive" version (Table 1's 1x1, 3x3 and 5x5 counts, no 1x1
reductions, no pool projection): the cost the dimension reductions of Fig. 2b avoid.
"""
import dataclasses
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ..reference.accuracy import torchvision_v1
from ..registry import Paper, Peer
from .base import register_variant
from .inception_blocks import LRN, Branch, Conv, InceptionNet, InceptionNetConfig, Pool, PoolStyle

GOOGLENET_PAPER = Paper(
    "Going Deeper with Convolutions",
    "Christian Szegedy, Wei Liu, Yangqing Jia, Pierre Sermanet, Scott Reed, Dragomir Anguelov, "
    "Dumitru Erhan, Vincent Vanhoucke, Andrew Rabinovich",
    2014,
    "1409.4842",
)


@dataclass(frozen=True)
class InceptionRow:
    """One Inception row of Table 1: filters per branch (Fig. 2b)."""

    ch1x1: int
    ch3x3_reduce: int
    ch3x3: int
    ch5x5_reduce: int
    ch5x5: int
    pool_proj: int

    def branches(self, kernel5: int = 5) -> tuple[Branch, ...]:
        return (
            Branch((Conv(self.ch1x1),)),
            Branch((Conv(self.ch3x3_reduce), Conv(self.ch3x3, 3))),
            Branch((Conv(self.ch5x5_reduce), Conv(self.ch5x5, kernel5))),
            Branch((Conv(self.pool_proj),), pool="max"),
        )


# Table 1 ("GoogLeNet incarnation of the Inception architecture"), columns:
#                          #1x1 #3x3red #3x3 #5x5red #5x5 poolproj
TABLE1 = {
    "inception3a": InceptionRow(64,   96, 128, 16,  32,  32),
    "inception3b": InceptionRow(128, 128, 192, 32,  96,  64),
    "inception4a": InceptionRow(192,  96, 208, 16,  48,  64),
    "inception4b": InceptionRow(160, 112, 224, 24,  64,  64),
    "inception4c": InceptionRow(128, 128, 256, 24,  64,  64),
    "inception4d": InceptionRow(112, 144, 288, 32,  64,  64),
    "inception4e": InceptionRow(256, 160, 320, 32, 128, 128),
    "inception5a": InceptionRow(256, 160, 320, 32, 128, 128),
    "inception5b": InceptionRow(384, 192, 384, 48, 128, 128),
}  # fmt: skip

# The BVLC release's LRN: n=5, alpha=1e-4 in Caffe's alpha/n convention, k=1.
CAFFE_LRN = LRN(size=5, alpha=1e-4 / 5, beta=0.75, k=1.0)


def googlenet_layers(kernel5: int = 5, pool4: int = 3, lrn: bool = True) -> tuple:
    """Table 1 top to bottom (the average pool, dropout and linear rows are the head)."""
    norm = lambda name: [(name, CAFFE_LRN)] if lrn else []  # noqa: E731
    layers = [("conv1", Conv(64, 7, 2, 3)), ("pool1", Pool()), *norm("norm1")]  # 112 -> 56
    layers += [("conv2", Conv(64)), ("conv3", Conv(192, 3)), *norm("norm2"), ("pool2", Pool())]  # -> 28
    for name, row in TABLE1.items():
        layers.append((name, row.branches(kernel5)))
        if name == "inception3b":
            layers.append(("pool3", Pool()))  # 28 -> 14
        if name == "inception4e":
            layers.append(("pool4", Pool(kernel=pool4)))  # 14 -> 7
    return tuple(layers)


class GoogLeNetAux(nn.Module):
    """Auxiliary classifier (Sec. 5): avg pool 5x5/3, 1x1 conv 128, FC 1024, dropout 70%, linear."""

    def __init__(self, in_channels: int, num_classes: int, conv, paper_pool: bool = True):
        super().__init__()
        self.paper_pool = paper_pool
        self.conv = conv(in_channels, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.drop = nn.Dropout(0.7)
        self.reset(num_classes)

    def reset(self, num_classes: int) -> None:
        self.fc2 = nn.Linear(1024, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        if self.paper_pool:
            x = F.avg_pool2d(x, 5, 3)  # N x C x 4 x 4 from 14 x 14
        if x.shape[-2:] != (4, 4):  # other input sizes: bring the grid to the FC's 4 x 4
            x = F.adaptive_avg_pool2d(x, 4)
        x = self.conv(x).flatten(1)
        return self.fc2(self.drop(F.relu(self.fc1(x), inplace=True)))


class GoogLeNetAuxBN(GoogLeNetAux):
    """torchvision's aux head: adaptive 4x4 average pool instead of 5x5/3."""

    def __init__(self, in_channels: int, num_classes: int, conv):
        super().__init__(in_channels, num_classes, conv, paper_pool=False)


GOOGLENET = InceptionNetConfig(
    layers=googlenet_layers(),
    input_size=224,
    batch_norm=False,
    pools=PoolStyle(ceil_mode=True),  # Caffe rounds pooled sizes up: 112 -> 56 -> 28 -> 14 -> 7
    dropout=0.4,
    aux_taps=("inception4a", "inception4d"),  # Sec. 5: on top of (4a) and (4d)
    aux_head=GoogLeNetAux,
)
GOOGLENET_BN = dataclasses.replace(
    GOOGLENET,
    layers=googlenet_layers(kernel5=3, pool4=2, lrn=False),
    batch_norm=True,
    bn_eps=1e-3,
    dropout=0.2,
    aux_head=GoogLeNetAuxBN,
)

register_variant(
    "googlenet",
    InceptionNet,
    GOOGLENET,
    "GoogLeNet as in the paper: 5x5 branches, LRN, 3x3 pools, dropout 0.4, two auxiliary classifiers.",
    __name__,
    paper=GOOGLENET_PAPER,
    follows="Table 1 and Sec. 5 (auxiliary classifiers)",
    deviations=(
        "LRN constants from the BVLC Caffe release (n=5, alpha=1e-4 in Caffe's alpha/n convention, beta=0.75): "
        "the paper gives none",
        "global average pool (Table 1's 7x7/1 at 224) so that other sizes run",
        "He init instead of the release's Xavier init",
    ),
    reference_options=dict(aux_logits=False),
    recipe="googlenet",
)
register_variant(
    "googlenet_bn",
    InceptionNet,
    GOOGLENET_BN,
    "GoogLeNet with BatchNorm, the variant torchvision ships (3x3 in place of 5x5, 2x2 pool4).",
    __name__,
    paper=GOOGLENET_PAPER,
    follows="Table 1, with BatchNorm (torchvision's port of TF-slim)",
    params=6_624_904,
    macs=1.4984e9,
    reference="torchvision googlenet without aux heads",
    reference_options=dict(aux_logits=False),
    deviations=(
        "BatchNorm after every conv, no LRN",
        "the '5x5' branch uses 3x3 convolutions and pool4 is 2x2/2, as in torchvision's weights",
        "dropout 0.2; aux heads pool adaptively to 4x4",
    ),
    peer=Peer("torchvision", "googlenet", kwargs=dict(init_weights=True), aux_prefixes=("aux1.", "aux2.")),
    recipe="googlenet",
    published=torchvision_v1(69.778, 89.530),
)
