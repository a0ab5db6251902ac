"""Recipes, schedules, metrics, checkpoints, exact resume, and training that learns."""
import math
import pickle
import re

import pytest
import torch
from safetensors.torch import load_file

from cnnzoo import InvalidOptionError
from cnnzoo.data.loaders import Batch
from cnnzoo.eval.metrics import evaluate
from cnnzoo.models.base import AuxOutputs
from cnnzoo.runtime.execution import ExecPath
from cnnzoo.train import (
    RECIPES,
    CheckpointError,
    StopRequested,
    TrainingDiverged,
    get_recipe,
    load_checkpoint,
    save_checkpoint,
)
from cnnzoo.train.loop import _loss
from cnnzoo.train.lr_schedule import Plateau, lr_factor
from helpers import quick_run, train_tiny


@pytest.mark.parametrize("name", RECIPES)
def test_named_recipes_are_valid(name):
    assert get_recipe(name).validated().name == name


def test_recipe_overrides_are_typed():
    r = get_recipe("resnet_cifar").parse_overrides(["lr=0.05", "milestones=100,200", "nesterov=true", "clip_grad=none", "augment=flip"])
    assert (r.lr, r.milestones, r.nesterov, r.clip_grad, r.augment) == (0.05, (100.0, 200.0), True, None, "flip")
    with pytest.raises(InvalidOptionError, match="unknown recipe field 'lrate'"):
        get_recipe("resnet").parse_overrides(["lrate=1"])
    with pytest.raises(InvalidOptionError, match="batch_size takes int, not 'big'"):
        get_recipe("resnet").parse_overrides(["batch_size=big"])
    with pytest.raises(InvalidOptionError, match="batch_size must be >= 1"):
        get_recipe("resnet").parse_overrides(["batch_size=0"])
    with pytest.raises(InvalidOptionError, match="batch_size must be <= 65536"):  # a stranger's checkpoint's recipe drives eval's batch
        get_recipe("resnet").parse_overrides(["batch_size=1000000000000"])
    with pytest.raises(InvalidOptionError, match=r"workers must be in \[0, 256\]"):
        get_recipe("resnet").parse_overrides(["workers=100000"])
    with pytest.raises(InvalidOptionError, match="not key=value"):
        get_recipe("resnet").parse_overrides(["lr"])


def test_paper_schedules():
    cifar = get_recipe("resnet_cifar")  # /10 at 32k and 48k iterations, stop at 64k
    assert [lr_factor(cifar, s, 64_000, 351) for s in (0, 31_999, 32_000, 47_999, 48_000, 63_999)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    googlenet = get_recipe("googlenet")  # 4% less every 8 epochs
    assert lr_factor(googlenet, 16 * 100, 9000, 100) == pytest.approx(0.96**2)
    short = get_recipe("short").override(epochs=10)  # one epoch of warm-up from 0.1, then linear to 0
    assert lr_factor(short, 0, 1000, 100) == pytest.approx(0.1)
    assert lr_factor(short, 100, 1000, 100) == pytest.approx(1.0)
    assert lr_factor(short, 550, 1000, 100) == pytest.approx(0.5)
    cosine = get_recipe("short").override(schedule="cosine", warmup=0)
    assert lr_factor(cosine, 500, 1000, 100) == pytest.approx(0.5) and lr_factor(cosine, 1000, 1000, 100) == pytest.approx(0)


def test_plateau_divides_after_patience():
    recipe = get_recipe("resnet").override(patience=2)
    p = Plateau()
    drops = [p.update(e, recipe) for e in (50, 40, 41, 40.5, 42, 39)]
    assert drops == [False, False, False, False, True, False] and p.factor == pytest.approx(0.1)


def test_aux_losses_are_weighted():
    logits, aux = torch.randn(4, 3), torch.randn(4, 3)
    labels = torch.tensor([0, 1, 2, 0])
    recipe = get_recipe("googlenet")
    main = torch.nn.functional.cross_entropy(logits, labels)
    total, _ = _loss(AuxOutputs(logits, (aux, aux)), labels, recipe)
    assert total.item() == pytest.approx((main + 2 * 0.3 * torch.nn.functional.cross_entropy(aux, labels)).item())


class Fixed(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits[x[:, 0, 0, 0].long()]


def test_topk_metrics_and_ensembles():
    # four images, three classes; model A is right on 0, 1; model B on 2, 3
    a = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.6, 0.3, 0.1], [0.5, 0.4, 0.1]]))
    b = torch.log(torch.tensor([[0.3, 0.6, 0.1], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8], [0.05, 0.15, 0.8]]))
    labels = torch.tensor([0, 1, 2, 2])
    x = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    (ma, mb), ens = evaluate([Fixed(a), Fixed(b)], [Batch(x, labels)], 3, ExecPath())
    assert (ma.top1_error, mb.top1_error) == (50.0, 50.0)
    assert ma.top5_error == 0.0  # k is capped at the number of classes
    assert ens.top1_error == 0.0 and ens.confusion.diag().tolist() == [1, 1, 2]  # the average beats both members
    assert ma.loss == pytest.approx(-(math.log(0.7) + math.log(0.8) + math.log(0.1) + math.log(0.1)) / 4)
    (_, _), weighted = evaluate([Fixed(a), Fixed(b)], [Batch(x, labels)], 3, ExecPath(), weights=[1.0, 0.0])
    assert weighted.top1_error == ma.top1_error


def test_checkpoints_round_trip_and_never_run_code(tmp_path):
    state = {"model": {"w": torch.randn(3)}, "position": {"step": 7}, "history": [{"epoch": 1}]}
    save_checkpoint(tmp_path / "c.pt", state)
    back = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(back["model"]["w"], state["model"]["w"]) and back["position"]["step"] == 7
    assert not list(tmp_path.glob(".*tmp"))

    class Payload:
        def __reduce__(self):
            return (exec, ("open('pwned', 'w').write('x')",))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"model": Payload()}))
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists() and not __import__("pathlib").Path("pwned").exists()
    (tmp_path / "cut.pt").write_bytes((tmp_path / "c.pt").read_bytes()[:100])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "cut.pt")


def test_every_random_generator_resumes_where_it_stopped(tmp_path):
    """torch's, Python's and NumPy's generators through a checkpoint file, NumPy's mid-stream with a cached
    Gaussian: the draws after a restore are the draws that would have come."""
    import random

    import numpy as np

    from cnnzoo.artifacts.checkpoint import rng_state, set_rng_state

    np.random.seed(1), random.seed(1), torch.manual_seed(1)
    np.random.random(5), np.random.standard_normal()  # the Mersenne Twister in mid-block, one Gaussian cached
    save_checkpoint(tmp_path / "c.pt", {"rng": rng_state()})
    expected = np.random.random(700), np.random.standard_normal(3), random.random(), torch.rand(4)
    np.random.seed(99), random.seed(99), torch.manual_seed(99)
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"])
    again = np.random.random(700), np.random.standard_normal(3), random.random(), torch.rand(4)
    assert np.array_equal(again[0], expected[0]) and np.array_equal(again[1], expected[1])
    assert again[2] == expected[2] and torch.equal(again[3], expected[3])




@pytest.mark.heavy(11)
def test_resumed_run_ends_with_the_same_weights(tmp_path, cpu_path):
    """Interrupted mid-epoch, at an epoch's end, and mid-epoch again, then resumed: bitwise equal weights,
    on the fp32 path and on the bf16 autocast one (8 steps an epoch: stops at 5, 8 and 13 of 16)."""
    recipe = get_recipe("short").override(epochs=2, batch_size=32, checkpoint_every=3)
    whole = quick_run(tmp_path / "whole", recipe, limit=256)
    assert whole.final["path"].startswith(f"CPU, {cpu_path}")
    for stop in (5, 8, 13):
        with pytest.raises(StopRequested):
            quick_run(tmp_path / "parts", recipe, limit=256, max_steps=stop, resume=stop != 5)
    before = load_checkpoint(tmp_path / "parts" / "checkpoint.pt")["position"]["seconds"]  # three processes' time
    final = quick_run(tmp_path / "parts", recipe, limit=256, resume=True).final
    whole, parts = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "parts" / "model.safetensors")
    assert all(torch.equal(whole[k], parts[k]) for k in whole)
    rows = (tmp_path / "parts" / "log.csv").read_text().splitlines()
    assert len(rows) == 3  # a header and two epochs
    seconds = [float(row.split(",")[-1]) for row in rows[1:]]
    assert 0 < seconds[0] < before < seconds[1] <= final["seconds"]  # the run's time adds up over the resumes
    assert abs(final["seconds_this_process"] - (final["seconds"] - before)) < 1  # the rates use this process's own


@pytest.mark.heavy(16)
def test_a_kill_stops_a_run_at_the_step_with_a_checkpoint_there(tmp_path, monkeypatch):
    """SIGTERM mid-epoch, between checkpoints: the run stops after that step's end, its checkpoint is at that
    step (nothing trained is lost), and the resumed run ends with the whole run's weights."""
    import os
    import signal

    from cnnzoo.train import loop

    recipe = get_recipe("short").override(epochs=1, batch_size=32, checkpoint_every=100)
    quick_run(tmp_path / "whole", recipe, limit=256)
    step = loop.train_step

    def killed_at_third(run, state, batch):
        out = step(run, state, batch)
        if state.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    monkeypatch.setattr(loop, "train_step", killed_at_third)
    handler = signal.getsignal(signal.SIGTERM)
    lines = []
    with pytest.raises(KeyboardInterrupt):
        quick_run(tmp_path / "parts", recipe, limit=256, log=lines.append)
    assert signal.getsignal(signal.SIGTERM) is handler  # put back
    assert load_checkpoint(tmp_path / "parts" / "checkpoint.pt")["position"]["step"] == 3
    assert any(line.startswith("stopped at step 3 ") for line in lines)
    monkeypatch.setattr(loop, "train_step", step)
    quick_run(tmp_path / "parts", recipe, limit=256, resume=True)
    whole, parts = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "parts" / "model.safetensors")
    assert all(torch.equal(whole[k], parts[k]) for k in whole)


def test_a_second_kill_stops_at_once():
    import os
    import signal

    from cnnzoo.train.policies import GracefulStop

    with pytest.raises(KeyboardInterrupt), GracefulStop() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.requested
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("the second kill did not stop")
    with pytest.raises(KeyboardInterrupt), GracefulStop():  # a request made on the way out stops there
        os.kill(os.getpid(), signal.SIGTERM)


def test_training_learns_and_writes_its_artifacts(tmp_path):
    lines = []
    result = train_tiny(tmp_path / "run", get_recipe("demo").override(epochs=3, batch_size=64), log=lines.append)
    assert result.final["val_top1_error"] < 20  # from 90% (chance) in three short epochs
    epochs = [line for line in lines if line.startswith("epoch ")]  # a log with no bar (nohup) still shows the pace
    assert [e.split(":")[0] for e in epochs] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"], lines
    assert all(re.search(r"; \d+ s this epoch, about \d+ s left$", e) for e in epochs[:2]) and "left" not in epochs[2], epochs
    for name in ("checkpoint.pt", "model.safetensors", "log.csv", "log.json", "curves.png", "recipe.json", "summary.json"):
        assert (tmp_path / "run" / name).is_file(), name


def test_ema_and_plateau_and_clipping_run(tmp_path, monkeypatch):
    """EMA: the final weights are the average's, not the last step's; clipping: every step's gradients are clipped at
    the recipe's norm; plateau: the learning rate holds at the recipe's until the error stops falling."""
    clipped, lrs = [], []
    clip = torch.nn.utils.clip_grad_norm_
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda params, norm, *a, **k: clipped.append(norm) or clip(params, norm, *a, **k))
    step = torch.optim.SGD.step

    def spy(self, *a, **k):
        lrs.append(self.param_groups[0]["lr"])
        return step(self, *a, **k)

    monkeypatch.setattr(torch.optim.SGD, "step", spy)
    recipe = get_recipe("resnet_cifar").override(iterations=None, epochs=1, batch_size=64, schedule="plateau", ema_decay=0.9,
                                                  clip_grad=1.0, normalize="pixel", val_size=None, warmup=0)  # fmt: skip
    result = quick_run(tmp_path / "ema", recipe)
    steps = result.final["steps"]
    assert result.final["epochs"] == 1 and steps == len(clipped) == len(lrs) > 0
    assert clipped == [1.0] * steps and lrs == pytest.approx([recipe.lr] * steps)
    final, ckpt = load_file(tmp_path / "ema" / "model.safetensors"), load_checkpoint(tmp_path / "ema" / "checkpoint.pt")
    assert all(torch.equal(final[k], ckpt["ema"][k].cpu()) for k in final)  # the average is what was kept
    weights = [k for k in final if final[k].dim() == 4]  # the convolutions
    assert any(not torch.equal(final[k], ckpt["model"][k].cpu()) for k in weights)  # and it is not the last step's


def test_divergence_stops_with_the_step(tmp_path):
    recipe = get_recipe("short").override(lr=1e12, warmup=0, batch_size=64, epochs=2)
    with pytest.raises(TrainingDiverged, match="at step"):
        quick_run(tmp_path / "nan", recipe)


def test_a_new_run_never_overwrites_an_old_one(tmp_path):
    recipe = get_recipe("short").override(epochs=1, batch_size=256)
    quick_run(tmp_path / "r", recipe)
    with pytest.raises(Exception, match="`resume`"):
        quick_run(tmp_path / "r", recipe)


@pytest.mark.heavy(40)
def test_a_resnet_learns_cifar10_in_one_epoch(tmp_path, cifar10_root):
    """The tiny ResNet (helpers.TINY) on the shared CIFAR-10's JPEGs, 45k/5k split: one epoch of the paper's recipe
    on 8,000 of the 45,000 training images (62 steps, fp32 on one thread; measured 71.2% on a Xeon with AMX),
    validated on the 5,000: well above chance (90%)."""
    recipe = get_recipe("resnet_cifar").override(iterations=None, epochs=1, checkpoint_every=10_000)
    result = train_tiny(tmp_path / "cifar", recipe, str(cifar10_root), limit=8_000)
    assert result.final["val_top1_error"] < 76


@pytest.mark.parametrize("seconds, text", [(0.4, "0 s"), (89, "89 s"), (90, "2 min"), (5399, "90 min"), (5400, "1h30m"), (7500, "2h05m"),
                                           (float("inf"), "?")])  # fmt: skip
def test_waits_read_as_people_read_them(seconds, text):
    from cnnzoo.runtime.progress import duration

    assert duration(seconds) == text


def test_a_schedule_cut_short_says_its_steps_lie_past_the_end(tmp_path, capsys):
    """resnext_cifar at 10 epochs keeps the paper's milestones 150 and 225: the lr would never step down. Said, not refused."""
    from cnnzoo.cli import main

    assert main(["train", "resnet20", "--data", "digits", "--recipe", "resnext_cifar", "epochs=10", "val_size=0.1", "--out", str(tmp_path / "r"), "--dry-run"]) == 0
    out = capsys.readouterr()
    assert "note: recipe resnext_cifar: milestones 150, 225 at or past the run's end (10 epochs): the learning rate does not step" in out.out + out.err
    assert not get_recipe("resnext_cifar").override(epochs=300).schedule_notes() and not get_recipe("short").schedule_notes()
    assert "step_size 30 at or past" in get_recipe("senet").override(epochs=20).schedule_notes()[0]
