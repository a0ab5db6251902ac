"""The CIFAR-10 ResNets and plain nets of He et al. 2015, Sec. 4.2 and Table 6.

6n + 2 layers: a 3x3 conv, three stages of n basic blocks on 32x32, 16x16 and 8x8 maps with
16, 32 and 64 filters, global average pooling, a 10-way FC. Shortcuts are identities, with
zero-padded channels where the width doubles (option A), so a net and its plain twin have
the same parameters.
"""
from .base import register_variant
from .resnet import RESNET_PAPER, ResNet, ResNetConfig

_CIFAR_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962, 1202: 19_421_274}


def cifar_config(depth: int, **fields) -> ResNetConfig:
    n, rest = divmod(depth - 2, 6)
    assert rest == 0, f"CIFAR ResNet depth must be 6n + 2, got {depth}"
    return ResNetConfig(
        block="basic", layers=(n, n, n), widths=(16, 32, 64), stem="cifar", stem_width=16, shortcut="A", **fields
    )


for _depth, _params in _CIFAR_PARAMS.items():
    register_variant(
        f"resnet{_depth}",
        ResNet,
        cifar_config(_depth),
        f"CIFAR-10 ResNet-{_depth} (n={(_depth - 2) // 6}), option A shortcuts; shortcut='B' for projections.",
        __name__,
        paper=RESNET_PAPER,
        follows="Sec. 4.2 and Table 6",
        input_size=32,
        num_classes=10,
        params=_params,
        reference="hand count from Sec. 4.2",
        recipe="resnet_cifar",
    )
    if _depth != 1202:
        register_variant(
            f"plain{_depth}",
            ResNet,
            cifar_config(_depth, residual=False),
            f"CIFAR-10 plain-{_depth}: ResNet-{_depth} without shortcuts (Fig. 6 left).",
            __name__,
            paper=RESNET_PAPER,
            follows="Sec. 4.2 and Fig. 6 (plain nets)",
            input_size=32,
            num_classes=10,
            params=_params,
            reference="hand count: a plain net has its ResNet's parameters (option A shortcuts hold none)",
            recipe="resnet_cifar",
        )
