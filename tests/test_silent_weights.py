"""Weights, metadata, options and disks that used to give a silently wrong result or a traceback
(issue 13): non-finite weights, hostile metadata, ensemble weights, out-of-range options, a full disk,
a resume that refused harmless changes, a prediction that stopped at a bad image."""
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from PIL import Image

import cnnzoo.deploy.export
from cnnzoo.artifacts.exported import ExportError
from cnnzoo.artifacts.weights import save_weights
from cnnzoo.cli import main
from cnnzoo.deploy.export import export_model
from cnnzoo.errors import CnnzooError, InvalidOptionError
from cnnzoo.eval.options import EvalOptions
from cnnzoo.eval.runner import evaluate_checkpoints
from cnnzoo.files.atomic import WriteError
from cnnzoo.train import CheckpointError, RunConfig, get_recipe, load_checkpoint, load_trained, save_checkpoint, train
from cnnzoo.train.state import run_differences
from conftest import ROOT

COMMITTED = ROOT / "weights" / "cifar10-resnet20" / "model.safetensors"
pytestmark = pytest.mark.skipif(not COMMITTED.is_file(), reason="the committed CIFAR-10 weights are not in this checkout")


def poisoned(tmp_path: Path, value: float, suffix: str) -> Path:
    model, meta = load_trained(COMMITTED)
    with torch.no_grad():
        model.state_dict()["layer2.0.conv1.conv.weight"][0, 0, 0, 0] = value
    file = tmp_path / f"poisoned{suffix}"
    if suffix == ".safetensors":
        save_weights(file, model, meta)
    else:
        torch.save({"meta": meta, "model": model.state_dict()}, file)
    return file


@pytest.mark.parametrize("value,suffix", [(math.nan, ".safetensors"), (math.inf, ".pt"), (-math.inf, ".safetensors")])
def test_non_finite_weights_are_refused_with_the_tensors_name(tmp_path, value, suffix, capsys):
    file = poisoned(tmp_path, value, suffix)
    with pytest.raises(CheckpointError, match=r"tensor layer2.0.conv1.conv.weight holds 1 NaN or infinite values"):
        load_trained(file)
    png = tmp_path / "x.png"
    Image.new("RGB", (32, 32), (1, 2, 3)).save(png)
    commands = (["predict", str(png), "--checkpoint", str(file)], ["eval", "--checkpoint", str(file)],
                ["export", "resnet20", "--checkpoint", str(file), "--format", "torchscript"])  # fmt: skip
    for argv in commands:
        assert main(argv) == 2
        assert "layer2.0.conv1.conv.weight holds 1 NaN" in capsys.readouterr().err


def test_export_checks_with_nan_aware_arithmetic(tmp_path, monkeypatch):
    model, meta = load_trained(COMMITTED)
    with torch.no_grad():
        model.fc.bias[3] = math.nan
    with pytest.raises(ExportError, match="outputs NaN or infinite logits"):
        export_model(model, meta, tmp_path / "a.pt", "torchscript")
    model, meta = load_trained(COMMITTED)
    loader = cnnzoo.deploy.export._load_torchscript

    def nan_runtime(file):  # an exported file that computes NaN where PyTorch does not
        run = loader(file)
        return lambda images: run(images) * math.nan

    monkeypatch.setattr(cnnzoo.deploy.export, "_load_torchscript", nan_runtime)
    with pytest.raises(ExportError, match=r"computes other logits than the model \(max \|difference\| nan\)"):
        export_model(model, meta, tmp_path / "b.pt", "torchscript")  # max(0.0, nan) used to report 0.00e+00
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("input_size", 100_000, r"input_size must be an integer in \[1, 2048\]"),
        ("input_size", "32", "input_size must be an integer"),
        ("input_size", 0, r"input_size must be an integer in \[1, 2048\], not 0"),
        ("num_classes", -1, "num_classes must be an integer"),
        ("class_names", ["a"], "class_names lists 1 classes, not num_classes 10"),
        ("model", "resnet9000", "model cannot be built"),
        ("model_options", {"width": 10**6}, "model cannot be built .*has no option 'width'"),
        ("model_options", {"widths": [10**6] * 3}, r"model_options .* make a resnet20 of [\d,]+ parameters"),
        ("normalization", {"mean": [0.5] * 3, "std": [0.0] * 3}, "normalization must be finite, with std > 0"),
        ("normalization", {"mean": "x", "std": 1}, "normalization must hold numbers"),
        ("recipe", {"lr": "fast"}, "recipe is not a valid recipe"),
        ("preprocessing", {"input_size": 224, "resize": 10**9, "mean": [0] * 3, "std": [1] * 3}, "preprocessing crops 224"),
    ],
)
def test_metadata_is_untrusted_input(tmp_path, field, value, message):
    model, meta = load_trained(COMMITTED)
    file = tmp_path / "hostile.safetensors"
    save_weights(file, model, dict(meta, **{field: value}))
    with pytest.raises(CheckpointError, match=f"bad cnnzoo metadata: {message}"):
        load_trained(file)


def test_ensemble_weights_and_options_are_validated(tmp_path, capsys):
    for weights in ((math.nan, 1.0), (1.0, -1.0), (0.0, 0.0), (math.inf, 1.0)):
        with pytest.raises(CnnzooError, match="`weights` must be finite and >= 0, at least one > 0"):
            evaluate_checkpoints([COMMITTED, COMMITTED], EvalOptions(weights=weights))
    recipe = get_recipe("short")
    for override, message in (("momentum=5", r"momentum must be in \[0, 1\)"), ("seed=1180591620717411303424", "seed must be an integer")):
        with pytest.raises(InvalidOptionError, match=message):
            recipe.parse_overrides([override])
    png = tmp_path / "cat.png"
    Image.new("RGB", (32, 32), (120, 100, 80)).save(png)
    for top in ("0", "-1"):
        assert main(["predict", str(png), "--checkpoint", str(COMMITTED), "--top", top]) == 2
        assert "--top must be at least 1" in capsys.readouterr().err


def test_members_that_held_out_different_images_are_not_scored_together(tmp_path, capsys):
    """A run's own validation split scores an ensemble only if every member held out the same images."""
    model, meta = load_trained(COMMITTED)
    files = []
    for split_seed in (0, 1):
        files.append(tmp_path / f"split{split_seed}.safetensors")
        save_weights(files[-1], model, dict(meta, recipe=dict(meta["recipe"], split_seed=split_seed)))
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)  # a dataset with a training split: each run's split of it would be used
    with pytest.raises(CnnzooError, match=r"split1.safetensors held out a different validation split \(split_seed 1"):
        evaluate_checkpoints(files, EvalOptions(data=data))
    assert main(["eval", "--checkpoint", *map(str, files), "--data", str(data)]) == 2
    assert "images it trained on" in capsys.readouterr().err


def test_predict_names_a_bad_image_and_goes_on(tmp_path, capsys):
    good, bad = tmp_path / "good.png", tmp_path / "bad.png"
    Image.new("RGB", (32, 32), (120, 100, 80)).save(good)
    bad.write_bytes(b"not a png")
    assert main(["predict", str(bad), str(good), "--checkpoint", str(COMMITTED), "--top", "2"]) == 2
    out, err = capsys.readouterr()
    assert out.startswith(f"{good}: ") and out.count("%") == 2
    assert f"cannot read {bad}: not an image" in err and "1 of 2 images could not be read" in err


def test_a_pickle_refusal_names_what_it_refused_in_whole_words(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("true",))

    torch.save({"a": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"holds Python objects \(\w+\.system\) .* from a trusted source$"):
        load_checkpoint(tmp_path / "evil.pt")


# -- a full disk ------------------------------------------------------------------------------------------


def test_torchs_zip_writer_failure_is_a_write_error(tmp_path, monkeypatch):
    def failing_save(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"PK\3\4 part of it")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 2368 vs 2262")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(WriteError, match="cannot write .*c.pt: No space left on device .*nothing was written"):
        save_checkpoint(tmp_path / "c.pt", {"x": 1})
    assert not list(tmp_path.iterdir())


DISK_FULL = """
import sys, torch
from cnnzoo.files.atomic import WriteError
from cnnzoo.train import load_trained, save_checkpoint
from cnnzoo.artifacts.weights import save_weights
model, meta = load_trained(sys.argv[2])
for write in (lambda: save_checkpoint(sys.argv[1] + "/c.pt", {"model": model.state_dict()}),
              lambda: save_weights(sys.argv[1] + "/m.safetensors", model, meta)):
    try:
        write()
        print("written")
    except WriteError as e:
        print("WriteError:", e)
"""


def _in_tiny_filesystem(tmp_path: Path, command: str) -> subprocess.CompletedProcess:
    """`command` run with a 512 KiB tmpfs mounted at tmp_path/full, in a mount namespace of its own."""
    if not shutil.which("unshare"):
        pytest.skip("unshare (util-linux) is not installed: no way to mount a small filesystem here")
    (tmp_path / "full").mkdir(exist_ok=True)
    as_root = [] if os.geteuid() == 0 else ["-r"]
    script = f"mount -t tmpfs -o size=512k tmpfs {tmp_path / 'full'} || exit 99; {command}"
    done = subprocess.run(["unshare", *as_root, "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    if done.returncode == 99 or "unshare failed" in done.stderr or "Operation not permitted" in done.stderr:
        pytest.skip(f"cannot mount a tmpfs in a mount namespace here: {done.stderr.strip()[:120]}")
    return done


def test_a_full_disk_is_one_clear_line_whatever_the_writer(tmp_path):
    (tmp_path / "check.py").write_text(textwrap.dedent(DISK_FULL))
    done = _in_tiny_filesystem(tmp_path, f"{sys.executable} {tmp_path / 'check.py'} {tmp_path / 'full'} {COMMITTED}")
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("WriteError: cannot write") for line in lines), done.stdout + done.stderr
    assert all("No space left on device" in line and "nothing was written" in line for line in lines)
    cli = [sys.executable, "-m", "cnnzoo", "train", "resnet20", "--data", "digits", "--recipe", "short", "epochs=1", "--limit", "256",
           "--out", str(tmp_path / "full" / "run")]  # fmt: skip
    done = _in_tiny_filesystem(tmp_path, " ".join(cli) + "; echo exit $?")
    errors = [line for line in done.stderr.splitlines() if line.startswith("cnnzoo: error")]
    assert done.stdout.strip().endswith("exit 2") and len(errors) == 1 and "No space left on device" in errors[0], done.stderr
    assert "Traceback" not in done.stderr


# -- resuming ---------------------------------------------------------------------------------------------


def _folder(root: Path) -> None:
    for c, cls in enumerate(("a", "b")):
        (root / "train" / cls).mkdir(parents=True)
        for i in range(12):
            Image.new("RGB", (8, 8), (100 * c + i, 50, 50)).save(root / "train" / cls / f"{i}.png")


def test_resume_takes_harmless_changes_and_names_real_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path / "cache"))
    _folder(tmp_path / "d")
    recipe = get_recipe("short").override(epochs=1, batch_size=4, val_size=4)
    quiet = dict(show_progress=False, log=lambda *a: None)
    train(RunConfig("resnet20", "d", recipe, Path("run"), **quiet))
    (tmp_path / "run" / ".model.safetensors.x1y2.tmp").write_bytes(b"half a file")  # left by a kill
    longer = recipe.override(epochs=2, workers=0, checkpoint_every=2)  # none of these changes a result; more epochs extend it
    result = train(RunConfig("resnet20", str(tmp_path / "d"), longer, Path("run"), resume=True, **quiet))
    assert result.final["epochs"] == 2 and not list((tmp_path / "run").glob(".*.tmp"))
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "run" / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    with pytest.raises(CheckpointError, match=r"another run \(recipe lr: 0.2 -> 0.1; recipe weight_decay: 0.0005 -> 0.0\)"):
        train(RunConfig("resnet20", "d", longer.override(lr=0.1, weight_decay=0.0), Path("run"), resume=True, **quiet))
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["meta"]
    assert saved["data"] == str(tmp_path / "d") and run_differences(saved, dict(saved, data="d")) == []  # the same folder
    assert run_differences(saved, dict(saved, data="digits")) == [f"data: {saved['data']!r} -> 'digits'"]
    shorter = dict(saved, recipe=dict(saved["recipe"], epochs=1))
    assert run_differences(saved, shorter) == ["recipe epochs: 2 -> 1"]


def test_dry_run_refuses_a_folder_it_could_not_write(tmp_path):
    (tmp_path / "file").write_text("a file, not a folder")
    outs = [tmp_path / "file" / "run"] + ([Path("/proc/cnnzoo-run")] if Path("/proc/self").is_dir() else [])
    for out in outs:
        with pytest.raises(CnnzooError, match=f"cannot write to the run folder {out}"):
            train(RunConfig("resnet20", "digits", get_recipe("short"), out, dry_run=True, log=lambda *a: None))
    assert not (Path("/proc/cnnzoo-run")).exists()
