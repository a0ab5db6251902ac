"""One parametrized test per concern over the whole registry: every model is covered when registered."""
import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo import AuxOutputs, InputShapeError
from cnnzoo.analysis import analyze, meta_model

ALL = cnnzoo.list_models()
WITH_PARAMS = [n for n in ALL if cnnzoo.model_info(n).params is not None]
WITH_MACS = [n for n in ALL if cnnzoo.model_info(n).macs is not None]


def _test_size(model) -> int:
    """A small input the model runs on: its minimum, but at least 32 (CIFAR) or 64 (ImageNet nets)."""
    return max(model.min_input_size(), 32 if model.input_size <= 32 else 64)


@pytest.mark.parametrize("name", ALL)
def test_forward_backward(name):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name, num_classes=10).train()
    size = _test_size(model)
    out = model(torch.randn(2, 3, size, size))
    logits = out.logits if isinstance(out, AuxOutputs) else out
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    loss = logits.square().mean() + sum(a.square().mean() for a in getattr(out, "aux_logits", ()))
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, f"backward does not reach {no_grad[:3]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize("name", ALL)
def test_common_face(name):
    """forward_features / forward_head / num_features / reset_classifier, checked on meta tensors."""
    model = meta_model(name)
    info = cnnzoo.model_info(name)
    assert model.input_size == info.input_size and model.num_classes == info.num_classes
    x = torch.empty(2, 3, info.input_size, info.input_size, device="meta")
    features = model.forward_features(x)
    assert features.dim() == 4 and features.shape[0] == 2
    assert model.forward_head(features, pre_logits=True).shape == (2, model.num_features)
    assert model.forward_head(features).shape == (2, info.num_classes)
    with torch.device("meta"):
        model.reset_classifier(5)
    assert model(x).shape == (2, 5)
    with torch.device("meta"):
        model.reset_classifier(0)
    assert model(x).shape == (2, model.num_features)


@pytest.mark.parametrize("name", ALL)
def test_too_small_input_is_refused_before_any_layer(name):
    model = meta_model(name)
    need = model.min_input_size()
    model.check_input(torch.empty(1, 3, need, need, device="meta"))  # runs at the minimum
    small = torch.empty(1, 3, need - 1, need + 8, device="meta")
    with pytest.raises(InputShapeError, match=f"at least {need}x{need}"):
        model(small)
    with pytest.raises(InputShapeError, match="3-channel"):
        model(torch.empty(1, 1, need, need, device="meta"))


@pytest.mark.parametrize("name", WITH_PARAMS)
def test_params_equal_reference(name, computed_costs):
    info = cnnzoo.model_info(name)
    assert computed_costs[name].params == info.params, f"{name}: reference from {info.reference}"


@pytest.mark.parametrize("name", WITH_MACS)
def test_macs_match_reference(name, computed_costs):
    info = cnnzoo.model_info(name)
    assert computed_costs[name].macs == pytest.approx(info.macs, rel=0.005), f"reference from {info.reference}"


@pytest.mark.parametrize("name", ALL)
def test_per_layer_macs_add_up_to_flop_counter(name, computed_costs):
    """Our per-layer count (formulas on each conv/linear) against torch's FlopCounterMode total."""
    info = cnnzoo.model_info(name)
    rows = analyze(name, **info.reference_options).rows
    assert sum(r.macs() for r in rows) == computed_costs[name].macs
    assert sum(r.params for r in rows) == computed_costs[name].params


def test_aux_outputs_in_training_only():
    model = cnnzoo.create_model("googlenet", num_classes=10)
    x = torch.randn(2, 3, 224, 224)
    out = model.train()(x)
    assert isinstance(out, AuxOutputs) and out.logits.shape == (2, 10)
    assert [a.shape for a in out.aux_logits] == [(2, 10), (2, 10)]
    with torch.no_grad():
        assert isinstance(model.eval()(x), torch.Tensor)
    plain = cnnzoo.create_model("googlenet", aux_logits=False).train()
    assert isinstance(plain(torch.randn(2, 3, 96, 96)), torch.Tensor)
    assert not any("aux" in n for n, _ in plain.named_parameters())


def test_reset_classifier_resets_aux_heads():
    model = cnnzoo.create_model("googlenet_bn")
    model.reset_classifier(3)
    assert model.fc.out_features == 3 and [h.fc2.out_features for h in model.aux_heads] == [3, 3]


@pytest.mark.filterwarnings("ignore:`torch.jit.trace:FutureWarning")
@pytest.mark.parametrize("name", ["resnet18", "googlenet_bn", "vgg11"])
def test_check_input_is_skipped_while_tracing(name):
    model = cnnzoo.create_model(name).eval()
    traced = torch.jit.trace(model, torch.randn(1, 3, 64, 64))
    assert traced(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_zero_init_residual():
    model = cnnzoo.create_model("resnet50", zero_init_residual=True)
    assert all((b.conv3.bn.weight == 0).all() for b in model.layer1)
    assert isinstance(model.layer1[0].conv3.bn, nn.BatchNorm2d)


def test_a_cumulative_batchnorm_probes_its_minimum_input_like_any_other():
    """BatchNorm recalibration sets momentum None (a cumulative average), whose batch count a meta-tensor probe cannot
    read: the minimum input stays the model's, and a run at a reduced input size recalibrates."""
    model = cnnzoo.create_model("resnet20").train()
    need = model.min_input_size()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.momentum = None
    assert model.min_input_size() == need < 16 and all(m.momentum is None for m in norms)
    model(torch.randn(2, 3, 16, 16))


def test_the_minimum_input_probe_is_invisible_to_forward_hooks(monkeypatch):
    """An input below the native size makes the check probe the model on meta tensors: a user's hooks see only the
    real forward pass."""
    from cnnzoo.models import base

    monkeypatch.setattr(base, "_MIN_INPUT", {})  # nothing cached: this call probes
    model = cnnzoo.create_model("resnet20").eval()
    seen = []
    model.register_forward_pre_hook(lambda _, inputs: seen.append(inputs[0].device.type))
    model.layer1.register_forward_hook(lambda _, inputs, out: seen.append(out.device.type))
    model(torch.randn(1, 3, 16, 16))
    assert seen == ["cpu", "cpu"] and base._MIN_INPUT  # one real pass seen; the probe ran
