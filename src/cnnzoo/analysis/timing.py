"""Measured speed: how a model runs (the execution path), and timed runs of it.

The default path is the fastest one that is numerically safe on the machine:
  CUDA: bf16 autocast (fp16 where bf16 is missing) and channels_last;
  CPUs with AMX or AVX-512 BF16: bf16 autocast and channels_last;
  other CPUs (AVX2, e.g. AMD Zen 3): fp32 and channels_last, where bf16 would be emulated and slower.
For inference, BatchNorm is folded into the convolutions before it on every path.
"""
import copy
import statistics
import time
from dataclasses import dataclass, replace
from functools import cache

import torch
from torch import nn

from ..layers import fold_batchnorm
from ..progress import Progress


@dataclass(frozen=True)
class ExecPath:
    device: str = "cpu"
    precision: str = "fp32"  # "fp32", or "bf16" / "fp16" autocast
    channels_last: bool = False
    fold_bn: bool = False  # inference only: BatchNorm folded into the preceding convolution
    compile: bool = False  # torch.compile

    def describe(self) -> str:
        parts = [self.device.upper(), self.precision]
        parts += ["channels_last"] if self.channels_last else []
        parts += ["BN folded"] if self.fold_bn else []
        parts += ["compiled"] if self.compile else []
        return ", ".join(parts)

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)


@cache
def cpu_has_fast_bf16() -> bool:
    """AMX or AVX-512 BF16 instructions, where oneDNN runs bf16 convolutions natively."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def default_path(device: str | None = None, train: bool = False) -> ExecPath:
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    else:
        precision = "bf16" if cpu_has_fast_bf16() else "fp32"
    return ExecPath(device, precision, channels_last=True, fold_bn=not train)


def prepare(model: nn.Module, path: ExecPath, train: bool = False, fold=None) -> nn.Module:
    """A copy of `model` set up for `path`. `fold` folds BatchNorm (default: cnnzoo's Sequential folding)."""
    model = copy.deepcopy(model).to(path.device)
    if train:
        model.train()
    else:
        model.eval()
        if path.fold_bn:
            model = (fold or fold_batchnorm)(model)
    if path.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if path.compile:
        model = torch.compile(model)
    return model


def _step(model: nn.Module, x: torch.Tensor, path: ExecPath, train: bool, optimizer) -> None:
    with torch.autocast(path.device.split(":")[0], dtype=path.autocast_dtype, enabled=path.autocast_dtype is not None):
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
    path: ExecPath
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
            f"  [{self.path.describe()}, batch {self.batch}, {'training' if self.train else 'inference'}]"
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


def explicit_path(base: ExecPath, **overrides) -> ExecPath:
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})
