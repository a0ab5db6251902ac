"""Runs in hostile situations (issue 30): two processes on one folder, a resume on changed data, hand-edited
JSON, a failed start, unknown settings. Each is refused with one line naming the problem, or handled."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from cnnzoo.errors import CnnzooError
from cnnzoo.eval.metrics import _Accumulator
from cnnzoo.experiments.plan import load_plan
from cnnzoo.files.lock import FolderInUseError, folder_lock
from cnnzoo.runtime.execution import BF16_ENV, cpu_has_fast_bf16
from cnnzoo.train import RunConfig, get_recipe, train
from cnnzoo.train import loop as train_loop
from conftest import ROOT

TINY = get_recipe("short").parse_overrides(["batch_size=8", "epochs=2", "val_size=8", "workers=0"])


def _folder_data(root, per_class=16, classes=("a", "b")):
    """An ImageNet-layout folder of small random PNGs: train/<class>/*.png."""
    rng = np.random.default_rng(0)
    for c in classes:
        (root / "train" / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / "train" / c / f"{i}.png")
    return root


def _config(data, out, **kw):
    return RunConfig("resnet20", str(data), TINY, out, log=lambda *a, **k: None, **kw)


# -- one process per folder ----------------------------------------------------------------------------


def test_a_second_process_on_a_run_folder_is_refused_and_a_dead_holders_lock_recovered(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", f"from cnnzoo.files.lock import folder_lock\nimport time\n"
                               f"with folder_lock({str(out)!r}):\n    print('held', flush=True); time.sleep(120)"],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(FolderInUseError, match=rf"in use by another cnnzoo run \(process {holder.pid} on"):
            train(_config("digits", out, max_steps=1))
        assert not (out / "checkpoint.pt").exists()
    finally:
        holder.kill()  # SIGKILL: no release, the lock file still names it
        holder.wait()
    lines = []
    with pytest.raises(train_loop.StopRequested):
        train(RunConfig("resnet20", "digits", TINY, out, max_steps=1, log=lines.append))
    assert any(f"recovered the lock of a run that ended without releasing it (process {holder.pid}" in line for line in lines)


def test_a_lock_file_written_over_with_anything_is_a_lock_of_unknown_holder(tmp_path):
    (tmp_path / ".lock").write_text("[1, 2]")
    lines = []
    with folder_lock(tmp_path, log=lines.append):
        pass
    assert lines == []  # no holder to name, nothing to recover: the lock is taken


def test_a_sweep_folder_is_locked_too(tmp_path):
    from cnnzoo.experiments import reproduce

    with folder_lock(tmp_path / "sweep", "sweep"):
        with pytest.raises(FolderInUseError, match="in use by another cnnzoo sweep"):
            reproduce("se-cifar", "digits", tmp_path / "sweep", epochs=1, runs=["resnet20"], limit=64, log=lambda *a: None)


# -- a resume sees the data it trained on --------------------------------------------------------------


def test_a_resume_on_changed_data_is_refused_and_restart_sets_the_old_run_aside(tmp_path):
    data, out = _folder_data(tmp_path / "data"), tmp_path / "run"
    with pytest.raises(train_loop.StopRequested):
        train(_config(data, out, max_steps=1))
    log_before = (out / "checkpoint.pt").read_bytes()
    _folder_data(data, per_class=20, classes=("a",))  # 4 images added to one class
    (data / "train" / "b" / "0.png").unlink()
    (data / "train" / "b" / "1.png").write_bytes((data / "train" / "b" / "1.png").read_bytes() + b"\0")
    with pytest.raises(CnnzooError, match=r"changed since .* began: 4 files added, 1 removed, 1 modified: .*--restart"):
        train(_config(data, out, resume=True))
    assert (out / "checkpoint.pt").read_bytes() == log_before  # nothing rewritten
    with pytest.raises(train_loop.StopRequested):
        train(_config(data, out, restart=True, max_steps=1))
    aside = [p for p in out.iterdir() if p.name.startswith("replaced-")]
    assert len(aside) == 1 and (aside[0] / "checkpoint.pt").read_bytes() == log_before


@pytest.mark.parametrize("damage", [
    lambda c: c["optimizer"].update(param_groups=[]),  # torch: "a different number of parameter groups"
    lambda c: c["position"].pop("step"),
    lambda c: c.update(plateau=[1, 2]),
    lambda c: c.update(rng_ranks=["not a state"]),
    lambda c: c["position"].update(epoch="one"),
    lambda c: c.update(history="epochs"),
])  # fmt: skip
def test_a_checkpoint_damaged_past_its_metadata_is_one_line_and_left_as_it_was(tmp_path, damage):
    data, out = _folder_data(tmp_path / "data"), tmp_path / "run"
    with pytest.raises(train_loop.StopRequested):
        train(_config(data, out, max_steps=1))
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    damage(ckpt)
    torch.save(ckpt, out / "checkpoint.pt")
    damaged = (out / "checkpoint.pt").read_bytes()
    with pytest.raises(CnnzooError, match=r"checkpoint.pt is damaged: its training state does not fit this run \(\w+: .*--restart") as e:
        train(_config(data, out, resume=True))
    assert "\n" not in str(e.value) and (out / "checkpoint.pt").read_bytes() == damaged


def test_a_resume_on_a_fresh_copy_of_the_same_files_goes_on(tmp_path):
    data, out = _folder_data(tmp_path / "data"), tmp_path / "run"
    with pytest.raises(train_loop.StopRequested):
        train(_config(data, out, max_steps=1))
    later = time.time() + 100
    for f in (data / "train").rglob("*.png"):
        os.utime(f, (later, later))
    lines = []
    with pytest.raises(train_loop.StopRequested):
        train(RunConfig("resnet20", str(data), TINY, out, resume=True, max_steps=2, log=lines.append))
    assert any("32 data files have new modification times but the same paths and sizes" in line for line in lines)


# -- hand-edited files, failed starts, settings ---------------------------------------------------------


@pytest.mark.parametrize("edit, message", [({"lr": "nan"}, "lr must be a number, not 'nan'"), ({"epochs": True}, "epochs must be a number"),
                                           ({"augment": 7}, "augment must be a string")])  # fmt: skip
def test_a_hand_edited_plan_is_refused_naming_the_field(tmp_path, edit, message):
    plan = {"experiment": "se-cifar", "data": "digits", "schedule": "converged", "epochs": 1, "budget_minutes": None, "runs": ["r"],
            "recipes": {"r": {**TINY.as_dict(), **edit}}, "limit": None, "machine": "x", "overrides": []}  # fmt: skip
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    with pytest.raises(CnnzooError, match=f"plan.json: the recipe of run 'r' is not valid .*{message}"):
        load_plan(tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps({**plan, "runs": "r", "recipes": {}}))
    with pytest.raises(CnnzooError, match="runs must be a JSON list"):
        load_plan(tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps({**plan, "runs": ["r", "s"]}))
    with pytest.raises(CnnzooError, match="run 's' has no recipe in the plan"):
        load_plan(tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps({**plan, "schedule": "fast"}))
    with pytest.raises(CnnzooError, match="schedule must be one of converged, epochs, budget, paper, not 'fast'"):
        load_plan(tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps({**plan, "schedule": "budget", "epochs": 3}))
    with pytest.raises(CnnzooError, match="a budget plan needs its budget_minutes and epochs"):
        load_plan(tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps({**plan, "limit": "all"}))
    with pytest.raises(CnnzooError, match="limit must be a positive number or null"):
        load_plan(tmp_path)
    (tmp_path / "plan.json").write_text("[1, 2")
    with pytest.raises(CnnzooError, match="cannot read .*plan.json"):
        load_plan(tmp_path)


def test_a_plan_naming_a_teacher_is_resumed_only_when_the_user_names_it_too(tmp_path):
    from cnnzoo.experiments.plan import Plan
    from cnnzoo.experiments.runner import _check_same

    recipe = {**TINY.as_dict(), "teacher": str(tmp_path / "secret.safetensors")}
    plan = Plan("se-cifar", "digits", "converged", 1, None, ["r"], {"r": recipe}, None, "x", [f"teacher={recipe['teacher']}"])
    with pytest.raises(CnnzooError, match="name a teacher .*pass teacher="):
        _check_same(plan, "se-cifar", "digits", ["r"], None, None, [])
    _check_same(plan, "se-cifar", "digits", ["r"], None, None, [f"teacher={recipe['teacher']}"])


@pytest.mark.parametrize("planned, epochs, asked, limit, resumes", [
    ("converged", 30, dict(), None, True),
    ("converged", 30, dict(schedule="converged", epochs=30), None, True),
    ("epochs", 14, dict(schedule="paper", epochs=14), None, True),  # the paper's recipe cut to 14 epochs: planned as "epochs"
    ("epochs", 14, dict(schedule="budget", epochs=14), None, True),
    ("paper", None, dict(schedule="paper"), None, True),
    ("paper", None, dict(schedule="budget"), None, True),  # a budget that bought the whole paper schedule
    ("budget", 6, dict(schedule="budget"), None, True),
    ("epochs", 14, dict(epochs=14), None, False),  # --epochs alone means the converged recipe now
    ("converged", 30, dict(schedule="paper"), None, False),
    ("budget", 6, dict(schedule="paper"), None, False),
    ("converged", 30, dict(), 500, False),  # a limit asked for is compared
    ("converged", 30, dict(experiment="resnet-cifar"), None, False),  # another experiment's plan in this folder
])  # fmt: skip
def test_a_sweep_resumes_when_asked_as_it_was_planned_and_only_then(planned, epochs, asked, limit, resumes):
    from cnnzoo.experiments.plan import Plan
    from cnnzoo.experiments.runner import _check_same

    plan = Plan("se-cifar", "digits", planned, epochs, 60 if planned == "budget" else None, ["r"], {"r": TINY.as_dict()}, None, "x", [])
    asked = dict(asked)
    call = lambda: _check_same(plan, asked.pop("experiment", "se-cifar"), "digits", ["r"], asked.get("epochs"), asked.get("schedule"),
                               [], limit)  # noqa: E731  # fmt: skip
    if resumes:
        call()
    else:
        with pytest.raises(CnnzooError, match="this sweep was planned otherwise"):
            call()


def test_a_failed_start_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(*args):
        raise RuntimeError("the first step fails")

    monkeypatch.setattr(train_loop, "train_step", broken)
    with pytest.raises(RuntimeError, match="the first step fails"):
        train(_config("digits", tmp_path / "new"))
    assert not (tmp_path / "new").exists()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError):
        train(_config("digits", tmp_path / "old"))
    assert sorted(p.name for p in (tmp_path / "old").iterdir() if p.name != ".lock") == ["notes.txt"]


def test_dry_run_refuses_what_the_real_run_would(tmp_path):
    with pytest.raises(CnnzooError, match="augment must be one of"):
        train(RunConfig("resnet20", "digits", TINY.parse_overrides(["augment=bogus"]), tmp_path / "r", dry_run=True))
    assert not (tmp_path / "r").exists()
    with pytest.raises(CnnzooError, match="lr is given twice"):
        TINY.parse_overrides(["lr=0.1", "lr=0.2"])


def test_an_unknown_bf16_setting_is_an_error_naming_the_allowed_values(monkeypatch):
    monkeypatch.setenv(BF16_ENV, "maybe")
    with pytest.raises(CnnzooError, match=r"CNNZOO_CPU_BF16='maybe': set it to 1 .* 0 .* or auto"):
        cpu_has_fast_bf16()


def test_a_class_without_images_has_no_accuracy_not_zero():
    acc = _Accumulator(3)
    acc.add(torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]), torch.tensor([0, 0]))
    per_class = acc.metrics().per_class_accuracy
    assert per_class[0] == 50.0 and all(np.isnan(per_class[1:]))


@pytest.mark.parametrize("name, text, message", [("summary.json", '{"val_top1_error": 1}', "has no val_top5_error"),
                                                  ("log.json", '[{"epoch": 1}]', "not a run's log"),
                                                  ("summary.json", "[1,", "cannot read"),
                                                  ("minutes.json", '{"minutes": "many"}', "holds no minutes as a number")])  # fmt: skip
def test_a_hand_edited_run_file_of_a_sweep_is_named(tmp_path, name, text, message):
    from cnnzoo.experiments.results import run_row

    (tmp_path / name).write_text(text)
    spec = __import__("cnnzoo.experiments", fromlist=["EXPERIMENTS"]).EXPERIMENTS["resnet-cifar"].run("resnet20")
    with pytest.raises(CnnzooError, match=message):
        run_row(spec, {}, tmp_path)
