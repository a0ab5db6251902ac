"""Inception-v3, BN-Inception, Inception-ResNet and Xception against their papers' figures and tables."""
import pytest
import torch

import cnnzoo
from cnnzoo import AuxOutputs
from cnnzoo.analysis import analyze, count_params, meta_model
from cnnzoo.layers import SeparableConv2d, SqueezeExcite


def grid(name, **options) -> dict[str, tuple[int, int, int]]:
    """Output C x H x W after every top-level layer of an Inception-style net, at its native size."""
    model = meta_model(name, **options)
    x = torch.empty(1, 3, model.input_size, model.input_size, device="meta")
    shapes = {}
    for layer_name, layer in model.features.named_children():
        x = layer(x)
        shapes[layer_name] = tuple(x.shape[1:])
    return shapes


def test_inception_v3_grids():
    """Table 1's grid sizes: 35x35x288 into the 17x17x768 modules, 8x8x1280 into the last two, 2048 out."""
    g = grid("inception_v3")
    assert g["pool2"] == (192, 35, 35)
    assert g["mixed5d"] == (288, 35, 35)
    assert g["mixed6a"] == g["mixed6e"] == (768, 17, 17)
    assert g["mixed7a"] == (1280, 8, 8)
    assert g["mixed7c"] == (2048, 8, 8)


def test_inception_v3_with_aux_head_params():
    assert count_params(meta_model("inception_v3")) == 27_161_264  # torchvision, aux_logits=True


def test_inception_v3_aux_head_in_training_only():
    model = cnnzoo.create_model("inception_v3", num_classes=7).train()
    out = model(torch.randn(2, 3, 299, 299))
    assert isinstance(out, AuxOutputs) and out.logits.shape == (2, 7) and [a.shape for a in out.aux_logits] == [(2, 7)]
    with torch.no_grad():
        assert isinstance(model.eval()(torch.randn(1, 3, 299, 299)), torch.Tensor)
    assert not any("aux" in n for n, _ in cnnzoo.create_model("inception_v3", aux_logits=False).named_parameters())


# Fig. 5 of the BatchNorm paper: output size of every Inception row.
BN_INCEPTION_FIG5 = {
    "inception3a": (256, 28), "inception3b": (320, 28), "inception3c": (576, 14),
    "inception4a": (576, 14), "inception4b": (576, 14), "inception4c": (608, 14), "inception4d": (608, 14),
    "inception4e": (1056, 7), "inception5a": (1024, 7), "inception5b": (1024, 7),
}  # fmt: skip


def test_bn_inception_output_sizes_of_fig5():
    g = grid("bn_inception")
    for name, (depth, side) in BN_INCEPTION_FIG5.items():
        assert g[name] == (depth, side, side), name


def test_se_variants_put_se_on_every_inception_module():
    for name, modules in (("se_bn_inception", 10), ("se_inception_v3", 11)):
        model = meta_model(name)
        assert sum(isinstance(m, SqueezeExcite) for m in model.modules()) == modules
        assert meta_model(name, se=None).num_features == model.num_features


@pytest.mark.parametrize("name, channels, repeats", [
    ("inception_resnet_v1", (256, 896, 1792), (5, 10, 5)),  # Fig. 15; Table 1's k, l, m, n give 896
    ("inception_resnet_v2", (320, 1088, 2080), (10, 20, 10)),  # TF-slim
])  # fmt: skip
def test_inception_resnet_grids_and_repeats(name, channels, repeats):
    g = grid(name)
    assert [g["block_a1"], g["block_b1"], g["block_c1"]] == [
        (channels[0], 35, 35), (channels[1], 17, 17), (channels[2], 8, 8)
    ]
    counts = [sum(n.startswith(f"block_{k}") for n in g) for k in "abc"]
    assert counts == list(repeats)


def test_inception_resnet_v2_paper_repeats():
    model = meta_model("inception_resnet_v2", repeats=(5, 10, 5))
    names = [n for n, _ in model.features.named_children()]
    assert [sum(n.startswith(f"block_{k}") for n in names) for k in "abc"] == [5, 10, 5]
    assert count_params(model) < count_params(meta_model("inception_resnet_v2"))


def test_inception_resnet_residual_scaling():
    model = meta_model("inception_resnet_v2")
    scales = {k: {m.scale for n, m in model.features.named_children() if n.startswith(f"block_{k}")} for k in "abc"}
    assert scales == {"a": {0.17}, "b": {0.10}, "c": {0.20, 1.0}}  # the release's last block: scale 1, no ReLU


def test_xception_has_36_conv_layers():
    """Sec. 3: "36 convolutional layers forming the feature extraction base" (projections excluded)."""
    model = meta_model("xception")
    separable = sum(isinstance(m, SeparableConv2d) for m in model.modules())
    stem = 2
    assert separable + stem == 36
    assert len(model.features) == 2 + 12 + 2  # stem, 12 residual modules (3 entry, 8 middle, 1 exit), exit convs


def test_xception_separable_convs_have_nothing_between_depthwise_and_pointwise():
    rows = [r.kind for r in analyze("xception").rows if r.name.split(".")[:2] == ["features", "block5"]]
    # a middle-flow module: ReLU, depthwise conv, pointwise conv, BN, three times, then the identity sum
    assert rows == ["ReLU", "Conv2d", "Conv2d", "BatchNorm2d"] * 3 + ["add"]
