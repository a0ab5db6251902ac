"""An experiment's results, from its run folders: results.json, results.md (each run beside the paper's
number, with the schedule and the minutes) and the plots (`plots.py`), rewritten after every finished run."""
import json
import subprocess
from pathlib import Path

import numpy as np

from ..analysis import analyze
from ..errors import CnnzooError
from ..files.atomic import atomic_write_text, read_json
from ..train.predictions import predictions_from_weights, read_predictions
from .definitions import Experiment, RunSpec
from .plots import plot
from .reuse import reused_from
from .verdicts import Verdict, judge, plot_verdicts, seed_spread


def _commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).parent)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None


def run_row(spec: RunSpec, recipe: dict, folder: Path) -> dict:
    """One run's line of the results: what it is, its cost, the paper's number, ours (if finished)."""
    size = recipe.get("input_size") or 32
    cost = analyze(spec.model, size, **spec.options)
    row = {
        "run": spec.name, "model": spec.model, "options": spec.options, "group": spec.group, "seed": spec.seed,
        "input_size": size, "params": cost.params, "macs": cost.macs,
        "paper": {"value": spec.paper.value, "where": spec.paper.where, "what": spec.paper.what} if spec.paper else None,
        "status": "not started",
    }  # fmt: skip
    summary, log = folder / "summary.json", folder / "log.json"
    if log.is_file():
        history = read_json(log, "a run's log", list)
        try:
            row["history"] = [{k: h[k] for k in ("epoch", "step", "train_top1_error", "val_top1_error")} for h in history]
        except (KeyError, TypeError):
            raise CnnzooError(f"{log} is not a run's log of epochs (a hand-edited or damaged file): restore it from log.csv") from None
    if log.is_file() or (folder / "checkpoint.pt").is_file():
        total = None if recipe.get("iterations") else recipe.get("epochs")  # a recipe in iterations: its epochs field is unused
        row["status"] = f"unfinished: {len(row.get('history', []))}" + (f" of {total:g}" if isinstance(total, (int, float)) else "") + " epochs"
        if (folder / "checkpoint.pt").is_file():
            row["status"] += ", resumes from its checkpoint.pt"
    if summary.is_file():
        s = read_json(summary, "a run's summary")
        last = row["history"][-1] if row.get("history") else {}
        missing = [k for k in ("val_top1_error", "val_top5_error", "best_val_top1_error", "steps", "epochs") if k not in s]
        if missing:
            raise CnnzooError(f"{summary} has no {missing[0]} (a hand-edited or damaged summary): restore it, or remove it to retrain the run")
        row.update(status="done", val_top1_error=s["val_top1_error"], val_top5_error=s["val_top5_error"],
                   best_val_top1_error=s["best_val_top1_error"], train_top1_error=last.get("train_top1_error"),
                   steps=s["steps"], epochs=s["epochs"], path=s.get("path"))  # fmt: skip
        if reused_from(folder):  # another experiment's run, trained the same way: taken over
            row["reused_from"] = reused_from(folder)
        answers = read_predictions(folder)
        if answers is not None:  # the final weights re-evaluated in fp32, as the verdicts count them; the interval's width
            row["val_images"] = len(answers["val_labels"])
            row["val_top1_error_fp32"] = round(100 * float(np.mean(answers["val_predicted"] != answers["val_labels"])), 2)
            if "train_labels" in answers:  # the 45k training images unaugmented, not the logged running error
                row["train_top1_error_fp32"] = round(100 * float(np.mean(answers["train_predicted"] != answers["train_labels"])), 2)
    minutes = folder / "minutes.json"
    if minutes.is_file():
        timing = read_minutes(minutes)
        row["minutes"], row["machines"] = timing["minutes"], timing["machines"]
    if summary.is_file() and isinstance(s.get("seconds"), (int, float)):
        # minutes.json adds each invocation's wall time when it ends, so a part ended by SIGKILL (a session's end) is
        # missing from it; the summary's seconds (the training kept over every resume) are a floor it cannot fall below
        row["minutes"] = max(row.get("minutes") or 0.0, round(s["seconds"] / 60, 2))
    return row


def read_minutes(file: Path) -> dict:
    """minutes.json: a run's wall minutes over every invocation, and the machines that trained it."""
    timing = read_json(file, "a run's minutes")
    minutes, machines = timing.get("minutes"), timing.get("machines", [])
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not isinstance(machines, list):
        raise CnnzooError(f"{file} holds no minutes as a number and machines as a list (a hand-edited or damaged file): fix or remove it")
    return {"minutes": float(minutes), "machines": [str(m) for m in machines]}


def _mistakes(folder: Path, data: str, limit: int | None, make: bool = True) -> dict[str, np.ndarray] | None:
    """A finished run's per-image mistakes by split ("val", "train"): from its predictions.npz, made from its
    weights (`make`) where it has those but not the file; None where it has neither (a run of before)."""
    answers = read_predictions(folder)
    if answers is None and make and (folder / "model.safetensors").is_file():
        predictions_from_weights(folder, data, limit)
        answers = read_predictions(folder)
    if answers is None:
        return None
    out = {"labels": answers["val_labels"], "val": answers["val_predicted"] != answers["val_labels"]}
    if "train_labels" in answers:
        out["train_labels"] = answers["train_labels"]
        out["train"] = answers["train_predicted"] != answers["train_labels"]
    return out


def seeds_of_one_configuration(rows: dict[str, dict], recipes: dict[str, dict], mistakes: dict, split: str) -> dict[str, list[float]]:
    """The finished runs that differ in nothing but their seed (model, options and every recipe field but
    `seed` alike), grouped: each group's errors in points on `split`, one per distinct seed. Runs that vary
    anything else (mobilenet-multipliers' res20/24/28 differ in input size only) are different settings,
    not replicates, and never widen an interval."""
    groups: dict[str, dict[int, float]] = {}
    for name, m in mistakes.items():
        if m is None or m.get(split) is None:
            continue
        recipe = dict(recipes[name])
        seed = recipe.pop("seed", None)
        r = rows[name]
        key = json.dumps([r["model"], r["options"], recipe], sort_keys=True)
        groups.setdefault(key, {}).setdefault(seed, 100 * float(np.mean(m[split])))
    return {key: list(errors.values()) for key, errors in groups.items()}


def judge_claims(experiment: Experiment, rows: dict[str, dict], plan, out: Path, make_predictions: bool = True) -> list[Verdict]:
    """The experiment's claims, each judged on the finished runs' per-image mistakes (`verdicts.py`); where it
    trained several seeds of one configuration, their spread on the claim's split widens the interval."""
    done = {name for name, r in rows.items() if r.get("status") == "done"}
    mistakes = {name: _mistakes(out / "runs" / name, plan.data, plan.limit, make_predictions) for name in done}
    seed_sd = {split: seed_spread(seeds_of_one_configuration(rows, plan.recipes, mistakes, split)) for split in ("val", "train")}
    verdicts = []
    for a, relation, b, measure in experiment.checks:
        if a not in rows or b not in rows:  # a run this sweep does not train
            continue
        split = "train" if measure.startswith("train") else "val"
        claim = f"{a} {relation} {b} in {measure}"
        ma, mb = mistakes.get(a), mistakes.get(b)
        if ma is not None and mb is not None:
            for labels, images in (("labels", "validation"), ("train_labels", "training")):
                if labels in ma and labels in mb and not np.array_equal(ma[labels], mb[labels]):
                    raise CnnzooError(f"{claim}: the two runs' predictions are over different {images} images (another split "
                                      f"or order): they cannot be paired; re-create their predictions.npz from their weights")  # fmt: skip
        wa, wb = (m.get(split) if m is not None else None for m in (ma, mb))
        verdicts.append(judge(claim, relation, wa, wb, seed_sd[split], finished=a in done and b in done))
    return verdicts


def write_results(experiment: Experiment, plan, out: Path, ensemble: dict | None = None, ensemble_verdicts: list[Verdict] | None = None,
                  make_predictions: bool = True) -> dict:  # fmt: skip
    specs = [experiment.run(name) for name in plan.runs]
    rows = {s.name: run_row(s, plan.recipes[s.name], out / "runs" / s.name) for s in specs}
    results = {
        "experiment": experiment.name, "title": experiment.title, "paper": experiment.paper.cite(), "where": experiment.where,
        "claim": experiment.claim, "note": experiment.note, "schedule": plan.describe(), "data": plan.data,
        "machine": plan.machine, "overrides": plan.overrides, "commit": _commit(), "runs": list(rows.values()),
        "checks": [v.as_dict() for v in judge_claims(experiment, rows, plan, out, make_predictions) + (ensemble_verdicts or [])],
        "reference": [[what, {"value": n.value, "where": n.where, "what": n.what}] for what, n in experiment.reference],
    }  # fmt: skip
    if ensemble is not None:
        results["ensemble"] = ensemble
    atomic_write_text(out / "results.json", json.dumps(results, indent=1))
    atomic_write_text(out / "results.md", markdown(results))
    if any(r["status"] != "not started" for r in rows.values()):
        plot(experiment, results, out)
    else:  # no run trained (a reset folder): no plot of an earlier state
        (out / f"{experiment.plot}.png").unlink(missing_ok=True)
    plot_verdicts([Verdict(**c) for c in results["checks"]], out / "verdicts.png", f"{experiment.title}: the claims, judged")
    return results


def _pct(value) -> str:
    return "-" if value is None else f"{value:.2f}%"


def markdown(results: dict) -> str:
    lines = [
        f"# {results['title']}", "",
        f"{results['paper']}, {results['where']}.", "",
        f"Claim: {results['claim']}.", "",
        f"Schedule: {results['schedule']}. Data: `{results['data']}`. Machine: {results['machine']}. "
        f"Commit: {results['commit'] or '?'}.", "",
        *([f"Changed in every run's recipe: `{' '.join(results['overrides'])}`.", ""] if results.get("overrides") else []),
        "| run | model | params | MACs | paper | ours: val top-1 error | as the run logged it | train top-1 error | logged (augmented) "
        "| epochs | minutes | status |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]  # fmt: skip
    for r in results["runs"]:
        elsewhere = [m for m in r.get("machines", []) if m != results["machine"]]
        status = r["status"] + (f" (also trained on {'; '.join(elsewhere)})" if elsewhere else "")
        status += f" (taken over from {r['reused_from']}: the same model, recipe and data)" if r.get("reused_from") else ""
        paper = f"{r['paper']['value']:.2f}% ({r['paper']['what']}, {r['paper']['where']})" if r["paper"] else "-"
        options = ", ".join(f"{k}={v}" for k, v in r["options"].items())
        model = r["model"] + (f" ({options})" if options else "") + (f", {r['input_size']} px" if r["input_size"] != 32 else "")
        lines.append(f"| {r['run']} | {model} | {r['params']:,} | {r['macs'] / 1e6:.1f}M | {paper} | {_pct(r.get('val_top1_error_fp32'))} | "
                     f"{_pct(r.get('val_top1_error'))} | {_pct(r.get('train_top1_error_fp32'))} | {_pct(r.get('train_top1_error'))} | "
                     f"{r.get('epochs', '-')} | {r.get('minutes', '-')} | {status} |")  # fmt: skip
    lines += ["", "Ours: the final weights re-evaluated in fp32 on the validation split and on the unaugmented training images "
              "(the numbers the verdicts use); beside them, what the run logged at its last epoch on its own path (bf16 or fp32: "
              "`path` in its summary.json) and its running training error over that epoch's augmented batches. Minutes: wall "
              "time over every session that trained the run."]  # fmt: skip
    if results.get("reference"):
        lines += ["", "The paper's own numbers:", ""]
        lines += [f"- {what}: {n['value']:.2f}% ({n['what']}, {n['where']})" for what, n in results["reference"]]
    if results.get("ensemble"):
        e = results["ensemble"]
        lines += ["", "| evaluated | val top-1 error | with flip TTA |", "|---|---:|---:|"]
        for name, plain, flipped in e["rows"]:
            lines.append(f"| {name} | {_pct(plain)} | {_pct(flipped)} |")
    if results["checks"]:
        lines += ["", "Claims, judged on our runs (shown: the 95% interval of the difference excludes 0 on the claimed side; "
                  "not shown: it contains 0; contradicted: it excludes 0 on the other side; pending a re-run: the runs finished "
                  "before runs saved their per-image predictions):", ""]  # fmt: skip
        lines += [f"- {Verdict(**c).line()}" for c in results["checks"]]
        if any(c.get("difference") is not None and not c.get("seed_sd") for c in results["checks"]):
            lines += ["", "One seed per run: the intervals cover the sampling of the validation images, not the seed-to-seed spread."]
    if results["note"]:
        lines += ["", results["note"]]
    return "\n".join(lines) + "\n"
