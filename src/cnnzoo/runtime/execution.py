"""How a model runs: the execution path (device, precision, memory layout, BatchNorm folding,
compilation), decided once here and used alike by training, evaluation, benchmarking and export.

The default path is the fastest one that is numerically safe on the machine:
  CUDA: bf16 autocast (fp16 where bf16 is missing) and channels_last;
  CPUs with AMX or AVX-512 BF16: bf16 autocast and channels_last;
  other CPUs (AVX2, e.g. AMD Zen 3): fp32 and channels_last, where bf16 would be emulated and slower.
For inference, BatchNorm is folded into the convolutions before it on every path, and on the CPU each
convolution runs with the activation after it in one oneDNN call (`layers.fuse`).

CNNZOO_CPU_BF16=1 (or 0) overrides the CPU detection: the CPU is taken to have (or lack) native
bf16, so any machine can run either CPU path (the test suite pins 0 and runs chosen tests with 1).
"""
import contextlib
import copy
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..errors import CnnzooError
from ..layers import fold_batchnorm
from ..layers.fuse import fuse_conv_act
from .machine import _forced, cpu_flags

PRECISIONS = ("fp32", "bf16", "fp16")
BF16_ENV = "CNNZOO_CPU_BF16"


@dataclass(frozen=True)
class ExecPath:
    device: str = "cpu"
    precision: str = "fp32"  # "fp32", or "bf16" / "fp16" autocast
    channels_last: bool = False
    fold_bn: bool = False  # inference only: BatchNorm folded into the preceding convolution
    fuse: bool = False  # inference only, CPU fp32: each convolution and its activation in one oneDNN call
    compile: bool = False  # torch.compile

    def describe(self) -> str:
        parts = [self.device.upper(), self.precision]
        parts += ["channels_last"] if self.channels_last else []
        parts += ["BN folded"] if self.fold_bn else []
        parts += ["conv+act fused"] if self.fuse else []
        parts += ["compiled"] if self.compile else []
        return ", ".join(parts)

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> contextlib.AbstractContextManager:
        """The autocast region of this path's precision (a no-op for fp32)."""
        dtype = self.autocast_dtype
        return torch.autocast(self.device.split(":")[0], dtype=dtype, enabled=dtype is not None)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """A batch of images on this path's device, in its memory layout."""
        return x.to(self.device, memory_format=self.memory_format) if x.dim() == 4 else x.to(self.device)

    def replace(self, **overrides) -> "ExecPath":
        """This path with the given fields replaced; a None leaves a field as it is."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def validated(self, train: bool = False) -> "ExecPath":
        if self.precision not in PRECISIONS:
            raise CnnzooError(f"precision {self.precision!r}: choose {', '.join(PRECISIONS)} (or auto)")
        if self.precision == "fp16" and not self.device.startswith("cuda"):
            raise CnnzooError("precision fp16 needs a CUDA device (it trains with gradient scaling); use bf16 or fp32 here")
        if train and self.fold_bn:
            raise CnnzooError("BatchNorm folding is for inference: it cannot be used in training")
        if train and self.fuse:
            raise CnnzooError("fusing convolutions with their activations is for inference: it cannot be used in training")
        return self


def _cpuinfo_has_fast_bf16() -> bool:
    return bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX-512 BF16 instructions, where oneDNN runs bf16 convolutions natively (or what
    CNNZOO_CPU_BF16 says)."""
    forced = _forced(BF16_ENV)
    return _cpuinfo_has_fast_bf16() if forced is None else forced


def cpu_bf16_is_forced() -> bool:
    """Whether CNNZOO_CPU_BF16 decides the CPU path rather than the CPU's flags."""
    return _forced(BF16_ENV) is not None


def default_path(device: str | None = None, train: bool = False) -> ExecPath:
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    else:
        precision = "bf16" if cpu_has_fast_bf16() else "fp32"
    return ExecPath(device, precision, channels_last=True, fold_bn=not train, fuse=_fuses(device, precision, train))


def _fuses(device: str, precision: str, train: bool) -> bool:
    """Whether the default path fuses convolutions with their activations: CPU fp32 inference (in bf16 the
    fused call gained 10-30% on a layer and needs a bf16 copy of every weight: not worth it)."""
    return not train and device == "cpu" and precision == "fp32"


def resolve_path(
    precision: str | None = None,
    channels_last: bool | None = None,
    fold_bn: bool | None = None,
    compile: bool | None = None,
    device: str | None = None,
    train: bool = False,
    fuse: bool | None = None,
) -> ExecPath:
    """The default path of this machine with the explicit choices on top (None or "auto": the
    default's), checked: fp16 needs CUDA, BatchNorm folding is for inference."""
    path = default_path(device, train)
    if precision not in (None, "auto"):
        # an explicit precision is a deliberate choice of numerics: the layout stays the default's
        path = path.replace(precision=precision, fuse=_fuses(path.device, precision, train))
    return path.replace(channels_last=channels_last, fold_bn=fold_bn, compile=compile, fuse=fuse).validated(train)


def prepare(model: nn.Module, path: ExecPath, train: bool = False, fold=None) -> nn.Module:
    """A copy of `model` set up for `path`. `fold` folds BatchNorm (default: cnnzoo's Sequential folding)."""
    model = copy.deepcopy(model).to(path.device)
    if train:
        model.train()
    else:
        model.eval()
        if path.fold_bn:
            model = (fold or fold_batchnorm)(model)
        if path.fuse:
            model = fuse_conv_act(model)
    if path.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if path.compile:
        model = torch.compile(model)
    return model
