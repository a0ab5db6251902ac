"""The execution path: one module decides it (per CPU, overridable), every consumer takes it; both CPU
paths run on any machine (CNNZOO_CPU_BF16 forces the choice)."""
import pytest
import torch

from cnnzoo import CnnzooError
from cnnzoo.runtime.execution import (
    BF16_ENV,
    ExecPath,
    _cpuinfo_has_fast_bf16,
    cpu_has_fast_bf16,
    default_path,
    prepare,
    resolve_path,
)
from helpers import randomize_batchnorm


def test_the_default_path_is_the_forced_cpu_path(cpu_path):
    inference, training = default_path("cpu"), default_path("cpu", train=True)
    assert inference.precision == training.precision == cpu_path
    assert inference.channels_last and training.channels_last
    assert inference.fold_bn and not training.fold_bn  # folding is for inference only
    assert inference.autocast_dtype == (torch.bfloat16 if cpu_path == "bf16" else None)


def test_without_the_override_the_cpu_flags_decide(monkeypatch):
    monkeypatch.delenv(BF16_ENV, raising=False)
    flags = open("/proc/cpuinfo").read() if __import__("os").path.exists("/proc/cpuinfo") else ""
    native = "avx512_bf16" in flags or "amx_bf16" in flags
    assert cpu_has_fast_bf16() == _cpuinfo_has_fast_bf16() == native
    monkeypatch.setenv(BF16_ENV, "on")
    assert cpu_has_fast_bf16()
    monkeypatch.setenv(BF16_ENV, "off")
    assert not cpu_has_fast_bf16()


def test_explicit_choices_go_on_top_of_the_default(cpu_path):
    assert resolve_path() == default_path()
    assert resolve_path("auto", train=True) == default_path(train=True)
    fp32 = resolve_path("fp32")
    assert fp32.precision == "fp32" and fp32.channels_last and fp32.fold_bn  # only the precision changed
    assert resolve_path("bf16", channels_last=False, fold_bn=False) == ExecPath("cpu", "bf16", False, False)
    assert ExecPath().replace(precision=None, channels_last=True) == ExecPath(channels_last=True)


@pytest.mark.parametrize("kwargs, message", [
    (dict(precision="fp16", device="cpu"), "needs a CUDA device"),
    (dict(fold_bn=True, train=True), "for inference"),
    (dict(precision="int4"), "choose fp32, bf16, fp16"),
])  # fmt: skip
def test_impossible_paths_are_refused(kwargs, message):
    with pytest.raises(CnnzooError, match=message):
        resolve_path(**kwargs)


def test_a_prepared_model_runs_on_each_path_close_to_plain_fp32(cpu_path):
    """Prepared (BN folded, channels_last, autocast on the bf16 path) and run as evaluation runs it:
    the same class scores as the plain fp32 model, within a tolerance that holds on both paths."""
    import cnnzoo
    from cnnzoo.eval.metrics import probabilities

    torch.manual_seed(0)
    model = randomize_batchnorm(cnnzoo.create_model("resnet20"))  # folding has work to do
    x = torch.randn(8, 3, 32, 32)
    path = default_path()
    with torch.no_grad():
        expected = torch.softmax(model(x), 1)
        got = probabilities(prepare(model, path), x, path)
    diff = (got - expected).abs().max().item()
    assert diff < (1e-5 if cpu_path == "fp32" else 2e-2)  # bf16 keeps 8 bits of mantissa
    assert cpu_path == "fp32" or diff > 1e-4  # the bf16 path really ran in bf16


@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_small"])  # ReLU6; Hardswish, and convs followed by no activation
def test_fused_convolutions_compute_what_the_unfused_model_does(name):
    """Each convolution fused with its activation (one oneDNN call): the same logits as the folded, unfused
    model, on the fused call's own path (CPU fp32) and with autocast on, where it falls back."""
    import cnnzoo
    from cnnzoo.layers.fuse import FusedConvAct, fusion_available

    if not fusion_available():
        pytest.skip("this build of PyTorch has no oneDNN")
    torch.manual_seed(0)
    model = randomize_batchnorm(cnnzoo.create_model(name, num_classes=10))
    plain, fused = prepare(model, ExecPath("cpu", "fp32", True, True)), prepare(model, ExecPath("cpu", "fp32", True, True, fuse=True))
    kinds = {type(m.act) for m in fused.modules() if isinstance(m, FusedConvAct)}
    assert len(kinds) >= (2 if name == "mobilenet_v3_small" else 1)
    x = torch.randn(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        expected, got = plain(x), fused(x)
        assert (got - expected).abs().max().item() < 1e-5 * max(1.0, expected.abs().max().item())
        with torch.autocast("cpu", torch.bfloat16):
            assert torch.allclose(fused(x).float(), plain(x).float())  # the fallback: conv and activation as before
    x.requires_grad_(True)  # the fused call has no backward: with autograd on, the two modules run as before
    fused(x).sum().backward()
    grad, x.grad = x.grad, None
    plain(x).sum().backward()
    assert grad is not None and torch.allclose(grad, x.grad, atol=1e-5)


def test_fusion_is_the_cpu_fp32_inference_default_only():
    assert resolve_path("fp32").fuse and "conv+act fused" in resolve_path("fp32").describe()
    assert not resolve_path("bf16").fuse and not default_path(train=True).fuse
    assert not resolve_path("fp32", fuse=False).fuse
    with pytest.raises(CnnzooError, match="for inference"):
        resolve_path(fuse=True, train=True)
