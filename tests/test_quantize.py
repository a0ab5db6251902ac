"""int8 for the CPU: `cnnzoo quantize` (ONNX Runtime static QDQ), calibrated on the run's training
images, gives a file that eval, predict and bench take, at nearly the fp32 model's accuracy."""
import json
import shutil

import pytest

from cnnzoo.cli import main
from conftest import LEARNED_DIGITS

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def run(learned_digits, tmp_path_factory):
    """A copy of the session's learned model (quantize writes beside it)."""
    out = tmp_path_factory.mktemp("q") / "run"
    out.mkdir()
    shutil.copy(learned_digits / "model.safetensors", out / "model.safetensors")
    return out


def _top1(text: str) -> float:
    return float(text.split("top-1 error ")[1].split("%")[0])


def test_quantize_calibrates_on_training_images_and_keeps_the_accuracy(run, capsys, tmp_path):
    capsys.readouterr()
    assert main(["quantize", "resnet20", "--checkpoint", str(run / "model.safetensors"), "--calibrate", "digits", "--images", "128"]) == 0
    out = capsys.readouterr().out
    file = run / "model.int8.onnx"
    assert file.is_file() and "calibrated on 128 images" in out
    meta = json.loads({p.key: p.value for p in onnx.load(str(file)).metadata_props}["cnnzoo"])
    assert meta["quantization"]["calibration_images"] == 128 and meta["model"] == "resnet20"
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(file)).graph.node)  # integer arithmetic, not a copy
    assert main(["eval", "--checkpoint", str(run / "model.safetensors")]) == 0
    fp32 = _top1(capsys.readouterr().out)
    assert main(["eval", "--checkpoint", str(file)]) == 0  # the run's validation split, never seen by calibration
    text = capsys.readouterr().out
    assert fp32 < 10  # a model that learned (chance: 90%): the comparison below means something
    assert "run by onnxruntime" in text and abs(_top1(text) - fp32) <= 2.0  # 179 images: one image is 0.56 points
    # the checkpoint's own evaluation on the int8 engine finds the quantized file beside it
    assert main(["eval", "--checkpoint", str(run / "model.safetensors"), "--engine", "onnx-int8"]) == 0
    text = capsys.readouterr().out
    assert "engine onnx-int8 (as asked)" in text and abs(_top1(text) - fp32) <= 2.0
    assert main(["bench", "resnet20", "--file", str(file), "--batch", "8", "--repeats", "2", "--warmup", "1"]) == 0
    assert "model.int8.onnx (onnxruntime)" in capsys.readouterr().out  # at the file's input size, not resnet20's 32
    size = LEARNED_DIGITS["input_size"]
    assert main(["bench", "resnet20", "--file", str(file), "--input", "32", "--repeats", "1"]) == 2
    assert f"was exported for {size}x{size} images, not --input 32" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--out", "x.pt2"], "a name ending in .onnx"),
    (["--images", "0"], "--images must be at least 1"),
])  # fmt: skip
def test_bad_requests_are_named(run, capsys, argv, message):
    assert main(["quantize", "resnet20", "--checkpoint", str(run / "model.safetensors"), "--calibrate", "digits", *argv]) == 2
    assert message in capsys.readouterr().err
