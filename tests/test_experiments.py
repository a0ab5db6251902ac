"""The lecture's experiments (`cnnzoo reproduce`): every definition valid, the equal-complexity family
really equal, schedules scaled as the papers' milestones say, and a sweep run end to end on a tiny
budget, stopped mid-sweep and resumed to the results of an unbroken one. No test trains for minutes."""
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import cnnzoo.experiments.budget as schedule
import cnnzoo.experiments.runner as runner
import cnnzoo.train.loop as loop
from cnnzoo import analyze
from cnnzoo.artifacts.loading import load_checkpoints
from cnnzoo.cli import main
from cnnzoo.errors import CnnzooError
from cnnzoo.eval.inputs import checkpoint_data
from cnnzoo.experiments import EXPERIMENTS, reproduce
from cnnzoo.experiments.budget import scaled, step_seconds
from cnnzoo.experiments.plots import PLOTS, plot
from cnnzoo.experiments.runner import run_recipe
from cnnzoo.factory import meta_model
from cnnzoo.registry import list_models
from cnnzoo.train import get_recipe

MEASURES = {"train_top1_error", "val_top1_error"}


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_experiment_definition_is_valid(name):
    e = EXPERIMENTS[name]
    assert e.paper.cite() and e.where and e.claim and e.runs
    names = [r.name for r in e.runs]
    assert len(set(names)) == len(names)
    for run in e.runs:
        assert run.model in list_models(), run.model
        net = meta_model(run.model, **run.options)  # the options build
        assert net.min_input_size() <= (run_recipe(e, run).input_size or 32)
        converged = runner.converged_recipe(e, run, 30)  # the default schedule's recipe, for every run
        assert converged.epochs == 30 and converged.input_size == run_recipe(e, run).input_size
        run_recipe(e, run)  # the recipe with the run's overrides validates
    assert any(r.paper for r in e.runs) or e.reference, "an experiment compares with its paper"
    for a, relation, b, measure in e.checks:
        assert {a, b} <= set(names) and relation in ("<", ">") and measure in MEASURES
    assert e.plot in PLOTS


@pytest.mark.parametrize("name", [n for n in EXPERIMENTS if not EXPERIMENTS[n].ensemble])
def test_every_experiments_plot_draws_its_runs(name, tmp_path, monkeypatch):
    """Each experiment's plot, drawn from results shaped as the sweep writes them (two runs, one unfinished): a PNG
    whose figure names both runs (a legend entry, a tick label or a note) and plots something for each."""
    import matplotlib.figure
    import matplotlib.text

    drawn = []
    savefig = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: drawn.append(fig) or savefig(fig, *a, **k))
    e = EXPERIMENTS[name]
    history = [{"epoch": k, "step": 100 * k, "train_top1_error": 50.0 / k, "val_top1_error": 55.0 / k} for k in (1, 2)]
    runs = [{"run": r.name, "group": r.group, "macs": 1e6 * (i + 1), "history": history,
             "paper": {"value": r.paper.value, "what": r.paper.what} if r.paper else None} for i, r in enumerate(e.runs[:2])]  # fmt: skip
    runs[0].update(val_top1_error=27.5, status="done")
    runs[1]["status"] = "unfinished: 2 of 30 epochs"  # on the curves; named, not plotted as a result, elsewhere
    file = plot(e, {"runs": runs, "title": e.title, "schedule": "2 epochs each"}, tmp_path)
    assert file == tmp_path / f"{e.plot}.png" and file.read_bytes().startswith(b"\x89PNG")
    (fig,) = drawn
    texts = {t.get_text() for t in fig.findobj(matplotlib.text.Text)}
    assert all(any(r["run"] in t for t in texts) for r in runs), f"runs missing from the figure's text: {sorted(texts)}"
    assert sum(len(ax.lines) + len(ax.patches) + len(ax.collections) for ax in fig.axes) >= 2  # something drawn for them


def test_the_trend_plot_shows_every_run_and_compares_slopes_not_levels(tmp_path, monkeypatch):
    """Table 3's trend: every run on the axis, the unfinished ones too (the paper's number for each); ours
    with a 95% interval over its validation images; the paper's axis spanning as many points as ours."""
    import matplotlib.collections
    import matplotlib.figure

    drawn = []
    savefig = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: drawn.append(fig) or savefig(fig, *a, **k))
    e = EXPERIMENTS["resnext-cardinality"]
    runs = [{"run": r.name, "group": r.group, "paper": {"value": r.paper.value, "what": r.paper.what}} for r in e.runs]
    for row, error in zip(runs[:2], (12.0, 20.0)):
        row.update(history=[{"epoch": 1, "step": 1, "train_top1_error": 30.0, "val_top1_error": error}], val_top1_error=error,
                   val_images=400, status="done")  # fmt: skip
    runs[2].update(history=[{"epoch": 1, "step": 1, "train_top1_error": 30.0, "val_top1_error": 60.0}], status="unfinished: 1 of 30 epochs")
    plot(e, {"runs": runs, "title": e.title, "schedule": "1 epoch each"}, tmp_path)
    (fig,) = drawn
    ours, paper = fig.axes
    assert [t.get_text().split("\n")[0] for t in ours.get_xticklabels()] == [r.name for r in e.runs]
    assert [t.get_text().partition("\n")[2] for t in ours.get_xticklabels()][2:4] == ["(unfinished)", "(not yet run)"]  # no point for 60%
    assert len(paper.lines[0].get_xdata()) == len(e.runs)
    span = lambda axis: axis.get_ylim()[1] - axis.get_ylim()[0]  # noqa: E731
    assert span(ours) == pytest.approx(span(paper))
    (bars,) = [c for c in ours.collections if isinstance(c, matplotlib.collections.LineCollection)]
    heights = sorted(abs(seg[1][1] - seg[0][1]) for seg in bars.get_segments())
    assert heights == pytest.approx([2 * 196 * (p * (1 - p) / 400) ** 0.5 for p in (0.12, 0.20)])


def test_the_cifar_resnext_family_is_of_equal_complexity():
    """Table 3's point: cardinality against width at preserved complexity. Within 3%, by the analyzer."""
    runs = EXPERIMENTS["resnext-cardinality"].runs
    costs = {r.name: analyze(r.model, 32, **r.options) for r in runs}
    base = costs["1x64d"]
    for name, c in costs.items():
        assert abs(c.params / base.params - 1) <= 0.03, (name, c.params, base.params)
        assert abs(c.macs / base.macs - 1) <= 0.03, (name, c.macs, base.macs)
    widths = {name: meta_model("resnext29_cifar", **r.options).layer1[0].conv2.conv for name, r in zip(costs, runs)}
    assert {n: (w.groups, w.out_channels) for n, w in widths.items()} == {
        "1x64d": (1, 32), "2x40d": (2, 40), "4x24d": (4, 48), "8x14d": (8, 56), "32x4d": (32, 64)}  # C x d / 2: half width


def test_mobilenet_stem_stride_keeps_cifar_images_at_2x2():
    for stride, side in ((2, 1), (1, 2)):
        net = meta_model("mobilenet_v1", stem_stride=stride)
        assert net.forward_features(torch.empty(1, 3, 32, 32, device="meta")).shape[-1] == side
    with pytest.raises(CnnzooError, match="stem_stride must be 1 or 2"):
        meta_model("mobilenet_v1", stem_stride=3)


def test_a_shorter_schedule_keeps_the_papers_milestones_in_proportion():
    recipe = get_recipe("resnet_cifar").override(warmup=400)  # 64k iterations, /10 at 32k and 48k, ResNet-110's warm-up
    short = scaled(recipe, 10, steps_per_epoch=351)
    assert short.iterations is None and short.epochs == 10
    assert short.milestones == pytest.approx((5.0, 7.5)) and short.warmup == pytest.approx(400 / 351)
    long = scaled(get_recipe("resnext_cifar"), 30, steps_per_epoch=351)  # epochs: 300, /10 at 150 and 225
    assert long.milestones == pytest.approx((15.0, 22.5))


def test_a_step_is_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path))
    spec = EXPERIMENTS["se-cifar"].run("resnet20")
    recipe = get_recipe("resnet_cifar").override(batch_size=8)
    first = step_seconds(spec, recipe)
    assert 0 < first < 30
    teacher = recipe.override(teacher="experiments/time-to-accuracy/resnet20-short-cutout-200ep/model.safetensors")
    forwards, prepare = [], schedule.prepare

    def counted(model, path):
        prepared = prepare(model, path)
        prepared.register_forward_hook(lambda *_: forwards.append(1))
        return prepared

    monkeypatch.setattr(schedule, "prepare", counted)
    assert 0 < step_seconds(spec, teacher) < 30  # distillation's steps: measured on their own, the teacher's forward in them
    assert len(forwards) == 3  # a warm-up step and two timed ones
    monkeypatch.setattr(schedule, "_timed_steps", lambda *a: pytest.fail("measured again"))
    assert step_seconds(spec, recipe) == first
    assert len(json.loads((tmp_path / "step-seconds.json").read_text())) == 2


def test_list_shows_every_experiment_with_its_cost(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path))
    monkeypatch.setattr(schedule, "_timed_steps", lambda spec, recipe, size, steps: 0.01 * recipe.batch_size / 128)
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for e in EXPERIMENTS.values():
        assert e.name in out and all(r.name in out for r in e.runs)
    assert "resnet1202 (optional)" in out and "min per epoch here" in out


TINY = ["val_size=0.1", "batch_size=32", "checkpoint_every=3"]


def _sweep(out, **kwargs):
    return reproduce("se-cifar", "digits", out, epochs=1, runs=["resnet20", "se-resnet20"], limit=256, overrides=TINY,
                     show_progress=False, log=lambda *a: None, **kwargs)  # fmt: skip


class Stop(KeyboardInterrupt):  # what a kill (SIGTERM) raises once its step's checkpoint is written
    pass


@pytest.mark.heavy(12)
def test_a_sweep_stopped_midway_resumes_to_the_unbroken_sweeps_results(tmp_path, monkeypatch):
    whole = _sweep(tmp_path / "whole")
    assert [r["status"] for r in whole["runs"]] == ["done", "done"] and whole["schedule"] == "the short recipe for 1 epoch each, in every run (not the papers' schedule)"
    for name in ("results.md", "results.json", "bars.png", "plan.json"):
        assert (tmp_path / "whole" / name).is_file(), name
    assert whole["runs"][1]["params"] - whole["runs"][0]["params"] == 2_373  # SE's extra parameters, from the analyzer

    calls, factor = [0], loop.lr_factor

    def stopping(*args):  # the second run's 4th step (8 steps per run: 256 images in batches of 32)
        calls[0] += 1
        if calls[0] == 12:
            raise Stop
        return factor(*args)

    monkeypatch.setattr(loop, "lr_factor", stopping)
    with pytest.raises(Stop):
        _sweep(tmp_path / "parts")
    monkeypatch.setattr(loop, "lr_factor", factor)
    stopped = json.loads((tmp_path / "parts" / "results.json").read_text())  # a kill's stop writes how far the run got
    assert [r["status"] for r in stopped["runs"]] == ["done", "unfinished: 0 of 1 epochs, resumes from its checkpoint.pt"]
    assert (tmp_path / "parts" / "runs" / "resnet20" / "summary.json").is_file()
    assert not (tmp_path / "parts" / "runs" / "se-resnet20" / "summary.json").is_file()
    assert (tmp_path / "parts" / "runs" / "se-resnet20" / "checkpoint.pt").is_file()
    assert not (tmp_path / "parts" / "runs" / "resnet20" / "checkpoint.pt").exists()  # a finished run keeps no checkpoint
    # what a commit carries to another machine: the folder without its lock, resumed from the committed checkpoint
    shutil.copytree(tmp_path / "parts", tmp_path / "moved", ignore=shutil.ignore_patterns(".lock"))
    shutil.rmtree(tmp_path / "parts")
    parts = _sweep(tmp_path / "moved")
    for run in ("resnet20", "se-resnet20"):
        a, b = (load_file(tmp_path / sweep / "runs" / run / "model.safetensors") for sweep in ("whole", "moved"))
        assert all(torch.equal(a[k], b[k]) for k in a), run
        assert not (tmp_path / "moved" / "runs" / run / "checkpoint.pt").exists()
        assert (tmp_path / "moved" / "runs" / run / "predictions.npz").is_file()
    verdicts = [c["verdict"] for c in parts["checks"]]
    assert verdicts and set(verdicts) <= {"shown", "not shown", "contradicted"}
    drop = lambda rows: [{k: v for k, v in r.items() if k != "minutes"} for r in rows]  # noqa: E731
    assert drop(parts["runs"]) == drop(whole["runs"])
    with pytest.raises(CnnzooError, match=r"planned otherwise \(epochs 1 -> 2\)"):
        reproduce("se-cifar", "digits", tmp_path / "moved", epochs=2, log=lambda *a: None)
    # the recipe changes are the plan's too: recorded, shown, and not silently swapped on a resume
    assert whole["overrides"] == TINY and f"`{' '.join(TINY)}`" in (tmp_path / "whole" / "results.md").read_text()
    with pytest.raises(CnnzooError, match=r"planned otherwise \(overrides .* -> \['lr=0.5'\]\)"):
        reproduce("se-cifar", "digits", tmp_path / "moved", overrides=["lr=0.5"], log=lambda *a: None)


@pytest.mark.heavy(8)
def test_the_ensemble_experiment_averages_softmax_and_flips(tmp_path, monkeypatch):
    result = reproduce("ensembles", "digits", tmp_path / "ensembles", epochs=1, runs=["seed0", "seed1"], limit=256, overrides=TINY,
                       show_progress=False, log=lambda *a: None)  # fmt: skip
    rows = {name: (plain, flipped) for name, plain, flipped in result["ensemble"]["rows"]}
    assert set(rows) == {"seed0", "seed1", "mean of the members", "ensemble of 2 (averaged softmax)"}
    models, metas = load_checkpoints([tmp_path / "ensembles" / "runs" / s / "model.safetensors" for s in ("seed0", "seed1")])
    data = checkpoint_data(metas[0])
    wrong = total = 0
    with torch.no_grad():
        for batch in data.val.batches():
            probs = sum(torch.softmax(m(batch.images).float(), 1) for m in models) / 2  # averaged by hand
            wrong += (probs.argmax(1) != batch.labels).sum().item()
            total += len(batch.labels)
    assert rows["ensemble of 2 (averaged softmax)"][0] == pytest.approx(100 * wrong / total)
    text = (tmp_path / "ensembles" / "results.md").read_text()
    assert "ensemble < best member (seed" in text and "flip TTA" in text and "held" not in text
    assert {c["verdict"] for c in result["checks"]} <= {"shown", "not shown", "contradicted"}

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(runner, "train", no_training)  # --results-only: the same results from the runs' files, nothing trained
    for name in ("results.md", "results.json", "bars.png"):
        (tmp_path / "ensembles" / name).unlink(missing_ok=True)
    again = runner.rewrite_results("ensembles", tmp_path / "ensembles", log=lambda *a: None)
    assert again["ensemble"] == result["ensemble"] and again["checks"] == result["checks"] and again["runs"] == result["runs"]
    assert (tmp_path / "ensembles" / "results.md").read_text() == text
    with pytest.raises(CnnzooError, match="holds the ensembles sweep, not se-cifar"):
        runner.rewrite_results("se-cifar", tmp_path / "ensembles")
    weights = tmp_path / "ensembles" / "runs" / "seed1" / "model.safetensors"
    weights.rename(weights.with_suffix(".kept"))  # a sweep without its weights: its ensemble table is kept, not dropped
    with pytest.raises(CnnzooError, match=r"evaluated from its members' weights, and .*seed1.* is missing \(1 of 2\)"):
        runner.rewrite_results("ensembles", tmp_path / "ensembles")
    assert (tmp_path / "ensembles" / "results.md").read_text() == text
    weights.with_suffix(".kept").rename(weights)

    # se-cifar's resnet20 is seed0 here (the same model, recipe, data and limit): taken over, not trained again
    se = reproduce("se-cifar", "digits", tmp_path / "se-cifar", epochs=1, runs=["resnet20"], limit=256, overrides=TINY,
                   show_progress=False, log=lambda *a: None)  # fmt: skip
    taken, source = tmp_path / "se-cifar" / "runs" / "resnet20", tmp_path / "ensembles" / "runs" / "seed0"
    assert (taken / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()
    assert se["runs"][0]["reused_from"] == "ensembles/runs/seed0" and se["runs"][0]["status"] == "done"
    assert "taken over from ensembles/runs/seed0" in (tmp_path / "se-cifar" / "results.md").read_text()
    with pytest.raises(AssertionError, match="trained again"):  # another recipe, or reuse turned off: trained
        reproduce("se-cifar", "digits", tmp_path / "lr", epochs=1, runs=["resnet20"], limit=256, overrides=[*TINY, "lr=0.05"],
                  show_progress=False, log=lambda *a: None)  # fmt: skip
    with pytest.raises(AssertionError, match="trained again"):
        reproduce("se-cifar", "digits", tmp_path / "own", epochs=1, runs=["resnet20"], limit=256, overrides=TINY,
                  show_progress=False, log=lambda *a: None, reuse=False)  # fmt: skip


def test_a_runs_minutes_never_fall_below_its_own_training_seconds(tmp_path):
    """minutes.json misses a part ended by SIGKILL (a session's end); the summary's seconds over every resume are a floor."""
    from cnnzoo.experiments.results import run_row

    experiment = EXPERIMENTS["ensembles"]
    spec = experiment.runs[0]
    summary = {"val_top1_error": 13.0, "val_top5_error": 1.0, "best_val_top1_error": 13.0, "steps": 10, "epochs": 1, "seconds": 3000.0}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "minutes.json").write_text(json.dumps({"minutes": 20.0, "machines": ["here"]}))  # a killed part lost
    assert run_row(spec, {}, tmp_path)["minutes"] == 50.0
    (tmp_path / "minutes.json").write_text(json.dumps({"minutes": 55.0, "machines": ["here"]}))  # start-ups and lost work
    assert run_row(spec, {}, tmp_path)["minutes"] == 55.0


def test_a_runs_row_counts_its_own_predictions_and_says_how_far_an_unfinished_run_got(tmp_path):
    from cnnzoo.experiments.results import markdown, run_row

    spec = EXPERIMENTS["ensembles"].runs[0]
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    (tmp_path / "log.json").write_text(json.dumps([{"epoch": 1, "step": 9, "train_top1_error": 40.0, "val_top1_error": 41.0}]))
    assert run_row(spec, {"epochs": 30}, tmp_path)["status"] == "unfinished: 1 of 30 epochs, resumes from its checkpoint.pt"
    (tmp_path / "checkpoint.pt").unlink()
    summary = {"val_top1_error": 13.0, "val_top5_error": 1.0, "best_val_top1_error": 13.0, "steps": 10, "epochs": 1}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    labels = np.arange(8) % 4
    np.savez(tmp_path / "predictions.npz", val_labels=labels, val_predicted=np.where(np.arange(8) < 3, labels + 1, labels),
             train_labels=labels, train_predicted=labels)  # fmt: skip
    row = run_row(spec, {"epochs": 30}, tmp_path)
    assert (row["status"], row["val_top1_error_fp32"], row["train_top1_error_fp32"], row["val_top1_error"]) == ("done", 37.5, 0.0, 13.0)
    results = {"title": "t", "paper": "p", "where": "w", "claim": "c", "schedule": "s", "data": "d", "machine": "m", "commit": None,
               "runs": [row], "checks": [], "note": ""}  # fmt: skip
    assert "| 37.50% | 13.00% | 0.00% | 40.00% |" in markdown(results)


def test_a_kill_is_never_hidden_by_the_results_written_on_the_way_out(tmp_path, monkeypatch):
    def killed(*args, **kwargs):
        raise loop.StopRequested(3)

    def broken(*args, make_predictions=True, **kwargs):
        assert not make_predictions  # no fp32 pass over 50,000 images in a kill's grace period
        raise ValueError("a results file cannot be drawn")

    monkeypatch.setattr(runner, "_train_run", killed)
    monkeypatch.setattr(runner, "write_results", broken)
    lines = []
    with pytest.raises(loop.StopRequested):
        reproduce("se-cifar", "digits", tmp_path / "s", epochs=1, runs=["resnet20"], limit=256, overrides=TINY, log=lines.append)
    assert any("results were not rewritten on the way out (ValueError: a results file cannot be drawn)" in line for line in lines), lines
