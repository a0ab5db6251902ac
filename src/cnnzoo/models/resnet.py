"""ResNet: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (arXiv:1512.03385).

One network class covers the family through its config: the ImageNet nets of Table 1 and
their plain counterparts, the CIFAR nets of Sec. 4.2 (resnet_cifar.py), ResNeXt
(resnext.py: groups and width) and the SE networks (senet.py: SE on every block).
"""
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InvalidOptionError
from ..layers import ConvNormAct, make_se, set_drop_path
from ..reference.accuracy import torchvision_v1
from ..registry import Paper, Peer
from .base import ImageClassifier, init_weights, register_variant

RESNET_PAPER = Paper(
    "Deep Residual Learning for Image Recognition", "Kaiming He, Xiangyu Zhang, Shaoqing Ren, Jian Sun", 2015, "1512.03385"
)

# Table 1: building blocks per stage (conv2_x .. conv5_x) for each depth.
RESNET_LAYERS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


@dataclass(frozen=True)
class ResNetConfig:
    block: str  # "basic": two 3x3 convs (Fig. 5 left); "bottleneck": 1x1-3x3-1x1 (Fig. 5 right)
    layers: tuple[int, ...]  # blocks per stage (Table 1)
    widths: tuple[int, ...] = (64, 128, 256, 512)  # planes of each stage; bottlenecks output 4x this
    stem: str = "imagenet"  # 7x7/2 conv + 3x3/2 max pool; "cifar": one 3x3 conv; "deep": three 3x3 convs
    stem_width: int = 64
    stem_pool_ceil: bool = False  # Caffe's ceil-rounded 3x3/2 pool (the SENet release) instead of padding 1
    groups: int = 1  # cardinality C of the 3x3 conv (ResNeXt)
    base_width: int = 64  # width d of each group at the first stage (ResNeXt "32x4d": groups 32, d 4)
    stride_in_1x1: bool = False  # downsample in the first 1x1 (original Caffe ResNet) instead of the 3x3
    shortcut: str = "B"  # "A": zero-padded identity; "B": projection where the shape changes; "C": always
    residual: bool = True  # False: the paper's plain nets, no shortcuts at all
    se: bool | float | None = None  # squeeze-excitation on every block: True (r=16) or a ratio r
    act_before_se: bool = False  # ReLU the residual branch before SE (timm's legacy SE-ResNet-18/34), not Fig. 3
    downsample_kernel: int = 1  # projection kernel of strided stages (SENet-154: 3)
    conv1_ratio: float = 1.0  # width of the first 1x1 relative to the 3x3 (SENet-154: 0.5)
    dropout: float = 0.0  # before the classifier (SENet-154: 0.2)
    zero_init_residual: bool = False  # start each residual branch's last BN at 0 (Goyal et al. 2017)
    drop_path_rate: float = 0.0  # stochastic depth (Huang et al. 2016): the last block's drop probability


class PadShortcut(nn.Module):
    """Option A shortcut (Sec. 3.3): identity, subsampled by `stride`, with zero channels appended."""

    def __init__(self, stride: int, extra_channels: int):
        super().__init__()
        self.stride, self.extra_channels = stride, extra_channels

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


class _ResidualBlock(nn.Module):
    """What every block ends with: SE on the residual branch (SENet Fig. 3), the sum with the
    shortcut (none in a plain net), ReLU. Subclasses build their convs, then call `_finish`."""

    def _finish(self, out_channels: int, shortcut: nn.Module | None, config: ResNetConfig) -> None:
        self.se = make_se(config.se, out_channels)
        self.shortcut = shortcut
        self.residual = config.residual
        if self.residual:
            self.drop_path = nn.Identity()  # stochastic depth's slot (set_drop_path)
        self.act_before_se = config.act_before_se and self.se is not None
        self.act = nn.ReLU(inplace=True)

    def branch(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def last_bn(self) -> nn.BatchNorm2d:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        out = self.branch(x)
        if self.se is not None:
            out = self.se(self.act(out) if self.act_before_se else out)
        if self.residual:
            # In place: `out` is this block's own fresh tensor, and no backward formula needs it.
            out = self.drop_path(out)
            out += x if self.shortcut is None else self.shortcut(x)
        return self.act(out)


class BasicBlock(_ResidualBlock):
    """Two 3x3 convolutions (Fig. 5 left)."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int, shortcut: nn.Module | None, config: ResNetConfig):
        super().__init__()
        if config.groups != 1 or config.base_width != 64:
            raise InvalidOptionError("basic blocks take no groups/base_width: use a bottleneck depth (50, 101, 152)")
        self.conv1 = ConvNormAct(in_channels, planes, 3, stride)
        self.conv2 = ConvNormAct(planes, planes, 3, act_layer=None)
        self._finish(planes, shortcut, config)

    def branch(self, x: Tensor) -> Tensor:
        return self.conv2(self.conv1(x))

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv2.bn


class Bottleneck(_ResidualBlock):
    """1x1 reduce, 3x3 (grouped for ResNeXt), 1x1 expand x4 (Fig. 5 right; ResNeXt Fig. 3c)."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int, shortcut: nn.Module | None, config: ResNetConfig):
        super().__init__()
        width = int(planes * config.base_width / 64) * config.groups
        reduced = int(width * config.conv1_ratio)
        stride1, stride3 = (stride, 1) if config.stride_in_1x1 else (1, stride)
        self.conv1 = ConvNormAct(in_channels, reduced, 1, stride1)
        self.conv2 = ConvNormAct(reduced, width, 3, stride3, groups=config.groups)
        self.conv3 = ConvNormAct(width, planes * self.expansion, 1, act_layer=None)
        self._finish(planes * self.expansion, shortcut, config)

    def branch(self, x: Tensor) -> Tensor:
        return self.conv3(self.conv2(self.conv1(x)))

    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv3.bn


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


def _validate(config: ResNetConfig) -> None:
    checks = [
        (config.block in BLOCKS, f"block must be one of {sorted(BLOCKS)}, got {config.block!r}"),
        (config.stem in ("imagenet", "cifar", "deep"), f"stem must be imagenet, cifar or deep, got {config.stem!r}"),
        (config.shortcut in ("A", "B", "C"), f"shortcut must be 'A', 'B' or 'C' (Sec. 3.3), got {config.shortcut!r}"),
        (len(config.layers) == len(config.widths), "layers and widths need one entry per stage"),
        (all(n >= 1 for n in config.layers), f"every stage needs at least one block, got {config.layers}"),
        (config.groups >= 1 and config.base_width >= 1, "groups and base_width must be positive"),
    ]
    for ok, message in checks:
        if not ok:
            raise InvalidOptionError(message)


class ResNet(ImageClassifier):
    """Stem, stages of residual blocks (the first block of stages 2+ halves the grid), global pool, FC."""

    def __init__(self, config: ResNetConfig, num_classes: int = 1000, in_chans: int = 3):
        super().__init__()
        _validate(config)
        self.config = config
        self.num_classes, self.in_chans = num_classes, in_chans
        self.input_size = 32 if config.stem == "cifar" else 224
        self.stem = self._make_stem(config, in_chans)
        block = BLOCKS[config.block]
        channels = config.stem_width
        for index, (blocks, planes) in enumerate(zip(config.layers, config.widths)):
            stride = 1 if index == 0 else 2
            stage = []
            for i in range(blocks):
                out_channels = planes * block.expansion
                shortcut = self._make_shortcut(config, channels, out_channels, stride if i == 0 else 1)
                stage.append(block(channels, planes, stride if i == 0 else 1, shortcut, config))
                channels = out_channels
            self.add_module(f"layer{index + 1}", nn.Sequential(*stage))
        self.num_stages = len(config.layers)
        self._build_head(channels, num_classes, nn.Dropout(config.dropout) if config.dropout > 0 else None)
        init_weights(self)
        set_drop_path(self, config.drop_path_rate)
        if config.zero_init_residual:
            for m in self.modules():
                if isinstance(m, _ResidualBlock):
                    nn.init.zeros_(m.last_bn().weight)

    @staticmethod
    def _make_stem(config: ResNetConfig, in_chans: int) -> nn.Sequential:
        pool = nn.MaxPool2d(3, 2, ceil_mode=True) if config.stem_pool_ceil else nn.MaxPool2d(3, 2, padding=1)
        if config.stem == "cifar":  # Sec. 4.2: "The first layer is 3x3 convolutions"
            return nn.Sequential(ConvNormAct(in_chans, config.stem_width, 3))
        if config.stem == "deep":  # SENet-154 (SENet Sec. 6.1): three 3x3 convs replace the 7x7
            convs = [ConvNormAct(in_chans, 64, 3, 2), ConvNormAct(64, 64, 3), ConvNormAct(64, config.stem_width, 3)]
            return nn.Sequential(*convs, pool)
        return nn.Sequential(ConvNormAct(in_chans, config.stem_width, 7, 2), pool)  # Table 1 conv1 + pool

    @staticmethod
    def _make_shortcut(config: ResNetConfig, in_channels: int, out_channels: int, stride: int) -> nn.Module | None:
        """None is the identity (or no shortcut at all in a plain net)."""
        same_shape = stride == 1 and in_channels == out_channels
        if not config.residual or (same_shape and config.shortcut != "C"):
            return None
        if config.shortcut == "A":
            return PadShortcut(stride, out_channels - in_channels)
        kernel = config.downsample_kernel if stride > 1 else 1
        return ConvNormAct(in_channels, out_channels, kernel, stride, act_layer=None)

    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, f"layer{i + 1}") for i in range(self.num_stages)]

    def trunk(self) -> list[tuple[str, nn.Module]]:
        # the stem's layers (N x 64 x 56 x 56 after the pool at 224), then the stages (N x 2048 x 7 x 7, ResNet-50)
        return [(f"stem.{n}", m) for n, m in self.stem.named_children()] + [(f"layer{i + 1}", s) for i, s in enumerate(self.stages())]



def resnet_config(depth: int, **fields) -> ResNetConfig:
    """The Table 1 net of this depth, with `fields` replaced."""
    block, layers = RESNET_LAYERS[depth]
    return ResNetConfig(block=block, layers=layers, **fields)


_V15 = (
    "stride 2 on the 3x3 of downsampling bottlenecks (torchvision/timm 'v1.5'); the paper's Caffe "
    "release strides the first 1x1: stride_in_1x1=True",
)
_TV_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032, 101: 44_549_160, 152: 60_192_808}
_TV_MACS = {18: 1.8141e9, 34: 3.6638e9, 50: 4.0892e9, 101: 7.8014e9, 152: 11.5136e9}
_TV_ACCURACY = {18: (69.758, 89.078), 34: (73.314, 91.420), 50: (76.130, 92.862), 101: (77.374, 93.546), 152: (78.312, 94.046)}

for _depth in RESNET_LAYERS:
    register_variant(
        f"resnet{_depth}",
        ResNet,
        resnet_config(_depth),
        f"ResNet-{_depth} (Table 1), projection shortcuts where the shape changes (option B).",
        __name__,
        paper=RESNET_PAPER,
        follows=f"Table 1, {_depth}-layer column",
        params=_TV_PARAMS[_depth],
        macs=_TV_MACS[_depth],
        reference=f"torchvision resnet{_depth}",
        deviations=_V15 if RESNET_LAYERS[_depth][0] == "bottleneck" else (),
        peer=Peer("torchvision", f"resnet{_depth}"),
        recipe="resnet",
        published=torchvision_v1(*_TV_ACCURACY[_depth]),
    )

for _depth in (18, 34):
    register_variant(
        f"plain{_depth}",
        ResNet,
        resnet_config(_depth, residual=False),
        f"Plain-{_depth}: ResNet-{_depth} without shortcuts, the paper's baseline (Fig. 3 middle, Fig. 4 left).",
        __name__,
        paper=RESNET_PAPER,
        follows=f"Table 1, {_depth}-layer column, no shortcuts (Sec. 4.1 'Plain Networks')",
        recipe="resnet",
    )
