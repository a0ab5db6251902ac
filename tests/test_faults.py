"""What long runs meet: a killed process (during a step, during a checkpoint write, a torchrun worker),
a full disk, an unwritable folder, a diverging loss, bad checkpoints, bad images. Nothing is lost."""
import errno
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import cnnzoo.train.loop as loop
from cnnzoo.data import DataOptions, load_data
from cnnzoo.files.atomic import WriteError
from cnnzoo.train import CheckpointError, TrainingDiverged, get_recipe, load_checkpoint, load_trained
from conftest import made_once
from helpers import TINY_CLI, quick_run

HARNESS = Path(__file__).with_name("fault_harness.py")
# three short epochs of a ResNet-8 (helpers.TINY) on 512 of the embedded digits: 24 steps, a checkpoint every 4 (and at each
# epoch's end, every 8)
TRAIN = ["train", "resnet20", "--data", "digits", "--recipe", "short", "epochs=3", "batch_size=64", "checkpoint_every=4", "--limit", "512", *TINY_CLI]


def cnnzoo(*args, env=None, torchrun=0, timeout=600):
    """Run the harness (or torchrun over it) in its own process; returns it, finished."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={torchrun}"] if torchrun else [sys.executable]
    if torchrun and env and "max_restarts" in env:
        launcher.append(f"--max-restarts={env.pop('max_restarts')}")
    return subprocess.run([*launcher, str(HARNESS), *args], env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def same_run(a: Path, b: Path) -> bool:
    """Bitwise equal final weights, and the same per-epoch log (wall times aside)."""
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    la, lb = ([{k: v for k, v in row.items() if k != "seconds"} for row in json.loads((run / "log.json").read_text())] for run in (a, b))
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa) and la == lb


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """A whole run to compare against, made once for the session (whichever worker needs it first)."""

    def whole(folder: Path) -> None:
        started = time.perf_counter()
        done = cnnzoo(*TRAIN, "--out", str(folder / "run"))
        assert done.returncode == 0, done.stderr
        (folder / "run" / "wall-seconds").write_text(str(time.perf_counter() - started))  # how long a run takes here

    return made_once(tmp_path_factory, "uninterrupted", whole) / "run"


@pytest.mark.heavy(35)
def test_killed_during_a_step_and_during_checkpoint_writes_then_resumed(tmp_path, uninterrupted):
    out = tmp_path / "run"
    for fault in ({"FAULT_KILL_AT_STEP": "6"}, {"FAULT_KILL_SAVE": "2"}, {"FAULT_KILL_RENAME": "1"}):
        killed = cnnzoo(*TRAIN, "--out", str(out), "--auto-resume", env=fault)
        assert killed.returncode == -signal.SIGKILL, (fault, killed.stderr[-2000:])
        load_checkpoint(out / "checkpoint.pt")  # whole, whatever the moment of the kill
    assert list(out.glob(".checkpoint.pt.*.tmp")), "the killed save should have left its half-written temporary file"
    done = cnnzoo(*TRAIN, "--out", str(out), "--resume")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming" in done.stdout and not list(out.glob(".checkpoint.pt.*.tmp"))
    assert same_run(out, uninterrupted)


@pytest.mark.heavy(25)
def test_killed_at_random_moments_then_resumed(tmp_path, uninterrupted):
    out, rng = tmp_path / "run", random.Random(7)
    whole = float((uninterrupted / "wall-seconds").read_text())  # kills land between start-up and the end, on any machine
    for attempt in range(12):
        proc = subprocess.Popen([sys.executable, str(HARNESS), *TRAIN, "--out", str(out), "--auto-resume"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            proc.wait(timeout=rng.uniform(0.4, 0.95) * whole if attempt < 4 else 600)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()[-2000:]
        if (out / "checkpoint.pt").exists():
            load_checkpoint(out / "checkpoint.pt")
    assert proc.returncode == 0 and same_run(out, uninterrupted)


@pytest.mark.heavy(38)
def test_torchrun_restarts_a_killed_worker_and_the_job_resumes(tmp_path):
    """Two gloo processes; rank 1 is killed at step 10 of its first attempt; torchrun restarts both."""
    args = [a if a != "epochs=3" else "epochs=2" for a in TRAIN]
    whole = cnnzoo(*args, "--out", str(tmp_path / "whole"), torchrun=2)
    assert whole.returncode == 0, whole.stderr[-3000:]
    faults = {"FAULT_KILL_AT_STEP": "10", "FAULT_RANK": "1", "FAULT_FIRST_ATTEMPT_ONLY": "1", "max_restarts": "1"}
    restarted = cnnzoo(*args, "--out", str(tmp_path / "restarted"), "--auto-resume", env=faults, torchrun=2)
    assert restarted.returncode == 0, restarted.stderr[-3000:]
    assert "resuming" in restarted.stdout and "at step 8" in restarted.stdout
    assert same_run(tmp_path / "restarted", tmp_path / "whole")


# -- in-process faults ------------------------------------------------------------------------------



def _run(out, recipe=None, **kwargs):
    recipe = recipe or get_recipe("short").override(epochs=2, batch_size=64, checkpoint_every=3)
    return quick_run(out, recipe, limit=256, **kwargs)


def test_disk_full_is_a_clear_error_and_the_last_checkpoint_stays(tmp_path, monkeypatch):
    save, calls = torch.save, []

    def filling_save(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) < 3:
            return save(obj, f, *args, **kwargs)
        Path(f).write_bytes(b"\0" * 1000)  # part of the file, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", filling_save)
    with pytest.raises(WriteError, match="No space left on device.*previous file there is unchanged"):
        _run(tmp_path / "run")
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["position"]["step"] == 3  # the second checkpoint
    assert not list((tmp_path / "run").glob(".*.tmp"))


def test_unwritable_run_folder_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(Exception, match="cannot write to the run folder .*choose another `out`"):
        _run(tmp_path / "file" / "run")


def _nan_at(monkeypatch, calls: set[int]):
    """The loss of these training steps (counted from 0 in this process) is NaN."""
    loss, count = loop._loss, [0]

    def poisoned(out, labels, recipe, soft=None):
        value, logits = loss(out, labels, recipe, soft)
        count[0] += 1
        return (value * float("nan") if count[0] - 1 in calls else value), logits

    monkeypatch.setattr(loop, "_loss", poisoned)


def test_nan_loss_stops_at_its_step_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    _nan_at(monkeypatch, {5})
    with pytest.raises(TrainingDiverged, match=r"loss became nan at step 5 .*last good checkpoint"):
        _run(tmp_path / "run")
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["position"]["step"] == 4  # the end of epoch 1 (4 steps of 64)


def test_nan_loss_rolls_back_with_a_lower_learning_rate(tmp_path, monkeypatch):
    _nan_at(monkeypatch, {5, 7})  # the 8th step computed is step 5 again, replayed after the rollback
    lines = []
    recipe = get_recipe("short").override(epochs=2, batch_size=64, checkpoint_every=3, on_nan="rollback")
    result = _run(tmp_path / "run", recipe, log=lines.append)
    assert result.final["rollbacks"] == 2 and result.final["steps"] == 8
    assert any("rolled back to step 4, learning rate now x0.25" in line for line in lines)
    _nan_at(monkeypatch, set(range(100)))  # never recovers: gives up after max_rollbacks
    with pytest.raises(TrainingDiverged, match="after 1 rollbacks"):
        _run(tmp_path / "hopeless", recipe.override(max_rollbacks=1))


# -- bad checkpoints ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trained") / "run"
    _run(out, get_recipe("short").override(epochs=1, batch_size=64))
    return out


def test_bad_checkpoints_are_clear_errors(tmp_path, trained):
    ckpt = load_checkpoint(trained / "checkpoint.pt")
    cases = {}
    (tmp_path / "truncated.pt").write_bytes((trained / "checkpoint.pt").read_bytes()[:5000])
    cases["truncated.pt"] = "cannot read checkpoint"
    other = dict(ckpt, meta=dict(ckpt["meta"], model="resnet32", model_options={}))
    torch.save(other, tmp_path / "architecture.pt")
    cases["architecture.pt"] = r"does not fit the model: tensor layer\d.* is missing|unexpected tensor"
    meta = ckpt["meta"]
    fewer = dict(ckpt, meta=dict(meta, num_classes=5, classes=meta["classes"][:5], class_names=meta["class_names"][:5]))
    torch.save(fewer, tmp_path / "classes.pt")
    cases["classes.pt"] = r"fc.weight has shape \(10, 64\), the model's is \(5, 64\)"
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    cases["foreign.pt"] = "not a cnnzoo checkpoint"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    torch.save({"meta": ckpt["meta"], "model": Payload()}, tmp_path / "evil.pt")
    cases["evil.pt"] = "cannot read checkpoint"
    for name, message in cases.items():
        with pytest.raises(CheckpointError, match=message):
            load_trained(tmp_path / name)
    assert not (tmp_path / "pwned").exists()


def test_resuming_another_runs_checkpoint_is_refused(tmp_path, trained):
    import shutil

    shutil.copytree(trained, tmp_path / "run")
    with pytest.raises(CheckpointError, match=r"another run \(recipe lr: 0.2 -> 0.1\)"):
        _run(tmp_path / "run", get_recipe("short").override(epochs=3, batch_size=64, lr=0.1), resume=True)
    torch.save({"model": {}}, tmp_path / "run" / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="not a cnnzoo training checkpoint"):
        _run(tmp_path / "run", get_recipe("short").override(epochs=1, batch_size=64), resume=True)


# -- a corpus of bad images -----------------------------------------------------------------------------


def _jpeg(size=(48, 40), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 90 if mode == "L" else (30, 60, 90) if mode == "RGB" else (10, 20, 30, 40)).save(buf, format="JPEG")
    return buf.getvalue()


def _huge_png_header() -> bytes:
    """A PNG whose header claims 100,000 x 100,000 pixels (a decompression bomb), with no pixel data."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def test_a_corpus_of_bad_images_never_crashes_a_run(tmp_path):
    png = io.BytesIO()
    Image.new("RGB", (48, 40), (200, 10, 10)).save(png, format="PNG")
    corpus = {
        "truncated.JPEG": _jpeg()[:300],
        "zero_byte.JPEG": b"",
        "png_named.JPEG": png.getvalue(),
        "cmyk.JPEG": _jpeg(mode="CMYK"),
        "greyscale.JPEG": _jpeg(mode="L"),
        "huge.JPEG": _huge_png_header(),
        "not_an_image.JPEG": b"%PDF-1.4 not an image at all",
    }
    for cls in ("n01", "n02"):
        folder = tmp_path / "data" / "train" / cls
        folder.mkdir(parents=True)
        for i in range(6):
            (folder / f"good{i}.JPEG").write_bytes(_jpeg())
        for name, data in corpus.items():
            (folder / name).write_bytes(data)
    with pytest.warns(UserWarning, match="skipping"):
        bundle = load_data(str(tmp_path / "data"), DataOptions(batch_size=4, augment="flip", val_size=2))
    assert bundle.stats.total == 2 * 4  # truncated, zero-byte, huge and not-an-image, in each class
    assert len(bundle.train.labels) + len(bundle.val.labels) == 2 * 9  # six good, PNG-named-JPEG, CMYK, greyscale
    assert "too large" in bundle.stats.summary() or "huge" in bundle.stats.summary()
    with pytest.raises(Exception, match="`strict`"):
        load_data(str(tmp_path / "data"), DataOptions(batch_size=4, strict=True, val_size=2))

