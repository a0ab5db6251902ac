"""The CPU training path chosen by measurement (`train/path_choice.py`): where the machine's default is bf16 +
channels_last, a long run trains on fp32 + channels_last if that is measured faster for its model; the choice is
cached, leaves the run's random state alone, and is never made where the run, the machine or torchrun names a path."""
import json

import pytest
import torch

import cnnzoo.runtime.execution as execution
import cnnzoo.train.path_choice as path_choice
from cnnzoo import create_model
from cnnzoo.runtime.execution import BF16_ENV, ExecPath, default_path
from cnnzoo.train import get_recipe
from cnnzoo.train.path_choice import choose_training_path, time_both, worth_measuring
from helpers import quick_run

BF16_DEFAULT = ExecPath("cpu", "bf16", channels_last=True)


@pytest.fixture
def bf16_cpu(monkeypatch, tmp_path):
    """A CPU detected (not forced) to run bf16 natively, and an empty cache."""
    monkeypatch.delenv(BF16_ENV, raising=False)
    monkeypatch.setattr(execution, "_cpuinfo_has_fast_bf16", lambda: True)
    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path / "cache"))
    assert default_path(train=True) == BF16_DEFAULT


def fake_timer(seconds: dict[str, float], calls: list):
    def measure(net, batch, size):
        calls.append((batch, size))
        return dict(seconds)

    return measure


def test_a_long_run_trains_on_the_path_measured_faster_and_says_so(bf16_cpu, tmp_path, monkeypatch):
    calls, lines = [], []
    monkeypatch.setattr(path_choice, "time_both", fake_timer({"bf16": 0.3, "fp32": 0.1}, calls))
    monkeypatch.setattr(path_choice, "MIN_STEPS", 4)
    recipe = get_recipe("short").override(epochs=1, batch_size=32)
    run = quick_run(tmp_path / "a", recipe, limit=256, log=lines.append)
    assert run.final["path"] == "CPU, fp32, channels_last" and calls == [(32, 16)]
    assert any("training path CPU, fp32, channels_last: 0.100 s a step against 0.300 in bf16 (measured now" in line for line in lines)
    lines.clear()
    quick_run(tmp_path / "b", recipe, limit=256, log=lines.append)  # the same net, batch and input: from the cache
    assert calls == [(32, 16)] and any("(cached;" in line for line in lines)
    monkeypatch.setattr(path_choice, "MIN_STEPS", 10_000)  # a run too short to pay for a measurement keeps the default
    assert quick_run(tmp_path / "c", recipe, limit=256).final["path"] == "CPU, bf16, channels_last"


@pytest.mark.parametrize("seconds, precision", [({"bf16": 0.3, "fp32": 0.1}, "fp32"), ({"bf16": 0.1, "fp32": 0.3}, "bf16"),
                                                ({"bf16": 0.105, "fp32": 0.1}, "bf16")])  # fmt: skip
def test_fp32_is_taken_only_when_clearly_faster(bf16_cpu, seconds, precision):
    net = create_model("resnet20", layers=(1, 1, 1))
    choice = choose_training_path(net, ["resnet20", seconds], 8, 16, BF16_DEFAULT, measure=fake_timer(seconds, []))
    assert choice.path == BF16_DEFAULT.replace(precision=precision) and not choice.cached


def test_a_damaged_cache_is_measured_again(bf16_cpu, tmp_path):
    net, calls = create_model("resnet20", layers=(1, 1, 1)), []
    file = tmp_path / "cache" / path_choice.CACHE_FILE
    for damage in ("not json", "[1, 2]", None):
        if damage is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(damage)
        else:  # an entry of the right key with a nonsense value
            known = json.loads(file.read_text())
            file.write_text(json.dumps({key: {"seconds": {"bf16": "nan", "fp32": -1}} for key in known}))
        choice = choose_training_path(net, ["resnet20"], 8, 16, BF16_DEFAULT, measure=fake_timer({"bf16": 0.2, "fp32": 0.1}, calls))
        assert choice.path.precision == "fp32" and not choice.cached
    assert len(calls) == 3


def test_the_default_is_kept_where_the_run_machine_or_launcher_names_a_path(bf16_cpu, monkeypatch):
    recipe = get_recipe("short")
    assert worth_measuring(recipe, None, BF16_DEFAULT, 1, 10_000)
    assert not worth_measuring(recipe, "bf16", BF16_DEFAULT, 1, 10_000)  # the caller's precision
    assert not worth_measuring(recipe.override(precision="fp32"), None, BF16_DEFAULT, 1, 10_000)  # the recipe's
    assert not worth_measuring(recipe.override(channels_last=True), None, BF16_DEFAULT, 1, 10_000)
    assert not worth_measuring(recipe, None, BF16_DEFAULT, 2, 10_000)  # torchrun: every rank on one path
    assert not worth_measuring(recipe, None, BF16_DEFAULT, 1, path_choice.MIN_STEPS - 1)
    assert not worth_measuring(recipe, None, BF16_DEFAULT.replace(precision="fp32"), 1, 10_000)  # an fp32 machine
    assert not worth_measuring(recipe, None, BF16_DEFAULT.replace(device="cuda"), 1, 10_000)
    monkeypatch.setenv(BF16_ENV, "1")  # forced, as the test suite covers the bf16 path
    assert not worth_measuring(recipe, None, BF16_DEFAULT, 1, 10_000)


def test_timing_both_paths_leaves_the_random_state_and_the_net_alone():
    net = create_model("resnet20", layers=(1, 1, 1), num_classes=10)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    state = torch.get_rng_state()
    seconds = time_both(net, 4, 16)
    assert set(seconds) == {"bf16", "fp32"} and all(s > 0 for s in seconds.values())
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_a_sweeps_step_estimate_times_the_path_its_runs_will_take(bf16_cpu, monkeypatch):
    from cnnzoo.experiments import EXPERIMENTS
    from cnnzoo.experiments.budget import _timed_steps

    monkeypatch.setattr(path_choice, "time_both", fake_timer({"bf16": 0.3, "fp32": 0.1}, []))
    used, autocast = [], ExecPath.autocast
    monkeypatch.setattr(ExecPath, "autocast", lambda self: used.append(self.precision) or autocast(self))
    _timed_steps(EXPERIMENTS["ensembles"].runs[0], get_recipe("short").override(batch_size=8), 16, 1)
    assert used and set(used) == {"fp32"}
