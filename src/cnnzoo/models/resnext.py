"""ResNeXt: Xie et al., "Aggregated Residual Transformations for Deep Neural Networks", CVPR 2017
(arXiv:1611.05431). A ResNet bottleneck whose 3x3 is a grouped conv of C groups of width d
(Fig. 3c), doubling per stage like the ResNet widths (Table 1)."""
from ..reference.accuracy import torchvision_v1
from ..registry import Paper, Peer
from .base import register_variant
from .resnet import ResNet, ResNetConfig, resnet_config

RESNEXT_PAPER = Paper(
    "Aggregated Residual Transformations for Deep Neural Networks",
    "Saining Xie, Ross Girshick, Piotr Dollár, Zhuowen Tu, Kaiming He",
    2016,
    "1611.05431",
)

# (depth, cardinality C, width d): reference params and GMACs where a source gives them, and the peer.
_RESNEXTS = {
    (50, 32, 4): (25_028_904, 4.2305e9, Peer("torchvision", "resnext50_32x4d")),
    (101, 32, 4): (44_177_704, 7.9700e9, Peer("timm", "resnext101_32x4d")),
    (101, 32, 8): (88_791_336, 16.4140e9, Peer("torchvision", "resnext101_32x8d")),
    (101, 64, 4): (83_455_272, 15.4603e9, Peer("torchvision", "resnext101_64x4d")),
    # Table 2 (and the lecture's "cardinality vs width" table): C x d at ResNeXt-50's complexity.
    # 1 x 64d is resnet50.
    (50, 2, 40): (None, None, None),
    (50, 4, 24): (None, None, None),
    (50, 8, 14): (None, None, None),
}

for (_depth, _c, _d), (_params, _macs, _peer) in _RESNEXTS.items():
    _name = f"resnext{_depth}_{_c}x{_d}d"
    register_variant(
        _name,
        ResNet,
        resnet_config(_depth, groups=_c, base_width=_d),
        f"ResNeXt-{_depth} ({_c}x{_d}d): bottleneck 3x3 in {_c} groups of width {_d} at the first stage.",
        __name__,
        paper=RESNEXT_PAPER,
        follows="Table 1 (template), Table 2 (C x d at fixed complexity)" if _c < 32 else "Table 1",
        params=_params,
        macs=_macs,
        reference=f"{_peer.library} {_peer.name}" if _peer else None,
        deviations=("stride 2 on the grouped 3x3 of downsampling blocks, as the paper's Torch release",),
        peer=_peer,
        recipe="resnet",  # Sec. 4: the ResNet paper's recipe (SGD 0.9, batch 256, lr 0.1 /10 three times, wd 1e-4)
        published=torchvision_v1(77.618, 93.698) if _name == "resnext50_32x4d" else None,
    )


# The paper's CIFAR network (Sec. 5.3): ResNeXt-29, a 3x3 conv of 64 filters, three stages of three
# bottleneck blocks on 32, 16 and 8 pixels, global pooling, the classifier. Here at half the paper's stage
# widths (32, 64, 128 planes, outputs 4x), so that a CPU trains it: with base_width = the paper's d, the
# bottleneck of C groups is C x d / 2 wide, and Table 3's C x d pairs (1x64d, 2x40d, 4x24d, 8x14d, 32x4d)
# stay at equal complexity: within 3% in parameters and MACs (tested by the analyzer), once the
# downsampling blocks stride their first 1x1 (as the original ResNet) rather than the 3x3, which at this
# size would put 32x4d and 8x14d 3-4% above 1x64d in MACs.
register_variant(
    "resnext29_cifar",
    ResNet,
    ResNetConfig(block="bottleneck", layers=(3, 3, 3), widths=(32, 64, 128), stem="cifar", stem_width=64, stride_in_1x1=True),
    "ResNeXt-29 for CIFAR at half the paper's width; groups=C, base_width=d give Table 3's C x d (default 1x64d).",
    __name__,
    paper=RESNEXT_PAPER,
    follows="Sec. 5.3 (CIFAR template), Table 3 (C x d at preserved complexity)",
    input_size=32,
    num_classes=10,
    deviations=(
        "half the paper's CIFAR stage widths (32/64/128 planes): a CPU-sized model for the cardinality sweep",
        "downsampling blocks stride the first 1x1 (stride_in_1x1=True), keeping Table 3's pairs within 3% in MACs",
    ),
    recipe="resnext_cifar",
)
