"""A claim judged by statistics, not by the sign of a difference.

A claim "run A < run B in validation error" is judged on the difference of the two runs' errors over the
same images, with a 95% confidence interval from a paired bootstrap over those images (the runs' saved
per-image predictions, `train/predictions.py`); where the experiment trained several seeds of one
configuration, the interval is widened by the seed-to-seed spread (two single runs differ by chance by
about sqrt(2) seed standard deviations). The verdict is one of:

    shown          the interval excludes 0 on the claimed side
    not shown      the interval contains 0
    contradicted   the interval excludes 0 on the other side
    not judged yet   a run has not finished (not a verdict: the claim waits for its runs)
    pending a re-run   a run finished before runs saved their per-image predictions: nothing to judge on
"""
import math
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

RESAMPLES = 10_000
LEVEL = 0.95
WORDS = ("shown", "not shown", "contradicted", "not judged yet", "pending a re-run")


@dataclass
class Verdict:
    claim: str  # "resnet56 < resnet20 in val_top1_error"
    verdict: str  # one of WORDS
    difference: float | None = None  # A's error minus B's, in points
    low: float | None = None  # the 95% interval of the difference, in points
    high: float | None = None
    images: int | None = None  # the images the bootstrap resampled
    seed_sd: float | None = None  # points: the seed-to-seed spread that widened the interval, where known
    values: tuple[float, float] | None = None  # the two errors, in points

    def line(self) -> str:
        if self.difference is None:
            return f"{self.claim}: **{self.verdict}**"
        widened = f", widened by a seed SD of {self.seed_sd:.2f}" if self.seed_sd else ""
        return (f"{self.claim}: **{self.verdict}** ({self.values[0]:.2f} vs {self.values[1]:.2f}: difference {self.difference:+.2f} points, "
                f"95% CI [{self.low:+.2f}, {self.high:+.2f}]; paired bootstrap over {self.images:,} images{widened})")  # fmt: skip

    def as_dict(self) -> dict:
        return asdict(self)


def paired_bootstrap(wrong_a: np.ndarray, wrong_b: np.ndarray, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float, float]:
    """The difference in error (points) of two classifiers on the same images, A minus B, and its 95%
    percentile interval over `resamples` resamplings of the images with replacement. The per-image
    difference takes three values (-1, 0, 1), so a resample is a multinomial draw of their counts: exact,
    and cheap for any number of images."""
    wrong_a, wrong_b = np.asarray(wrong_a, bool), np.asarray(wrong_b, bool)
    if wrong_a.shape != wrong_b.shape or wrong_a.ndim != 1 or not len(wrong_a):
        raise ValueError("the two runs' answers must be over the same, non-empty list of images")
    d = wrong_a.astype(np.int8) - wrong_b.astype(np.int8)
    n = len(d)
    p = np.array([(d == -1).sum(), (d == 0).sum(), (d == 1).sum()], dtype=float) / n
    counts = np.random.default_rng(seed).multinomial(n, p, size=resamples)
    means = 100 * (counts[:, 2] - counts[:, 0]) / n
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return 100 * d.mean(), float(low), float(high)


def widened(difference: float, low: float, high: float, seed_sd: float | None) -> tuple[float, float]:
    """The interval with the seed-to-seed variance added: two single runs' difference has variance
    2 * sd^2 from the seeds alone, independent of the images' (half-widths add in quadrature)."""
    if not seed_sd:
        return low, high
    z = 1.959964
    extra = (z * math.sqrt(2) * seed_sd) ** 2
    return difference - math.sqrt((difference - low) ** 2 + extra), difference + math.sqrt((high - difference) ** 2 + extra)


def word(relation: str, low: float, high: float) -> str:
    """shown / not shown / contradicted for the claim "A `relation` B" given the interval of A - B."""
    if relation not in ("<", ">"):
        raise ValueError(f"a claim compares with '<' or '>', not {relation!r}")
    below, above = high < 0, low > 0
    if relation == "<":
        return "shown" if below else "contradicted" if above else "not shown"
    return "shown" if above else "contradicted" if below else "not shown"


def judge(claim: str, relation: str, wrong_a: np.ndarray | None, wrong_b: np.ndarray | None, seed_sd: float | None = None,
          finished: bool = True) -> Verdict:  # fmt: skip
    """The verdict on "A `relation` B" from the two runs' per-image mistakes (None: no predictions saved)."""
    if not finished:
        return Verdict(claim, "not judged yet")
    if wrong_a is None or wrong_b is None:
        return Verdict(claim, "pending a re-run")
    difference, low, high = paired_bootstrap(wrong_a, wrong_b)
    low, high = widened(difference, low, high, seed_sd)
    values = (100 * float(np.mean(wrong_a)), 100 * float(np.mean(wrong_b)))
    return Verdict(claim, word(relation, low, high), round(difference, 3), round(low, 3), round(high, 3), len(wrong_a),
                   round(seed_sd, 3) if seed_sd else None, (round(values[0], 3), round(values[1], 3)))  # fmt: skip


def seed_spread(errors_by_config: dict[tuple, list[float]]) -> float | None:
    """The pooled standard deviation (points) of the error across seeds of the same configuration, where
    an experiment trained several; None where none has two."""
    groups = [np.asarray(v, float) for v in errors_by_config.values() if len(v) >= 2]
    if not groups:
        return None
    dof = sum(len(g) - 1 for g in groups)
    return float(math.sqrt(sum(((g - g.mean()) ** 2).sum() for g in groups) / dof))


def plot_verdicts(verdicts: list[Verdict], file, title: str) -> None:
    """Each judged claim's difference with its 95% interval, against 0: the picture of what was shown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..files.atomic import atomic_path

    judged = [v for v in verdicts if v.difference is not None]
    if not judged:  # nothing judged (yet, or any more): no picture of an earlier state beside the results
        Path(file).unlink(missing_ok=True)
        return
    colours = {"shown": "tab:green", "not shown": "tab:gray", "contradicted": "tab:red"}
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(judged) + 1.4))
    for i, v in enumerate(judged):
        ax.errorbar(v.difference, i, xerr=[[v.difference - v.low], [v.high - v.difference]], fmt="o", color=colours[v.verdict], capsize=4)
        ax.annotate(v.verdict, (v.high, i), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8, color=colours[v.verdict])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(judged)), [v.claim.replace(" in ", "\nin ") for v in judged], fontsize=8)
    ax.set_xlabel("difference in error, first run minus second (points), 95% CI")
    ax.set_title(textwrap.fill(title, 90), fontsize=9)  # a long experiment title wraps, not runs off the figure
    ax.invert_yaxis()
    fig.tight_layout()
    with atomic_path(file) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
