"""`cnnzoo compare`: models side by side (cost, memory, published accuracy, measured speed), and
the lecture's "Comparing Complexity" chart (chart.py: Canziani, Paszke & Culurciello 2017, Fig. 2,
with accuracy per parameter beside it), a panel testing their finding that operations predict
inference time, on this machine; and the ILSVRC winners by year."""
from dataclasses import dataclass
from pathlib import Path

import torch

from ..files.atomic import atomic_path
from ..reference.accuracy import ILSVRC_RUNNERS_UP, ILSVRC_WINNERS, Accuracy
from ..reference.tables import TABLES, PaperTable, TableRow
from ..registry import model_info
from ..runtime.execution import ExecPath, prepare
from ..runtime.progress import Progress
from .chart import complexity_panel, density_panel, family_colors, place_labels
from .profile import analyze
from .timing import time_models


@dataclass
class Compared:
    name: str
    params: int
    macs: int
    activation_bytes: int  # one image, fp32
    input_size: int
    accuracy: Accuracy | None
    latency_ms: float | None = None  # batch 1, median
    throughput: float | None = None  # images/s at the comparison's batch, median


def compare(
    names: list[str], measure: bool = False, batch: int = 8, path: ExecPath | None = None, repeats: int = 3
) -> list[Compared]:
    rows = []
    for name in names:
        a = analyze(name)
        rows.append(Compared(name, a.params, a.macs, a.activation_bytes, a.input_shape[-1], model_info(name).published))
    if measure:
        with Progress(len(rows), "measuring", "models") as bar:
            for row in rows:
                model = prepare(model_info(row.name).build(), path)
                for size, attr in ((1, "latency_ms"), (batch, "throughput")):
                    x = torch.randn(size, 3, row.input_size, row.input_size)
                    runs = {row.name: (model, path)}
                    seconds = sorted(time_models(runs, x, repeats=repeats, warmup=1, show_progress=False)[row.name])
                    median = seconds[len(seconds) // 2]
                    setattr(row, attr, 1000 * median if size == 1 else size / median)
                bar.update(note=row.name)
    return rows


def paper_costs(table: PaperTable) -> list[tuple[TableRow, int | None, int | None]]:
    """Each row of a published table with cnnzoo's computed MACs and parameters (None for rows that are
    not a network of the zoo)."""
    out = []
    for row in table.rows:
        if row.model is None:
            out.append((row, None, None))
            continue
        a = analyze(row.model, row.input_size, **row.options)
        out.append((row, a.macs, a.params))
    return out


def linear_fit(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Least-squares y = a x + b, and R^2."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    a = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    b = my - a * mx
    ss_res = sum((y - (a * x + b)) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return a, b, 1 - ss_res / ss_tot if ss_tot else 1.0


def draw(rows: list[Compared], machine: str = ""):
    """The comparison figure and the label artists of each panel (for the overlap test): the complexity
    chart on top, the accuracy-per-parameter bars and (when measured) the latency panel below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [r for r in rows if r.latency_ms is not None]
    known = [r for r in rows if r.accuracy]
    families = {r.name: model_info(r.name).family for r in rows}
    fig = plt.figure(figsize=(15, 12))
    grid = fig.add_gridspec(2, 2, height_ratios=(1.25, 1))
    top = fig.add_subplot(grid[0, :])
    points = []
    if known:
        points = complexity_panel(top, known, families)
        density_panel(fig.add_subplot(grid[1, 0]), known, families)
    latency = []
    if measured:
        ax = fig.add_subplot(grid[1, 1])
        xs, ys = [r.macs / 1e9 for r in measured], [r.latency_ms for r in measured]
        ax.scatter(xs, ys, s=12, color=[family_colors(list(dict.fromkeys(families.values())))[families[r.name]] for r in measured])
        if len(measured) > 2:
            a, b, r2 = linear_fit(xs, ys)
            line = [min(xs), max(xs)]
            ax.plot(line, [a * v + b for v in line], "k--", label=f"fit: {a:.1f} ms/GMAC + {b:.1f} ms, R² = {r2:.3f}")
            ax.legend(fontsize=7, loc="upper left")
        ax.set_xlim(0, max(xs) * 1.15)
        ax.set_ylim(0, max(ys) * 1.15)
        ax.set_xlabel("operations (GMACs, one image)")
        ax.set_ylabel("measured latency, batch 1 (ms)")
        ax.set_title(f"Do operations predict time? {machine}".strip(), fontsize=9)
        ax.grid(alpha=0.3)
        latency = [(ax, [(x, y, r.name) for r, x, y in zip(measured, xs, ys)])]
    fig.tight_layout()
    labels = place_labels(top, points) if points else []  # after the layout: boxes are measured where they will be
    for ax, pts in latency:
        placed = place_labels(ax, pts, fontsize=6, skip=True)
        if len(placed) < len(pts):
            ax.set_title(f"{ax.get_title()}\n({len(pts) - len(placed)} of {len(pts)} points unlabelled: no room)", fontsize=9)
        labels += placed
    return fig, labels


def plot(rows: list[Compared], file: str | Path, machine: str = "") -> list[Path]:
    """Write the comparison chart to `file` and the ILSVRC timeline beside it; return both paths."""
    import matplotlib.pyplot as plt

    file = Path(file)
    fig, _ = draw(rows, machine)
    with atomic_path(file) as tmp:
        fig.savefig(tmp, format=(file.suffix.lstrip(".") or "png"), dpi=120)
    plt.close(fig)

    timeline = file.with_name(f"{file.stem}-ilsvrc{file.suffix or '.png'}")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    years = [y for y, _, _ in ILSVRC_WINNERS]
    errors = [e for _, _, e in ILSVRC_WINNERS]
    ax.bar(years, errors, color="tab:blue")
    for y, name, e in ILSVRC_WINNERS:
        ax.annotate(f"{name}\n{e}%", (y, e), ha="center", va="bottom", fontsize=8)
    for table, year in zip(TABLES["ilsvrc"], (2016, 2017)):  # every entry of the lecture's team tables
        entries = [100 * row.values[2] for row in table.rows]
        ax.scatter([year - 0.3] * len(entries), entries, s=8, color="0.45", zorder=3, label="other entries" if year == 2016 else None)
    for y, name, e in ILSVRC_RUNNERS_UP:
        ax.plot([y + 0.3], [e], "o", color="tab:orange")
        ax.annotate(f"{name} (2nd) {e}%", (y + 0.3, e), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_xlabel("ILSVRC year")
    ax.set_ylabel("top-5 error (%)")
    ax.set_title("ImageNet classification winners (the lecture's first slide); 2016-17: every entry of its team tables", fontsize=9)
    ax.set_ylim(0, max(errors) * 1.25)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    with atomic_path(timeline) as tmp:
        fig.savefig(tmp, format=(timeline.suffix.lstrip(".") or "png"), dpi=120)
    plt.close(fig)
    return [file, timeline]
