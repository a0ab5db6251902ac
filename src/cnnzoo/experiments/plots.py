"""An experiment's plots, drawn from its results (results.json's content): each run's error with its 95%
interval over the validation images (binomial), the runs in the experiment's own picture: Fig. 6's curves,
error against multiply-adds, the trend beside the paper's numbers, bars, or the ensemble against its members."""
import textwrap
from pathlib import Path

from ..files.atomic import atomic_path
from .definitions import Experiment


def plot(experiment: Experiment, results: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    draw = PLOTS[experiment.plot]
    fig = _ensemble(plt, results["ensemble"]["rows"]) if results.get("ensemble") else draw(plt, results["runs"])
    title = f"{results['title']} ({results['schedule']})"
    fig.suptitle(textwrap.fill(title, int(fig.get_figwidth() * 12)), fontsize=10)  # about 12 characters an inch fit
    fig.tight_layout()
    file = out / f"{experiment.plot}.png"
    with atomic_path(file) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return file


def _trained(rows: list[dict]) -> list[dict]:
    """The runs that have trained at least an epoch: their curves."""
    return [r for r in rows if r.get("history")]


def _finished(rows: list[dict]) -> list[dict]:
    """The finished runs: their final error (an unfinished run's last epoch is not its result)."""
    return [r for r in rows if r.get("status") == "done"]


def _val_error(row: dict) -> float:
    """The verdicts' number where the run has its predictions (fp32), else what it logged."""
    return row.get("val_top1_error_fp32", row["val_top1_error"])


def _name_the_rest(ax, rows: list[dict]) -> list[dict]:
    """A note in the corner naming the runs without a final error (so a plot of some runs says it is not all)."""
    rest = [r["run"] + _not_done(r).replace("\n", " ") for r in rows if r.get("status") != "done"]
    if rest:
        ax.text(0.01, 0.01, "no final error yet: " + ", ".join(rest), transform=ax.transAxes, fontsize=7, color="gray")
    return rows


def _not_done(row: dict) -> str:
    """What a run's tick says beside its name where it has no final error to plot."""
    if row.get("status") == "done":
        return ""
    return "\n(unfinished)" if row.get("status", "").startswith("unfinished") else "\n(not yet run)"


def _curves(plt, rows: list[dict]):
    """Fig. 6: training error (thin) and validation error (bold) against iterations, one panel per group."""
    rows = _trained(rows)
    groups = list(dict.fromkeys(r["group"] for r in rows)) or [""]
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.5), squeeze=False, sharey=True)
    for ax, group in zip(axes[0], groups):
        for i, r in enumerate(r for r in rows if r["group"] == group):
            steps = [h["step"] for h in r["history"]]
            color = f"C{i}"
            ax.plot(steps, [h["train_top1_error"] for h in r["history"]], color=color, linewidth=0.8, linestyle="--")
            ax.plot(steps, [h["val_top1_error"] for h in r["history"]], color=color, linewidth=2.2, label=r["run"])
        ax.set_title(group or "runs")
        ax.set_xlabel("iterations")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("top-1 error (%): training dashed, validation bold")
    return fig


def _cost(plt, rows: list[dict]):
    """Fig. 4-5 style: validation error (with its 95% interval) against multiply-adds (log scale), each run labelled."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows = _finished(_name_the_rest(ax, rows))
    for i, group in enumerate(dict.fromkeys(r["group"] for r in rows)):
        members = [r for r in rows if r["group"] == group]
        errors = [_val_error(r) for r in members]
        half = [_binomial_half_width(e, r.get("val_images")) for e, r in zip(errors, members)]
        ax.errorbar([r["macs"] for r in members], errors, yerr=half, fmt="o", color=f"C{i}", capsize=3, label=group)
        for r, e in zip(members, errors):
            ax.annotate(r["run"], (r["macs"], e), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("multiply-adds per image (log scale)")
    ax.set_ylabel("validation top-1 error (%), 95% interval")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


def _trend(plt, rows: list[dict]):
    """Every run in the experiment's order: ours (validation error, with its 95% binomial interval over the
    validation images where the run saved its predictions) and the paper's number on a second axis. Both
    axes span the same number of points, so that the two slopes compare; the levels do not (another dataset)."""
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(rows)), 4.5))
    done = [(x, r) for x, r in enumerate(rows) if r.get("status") == "done"]
    errors = [_val_error(r) for _, r in done]
    half = [_binomial_half_width(e, r.get("val_images")) for e, (_, r) in zip(errors, done)]
    ax.errorbar([x for x, _ in done], errors, yerr=half, fmt="o", color="C0", markersize=7, capsize=4, label="ours (CIFAR-10)")
    for (x, _), e in zip(done, errors):
        ax.annotate(f"{e:.2f}", (x, e), textcoords="offset points", xytext=(8, 0), va="center", fontsize=8, color="C0")
    ax.set_ylabel("ours: validation top-1 error (%), 95% interval", color="C0")
    ax.set_xticks(range(len(rows)), [r["run"] + _not_done(r) for r in rows])
    ax.grid(alpha=0.3)
    papered = [(x, r["paper"]) for x, r in enumerate(rows) if r.get("paper")]
    if papered:
        twin = ax.twinx()
        values = [p["value"] for _, p in papered]
        twin.plot([x for x, _ in papered], values, "s--", color="C1")
        twin.set_ylabel(f"paper: {papered[0][1]['what']}", color="C1", fontsize=8)
        if done:
            ours = [e - h for e, h in zip(errors, half)] + [e + h for e, h in zip(errors, half)]
            span = 1.15 * max(max(ours) - min(ours), max(values) - min(values), 0.5)
            for axis, ends in ((ax, ours), (twin, values)):
                middle = (max(ends) + min(ends)) / 2
                axis.set_ylim(middle - span / 2, middle + span / 2)
    return fig


def _binomial_half_width(error_percent: float, images: int | None) -> float:
    """Half the 95% interval of an error rate measured on `images` images (normal approximation); 0 if unknown."""
    if not images:
        return 0.0
    p = error_percent / 100
    return 100 * 1.96 * (p * (1 - p) / images) ** 0.5


def _bars(plt, rows: list[dict]):
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(_finished(rows))), 4))
    rows = _finished(_name_the_rest(ax, rows))
    errors = [_val_error(r) for r in rows]
    groups = list(dict.fromkeys(r["group"] for r in rows))
    half = [_binomial_half_width(e, r.get("val_images")) for e, r in zip(errors, rows)]
    ax.bar(range(len(rows)), errors, yerr=half, capsize=3, color=[f"C{groups.index(r['group'])}" for r in rows])
    ax.set_xticks(range(len(rows)), [r["run"] for r in rows], rotation=30, ha="right", fontsize=8)
    for x, (e, h) in enumerate(zip(errors, half)):
        ax.annotate(f"{e:.2f}", (x, e + h), textcoords="offset points", xytext=(0, 2), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("validation top-1 error (%), 95% interval")
    ax.grid(alpha=0.3, axis="y")
    return fig


PLOTS = {"curves": _curves, "cost": _cost, "trend": _trend, "bars": _bars}


def _ensemble(plt, rows: list[list]):
    """Each member, their mean and their ensemble: one view beside flip test-time augmentation."""
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(rows)), 4.5))
    names = [name.replace(" (averaged softmax)", "\n(averaged softmax)") for name, _, _ in rows]
    for k, (label, column) in enumerate((("one view", 1), ("with flip TTA", 2))):
        values = [row[column] for row in rows]
        xs = [x + (k - 0.5) * 0.4 for x in range(len(rows))]
        ax.bar(xs, values, width=0.4, color=f"C{k}", label=label)
        for x, v in zip(xs, values):
            ax.annotate(f"{v:.2f}", (x, v), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("validation top-1 error (%)")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    return fig
