"""Export: ONNX and TorchScript files with BatchNorm folded, that compute what the PyTorch model
computes (checked here with onnxruntime itself, not only by the exporter's own check), carry their
metadata, and are never left half-written or wrong."""
import json

import numpy as np
import pytest
import torch

import cnnzoo
from cnnzoo.artifacts.exported import ExportError, load_onnx
from cnnzoo.cli import main
from cnnzoo.deploy.export import export_model
from helpers import digit_images, randomize_batchnorm

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _meta(name: str, num_classes: int, size: int) -> dict:
    return {"model": name, "num_classes": num_classes, "input_size": size, "class_names": [str(i) for i in range(num_classes)],
            "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3}, "model_options": {}}  # fmt: skip


def _trained_like(name: str, num_classes: int = 10, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    return randomize_batchnorm(cnnzoo.create_model(name, num_classes=num_classes, **options))


# one of each kind of layer: LRN and grouped convs, Inception concat and ceil-mode pools, hard-swish
# and squeeze-excitation, separable convs, residual adds
@pytest.mark.parametrize("name, size", [("alexnet", 224), ("googlenet", 96), ("mobilenet_v3_small", 96), ("xception", 96), ("resnet20", 32)])
def test_onnx_export_runs_in_onnxruntime_like_pytorch(tmp_path, name, size):
    model = _trained_like(name)
    file = tmp_path / f"{name}.onnx"
    report = export_model(model, _meta(name, 10, size), file, "onnx", dynamic_batch=True)
    assert report.batch_sizes == (1, 3) and report.max_abs_diff <= report.tolerance
    graph = onnx.load(str(file)).graph
    ops = {n.op_type for n in graph.node}
    assert "BatchNormalization" not in ops  # folded into the convolutions
    session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    x = torch.randn(5, 3, size, size, generator=torch.Generator().manual_seed(1))  # a batch size the export never saw
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        expected = model(x).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4 * max(1, np.abs(expected).max()), rtol=1e-3)
    assert not list(tmp_path.glob(".*tmp"))


def test_a_fixed_batch_export_and_the_metadata_it_carries(tmp_path):
    model, meta = _trained_like("resnet20"), _meta("resnet20", 10, 32)
    export_model(model, meta, tmp_path / "r.onnx", "onnx", batch=2)
    run, read = load_onnx(tmp_path / "r.onnx")
    assert read == meta
    assert run(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    x = torch.randn(5, 3, 32, 32)  # the graph takes batches of 2: five images run as 2 + 2 + 1 (padded)
    with torch.no_grad():
        torch.testing.assert_close(run(x), model(x), atol=1e-4, rtol=1e-3)
    session = ort.InferenceSession(str(tmp_path / "r.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[0] == 2  # without --dynamic-batch the batch is part of the graph


def test_torchscript_export(tmp_path):
    model = _trained_like("mobilenet_v2", width_mult=0.5)
    report = export_model(model, _meta("mobilenet_v2", 10, 64), tmp_path / "m.pt", "torchscript")
    assert report.max_abs_diff <= report.tolerance
    extra = {"cnnzoo.json": ""}
    with pytest.warns(FutureWarning):  # torch.jit is deprecated for torch.export; its files still load
        loaded = torch.jit.load(str(tmp_path / "m.pt"), _extra_files=extra)
    assert json.loads(extra["cnnzoo.json"])["model"] == "mobilenet_v2"
    assert "batch_norm" not in str(loaded.inlined_graph)  # folded
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), atol=1e-4, rtol=1e-3)


def test_an_export_that_computes_something_else_is_not_written(tmp_path, monkeypatch):
    import cnnzoo.runtime.execution as execution  # export folds through the execution path's `prepare`

    def broken_fold(model):  # a fold that gets a sign wrong
        folded = cnnzoo.layers.fold_batchnorm(model)
        conv = next(m for m in folded.modules() if isinstance(m, torch.nn.Conv2d))
        conv.weight.data.neg_()
        return folded

    monkeypatch.setattr(execution, "fold_batchnorm", broken_fold)
    (tmp_path / "r.onnx").write_bytes(b"previous")
    with pytest.raises(ExportError, match="computes other logits.*not written"):
        export_model(_trained_like("resnet20"), _meta("resnet20", 10, 32), tmp_path / "r.onnx")
    assert (tmp_path / "r.onnx").read_bytes() == b"previous" and not list(tmp_path.glob(".*tmp"))


def test_export_and_predict_from_the_command_line(capsys, tmp_path):
    run = tmp_path / "run"
    assert main(["train", "resnet20", "--data", "digits", "--recipe", "short", "epochs=1", "--limit", "256", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["export", "resnet20", "--checkpoint", str(run / "model.safetensors"), "--dynamic-batch"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "checked at batch 1 and 3" in out and (run / "model.onnx").is_file()
    files = digit_images(tmp_path, 3)
    assert main(["predict", *files, "--checkpoint", str(run / "model.safetensors"), "--top", "3"]) == 0
    by_torch = capsys.readouterr().out
    assert main(["predict", *files, "--checkpoint", str(run / "model.onnx"), "--runtime", "onnx", "--top", "3"]) == 0
    by_onnx = capsys.readouterr().out
    assert by_onnx == by_torch and by_torch.count("%") == 9  # the same classes and probabilities, to the printed digit
    assert main(["eval", "--checkpoint", str(run / "model.safetensors")]) == 0
    metrics = capsys.readouterr().out.split("): ")[1].splitlines()[0]
    assert main(["eval", "--checkpoint", str(run / "model.onnx")]) == 0  # the whole validation split through onnxruntime
    out = capsys.readouterr().out
    assert "run by onnxruntime" in out and metrics in out  # top-1, top-5 and loss as PyTorch's, to the printed digit
    assert main(["export", "resnet20", "--checkpoint", str(run / "model.safetensors"), "--format", "exported-program", "--dynamic-batch"]) == 0
    assert (run / "model.pt2").is_file() and "checked at batch 1 and 3" in capsys.readouterr().out
    assert main(["predict", *files, "--checkpoint", str(run / "model.pt2"), "--top", "3"]) == 0
    assert capsys.readouterr().out == by_torch
    assert main(["eval", "--checkpoint", str(run / "model.pt2")]) == 0  # torch.export's program over the validation split
    out = capsys.readouterr().out
    assert "run by torch.export" in out and metrics in out


@pytest.mark.parametrize("argv, message", [
    (["export", "resnet20"], "give --checkpoint"),
    (["export", "resnet20", "--pretrained", "torchvision"], "no counterpart in torchvision or timm"),
    (["export", "resnet18", "--pretrained", "/no/such.pth"], "no weights file"),
    (["export", "resnet18", "--format", "onnx", "--out", "x.pt", "--pretrained", "P"], "ends in .onnx"),
    (["predict", "x.png", "--checkpoint", "model.pt", "--runtime", "onnx"], "give --checkpoint MODEL.onnx"),
    (["predict", "x.png", "--checkpoint", "/no/such.onnx"], "no ONNX file"),
    (["eval", "--checkpoint", "/no/such.onnx"], "no ONNX file"),
    (["eval", "--checkpoint", "a.onnx", "b.pt"], "not both"),
])  # fmt: skip
def test_bad_export_input_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    torch.save(cnnzoo.create_model("resnet18").state_dict(), tmp_path / "P")
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_a_corrupt_onnx_file_is_refused(capsys, tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"not a graph")
    assert main(["predict", "x.png", "--checkpoint", str(tmp_path / "bad.onnx")]) == 2
    assert "onnxruntime cannot load" in capsys.readouterr().err
