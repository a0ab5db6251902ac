import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cnnzoo import CnnzooError
from cnnzoo.artifacts import load_model
from cnnzoo.cli import main
from helpers import TINY_CLI, digit_images


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_all_and_by_pattern(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0 and "resnet50" in out and "25.6M" in out and "4.09G" in out and "He et al. 2015" in out
    code, out, _ = run(capsys, "list", "vgg*_bn")
    lines = [line.split()[0] for line in out.splitlines()[1:] if line.strip() and not line.startswith("4 models")]
    assert lines == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


def test_list_with_no_match_is_an_error(capsys):
    code, out, err = run(capsys, "list", "nosuchnet")
    assert code == 2 and out == "" and "no model matches" in err and "Traceback" not in err


def test_summary_shows_lecture_shapes(capsys):
    code, out, _ = run(capsys, "summary", "alexnet")
    assert code == 0
    conv1 = next(line for line in out.splitlines() if line.startswith("features.conv1 "))
    assert "227x227x3" in conv1 and "55x55x96" in conv1 and "34.8K" in conv1  # "(11 x 11 x 3) x 96 = 35K"
    assert "61M parameters" in out and "MACs: conv + linear" in out


def test_summary_json_has_exact_numbers(capsys):
    code, out, _ = run(capsys, "summary", "alexnet", "--format", "json")
    data = json.loads(out)
    conv1 = next(r for r in data["rows"] if r["layer"] == "features.conv1")
    assert (conv1["weights"], conv1["biases"], conv1["output"]) == (34_848, 96, "55x55x96")
    assert data["summary"]["params"] == 60_965_224 and data["summary"]["uncounted"] == []


def test_summary_views_and_formats(capsys):
    _, out, _ = run(capsys, "summary", "mobilenet_v1", "--by-type")
    assert "Conv DW 3x3" in out and "94.86%" in out  # MobileNet Table 2: Conv 1x1 share of mult-adds
    _, out, _ = run(capsys, "summary", "googlenet", "--depth", "2", "--format", "markdown")
    assert "| features.inception3a |" in out and "28x28x256" in out
    _, out, _ = run(capsys, "summary", "resnet20", "--format", "csv", "--nchw", "--batch", "8")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["output"] == "8x16x32x32" and int(rows[0]["bytes"]) == 8 * 16 * 32 * 32 * 4
    _, plain, _ = run(capsys, "summary", "resnet20", "--format", "json")
    _, counted, _ = run(capsys, "summary", "resnet20", "--format", "json", "--count", "add,norm")
    assert json.loads(counted)["summary"]["macs_per_image"] > json.loads(plain)["summary"]["macs_per_image"]


def test_summary_at_another_input_size(capsys):
    code, out, _ = run(capsys, "summary", "resnet20", "--input", "64")
    assert code == 0 and "64x64x3" in out and "16x16x64" in out


@pytest.mark.parametrize("argv, message", [
    (["summary", "resnt50"], "did you mean resnet50"),
    (["summary", "alexnet", "--input", "50"], "at least 67x67"),
    (["summary", "alexnet", "--input", "0"], "positive"),
    (["info", "vgg"], "unknown model 'vgg'"),
    (["summary", "resnet20", "--count", "relu"], "--count takes"),
    (["summary", "resnet20", "--batch", "0"], "must be positive"),
])  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_info_card(capsys):
    code, out, _ = run(capsys, "info", "se_resnet50")
    assert code == 0
    assert "Squeeze-and-Excitation Networks" in out and "arXiv:1709.01507" in out
    assert "28,088,024 counted; reference 28,088,024" in out and "timm.legacy_seresnet50" in out
    assert "stride_in_1x1=True" in out and "se=16" in out
    assert "recipe      senet (its paper's" in out and "published   top-1 77.64%, top-5 93.76% (timm weights (legacy_seresnet50.in1k))" in out


def test_info_says_where_the_pretrained_weights_go(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    code, out, _ = run(capsys, "info", "resnet50")
    assert code == 0 and "weights='torchvision' (ResNet50_Weights.IMAGENET1K_V2, published top-1 80.86%): not on this machine (fetch" in out
    assert "resnet50-11ad3fa6.pth" in out and "centre crop 224" in out
    assert "also torchvision:IMAGENET1K_V1 (top-1 76.13%, resize 256)" in out


def test_a_kill_stops_a_command_like_ctrl_c_and_its_finally_blocks_run(capsys, monkeypatch):
    import os
    import signal

    import cnnzoo.cli.models as cli

    cleaned = []

    def killed(args):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("the kill did not stop the command")
        finally:
            cleaned.append(True)

    handler = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(cli, "cmd_info", killed)
    code, _, err = run(capsys, "info", "resnet20")
    assert code == 130 and cleaned == [True] and err == "cnnzoo: stopped\n"
    assert signal.getsignal(signal.SIGTERM) is handler  # put back


def test_module_entry_point_and_argparse_errors():
    ok = subprocess.run([sys.executable, "-m", "cnnzoo", "list", "alexnet"], capture_output=True, text=True)
    assert ok.returncode == 0 and "alexnet_owt" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "cnnzoo", "summary"], capture_output=True, text=True)
    assert bad.returncode == 2 and "required" in bad.stderr


def test_compare_table_and_plots(capsys, tmp_path):
    code, out, _ = run(capsys, "compare", "resnet18", "mobilenet_v2", "--measure", "--batch", "2", "--plot", str(tmp_path / "chart.png"))
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("resnet18"))
    assert "11.7M" in line and "1.814" in line and "69.76" in line and "torchvision" in line
    assert (tmp_path / "chart.png").stat().st_size > 10_000 and (tmp_path / "chart-ilsvrc.png").stat().st_size > 10_000
    assert not list(tmp_path.glob(".*tmp"))  # written atomically: no temporary left behind


def test_bench_against_peer(capsys):
    code, out, _ = run(capsys, "bench", "resnet18", "--batch", "2", "--input", "64", "--repeats", "2", "--vs", "torchvision")
    assert code == 0 and "resnet18 (cnnzoo)" in out and "torchvision.resnet18" in out and "ratio cnnzoo / torchvision" in out
    code, out, _ = run(capsys, "bench", "resnet20", "--batch", "4", "--repeats", "2", "--train", "--precision", "fp32")
    assert code == 0 and "training" in out and "GFLOP/s" in out


@pytest.mark.parametrize("argv, message", [
    (["bench", "resnet20", "--vs", "torchvision"], "no torchvision counterpart"),
    (["bench", "resnet18", "--precision", "fp16", "--device", "cpu"], "needs a CUDA device"),
    (["bench", "resnet18", "--batch", "0"], "must be positive"),
    (["compare"], "--all"),
    (["compare", "resnet5"], "did you mean"),
])  # fmt: skip
def test_bench_and_compare_errors(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err


@pytest.mark.heavy(10)
def test_train_eval_predict_from_the_command_line(capsys, tmp_path):
    out = tmp_path / "run"
    code, text, _ = run(capsys, "train", "resnet20", *TINY_CLI, "--data", "digits", "--recipe", "short", "epochs=2", "batch_size=64",
                        "--out", str(out), "--limit", "512")  # fmt: skip
    assert code == 0 and "recipe short" in text and "done: validation top-1 error" in text
    code, text, _ = run(capsys, "eval", "--checkpoint", str(out / "model.safetensors"), str(out / "checkpoint.pt"), "--crops", "10")
    assert code == 0 and "ensemble of 2" in text and "10 crops" in text and (out / "confusion.png").is_file()
    code, text, _ = run(capsys, "predict", *digit_images(tmp_path), "--checkpoint", str(out / "model.safetensors"), "--top", "3")
    assert code == 0 and text.count("%") == 3


@pytest.mark.parametrize("argv, message", [
    (["train", "resnet21", "--data", "digits"], "did you mean"),
    (["train", "resnet20", "--data", "digits", "lr=fast"], "lr takes float"),
    (["train", "resnet20", "--data", "digits", "momentumm=0.9"], "unknown recipe field"),
    (["train", "resnet20", "--data", "digits", "batch_size=0"], "batch_size must be >= 1"),
    (["train", "resnet20", "--data", "/no/such/folder"], "no data at"),
    (["train", "resnet20", "--data", "digits", "--recipe", "fast"], "unknown recipe"),
    (["train", "resnet20", "--data", "digits", "--model-option", "width=3"], "has no option width"),
    (["eval", "--checkpoint", "/no/such.pt"], "no checkpoint"),
    (["eval", "--checkpoint", str(Path(__file__).parents[1] / "weights/cifar10-resnet20/model.safetensors")], "which images?"),  # not the folder it names
    (["predict", "x.png", "--checkpoint", "/no/such.safetensors"], "no checkpoint"),
])  # fmt: skip
def test_bad_training_input_is_one_line_and_exit_2(capsys, argv, message, tmp_path):
    code, _, err = run(capsys, *argv, *(["--out", str(tmp_path / "r")] if argv[0] == "train" else []))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_empty_class_folder_from_the_command_line(capsys, tmp_path):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "data" / "train" / cls).mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "data" / "train" / "a" / "1.png")
    code, _, err = run(capsys, "train", "resnet20", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "r"))
    assert code == 2 and "holds no images" in err


def test_library_errors_name_parameters_and_the_cli_names_its_flags(capsys, tmp_path):
    from cnnzoo.experiments import reproduce

    with pytest.raises(CnnzooError, match="^`epochs`, `budget` and `limit` must be positive$"):
        reproduce("resnet-cifar", "digits", tmp_path / "a", epochs=-1, log=lambda *a: None)
    code, _, err = run(capsys, "reproduce", "resnet-cifar", "--data", "digits", "--epochs", "-1", "--out", str(tmp_path / "b"))
    assert code == 2 and err == "cnnzoo: error: --epochs, --budget and --limit must be positive\n"
    code, _, err = run(capsys, "reproduce", "se-cifar", "--results-only", "--out", str(tmp_path / "none"))
    assert code == 2 and "holds no sweep (no plan.json)" in err
    code, _, err = run(capsys, "reproduce", "se-cifar", "--results-only", "--data", "digits", "--epochs", "2")
    assert code == 2 and "--results-only trains nothing" in err and "drop --data, --epochs" in err
    with pytest.raises(CnnzooError, match="`checkpoint` .* and `pretrained` .* exclude each other"):
        load_model("a.safetensors", pretrained="timm")
    code, _, err = run(capsys, "predict", "x.png", "--checkpoint", "a.safetensors", "--pretrained", "timm")
    assert code == 2 and "--checkpoint (a cnnzoo run) and --pretrained (published weights) exclude each other" in err
