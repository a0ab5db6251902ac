"""The multi-branch module all Inception nets share: parallel branches, concatenated.

A module is a tuple of `Branch` rows, each a chain of `Conv` rows, so the code reads like the
papers' figures (GoogLeNet Fig. 2b, Inception-v3 Figs. 5-7 and 10, BN-Inception Fig. 5,
Inception-ResNet Figs. 7-19). A branch may start with a pool (the "pool proj" branch, or a
reduction's pass-through) and may end by splitting into parallel convolutions (Inception-v3
Fig. 7, "expanded filter bank").
"""
from collections import OrderedDict
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from ..layers import ConvNormAct, LocalResponseNorm, make_se, set_drop_path
from .base import AuxOutputs, ImageClassifier, init_weights
from .features import checkpointed


@dataclass(frozen=True)
class Conv:
    out_channels: int
    kernel: int | tuple[int, int] = 1
    stride: int = 1
    padding: int | tuple[int, int] | None = None  # None: "same" at stride 1, "valid" (0) when strided

    def resolved_padding(self) -> int | tuple[int, int]:
        if self.padding is not None:
            return self.padding
        if self.stride > 1:
            return 0
        kh, kw = (self.kernel, self.kernel) if isinstance(self.kernel, int) else self.kernel
        return ((kh - 1) // 2, (kw - 1) // 2)


@dataclass(frozen=True)
class Branch:
    convs: tuple[Conv, ...] = ()
    pool: str | None = None  # "avg" or "max": 3x3/1 before the convs; "max/2": a 3x3/2 pass-through
    split: tuple[Conv, ...] = ()  # parallel convs on the chain's output, concatenated (Fig. 7)

    def out_channels(self, in_channels: int) -> int:
        if self.split:
            return sum(c.out_channels for c in self.split)
        return self.convs[-1].out_channels if self.convs else in_channels

    def without_reduction(self) -> "Branch":
        """This branch as in the "naive" Inception module (GoogLeNet Fig. 2a): no 1x1 convolution before a
        larger one, no projection after the pool (which then passes every input channel through)."""
        if self.pool in ("avg", "max"):
            return Branch((), self.pool)
        if len(self.convs) > 1 and self.convs[0].kernel in (1, (1, 1)):
            return Branch(self.convs[1:], self.pool, self.split)
        return self


def naive(branches: tuple["Branch", ...]) -> tuple["Branch", ...]:
    """An Inception module without its dimension reductions (Fig. 2a against Fig. 2b): the output depth
    grows by the whole input at every module, and the 3x3 and 5x5 convolutions see every input channel."""
    return tuple(b.without_reduction() for b in branches)


@dataclass(frozen=True)
class PoolStyle:
    """How a net rounds its pools: Caffe ceil mode (GoogLeNet, BN-Inception) or floor (TF ports)."""

    ceil_mode: bool = False
    count_include_pad: bool = True  # average pools: torchvision's Inception-v3 counts the zero padding


def module_out_channels(in_channels: int, branches: tuple[Branch, ...]) -> int:
    return sum(b.out_channels(in_channels) for b in branches)


class InceptionBranch(nn.Module):
    def __init__(self, in_channels: int, branch: Branch, conv, pools: PoolStyle):
        super().__init__()
        if branch.pool == "avg":
            self.pool = nn.AvgPool2d(3, 1, 1, ceil_mode=pools.ceil_mode, count_include_pad=pools.count_include_pad)
        elif branch.pool == "max":
            self.pool = nn.MaxPool2d(3, 1, 1, ceil_mode=pools.ceil_mode)
        elif branch.pool == "max/2":
            self.pool = nn.MaxPool2d(3, 2, ceil_mode=pools.ceil_mode)
        else:
            self.pool = None
        chain, channels = [], in_channels
        for c in branch.convs:
            chain.append(conv(channels, c.out_channels, c.kernel, c.stride, c.resolved_padding()))
            channels = c.out_channels
        self.chain = nn.Sequential(*chain)
        self.split = nn.ModuleList(conv(channels, c.out_channels, c.kernel, c.stride, c.resolved_padding()) for c in branch.split)

    def forward(self, x: Tensor) -> Tensor:
        if self.pool is not None:
            x = self.pool(x)
        x = self.chain(x)
        return torch.cat([head(x) for head in self.split], 1) if len(self.split) else x


class Inception(nn.Module):
    """Branches side by side, outputs concatenated along channels; SE on the result as an option
    (SENet Fig. 2, "SE-Inception module")."""

    def __init__(self, in_channels: int, branches: tuple[Branch, ...], conv, pools: PoolStyle = PoolStyle(), se=None):
        super().__init__()
        self.branches = nn.ModuleList(InceptionBranch(in_channels, b, conv, pools) for b in branches)
        self.in_chans, self.out_channels = in_channels, module_out_channels(in_channels, branches)  # (in_chans: for analyze)
        self.se = make_se(se, self.out_channels)

    def forward(self, x: Tensor) -> Tensor:
        x = torch.cat([branch(x) for branch in self.branches], 1)
        return x if self.se is None else self.se(x)


# -- a whole Inception network: stem, modules and pools in a row, auxiliary heads on taps ---------


@dataclass(frozen=True)
class Pool:
    kind: str = "max"  # "max" or "avg"
    kernel: int = 3
    stride: int = 2
    padding: int = 0


@dataclass(frozen=True)
class LRN:
    """Local response normalisation, in the paper formula's constants (see layers/lrn.py)."""

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0


@dataclass(frozen=True)
class Residual:
    """Inception-ResNet block (Szegedy et al. 2016, Figs. 10-13, 16-19): branches, a linear 1x1
    back to the input width, `x + scale * that`, then ReLU unless `activate` is False."""

    branches: tuple[Branch, ...]
    scale: float
    activate: bool = True


Layer = Conv | Pool | LRN | Residual | tuple[Branch, ...]


@dataclass(frozen=True)
class InceptionNetConfig:
    layers: tuple[tuple[str, Layer], ...]  # in order; a tuple of branches is an Inception module
    input_size: int
    batch_norm: bool = True
    bn_eps: float = 1e-3
    conv_bias: bool | None = None  # None: a bias exactly where there is no BatchNorm
    pools: PoolStyle = PoolStyle()  # or its fields as a mapping, {"count_include_pad": False}, as JSON keeps it
    dropout: float = 0.0  # before the classifier
    aux_taps: tuple[str, ...] = ()  # layers that feed an auxiliary classifier
    aux_head: type | None = None  # its class: (in_channels, num_classes, conv) -> module with reset(n)
    naive: bool = False  # every Inception module without its 1x1 reductions (GoogLeNet Fig. 2a, "naive")
    drop_path_rate: float = 0.0  # stochastic depth on residual Inception blocks: the last one's drop probability

    def __post_init__(self):
        if isinstance(self.pools, dict):
            object.__setattr__(self, "pools", PoolStyle(**self.pools))


class InceptionResidual(nn.Module):
    """BatchNorm sits on the branches' convolutions only, not on the sum (Sec. 3.2)."""

    def __init__(self, channels: int, spec: Residual, conv, pools: PoolStyle):
        super().__init__()
        self.branches = Inception(channels, spec.branches, conv, pools)
        self.up = nn.Conv2d(self.branches.out_channels, channels, 1)  # "1x1 Conv (... Linear)"
        self.scale = spec.scale
        self.drop_path = nn.Identity()  # stochastic depth's slot (set_drop_path)
        self.act = nn.ReLU(inplace=True) if spec.activate else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.drop_path(self.scale * self.up(self.branches(x))))


class InceptionNet(ImageClassifier):
    """Any net that is a row of convs, pools and Inception modules, with optional aux classifiers.

    In training mode with aux heads, forward returns AuxOutputs(logits, aux_logits) with the
    heads in tap order; in eval mode, the logits.
    """

    def __init__(
        self,
        config: InceptionNetConfig,
        num_classes: int = 1000,
        in_chans: int = 3,
        aux_logits: bool = True,
        se: bool | float | None = None,
    ):
        super().__init__()
        self.config = config
        self.num_classes, self.in_chans, self.input_size = num_classes, in_chans, config.input_size
        norm = partial(nn.BatchNorm2d, eps=config.bn_eps) if config.batch_norm else None
        conv = partial(ConvNormAct, norm_layer=norm, bias=config.conv_bias)
        blocks, channels, tap_channels = OrderedDict(), in_chans, {}
        for name, layer in config.layers:
            if isinstance(layer, Conv):
                blocks[name] = conv(channels, layer.out_channels, layer.kernel, layer.stride, layer.resolved_padding())
                channels = layer.out_channels
            elif isinstance(layer, Pool):
                pool = nn.MaxPool2d if layer.kind == "max" else nn.AvgPool2d
                blocks[name] = pool(layer.kernel, layer.stride, layer.padding, ceil_mode=config.pools.ceil_mode)
            elif isinstance(layer, LRN):
                blocks[name] = LocalResponseNorm(layer.size, layer.alpha, layer.beta, layer.k)
            elif isinstance(layer, Residual):
                blocks[name] = InceptionResidual(channels, layer, conv, config.pools)
            else:
                blocks[name] = Inception(channels, naive(layer) if config.naive else layer, conv, config.pools, se)
                channels = blocks[name].out_channels
            tap_channels[name] = channels
        self.features = nn.Sequential(blocks)
        # The papers' final average pool covers the whole grid.
        self._build_head(channels, num_classes, nn.Dropout(config.dropout) if config.dropout > 0 else None)
        # Auxiliary heads are registered last in cnnzoo models (the peers' weight mapping relies on it).
        self.aux_taps = config.aux_taps if aux_logits else ()
        self.aux_heads = nn.ModuleList(config.aux_head(tap_channels[t], num_classes, conv) for t in self.aux_taps)
        init_weights(self)
        set_drop_path(self, config.drop_path_rate)

    def reset_classifier(self, num_classes: int) -> None:
        super().reset_classifier(num_classes)
        for head in getattr(self, "aux_heads", ()):
            head.reset(num_classes)

    def _features(self, x: Tensor, with_aux: bool) -> tuple[Tensor, list[Tensor]]:
        aux = []
        for name, block in self.features.named_children():
            x = checkpointed(block, x) if self._checkpointing() else block(x)
            if with_aux and name in self.aux_taps:
                aux.append(self.aux_heads[self.aux_taps.index(name)](x))
        return x, aux

    def forward_features(self, x: Tensor) -> Tensor:
        return self._features(x, with_aux=False)[0]


    def _forward_impl(self, x: Tensor) -> Tensor | AuxOutputs:
        if not (self.training and self.aux_taps):
            return super()._forward_impl(x)
        x, aux = self._features(x, with_aux=True)
        return AuxOutputs(self.forward_head(x), tuple(aux))
