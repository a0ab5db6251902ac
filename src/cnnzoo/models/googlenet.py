"""GoogLeNet: Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (arXiv:1409.4842).

Table 1 is the net, one Inception module per row; Sec. 5 describes the two auxiliary
classifiers. `googlenet_bn` is the BatchNorm port torchvision ships (from TF-slim).
"""
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..layers import ConvNormAct, LocalResponseNorm, make_se
from ..registry import Paper, Peer
from .base import AuxOutputs, ImageClassifier, init_weights, register_variant

GOOGLENET_PAPER = Paper(
    "Going Deeper with Convolutions",
    "Christian Szegedy, Wei Liu, Yangqing Jia, Pierre Sermanet, Scott Reed, Dragomir Anguelov, "
    "Dumitru Erhan, Vincent Vanhoucke, Andrew Rabinovich",
    2014,
    "1409.4842",
)


@dataclass(frozen=True)
class InceptionSpec:
    """One Inception row of Table 1: filters per branch."""

    ch1x1: int
    ch3x3_reduce: int
    ch3x3: int
    ch5x5_reduce: int
    ch5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj


def _row(*filters: int) -> InceptionSpec:
    return InceptionSpec(*filters)


# Table 1 ("GoogLeNet incarnation of the Inception architecture"), columns:
#                  #1x1 #3x3red #3x3 #5x5red #5x5 poolproj
INCEPTION_ROWS = {
    "inception3a": _row(64,   96, 128, 16,  32,  32),
    "inception3b": _row(128, 128, 192, 32,  96,  64),
    "inception4a": _row(192,  96, 208, 16,  48,  64),
    "inception4b": _row(160, 112, 224, 24,  64,  64),
    "inception4c": _row(128, 128, 256, 24,  64,  64),
    "inception4d": _row(112, 144, 288, 32,  64,  64),
    "inception4e": _row(256, 160, 320, 32, 128, 128),
    "inception5a": _row(256, 160, 320, 32, 128, 128),
    "inception5b": _row(384, 192, 384, 48, 128, 128),
}  # fmt: skip
POOL_AFTER = {"inception3b": "pool3", "inception4e": "pool4"}  # the 3x3/2 max pools between groups
AUX_AFTER = {"inception4a": "aux1", "inception4d": "aux2"}  # Sec. 5: classifiers on (4a) and (4d)


@dataclass(frozen=True)
class GoogLeNetConfig:
    batch_norm: bool  # BN after every conv (torchvision), or conv bias + ReLU (paper)
    lrn: bool  # the two LRN layers of the stem (paper)
    branch5x5_kernel: int  # 5 in the paper; torchvision's port has 3x3 there (kept for its weights)
    pool4_kernel: int  # 3x3/2 in Table 1; 2x2/2 in torchvision
    dropout: float  # before the classifier: 40% in Table 1
    aux_pool_paper: bool  # aux heads: 5x5/3 average pool (paper) or adaptive 4x4 (torchvision)


GOOGLENET = GoogLeNetConfig(
    batch_norm=False, lrn=True, branch5x5_kernel=5, pool4_kernel=3, dropout=0.4, aux_pool_paper=True
)
GOOGLENET_BN = GoogLeNetConfig(
    batch_norm=True, lrn=False, branch5x5_kernel=3, pool4_kernel=2, dropout=0.2, aux_pool_paper=False
)


class Inception(nn.Module):
    """Inception module with dimension reductions (Fig. 2b), SE on its output as an option (SENet Fig. 2)."""

    def __init__(self, in_channels: int, spec: InceptionSpec, conv, branch5x5_kernel: int = 5, se=None):
        super().__init__()
        self.branch1 = conv(in_channels, spec.ch1x1, 1)
        self.branch2 = nn.Sequential(conv(in_channels, spec.ch3x3_reduce, 1), conv(spec.ch3x3_reduce, spec.ch3x3, 3))
        self.branch3 = nn.Sequential(
            conv(in_channels, spec.ch5x5_reduce, 1), conv(spec.ch5x5_reduce, spec.ch5x5, branch5x5_kernel)
        )
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), conv(in_channels, spec.pool_proj, 1))
        self.se = make_se(se, spec.out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)
        return x if self.se is None else self.se(x)


class InceptionAux(nn.Module):
    """Auxiliary classifier (Sec. 5): avg pool 5x5/3, 1x1 conv 128, FC 1024, dropout 70%, linear."""

    def __init__(self, in_channels: int, num_classes: int, conv, paper_pool: bool = True, dropout: float = 0.7):
        super().__init__()
        self.paper_pool = paper_pool
        self.conv = conv(in_channels, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.drop = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        if self.paper_pool:
            x = F.avg_pool2d(x, 5, 3)  # N x C x 4 x 4 from 14 x 14
        if x.shape[-2:] != (4, 4):  # other input sizes: bring the grid to the FC's 4 x 4
            x = F.adaptive_avg_pool2d(x, 4)
        x = self.conv(x).flatten(1)
        return self.fc2(self.drop(F.relu(self.fc1(x), inplace=True)))


class GoogLeNet(ImageClassifier):
    def __init__(
        self,
        config: GoogLeNetConfig,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        se: bool | float | None = None,
    ):
        super().__init__()
        self.num_classes, self.in_chans = num_classes, in_chans
        self.config = config
        if config.batch_norm:
            conv = partial(ConvNormAct, norm_layer=partial(nn.BatchNorm2d, eps=1e-3))
        else:
            conv = partial(ConvNormAct, norm_layer=None)
        # The release's LRN is given in Caffe's convention (alpha / n, k = 1).
        lrn = LocalResponseNorm.from_caffe if config.lrn else None
        pool = partial(nn.MaxPool2d, 3, 2, ceil_mode=True)  # Caffe rounds pooled sizes up: 112 -> 56
        stem = [("conv1", conv(in_chans, 64, 7, 2)), ("pool1", pool())]  # N x 64 x 56 x 56
        stem += [("norm1", lrn())] if lrn else []
        stem += [("conv2", conv(64, 64, 1)), ("conv3", conv(64, 192, 3))]  # N x 192 x 56 x 56
        stem += [("norm2", lrn())] if lrn else []
        stem += [("pool2", pool())]  # N x 192 x 28 x 28
        blocks = OrderedDict(stem)
        channels = 192
        for name, spec in INCEPTION_ROWS.items():
            blocks[name] = Inception(channels, spec, conv, config.branch5x5_kernel, se)
            channels = spec.out_channels
            if name in POOL_AFTER:
                kernel = config.pool4_kernel if name == "inception4e" else 3
                blocks[POOL_AFTER[name]] = nn.MaxPool2d(kernel, 2, ceil_mode=True)
        self.features = nn.Sequential(blocks)  # N x 1024 x 7 x 7 at 224
        self.aux_logits = aux_logits
        if aux_logits:
            for tap, aux in AUX_AFTER.items():
                in_channels = INCEPTION_ROWS[tap].out_channels
                self.add_module(aux, InceptionAux(in_channels, num_classes, conv, config.aux_pool_paper))
        self.pool = nn.AdaptiveAvgPool2d(1)  # Table 1's 7x7/1 average pool at 224
        self.drop = nn.Dropout(config.dropout)
        self.num_features = channels
        self.reset_classifier(num_classes)
        init_weights(self)

    def reset_classifier(self, num_classes: int) -> None:
        super().reset_classifier(num_classes)
        for aux in AUX_AFTER.values():
            if hasattr(self, aux):
                head = getattr(self, aux)
                head.fc2 = nn.Linear(1024, num_classes) if num_classes > 0 else nn.Identity()

    def _features(self, x: Tensor, with_aux: bool) -> tuple[Tensor, list[Tensor]]:
        aux = []
        for name, block in self.features.named_children():
            x = block(x)
            if with_aux and name in AUX_AFTER:
                aux.append(getattr(self, AUX_AFTER[name])(x))
        return x, aux

    def forward_features(self, x: Tensor) -> Tensor:
        return self._features(x, with_aux=False)[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.drop(self.pool(x).flatten(1))
        return x if pre_logits else self.fc(x)

    def _forward_impl(self, x: Tensor) -> Tensor | AuxOutputs:
        """In training mode with aux heads: AuxOutputs(logits, (aux1 on 4a, aux2 on 4d))."""
        if not (self.training and self.aux_logits):
            return super()._forward_impl(x)
        x, aux = self._features(x, with_aux=True)
        return AuxOutputs(self.forward_head(x), tuple(aux))


register_variant(
    "googlenet",
    GoogLeNet,
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
)
register_variant(
    "googlenet_bn",
    GoogLeNet,
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
    peer=Peer("torchvision", "googlenet", kwargs=dict(aux_logits=False, init_weights=True), ours=dict(aux_logits=False)),
)
