"""SE networks: Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018 / TPAMI (arXiv:1709.01507).

SE-ResNet and SE-ResNeXt (Table 1) add a squeeze-excitation block (r = 16) to the residual
branch of every block (Fig. 3); SENet-154 (Sec. 6.1, the ILSVRC 2017 entry) is a
SE-ResNeXt-152 64x4d with a three-3x3 stem. These follow the authors' Caffe release, as timm's
`legacy_se*` ports do: ceil-rounded stem pool; SE-ResNet strides the first 1x1 of a
downsampling bottleneck; SE-ResNeXt and SENet-154 stride the 3x3. Any ResNet or ResNeXt in
cnnzoo takes `se=True` (or a ratio) as well.
"""
from ..reference.accuracy import timm_published
from ..registry import Paper, Peer
from .base import register_variant
from .resnet import ResNet, resnet_config

SENET_PAPER = Paper(
    "Squeeze-and-Excitation Networks", "Jie Hu, Li Shen, Samuel Albanie, Gang Sun, Enhua Wu", 2017, "1709.01507"
)
_RELEASE = dict(se=16, stem_pool_ceil=True)

_TIMM_BASIC = (
    "SE on the branch's BN output, as Fig. 3; timm's legacy_seresnet18/34 apply a ReLU before SE: act_before_se=True",
)

# depth: (params, GMACs) of timm's legacy_seresnet ports
_SE_RESNETS = {
    18: (11_778_592, None),
    34: (21_958_868, None),
    50: (28_088_024, 3.8605e9),
    101: (49_326_872, None),
    152: (66_821_848, None),
}
for _depth, (_params, _macs) in _SE_RESNETS.items():
    register_variant(
        f"se_resnet{_depth}",
        ResNet,
        resnet_config(_depth, stride_in_1x1=True, **_RELEASE),
        f"SE-ResNet-{_depth}: ResNet-{_depth} with SE (r=16) on every block, as the SENet release.",
        __name__,
        paper=SENET_PAPER,
        follows="Table 1 (middle column), Fig. 3",
        params=_params,
        macs=_macs,
        reference=f"timm legacy_seresnet{_depth}",
        deviations=_TIMM_BASIC if _depth < 50 else (),
        peer=Peer("timm", f"legacy_seresnet{_depth}", ours=dict(act_before_se=True) if _depth < 50 else {}),
        recipe="senet",
        published=timm_published(f"legacy_seresnet{_depth}.in1k"),
    )

for _depth, _params, _macs in ((50, 27_559_896, 4.2330e9), (101, 48_955_416, None)):
    register_variant(
        f"se_resnext{_depth}_32x4d",
        ResNet,
        resnet_config(_depth, groups=32, base_width=4, **_RELEASE),
        f"SE-ResNeXt-{_depth} (32x4d) with SE (r=16) on every block, as the SENet release.",
        __name__,
        paper=SENET_PAPER,
        follows="Table 1 (right column), Fig. 3",
        params=_params,
        macs=_macs,
        reference=f"timm legacy_seresnext{_depth}_32x4d",
        peer=Peer("timm", f"legacy_seresnext{_depth}_32x4d"),
        recipe="senet",
        published=timm_published(f"legacy_seresnext{_depth}_32x4d.in1k"),
    )

register_variant(
    "senet154",
    ResNet,
    resnet_config(
        152, groups=64, base_width=4, stem="deep", stem_width=128, conv1_ratio=0.5, downsample_kernel=3,
        dropout=0.2, **_RELEASE,
    ),  # fmt: skip
    "SENet-154: SE-ResNeXt-152 (64x4d, first 1x1 at half width), 3x3 stem, 3x3 projections, dropout 0.2.",
    __name__,
    paper=SENET_PAPER,
    follows="Sec. 6.1 and the ILSVRC 2017 release",
    params=115_088_984,
    macs=20.6884e9,
    reference="timm legacy_senet154",
    peer=Peer("timm", "legacy_senet154"),
    recipe="senet",
    published=timm_published("legacy_senet154.in1k"),
)
