"""The papers' (and the lecture's) own numbers, reproduced by computing them from our models."""
import dataclasses

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.analysis import analyze, count_macs, count_params, meta_model
from cnnzoo.models.vgg import VGG_CONFIGS


def rows_by_name(name, **options):
    return {r.name: r for r in analyze(name, **options).rows}


def weight_layers(name, **options) -> int:
    """Convolution and FC layers on the main path (projection shortcuts and SE excluded)."""
    return sum(
        r.kind in ("Conv2d", "Linear") and "shortcut" not in r.name and ".se." not in r.name
        for r in analyze(name, **options).rows
    )


# -- AlexNet (Sec. 3.5; the lecture's conv1 slide and filter-groups slide) -------------------------


def test_alexnet_conv1_as_the_lecture_computes_it():
    conv1 = rows_by_name("alexnet")["features.conv1"]
    assert conv1.out_shape == (96, 55, 55)  # "Output size: 55 x 55 x 96"
    assert conv1.params - 96 == 11 * 11 * 3 * 96 == 34_848  # "(11 x 11 x 3) x 96 = 35K", plus 96 biases


def test_alexnet_grid_sizes():
    rows = rows_by_name("alexnet")
    sides = [rows[f"features.conv{i}"].out_shape[1] for i in range(1, 6)]
    assert sides == [55, 27, 13, 13, 13] and rows["features.pool5"].out_shape == (256, 6, 6)
    assert weight_layers("alexnet") == 8


@pytest.mark.parametrize("groups, params", [(1, 62_378_344), (2, 60_965_224)])
def test_alexnet_filter_groups(groups, params):
    model = meta_model("alexnet", groups=groups)
    assert count_params(model) == params  # REFERENCE.md
    assert {model.features.conv2.groups, model.features.conv4.groups, model.features.conv5.groups} == {groups}
    assert model.features.conv3.groups == 1  # conv3 sees both towers
    # "half the parameters and half the compute" per doubling of the groups, in the grouped layers
    if groups == 2:
        dense = rows_by_name("alexnet", groups=1)
        grouped = rows_by_name("alexnet", groups=2)
        for conv in ("conv2", "conv4", "conv5"):
            assert 2 * grouped[f"features.{conv}"].macs() == dense[f"features.{conv}"].macs()


# -- ZFNet (Fig. 3) ------------------------------------------------------------------------------


def test_zfnet_grid_sizes_of_fig3():
    rows = rows_by_name("zfnet")
    assert rows["features.conv1"].out_shape == (96, 110, 110)
    assert rows["features.pool1"].out_shape == (96, 55, 55)
    assert rows["features.conv2"].out_shape == (256, 26, 26)
    assert rows["features.pool2"].out_shape == (256, 13, 13)
    assert rows["features.pool5"].out_shape == (256, 6, 6)
    wide = rows_by_name("zfnet_wide")
    assert [wide[f"features.conv{i}"].out_shape[0] for i in (3, 4, 5)] == [512, 1024, 512]


# -- VGG (Table 1 and the lecture's VGG-16 memory/parameter table) --------------------------------


@pytest.mark.parametrize("name, column, depth", [
    ("vgg11", "A", 11), ("vgg11_lrn", "A-LRN", 11), ("vgg13", "B", 13),
    ("vgg16_c", "C", 16), ("vgg16", "D", 16), ("vgg19", "E", 19),
])  # fmt: skip
def test_vgg_weight_layers(name, column, depth):
    """Table 1's header row: "11 weight layers" ... "19 weight layers"."""
    assert weight_layers(name) == depth
    assert cnnzoo.model_info(name).follows.endswith(f"column {column}")


def test_vgg_c_has_1x1_convs_where_table1_says():
    kernels = [layer.kernel_size for layer in VGG_CONFIGS["C"] if layer.kind == "conv"]
    assert kernels == [3] * 6 + [1] + [3] * 2 + [1] + [3] * 2 + [1]


# The lecture's table, row by row: (layer, output side, channels, params "not counting biases").
# Its "memory" column is side x side x channels.
VGG16_LECTURE = [
    ("input", 224, 3, 0),
    ("conv", 224, 64, 1_728), ("conv", 224, 64, 36_864), ("pool", 112, 64, 0),
    ("conv", 112, 128, 73_728), ("conv", 112, 128, 147_456), ("pool", 56, 128, 0),
    ("conv", 56, 256, 294_912), ("conv", 56, 256, 589_824), ("conv", 56, 256, 589_824), ("pool", 28, 256, 0),
    ("conv", 28, 512, 1_179_648), ("conv", 28, 512, 2_359_296), ("conv", 28, 512, 2_359_296), ("pool", 14, 512, 0),
    ("conv", 14, 512, 2_359_296), ("conv", 14, 512, 2_359_296), ("conv", 14, 512, 2_359_296), ("pool", 7, 512, 0),
    ("fc", 1, 4096, 102_760_448), ("fc", 1, 4096, 16_777_216), ("fc", 1, 1000, 4_096_000),
]  # fmt: skip
LECTURE_KINDS = {"Conv2d": "conv", "MaxPool2d": "pool", "Linear": "fc"}


def test_vgg16_memory_and_params_table_of_the_lecture():
    """Every row of the lecture's VGG-16 table, computed; and its totals, which the lecture misprints."""
    a = analyze("vgg16")
    ours = [("input", 224, 3, 0)] + [
        (LECTURE_KINDS[r.kind], r.out_shape[-1] if len(r.out_shape) == 3 else 1, r.out_shape[0], r.weights)
        for r in a.rows
        if r.kind in LECTURE_KINDS
    ]
    assert ours == VGG16_LECTURE
    memory = [side * side * channels for _, side, channels, _ in VGG16_LECTURE]
    layer_rows = [r for r in a.rows if r.kind in LECTURE_KINDS]
    assert [r.activations for r in layer_rows] == memory[1:]  # ReLUs work in place: no memory of their own
    # "TOTAL params: 138M" holds (biases add 13,416); "TOTAL memory: 24M * 4 bytes ~= 96MB / image"
    # does not: the lecture's own rows sum to 15.2M values, 61 MB in fp32.
    assert a.params == pytest.approx(138e6, rel=0.003) and sum(w for *_, w in VGG16_LECTURE) == 138_344_128
    assert sum(memory) == 15_237_608
    assert sum(memory) * 4 / 1e6 == pytest.approx(61, abs=0.1)


# -- GoogLeNet (Table 1) --------------------------------------------------------------------------

# Table 1: output (side, depth), "params" and "ops" of each row with weights. The units, worked
# out from the rows that fit exactly (3a: 163,328 weights = 159.5 x 1024; linear: 1,024,000 =
# 1000 x 1024): params in K = 1024 weights (no biases), ops in M = 10^6 multiply-adds.
GOOGLENET_TABLE1 = {
    "conv1": (112, 64, 2.7, 34),
    "conv2+conv3": (56, 192, 112, 360),
    "inception3a": (28, 256, 159, 128), "inception3b": (28, 480, 380, 304),
    "inception4a": (14, 512, 364, 73), "inception4b": (14, 512, 437, 88), "inception4c": (14, 512, 463, 100),
    "inception4d": (14, 528, 580, 119), "inception4e": (14, 832, 840, 170),
    "inception5a": (7, 832, 1072, 54), "inception5b": (7, 1024, 1388, 71),
    "fc": (1, 1000, 1000, 1),
}  # fmt: skip


def test_googlenet_table1_rows():
    """Every row against Table 1 (the paper's view: one row per module, `group(2)`).

    Rows agree to within 2% of params and 1M ops, except where Table 1 contradicts itself or the
    net it describes: conv1 (2.7K params and 34M ops, but a 7x7x3x64 conv has 9.4K and costs
    118M at 112x112), inception (4c) (463K params, but its own 100M ops at 14x14 imply ~510K; the
    row's filter counts give 498K) and inception (5a) (1072K and 54M, where its filter counts give
    1018K and 51.1M).
    """
    groups = {r.name.removeprefix("features."): r for r in analyze("googlenet", aux_logits=False).group(2)}
    conv2, conv3 = groups["conv2"], groups["conv3"]
    groups["conv2+conv3"] = dataclasses.replace(conv3, weights=conv2.weights + conv3.weights, costs={"conv": conv2.macs() + conv3.macs()})
    params_off, ops_off = [], []
    for name, (side, depth, params_k, ops_m) in GOOGLENET_TABLE1.items():
        row = groups[name]
        assert row.out_shape == ((depth, side, side) if side > 1 else (depth,)), name
        if abs(row.weights / 1024 - params_k) > 0.02 * params_k:
            params_off.append(name)
        if abs(row.macs() / 1e6 - ops_m) >= 1:
            ops_off.append(name)
    assert params_off == ["conv1", "inception4c", "inception5a"]
    assert ops_off == ["conv1", "inception5a"]
    assert weight_layers("googlenet", aux_logits=False) == 1 + 2 + 9 * 6 + 1  # every branch conv counted


def test_googlenet_aux_heads_of_sec5():
    model = meta_model("googlenet")
    aux1, aux2 = model.aux_heads
    assert aux1.conv.conv.out_channels == 128 and aux1.fc1.out_features == 1024
    assert aux1.drop.p == 0.7 and model.pre_logits.p == 0.4
    assert aux1.conv.conv.in_channels == 512 and aux2.conv.conv.in_channels == 528  # on 4a and 4d


# -- ResNet (Table 1, Sec. 4.2) and ResNeXt (Table 2, the lecture's 70k block) ---------------------


@pytest.mark.parametrize("name, depth", [(f"resnet{d}", d) for d in (18, 34, 50, 101, 152)] + [("plain18", 18), ("plain34", 34)])
def test_resnet_depth_counts_weight_layers(name, depth):
    assert weight_layers(name) == depth


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_cifar_nets(depth):
    assert weight_layers(f"resnet{depth}") == depth == weight_layers(f"plain{depth}")
    rows = rows_by_name(f"resnet{depth}")
    n = (depth - 2) // 6
    assert [rows[f"layer{s}.{n - 1}.conv2.conv"].out_shape for s in (1, 2, 3)] == [(16, 32, 32), (32, 16, 16), (64, 8, 8)]
    # option A shortcuts have no parameters; option B's projections add some
    assert count_params(meta_model(f"resnet{depth}", shortcut="B")) > count_params(meta_model(f"resnet{depth}"))


def _block_weights(model, stage=1, index=1) -> int:
    block = getattr(model, f"layer{stage}")[index]
    return sum(m.weight.numel() for m in block.modules() if isinstance(m, torch.nn.Conv2d))


def test_resnext_block_of_70k_parameters():
    """The lecture: 256*64 + 3*3*64*64 + 64*256 = 70k, and C*(256*d + 3*3*d*d + d*256) = 70k at C=32, d=4."""
    resnet_block = 256 * 64 + 3 * 3 * 64 * 64 + 64 * 256
    c, d = 32, 4
    resnext_block = c * (256 * d + 3 * 3 * d * d + d * 256)
    assert _block_weights(meta_model("resnet50")) == resnet_block == 69_632
    assert _block_weights(meta_model("resnext50_32x4d")) == resnext_block == 70_144


@pytest.mark.parametrize("c, d, group_width", [(2, 40, 80), (4, 24, 96), (8, 14, 112), (32, 4, 128)])
def test_resnext_cardinality_vs_width_at_fixed_complexity(c, d, group_width):
    """Table 2: C x d chosen to keep ResNeXt-50 at ResNet-50's complexity; 3x3 width C*d."""
    model = meta_model(f"resnext50_{c}x{d}d")
    conv = model.layer1[0].conv2.conv
    assert (conv.groups, conv.out_channels) == (c, group_width)
    assert count_macs(model) == pytest.approx(count_macs("resnet50"), rel=0.05)
    assert count_params(model) == pytest.approx(count_params(meta_model("resnet50")), rel=0.03)


# -- SENet (Table 1, Fig. 3) ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["se_resnet50", "se_resnext50_32x4d"])
def test_se_fc_dimensions_of_table1(name):
    """Table 1: "fc, [16, 256]", "[32, 512]", "[64, 1024]", "[128, 2048]" in stages 2-5."""
    model = meta_model(name)
    dims = [(s[0].se.fc1.out_channels, s[0].se.fc2.out_channels) for s in model.stages()]
    assert dims == [(16, 256), (32, 512), (64, 1024), (128, 2048)]


def test_stride_placement_changes_macs_not_params():
    """REFERENCE.md: SE-ResNet-50 with the stride on the 1x1 (release) 3.86 GMACs, on the 3x3 4.11."""
    release, v15 = meta_model("se_resnet50"), meta_model("se_resnet50", stride_in_1x1=False)
    assert count_params(release) == count_params(v15)
    assert count_macs(release) == pytest.approx(3.86e9, rel=0.005)
    assert count_macs(v15) == pytest.approx(4.11e9, rel=0.005)


def test_se_is_an_option_of_any_resnet():
    plain = count_params(meta_model("resnet20"))
    with_se = meta_model("resnet20", se=4)
    assert with_se.layer3[0].se.fc1.out_channels == 16  # 64 channels / r 4
    assert count_params(with_se) > plain
    assert meta_model("plain20", se=True).layer1[0].se is not None


def test_resnext_block_both_forms_analyzed():
    """The lecture's two equivalent forms at C=32, d=4: 32 paths of 256-4-4-256, summed (Fig. 3a), and
    the grouped convolution (Fig. 3c) our ResNeXt uses. Same parameters, same multiply-adds."""

    class ThirtyTwoPaths(nn.Module):
        def __init__(self):
            super().__init__()
            self.paths = nn.ModuleList(
                nn.Sequential(nn.Conv2d(256, 4, 1, bias=False), nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.Conv2d(4, 256, 1, bias=False))
                for _ in range(32)
            )

        def forward(self, x):
            return torch.stack([p(x) for p in self.paths]).sum(0)

    paths = analyze(ThirtyTwoPaths(), 56)
    block = meta_model("resnext50_32x4d").layer1[1]
    grouped = analyze(nn.Sequential(block.conv1.conv, block.conv2.conv, block.conv3.conv), 56)
    assert paths.params == grouped.params == 70_144
    assert paths.category_macs()["conv"] == grouped.macs == 70_144 * 56 * 56
