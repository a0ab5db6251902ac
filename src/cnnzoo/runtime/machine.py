"""What this machine is: its CPU's name and instruction sets, as results and caches name it."""
import os
import platform
from functools import cache

import torch

from ..errors import CnnzooError

INT8_ENV = "CNNZOO_CPU_INT8"


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's instruction-set flags (/proc/cpuinfo; empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            return frozenset(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return frozenset()


def machine() -> str:
    """The CPU (and GPU) results were measured on, as the docs' figures name it."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read()
        name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), name)
        flags = "AVX-512 BF16" if "avx512_bf16" in info else "AVX2" if "avx2" in info else ""
        name += f" ({flags})" if flags else ""
    except OSError:
        pass
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{name}, {torch.get_num_threads()} threads{gpu}"


def _forced(env: str) -> bool | None:
    value = os.environ.get(env, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    if value not in ("", "auto"):
        raise CnnzooError(f"{env}={os.environ[env]!r}: set it to 1 (true, yes, on), 0 (false, no, off) or auto, or unset it")
    return None


def cpu_has_fast_int8() -> bool:
    """VNNI (AVX-512 or AVX) or AMX int8 instructions, where int8 convolutions beat fp32 ones (without them ONNX
    Runtime's int8 ran slower than its fp32 on the Zen 2, issue 31); CNNZOO_CPU_INT8=1 or 0 says otherwise."""
    forced = _forced(INT8_ENV)
    if forced is not None:
        return forced
    return bool(cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})
