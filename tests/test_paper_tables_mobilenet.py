"""The MobileNet papers' tables, computed from our models."""
from collections import defaultdict

import pytest
import torch

from cnnzoo.analysis import analyze, count_macs, count_params, meta_model


def millions(n: int) -> float:
    return n / 1e6


# Tables 4-7: million mult-adds and million parameters, as printed.
@pytest.mark.parametrize("name, options, size, mult_adds, params", [
    ("mobilenet_v1_conv", {}, 224, 4866, 29.3),  # Table 4, "Conv MobileNet"
    ("mobilenet_v1", {}, 224, 569, 4.2),  # Tables 4, 6, 7
    ("mobilenet_v1", {"width_mult": 0.75}, 224, 325, 2.6),  # Tables 5, 6
    ("mobilenet_v1_shallow", {}, 224, 307, 2.9),  # Table 5
    ("mobilenet_v1", {"width_mult": 0.5}, 224, 149, 1.3),  # Table 6
    ("mobilenet_v1", {"width_mult": 0.25}, 224, 41, 0.5),
    ("mobilenet_v1", {}, 192, 418, 4.2),  # Table 7
    ("mobilenet_v1", {}, 160, 290, 4.2),
    ("mobilenet_v1", {}, 128, 186, 4.2),
])  # fmt: skip
def test_mobilenet_v1_tables_4_to_7(name, options, size, mult_adds, params):
    model = meta_model(name, **options)
    # The paper rounds to its last printed digit (and is off by up to 0.1% in Tables 4 and 7).
    assert millions(count_macs(model, size)) == pytest.approx(mult_adds, abs=1.0, rel=0.001)
    assert millions(count_params(model)) == pytest.approx(params, abs=0.05)


def test_mobilenet_v1_table1_grid():
    rows = [r for r in analyze("mobilenet_v1").rows if r.kind == "Conv2d"]
    assert len(rows) == 1 + 13 * 2  # "28 layers" counting the FC
    depthwise = [r for r in rows if r.name.endswith("dw.conv")]
    assert [r.out_shape[1] for r in depthwise] == [112, 56, 56, 28, 28, 14, 14, 14, 14, 14, 14, 7, 7]
    assert rows[-1].out_shape == (1024, 7, 7)


def test_mobilenet_v1_relu_or_relu6():
    assert isinstance(meta_model("mobilenet_v1").features.conv1.act, torch.nn.ReLU)
    assert isinstance(meta_model("mobilenet_v1", act="relu6").features.conv1.act, torch.nn.ReLU6)


@pytest.mark.parametrize("alpha, stem, last", [(1.0, 32, 1280), (0.5, 16, 1280), (0.35, 16, 1280), (1.4, 48, 1792)])
def test_mobilenet_v2_width_multiplier(alpha, stem, last):
    """Channels round to multiples of 8; the last conv is 1280 x max(1, alpha)."""
    model = meta_model("mobilenet_v2", width_mult=alpha)
    assert model.features.conv1.conv.out_channels == stem
    assert model.num_features == last
    assert all(m.out_channels % 8 == 0 for m in model.modules() if isinstance(m, torch.nn.Conv2d))


def test_mobilenet_v2_table2_grid():
    rows = {r.name: r.out_shape for r in analyze("mobilenet_v2").rows}
    ends = ["block1_1", "block2_2", "block3_3", "block4_4", "block5_3", "block6_3", "block7_1"]
    shapes = [rows[f"features.{b}.project.bn"] for b in ends]
    assert shapes == [(16, 112, 112), (24, 56, 56), (32, 28, 28), (64, 14, 14), (96, 14, 14), (160, 7, 7), (320, 7, 7)]


@pytest.mark.parametrize("name, last, head, se_blocks", [("mobilenet_v3_large", 960, 1280, 8), ("mobilenet_v3_small", 576, 1024, 9)])
def test_mobilenet_v3_heads_and_se(name, last, head, se_blocks):
    model = meta_model(name)
    assert model.features.conv_last.conv.out_channels == last
    assert (model.pre_logits[0].in_features, model.pre_logits[0].out_features) == (last, head)
    se = [m.se for m in model.features if getattr(m, "se", None) is not None]
    assert len(se) == se_blocks
    for block in se:  # squeeze to a quarter of the expansion, rounded to a multiple of 8
        expanded = block.fc1.in_channels
        assert block.fc1.out_channels % 8 == 0 and abs(block.fc1.out_channels - expanded / 4) < 8
        assert isinstance(block.gate, torch.nn.Hardsigmoid)


def test_mobilenet_v3_width_multiplier():
    small = meta_model("mobilenet_v3_large", width_mult=0.75)
    assert count_params(small) < count_params(meta_model("mobilenet_v3_large"))
    assert all(m.out_channels % 8 == 0 for m in small.features.modules() if isinstance(m, torch.nn.Conv2d) and m.groups == 1)


def test_depthwise_separable_cost_formula():
    """Sec. 3.1: D_K^2 M D_F^2 + M N D_F^2 for a separable layer, against D_K^2 M N D_F^2 for a full one."""
    sep = {r.name: r.macs() for r in analyze("mobilenet_v1").rows}
    full = {r.name: r.macs() for r in analyze("mobilenet_v1_conv").rows}
    dk, m, n, df = 3, 512, 512, 14  # the 14x14x512 layer of Table 3
    assert sep["features.sep8.dw.conv"] + sep["features.sep8.pw.conv"] == dk * dk * m * df * df + m * n * df * df
    assert full["features.conv9.conv"] == dk * dk * m * n * df * df
    assert sep["features.sep8.dw.conv"] + sep["features.sep8.pw.conv"] == pytest.approx(
        full["features.conv9.conv"] * (1 / n + 1 / dk**2)
    )


def test_mobilenet_table2_resources_per_layer_type():
    """Table 2: mult-adds and parameters (weights) per layer type, as shares of the conv and FC totals.

    All agree to the paper's 0.01%, except the Conv 3x3 mult-adds, printed 1.19% for 1.91%
    (10.8M of 569M): the digits are swapped, the other three shares need 1.91% to sum to 100%.
    """
    types = defaultdict(lambda: [0, 0])  # type -> [mult-adds, weights]; Table 2 counts no biases
    for r in analyze("mobilenet_v1").rows:
        if r.kind in ("Conv2d", "Linear"):
            types[r.type_key][0] += r.macs()
            types[r.type_key][1] += r.weights
    total_macs = sum(m for m, _ in types.values())
    total_params = sum(p for _, p in types.values())
    table2 = {"Conv 1x1": (94.86, 74.59), "Conv DW 3x3": (3.06, 1.06), "Conv 3x3": (1.91, 0.02), "Fully Connected": (0.18, 24.33)}
    for kind, (macs_share, params_share) in table2.items():
        macs, params = types[kind]
        assert 100 * macs / total_macs == pytest.approx(macs_share, abs=0.006), kind
        assert 100 * params / total_params == pytest.approx(params_share, abs=0.006), kind
    assert sum(m for m, _ in table2.values()) == pytest.approx(100, abs=0.02)


def as_printed(text: str) -> tuple[float, float]:
    """A number as a table prints it, and half a unit of its last digit: '52.3' -> (52.3, 0.05)."""
    decimals = len(text.split(".")[1]) if "." in text else 0
    return float(text), 0.5 * 10**-decimals + 1e-9


@pytest.mark.parametrize("modification, model, options, size, layer, mult_adds, params", [
    ("Convolution", "mobilenet_v1_conv", {}, 224, ("conv9",), "462", "2.36"),
    ("Depthwise Separable Conv", "mobilenet_v1", {}, 224, ("sep8.dw", "sep8.pw"), "52.3", "0.27"),
    ("alpha = 0.75", "mobilenet_v1", {"width_mult": 0.75}, 224, ("sep8.dw", "sep8.pw"), "29.6", "0.15"),
    ("rho = 0.714", "mobilenet_v1", {"width_mult": 0.75}, 160, ("sep8.dw", "sep8.pw"), "15.1", "0.15"),
])  # fmt: skip
def test_mobilenet_table3_one_layer(modification, model, options, size, layer, mult_adds, params):
    """Table 3: the internal 14x14x512 layer (D_K = 3, M = N = 512) under each modification, cumulative,
    to the table's rounding (million mult-adds, million parameters)."""
    rows = {r.name: r for r in analyze(model, size, **options).rows}
    convs = [rows[f"features.{part}.conv"] for part in layer]
    value, tolerance = as_printed(mult_adds)
    assert sum(r.macs() for r in convs) / 1e6 == pytest.approx(value, abs=tolerance)
    value, tolerance = as_printed(params)
    assert sum(r.weights for r in convs) / 1e6 == pytest.approx(value, abs=tolerance)
