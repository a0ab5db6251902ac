"""Which CPU path trains a model fastest here. Where the CPU runs bf16 natively (AMX, AVX-512 BF16), the default
training path is bf16 autocast + channels_last, the faster one for most nets; but thin depthwise-separable nets
(the MobileNets) train up to 1.8x faster in fp32 + channels_last, and no rule by architecture says which
(Xception, depthwise too, is faster in bf16; docs/speed.md). So a run on that default, long enough to pay for it,
times a few steps of its model on both paths and trains on the faster.

The measurement is cached under $CNNZOO_CACHE keyed by the architecture, batch, input and machine (speed does not
depend on the weights), so a resumed run takes the path it started on. It is skipped, and the default kept, when
the recipe or the caller names a precision or a layout, under torchrun (every rank must take one path), for runs
shorter than MIN_STEPS, and where CNNZOO_CPU_BF16 forces the bf16 path (as the test suite does to cover it)."""
import copy
import datetime
import json
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..analysis.timing import time_models
from ..data.bundle import cache_dir
from ..files.atomic import atomic_write_text
from ..recipes import Recipe
from ..runtime.execution import ExecPath, cpu_bf16_is_forced
from ..runtime.machine import machine

MIN_STEPS = 500  # a shorter run keeps the default: the measurement (a few steps on each path) would not pay
MARGIN = 1.1  # fp32 must be this much faster than bf16 to be taken: a near tie keeps the default
REPEATS = 3  # timed steps on each path, after a warm-up step; the median counts
CACHE_FILE = "training-paths.json"


@dataclass(frozen=True)
class PathChoice:
    path: ExecPath
    seconds: dict[str, float]  # median seconds a step on each candidate precision
    cached: bool

    def note(self) -> str:
        other = "bf16" if self.path.precision == "fp32" else "fp32"
        when = "cached" if self.cached else "measured now"
        return (f"training path {self.path.describe()}: {self.seconds[self.path.precision]:.3f} s a step against "
                f"{self.seconds[other]:.3f} in {other} ({when}; precision=bf16 or precision=fp32 chooses)")  # fmt: skip


def worth_measuring(recipe: Recipe, precision: str | None, path: ExecPath, world_size: int, total_steps: int) -> bool:
    """Whether this run chooses its path by measurement (see the module's docstring for when it does not)."""
    return (path.device == "cpu" and path.precision == "bf16" and (precision or recipe.precision) == "auto"
            and recipe.channels_last is None and not recipe.compile and world_size == 1 and total_steps >= MIN_STEPS
            and not cpu_bf16_is_forced())  # fmt: skip


def time_both(net: nn.Module, batch: int, size: int) -> dict[str, float]:
    """Median seconds of a training step (forward, backward, SGD) of copies of `net` on each candidate path,
    interleaved; the global random state is left as it was, so that the run does not depend on the measurement."""
    runs = {p: (copy.deepcopy(net).train(), ExecPath("cpu", p, channels_last=True)) for p in ("bf16", "fp32")}
    with torch.random.fork_rng(devices=[]):
        times = time_models(runs, torch.randn(batch, 3, size, size), train=True, warmup=1, repeats=REPEATS, show_progress=False)
    return {precision: sorted(t)[len(t) // 2] for precision, t in times.items()}


def choose_training_path(net: nn.Module, what: list, batch: int, size: int, default: ExecPath,
                         measure: Callable[..., dict[str, float]] | None = None) -> PathChoice:  # fmt: skip
    """fp32 + channels_last where it trains `net` at least MARGIN times faster than `default` (bf16 + channels_last)
    does here, else `default`. `what`: what the step's speed depends on besides the batch, input and machine (the
    model's name, options, classes, frozen layers...); a net timed before with the same is not timed again."""
    key = json.dumps([*what, batch, size, machine(), torch.__version__], sort_keys=True, default=str)
    file = cache_dir() / CACHE_FILE
    known = _read(file)
    seconds = _seconds(known.get(key))
    cached = seconds is not None
    if seconds is None:
        seconds = (measure or time_both)(net, batch, size)
        known[key] = {"seconds": seconds, "measured": datetime.date.today().isoformat()}
        file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(file, json.dumps(known, indent=0))
    path = default.replace(precision="fp32") if seconds["fp32"] * MARGIN <= seconds["bf16"] else default
    return PathChoice(path, seconds, cached)


def _read(file) -> dict:
    try:
        known = json.loads(file.read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _seconds(entry) -> dict[str, float] | None:
    """A cache entry's seconds on both paths; None where it is missing or damaged (then measured again)."""
    try:
        seconds = {p: float(entry["seconds"][p]) for p in ("bf16", "fp32")}
    except (KeyError, TypeError, ValueError):
        return None
    return seconds if all(s > 0 and s != float("inf") for s in seconds.values()) else None
