"""The engine that runs inference on the CPU: the fastest that `precision` allows here and that computes what fp32
eager does, measured once per machine and architecture, remembered, shown and overridable. The choice is tested
on given speeds (a test must not depend on which engine this CPU favours); the measurement itself on real runs."""
import os

import pytest
import torch

import cnnzoo.deploy.engines as engines
from cnnzoo import CnnzooError
from cnnzoo.artifacts.loading import open_run
from cnnzoo.cli import main
from cnnzoo.runtime.execution import BF16_ENV
from cnnzoo.runtime.machine import INT8_ENV
from helpers import digit_images

pytest.importorskip("onnxruntime")


@pytest.fixture
def every_engine(monkeypatch, tmp_path):
    """All engines open to the choice (the suite pins PyTorch's), and a cache of this test's own."""
    monkeypatch.delenv(engines.ENGINES_ENV, raising=False)
    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def learned(learned_digits):
    model, meta = open_run(learned_digits / "model.safetensors")
    g = torch.Generator().manual_seed(0)
    return model, meta, torch.randn(16, 3, meta["input_size"], meta["input_size"], generator=g)


def _given(rates: dict[str, float], calls: list):
    def measure(modules, images, repeats=3):
        calls.append(sorted(modules))
        return {name: rates[name] for name in modules}

    return measure


def test_the_fastest_engine_is_chosen_and_remembered(every_engine, learned, monkeypatch, tmp_path):
    model, meta, images = learned
    calls = []
    for rates, expected in (({"torch-fp32": 10.0, "onnx-fp32": 20.0}, "onnx-fp32"), ({"torch-fp32": 20.0, "onnx-fp32": 10.0}, "torch-fp32")):
        monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path / expected))  # each case measured afresh
        chosen = engines.choose_engine(model, meta, images, measure_fn=_given(rates, calls))
        assert chosen.engine == expected and not chosen.cached and f"engine {expected} (the fastest here" in chosen.line()
        with torch.no_grad():  # whichever engine: the fp32 model's logits
            assert torch.allclose(chosen.module(images), model(images), atol=1e-4)
    assert calls == [["onnx-fp32", "torch-fp32"]] * 2
    again = engines.choose_engine(model, meta, images, measure_fn=_given({}, calls))  # remembered: not measured again
    assert again.engine == "torch-fp32" and again.cached and len(calls) == 2
    engines.choose_engine(model, meta, images[:8], measure_fn=_given({"torch-fp32": 1.0, "onnx-fp32": 2.0}, calls))
    assert len(calls) == 3  # another batch is another measurement


def test_an_engine_that_computes_other_logits_is_passed_over(every_engine, learned, monkeypatch):
    model, meta, images = learned
    build = engines.build_engine

    def broken(name, *args, **kwargs):
        module = build(name, *args, **kwargs)
        if name == "onnx-fp32":  # an export that got a weight wrong
            module.module.run = (lambda run: lambda x: run(x) + 0.5)(module.module.run)
        return module

    monkeypatch.setattr(engines, "build_engine", broken)
    chosen = engines.choose_engine(model, meta, images, measure_fn=_given({"torch-fp32": 1.0, "onnx-fp32": 9.0}, []))
    assert chosen.engine == "torch-fp32" and "differ from fp32 eager" in chosen.excluded["onnx-fp32"]
    with pytest.raises(CnnzooError, match="engine onnx-fp32: its logits differ"):
        engines.choose_engine(model, meta, images, "onnx-fp32")


def test_a_real_measurement_ranks_the_engines(every_engine, learned):
    model, meta, images = learned
    chosen = engines.choose_engine(model, meta, images)
    assert set(chosen.rates) == {"torch-fp32", "onnx-fp32"} and all(r > 0 for r in chosen.rates.values())
    assert chosen.engine == max(chosen.rates, key=chosen.rates.get)
    assert "top-1 agrees on 100%" in chosen.line()


def test_which_engines_compete(every_engine, monkeypatch, tmp_path):
    monkeypatch.setenv(BF16_ENV, "0")
    monkeypatch.setenv(INT8_ENV, "0")
    names, why = engines.candidates("auto")
    assert names == ["torch-fp32", "onnx-fp32"]
    assert "no native bf16" in why["torch-bf16"] and "no VNNI or AMX" in why["onnx-int8"]
    assert engines.candidates("fp32")[0] == ["torch-fp32", "onnx-fp32"]  # numbers that do not depend on the machine
    assert engines.candidates("bf16")[0] == ["torch-bf16"]  # asked for: it runs, emulated or not
    monkeypatch.setenv(BF16_ENV, "1")
    monkeypatch.setenv(INT8_ENV, "1")
    weights, int8 = tmp_path / "model.safetensors", tmp_path / "model.int8.onnx"
    assert "not quantized" in engines.candidates("auto", int8)[1]["onnx-int8"]
    weights.write_bytes(b"new")
    int8.write_bytes(b"old")
    os.utime(int8, (1, 1))
    assert "quantize it again" in engines.candidates("auto", int8, weights_file=weights)[1]["onnx-int8"]
    os.utime(int8, (weights.stat().st_mtime + 1,) * 2)
    assert engines.candidates("auto", int8, weights_file=weights)[0] == list(engines.ENGINES)
    monkeypatch.setenv(engines.ENGINES_ENV, "torch-fp32")
    assert engines.candidates("auto")[0] == ["torch-fp32"]
    monkeypatch.setenv(engines.ENGINES_ENV, "tensorrt")
    with pytest.raises(CnnzooError, match="CNNZOO_ENGINES='tensorrt'"):
        engines.candidates("auto")


def test_eval_and_predict_show_the_engine_and_take_another(every_engine, learned_digits, capsys, tmp_path):
    checkpoint = str(learned_digits / "model.safetensors")
    errors = {}
    for engine in ("torch-fp32", "onnx-fp32"):
        assert main(["eval", "--checkpoint", checkpoint, "--engine", engine, "--confusion", str(tmp_path / "c.png")]) == 0
        out = capsys.readouterr().out
        assert f"engine {engine} (as asked)" in out
        errors[engine] = out.split("top-1 error ")[1].split("%")[0]
    assert errors["torch-fp32"] == errors["onnx-fp32"]  # the same fp32 numbers from either engine
    assert main(["eval", "--checkpoint", checkpoint, "--engine", "onnx-int8"]) == 2
    assert "needs the model quantized" in capsys.readouterr().err
    assert main(["export", "resnet20", "--checkpoint", checkpoint, "--out", str(tmp_path / "m.onnx")]) == 0
    assert main(["eval", "--checkpoint", str(tmp_path / "m.onnx"), "--engine", "torch-fp32"]) == 2  # a file runs as written
    assert "--engine and --precision go with checkpoints" in capsys.readouterr().err
    image = digit_images(tmp_path)[0]
    assert main(["predict", image, "--checkpoint", checkpoint, "--precision", "fp32", "--top", "1"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{image}: ") and "engine " in err and "the fastest here" in err


def test_bench_times_every_engine_and_remembers_them(every_engine, monkeypatch, capsys):
    monkeypatch.setenv(INT8_ENV, "1")  # int8 competes (quantized on the spot: bench times random weights)
    assert main(["bench", "resnet20", "--batch", "4", "--repeats", "1", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert all(f"resnet20 on {e}:" in out for e in ("onnx-fp32", "onnx-int8")) and "fastest engine here:" in out
    import cnnzoo

    model = cnnzoo.create_model("resnet20").eval()
    meta = {"model": "resnet20", "model_options": {}, "num_classes": 10, "input_size": 32}

    def unexpected(*_):
        raise AssertionError("measured again: bench's measurement was not used")

    chosen = engines.choose_engine(model, meta, torch.randn(4, 3, 32, 32), precision="auto", measure_fn=unexpected,
                                   int8_file=None)  # fmt: skip
    assert chosen.cached and set(chosen.rates) == {"torch-fp32", "onnx-fp32"}  # int8 not a candidate: nothing quantized


def test_the_export_cache_keeps_the_most_recently_used(tmp_path):
    """Old exports beyond the kept number go; one used within the grace time stays whatever its rank."""
    import os
    import time

    from cnnzoo.deploy.engines import EXPORT_GRACE_SECONDS, EXPORTS_KEPT, prune_exports

    old = time.time() - 2 * EXPORT_GRACE_SECONDS
    files = [tmp_path / f"{i:02}.onnx" for i in range(EXPORTS_KEPT + 3)]
    for age, f in enumerate(files):  # 00 the most recent
        f.write_bytes(b"x")
        os.utime(f, (old - age, old - age))
    os.utime(files[-1], None)  # the oldest used just now: the most recent
    removed = prune_exports(tmp_path)
    assert sorted(removed) == files[EXPORTS_KEPT - 1:-1] and files[-1].is_file() and len(list(tmp_path.glob("*.onnx"))) == EXPORTS_KEPT
    for f in tmp_path.glob("*.onnx"):
        os.utime(f, None)
    (tmp_path / "new.onnx").write_bytes(b"x")
    assert prune_exports(tmp_path) == []  # beyond the number, but all used within the grace time
