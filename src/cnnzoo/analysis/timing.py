"""Measured speed: timed runs of models on their execution paths (see cnnzoo.runtime.execution), interleaved."""
import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from ..runtime.execution import ExecPath
from ..runtime.progress import Progress


def _step(model: nn.Module, x: torch.Tensor, path: ExecPath, train: bool, optimizer) -> None:
    with path.autocast():
        if not train:
            with torch.no_grad():
                model(x)
            return
        out = model(x)
        logits = out.logits if hasattr(out, "logits") else out
    loss = logits.float().square().mean()
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@dataclass
class Timing:
    label: str
    path: ExecPath | None  # None: an exported file, run by its own runtime (named in the label)
    batch: int
    seconds: list[float]  # one per timed run (one batch each)
    macs_per_image: int | None = None
    train: bool = False

    @property
    def images_per_second(self) -> list[float]:
        return [self.batch / s for s in self.seconds]

    @property
    def median(self) -> float:
        return statistics.median(self.images_per_second)

    @property
    def spread(self) -> tuple[float, float]:
        """Lower and upper quartile of images/s."""
        rates = sorted(self.images_per_second)
        if len(rates) < 4:
            return rates[0], rates[-1]
        q = statistics.quantiles(rates, n=4)
        return q[0], q[2]

    @property
    def gflops(self) -> float | None:
        """Achieved GFLOP/s (2 FLOPs per MAC; a training step counted as 3 forward passes)."""
        if self.macs_per_image is None:
            return None
        return self.median * 2 * self.macs_per_image * (3 if self.train else 1) / 1e9

    def line(self) -> str:
        lo, hi = self.spread
        g = f", {self.gflops:.0f} GFLOP/s" if self.gflops is not None else ""
        return (
            f"{self.label}: {self.median:.1f} images/s (quartiles {lo:.1f}-{hi:.1f}, {len(self.seconds)} runs){g}"
            f"  [{self.path.describe() + ', ' if self.path else ''}batch {self.batch}, {'training' if self.train else 'inference'}]"
        )


def time_models(
    runs: dict[str, tuple[nn.Module, ExecPath]],
    x: torch.Tensor,
    train: bool = False,
    warmup: int = 2,
    repeats: int = 10,
    show_progress: bool = True,
) -> dict[str, list[float]]:
    """Seconds per batch for each prepared model on its path, the models interleaved run by run so
    that they all see the same machine state (the other core busy or not, the clock boosted or not)."""
    inputs = {}
    for label, (_, path) in runs.items():
        xi = x.to(path.device)
        inputs[label] = xi.to(memory_format=torch.channels_last) if path.channels_last else xi
    optimizers = {
        label: torch.optim.SGD(model.parameters(), lr=1e-6, momentum=0.9) if train else None
        for label, (model, _) in runs.items()
    }
    for _ in range(warmup):
        for label, (model, path) in runs.items():
            _step(model, inputs[label], path, train, optimizers[label])
    times: dict[str, list[float]] = {label: [] for label in runs}
    with Progress(repeats * len(runs), "timing", "runs", enabled=None if show_progress else False) as bar:
        for _ in range(repeats):
            for label, (model, path) in runs.items():
                _sync(path.device)
                start = time.perf_counter()
                _step(model, inputs[label], path, train, optimizers[label])
                _sync(path.device)
                times[label].append(time.perf_counter() - start)
                bar.update(note=label)
    return times
