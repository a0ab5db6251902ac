"""`reproduce(name, data, out)`: an experiment's runs one after another through the ordinary training
engine, resumable as a whole, with its results table and plots written after every finished run.

    out/plan.json            the schedule chosen at the first invocation (kept: a resumed sweep trains the same)
    out/runs/<run>/          a normal cnnzoo run folder (checkpoint, model.safetensors, log, summary)
    out/results.json, .md    the table: each run, the paper's number, ours, the schedule, the minutes
    out/*.png                the experiment's plots

Run it again and it skips finished runs and resumes the unfinished one from its checkpoint, exactly.
Under torchrun every process runs the same sweep; the first writes the plan and the results."""
import contextlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..artifacts.loading import load_checkpoints
from ..data.bundle import open_data
from ..data.loaders import Batch
from ..errors import CnnzooError
from ..eval.inputs import shared_data
from ..eval.metrics import probabilities
from ..eval.options import EvalOptions
from ..files.atomic import atomic_write_text
from ..files.lock import folder_lock
from ..recipes import Recipe, get_recipe
from ..runtime.distributed import World, join
from ..runtime.execution import ExecPath, resolve_path
from ..runtime.machine import machine
from ..train import RunConfig, StopRequested, train
from .budget import CIFAR_TRAIN, DEFAULT_BUDGET_MINUTES, epoch_minutes, paper_epochs, scaled
from .definitions import EXPERIMENTS, Experiment, RunSpec
from .plan import CONVERGED_EPOCHS, CONVERGED_KEEPS, CONVERGED_RECIPE, SWEEP_SCHEDULES, Plan, load_plan
from .results import read_minutes, write_results
from .reuse import reused_from, same_run, take_over
from .verdicts import Verdict, judge, seed_spread


def get_experiment(name: str) -> Experiment:
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise CnnzooError(f"no experiment {name!r}; `cnnzoo reproduce --list` shows them: {', '.join(EXPERIMENTS)}") from None


def run_recipe(experiment: Experiment, spec: RunSpec, overrides: list[str] = ()) -> Recipe:
    """A run's recipe at the paper's length: the experiment's, with the run's overrides and seed, then the
    user's `FIELD=VALUE` overrides (the same for every run)."""
    recipe = get_recipe(experiment.recipe).override(**spec.overrides, seed=spec.seed)
    return recipe.parse_overrides(list(overrides)) if overrides else recipe.validated()


def converged_recipe(experiment: Experiment, spec: RunSpec, epochs: float, overrides: list[str] = ()) -> Recipe:
    """A run's recipe on the converged schedule: the `short` recipe's optimisation for `epochs`, with the
    experiment's data (augmentation, normalisation, split, input size) and the run's own overrides and seed.
    The run's warm-up overrides (ResNet-110's 400 iterations) give way to the recipe's own one-epoch warm-up."""
    paper = get_recipe(experiment.recipe).override(**spec.overrides)
    own = {k: v for k, v in spec.overrides.items() if k not in ("warmup", "warmup_factor")}
    kept = {k: getattr(paper, k) for k in CONVERGED_KEEPS}  # a run's own input size is among them: one value each
    recipe = get_recipe(CONVERGED_RECIPE).override(**(kept | own), seed=spec.seed, epochs=epochs)
    return recipe.parse_overrides(list(overrides)) if overrides else recipe.validated()


def select_runs(experiment: Experiment, names: list[str] | None) -> list[RunSpec]:
    if not names:
        return list(experiment.default_runs())
    known = [r.name for r in experiment.runs]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise CnnzooError(f"{experiment.name} has no run {unknown[0]!r}; its runs: {', '.join(known)}")
    return [experiment.run(n) for n in names]


def estimate(experiment: Experiment, specs: list[RunSpec], steps_per_epoch: int | None = None,
             overrides: list[str] = ()) -> dict[str, tuple[float, float]]:  # fmt: skip
    """Per run: (minutes per epoch, epochs of the paper's schedule) on this machine, from a measured step."""
    out = {}
    for spec in specs:
        recipe = run_recipe(experiment, spec, overrides)
        steps = steps_per_epoch or CIFAR_TRAIN // recipe.batch_size
        out[spec.name] = (epoch_minutes(spec, recipe, steps), paper_epochs(recipe, steps))
    return out


@dataclass(frozen=True)
class Costs:
    """What an experiment's default runs cost on this machine (from a measured step of each, cached)."""

    per_run: dict[str, tuple[float, float]]  # run name -> (minutes per epoch, epochs of its paper's schedule)
    minutes_per_epoch: float  # all default runs, one epoch each
    converged_hours: float  # all default runs at the converged schedule
    paper_hours: float  # all default runs at their papers' schedules


def experiment_costs(experiment: Experiment) -> Costs:
    """Each run's measured minutes per epoch and paper length, and the totals of the default runs (optional ones,
    such as ResNet-1202, run only when named): what `cnnzoo reproduce --list` prints."""
    specs = list(experiment.runs)
    per_run = estimate(experiment, specs)
    default = [per_run[s.name] for s in specs if not s.optional]
    per_epoch = sum(minutes for minutes, _ in default)
    return Costs(per_run, per_epoch, per_epoch * CONVERGED_EPOCHS / 60, sum(m * e for m, e in default) / 60)


def make_plan(experiment: Experiment, data: str, specs: list[RunSpec], epochs: float | None, schedule: str,
              budget: float, limit: int | None, overrides: list[str], log) -> Plan:  # fmt: skip
    steps_per_epoch = _steps_per_epoch(run_recipe(experiment, specs[0], overrides), data, limit)
    if schedule == "converged":
        length = epochs or CONVERGED_EPOCHS
        recipes = {spec.name: converged_recipe(experiment, spec, length, overrides).as_dict() for spec in specs}
        return Plan(experiment.name, data, "converged", length, None, [s.name for s in specs], recipes, limit, machine(), list(overrides))
    if epochs is not None:
        kind, length = "epochs", epochs
    elif schedule == "paper":
        kind, length = "paper", None
    else:
        costs = estimate(experiment, specs, steps_per_epoch, overrides)
        per_epoch = sum(minutes for minutes, _ in costs.values())
        longest = max(e for _, e in costs.values())
        length = max(1, math.floor(budget / per_epoch)) if per_epoch > 0 else longest
        log(f"measured here: {per_epoch:.1f} minutes for an epoch of every run; {budget:g} minutes buy {length} epochs each "
            f"(the paper's schedule: {longest:g})")  # fmt: skip
        kind, length = ("paper", None) if length >= longest else ("budget", length)
    recipes = {}
    for spec in specs:
        recipe = run_recipe(experiment, spec, overrides)
        recipes[spec.name] = (scaled(recipe, length, steps_per_epoch) if length else recipe).as_dict()
    return Plan(experiment.name, data, kind, length, budget if kind == "budget" else None, [s.name for s in specs], recipes, limit,
                machine(), list(overrides))  # fmt: skip


def _steps_per_epoch(recipe: Recipe, data: str, limit: int | None) -> int:
    bundle = open_data(data).bundle(recipe.data_options(recipe.input_size, limit=limit))
    return max(1, len(bundle.train))


def _planned_as(schedule: str, epochs: float | None) -> set[str]:
    """The plan schedules `--schedule SCHEDULE` (with `--epochs` or without) makes: the paper's recipe cut to
    some epochs is planned as "epochs", and a budget that buys the paper's whole length as "paper"."""
    if schedule == "converged":
        return {"converged"}
    if epochs is not None:
        return {"epochs"}
    return {"paper"} if schedule == "paper" else {"budget", "paper"}


def _check_same(plan: Plan, experiment: str, data: str, runs: list[str], epochs: float | None, schedule: str | None,
                overrides: list[str], limit: int | None = None) -> None:  # fmt: skip
    """A resumed sweep trains as planned: what is asked again (not what is left out) must match the plan."""
    asked = {"data": data, "runs": runs} | ({"epochs": epochs} if epochs is not None else {}) | (
        {"overrides": overrides} if overrides else {}) | ({"limit": limit} if limit is not None else {})  # fmt: skip
    differ = [f"{k} {getattr(plan, k)!r} -> {v!r}" for k, v in asked.items() if k != "data" and getattr(plan, k) != v]
    schedule = schedule or ("converged" if epochs is not None else None)  # --epochs alone: the converged recipe's length
    if schedule and plan.schedule not in _planned_as(schedule, epochs):
        differ.append(f"schedule {plan.schedule!r} -> {schedule!r}")
    if plan.experiment != experiment:
        differ.append(f"experiment {plan.experiment!r} -> {experiment!r}")
    if Path(plan.data).expanduser().resolve() != Path(data).expanduser().resolve() and plan.data != data:
        differ.append(f"data {plan.data!r} -> {data!r}")
    if differ:
        raise CnnzooError(f"this sweep was planned otherwise ({'; '.join(differ)}): run it as planned (plan.json), or use another `out`")
    named = sorted({str(r.get("teacher")) for r in plan.recipes.values() if isinstance(r, dict) and r.get("teacher")})
    given = {o.partition("=")[2] for o in overrides if o.startswith("teacher=")}
    if set(named) - given:  # the plan is a file: the weights it names are read only when the user names them too
        raise CnnzooError(f"plan.json's recipes name a teacher ({named[0]}), and cnnzoo reads no file a file names: pass "
                          f"teacher={named[0]} again to resume, or use another `out`")  # fmt: skip


def reproduce(name: str, data: str, out: str | Path | None = None, epochs: float | None = None, schedule: str | None = None,
              runs: list[str] | None = None, budget: float = DEFAULT_BUDGET_MINUTES, limit: int | None = None, overrides: list[str] = (),
              show_progress: bool | None = None, log=print, reuse: bool = True) -> dict:  # fmt: skip
    """Train an experiment's runs (all of them, or `runs`), skipping finished ones and resuming an unfinished
    one; write the results after every finished run; return them (results.json's content). `overrides`
    (`FIELD=VALUE`) change every run's recipe, as `cnnzoo train`'s do. `reuse`: a run another experiment beside
    `out` has finished with the same model, recipe and data is taken over, not trained again (`reuse.py`)."""
    experiment = get_experiment(name)
    if schedule is not None and schedule not in SWEEP_SCHEDULES:
        raise CnnzooError(f"`schedule` {schedule!r}: choose {' or '.join(SWEEP_SCHEDULES)} (or give `epochs`)")
    if epochs is not None and not epochs > 0 or not budget > 0 or limit is not None and limit < 1:
        raise CnnzooError("`epochs`, `budget` and `limit` must be positive")
    out = Path(out or f"experiments/{name}")
    world, _ = join(resolve_path("auto", train=True).device)
    log = log if world.main else (lambda *args, **kwargs: None)
    with folder_lock(out, "sweep", log) if world.main else contextlib.nullcontext():  # one sweep per folder
        return _sweep(experiment, data, out, epochs, schedule, runs, budget, limit, overrides, show_progress, world, log, reuse)


def rewrite_results(name: str, out: str | Path | None = None, log=print) -> dict:
    """The results of the sweep in `out` (results.json, .md and the plots) written again from its runs' files,
    training nothing: after pulling runs trained elsewhere, or to see them in a newer cnnzoo's tables. A finished
    run without predictions.npz, and the ensemble of a finished `ensembles` sweep, are evaluated on the plan's data."""
    experiment = get_experiment(name)
    out = Path(out or f"experiments/{name}")
    plan = load_plan(out)
    if plan is None:
        raise CnnzooError(f"{out} holds no sweep (no plan.json): nothing to rewrite; give the sweep's folder as `out`, "
                          f"or run `cnnzoo reproduce {name} --data CIFAR10` first")  # fmt: skip
    if plan.experiment != name:
        raise CnnzooError(f"{out} holds the {plan.experiment} sweep, not {name}: `cnnzoo reproduce {plan.experiment} --results-only`")
    with folder_lock(out, "sweep", log):  # never beside a sweep that is still writing there
        finished = all((out / "runs" / run / "summary.json").is_file() for run in plan.runs)
        missing = [out / "runs" / run / "model.safetensors" for run in plan.runs]
        missing = [file for file in missing if not file.is_file()]
        if experiment.ensemble and finished and missing:  # refused before anything is written: the table would be lost
            raise CnnzooError(f"the ensemble in {out} is evaluated from its members' weights, and {missing[0]} is missing "
                              f"({len(missing)} of {len(plan.runs)}): restore them (from the commit that has them), "
                              f"or keep the results there as they are")  # fmt: skip
        write_results(experiment, plan, out, *(evaluate_ensemble(out, plan) if experiment.ensemble and finished else ()))
    return json.loads((out / "results.json").read_text())


def _sweep(experiment: Experiment, data: str, out: Path, epochs, schedule, runs, budget, limit, overrides, show_progress,
           world: World, log, reuse: bool) -> dict:  # fmt: skip
    name = experiment.name
    plan = load_plan(out)
    specs = select_runs(experiment, runs or (plan.runs if plan else None))
    if plan is not None:
        _check_same(plan, name, data, [s.name for s in specs], epochs, schedule, list(overrides), limit)
        log(f"{name}: resuming the sweep in {out} ({plan.describe()})")
    else:
        plan = make_plan(experiment, data, specs, epochs, schedule or "converged", budget, limit, list(overrides), log) if world.main else None
        plan = _shared(plan, out, world)
        log(f"{name}: {experiment.title}; {len(specs)} runs, {plan.describe()}, in {out}")
    for spec in experiment.in_order(specs):
        try:
            _train_run(experiment, spec, plan, out, world, show_progress, log, reuse)
        except (KeyboardInterrupt, StopRequested):  # a kill (a session's end): the results say how far the run got
            if world.main:
                try:  # from the files there are: no predictions made from weights in a kill's grace period
                    write_results(experiment, plan, out, make_predictions=False)
                except Exception as e:  # noqa: BLE001 -- nothing may hide the stop
                    log(f"{name}: the results were not rewritten on the way out ({type(e).__name__}: {e})")
            raise
        if world.main:
            write_results(experiment, plan, out)
    if experiment.ensemble and world.main:
        write_results(experiment, plan, out, *evaluate_ensemble(out, plan))
    return json.loads((out / "results.json").read_text()) if world.main else {}


def _flipped(batches):
    """Each batch as two views, the images and their mirror images: the softmax is averaged over both."""
    for batch in batches:
        yield Batch(torch.stack([batch.images, batch.images.flip(-1)], 1), batch.labels)


@torch.no_grad()
def evaluate_ensemble(out: Path, plan: Plan) -> tuple[dict, list[Verdict]]:
    """Each member's validation error, their mean, and the ensemble's (averaged softmax), each with and
    without flip test-time augmentation; in fp32, on the runs' own validation split. With the verdicts on
    "the ensemble below its best member", one view and with flips, from the per-image answers."""
    files = [out / "runs" / name / "model.safetensors" for name in plan.runs]
    models, metas = load_checkpoints(files)
    data = shared_data(files, metas, EvalOptions(data=plan.data))
    path = ExecPath("cpu", "fp32")
    wrong = {}  # view -> (each member's per-image mistakes, the ensemble's)
    for view, batches in (("one view", data.val.batches()), ("flip TTA", _flipped(data.val.batches()))):
        members, together = [[] for _ in models], []
        for batch in batches:
            probs = [probabilities(m, batch.images, path) for m in models]
            for mistakes, p in zip(members, probs):
                mistakes.append(p.argmax(1) != batch.labels)
            together.append((sum(probs) / len(probs)).argmax(1) != batch.labels)
        wrong[view] = [torch.cat(m).numpy() for m in members], torch.cat(together).numpy()
    error = lambda w: 100 * float(w.mean())  # noqa: E731
    (plain, ens), (flipped, ens_flipped) = wrong["one view"], wrong["flip TTA"]
    rows = [[name, error(a), error(b)] for name, a, b in zip(plan.runs, plain, flipped)]
    rows.append(["mean of the members", sum(map(error, plain)) / len(plain), sum(map(error, flipped)) / len(flipped)])
    rows.append([f"ensemble of {len(models)} (averaged softmax)", error(ens), error(ens_flipped)])
    verdicts = []
    for view, (members, together) in wrong.items():  # the members' spread in the view judged widens its interval
        best = min(range(len(members)), key=lambda i: members[i].mean())
        seed_sd = seed_spread({"members": [error(m) for m in members]})
        verdicts.append(judge(f"ensemble < best member ({plan.runs[best]}) in val_top1_error, {view}", "<", together, members[best], seed_sd))
    return {"rows": rows, "images": len(ens)}, verdicts


def _shared(plan: Plan | None, out: Path, world: World) -> Plan:
    """The plan the first process made, written, and read by every process."""
    if world.main:
        atomic_write_text(out / "plan.json", json.dumps(asdict(plan), indent=1))
    world.barrier()
    return load_plan(out)


def _train_run(experiment: Experiment, spec: RunSpec, plan: Plan, out: Path, world: World, show_progress, log,
               reuse: bool = True) -> None:  # fmt: skip
    folder = out / "runs" / spec.name
    if (folder / "summary.json").is_file():
        log(f"{spec.name}: done before ({folder / 'summary.json'})")
        if world.main:
            (folder / "checkpoint.pt").unlink(missing_ok=True)
        return
    if reuse and world.main and not any((folder / f).exists() for f in ("checkpoint.pt", "log.csv")):
        source = same_run(spec, plan.recipes[spec.name], plan, out)
        if source is not None:
            take_over(source, folder, experiment.name)
            log(f"{spec.name}: trained before as {reused_from(folder)}, the same model, recipe and data: taken over, not trained again")
    world.barrier()
    if (folder / "summary.json").is_file():
        return
    recipe = Recipe.from_dict(plan.recipes[spec.name])
    log(f"{spec.name}: {spec.model}{' ' + json.dumps(spec.options) if spec.options else ''}, {recipe.name} recipe "
        f"({plan.describe()})")  # fmt: skip
    started = time.perf_counter()
    try:
        train(RunConfig(spec.model, plan.data, recipe, folder, dict(spec.options), resume="auto", limit=plan.limit,
                        show_progress=show_progress, log=log))  # fmt: skip
        if world.main:  # done: its weights and predictions stay (committed); the checkpoint that carried it across sessions goes
            (folder / "checkpoint.pt").unlink(missing_ok=True)
    finally:
        if world.main and folder.is_dir():  # wall minutes over every invocation (a `kill` too; SIGKILL aside)
            file = folder / "minutes.json"
            try:  # a damaged file must not hide the error that ended the run: its minutes start again
                before = read_minutes(file) if file.is_file() else {"minutes": 0.0, "machines": []}
            except CnnzooError as e:
                log(f"{spec.name}: {e}; counting its minutes afresh")
                before = {"minutes": 0.0, "machines": []}
            machines = list(dict.fromkeys([*before["machines"], machine()]))  # every CPU that trained it
            minutes = round(before["minutes"] + (time.perf_counter() - started) / 60, 2)
            try:
                atomic_write_text(file, json.dumps({"minutes": minutes, "machines": machines}))
            except (CnnzooError, OSError) as e:  # nor may a failed write (a full disk) hide it
                log(f"{spec.name}: its minutes were not saved ({e})")
