"""Which engine runs inference here: PyTorch in fp32 (or bf16 where the CPU has it natively), or ONNX Runtime
in fp32 (or int8 where the CPU has VNNI/AMX and the model was quantized). The fastest is chosen per model and
machine by a short measurement, cached, checked against the fp32 eager model on the images at hand, shown,
and overridable by name.

    chosen = choose_engine(model, meta, images)                  # the fastest of the fp32 engines that passes the check
    chosen = choose_engine(model, meta, images, precision="auto")  # ... of every engine this machine has
    chosen = choose_engine(model, meta, images, "torch-fp32")    # asked for by name: no measurement
    logits = chosen.module(images)   # fp32 N x 3 x H x W images on the CPU in, fp32 logits out, whatever the engine
    print(chosen.line())

The measurement (one warm-up and three timed batches of each candidate, interleaved) is cached under
$CNNZOO_CACHE keyed by the architecture, input, batch and machine: speed does not depend on the weights, so
`cnnzoo bench` fills the same cache. Why ONNX Runtime's fp32 can beat PyTorch's: docs/speed.md.
"""
import copy
import datetime
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..analysis.timing import time_models
from ..artifacts.exported import ExportedModel, ExportError
from ..data.bundle import cache_dir
from ..errors import CnnzooError
from ..files.atomic import atomic_write_text
from ..runtime.execution import ExecPath, cpu_has_fast_bf16, prepare, resolve_path
from ..runtime.machine import cpu_has_fast_int8, machine
from .export import export_model

ENGINES = ("torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8")
# the engines a precision allows: fp32 keeps the numbers machine-independent; auto opens every engine
PRECISION_ENGINES = {"fp32": ("torch-fp32", "onnx-fp32"), "bf16": ("torch-bf16",), "int8": ("onnx-int8",), "auto": ENGINES}
ENGINES_ENV = "CNNZOO_ENGINES"  # e.g. "torch-fp32,torch-bf16": the engines auto may choose from (the test suite pins it)
REPEATS = 3
MAX_BATCH = 64  # images per timed batch at most: enough to rank the engines, short enough to measure in seconds


class EngineModule(nn.Module):
    """One engine behind nn.Module's call: fp32 N x 3 x H x W images on the CPU in, fp32 logits out."""

    def __init__(self, name: str, module: nn.Module, path: ExecPath | None = None):
        super().__init__()
        self.name, self.module, self.path = name, module, path  # path: PyTorch's (layout, autocast); None for a file

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.path is None:
            return torch.as_tensor(self.module(images)).float()
        with self.path.autocast():
            return self.module(self.path.to_device(images)).float()


@dataclass
class Chosen:
    engine: str
    module: EngineModule
    rates: dict[str, float] = field(default_factory=dict)  # images/s of each measured candidate
    excluded: dict[str, str] = field(default_factory=dict)  # candidate -> why it was left out
    check: str = ""  # the numerical check against fp32 eager
    cached: bool = False  # the measurement came from the cache
    batch: int = 0  # the batch it was measured at
    why: str = "as asked"  # without a measurement: why this engine

    def line(self) -> str:
        if not self.rates:
            how = self.why
        else:
            rates = ", ".join(f"{e} {r:.1f}" for e, r in sorted(self.rates.items(), key=lambda t: -t[1]))
            when = "cached" if self.cached else "measured now"
            how = f"the fastest here: {rates} images/s at batch {self.batch}, {when}; --engine chooses another"
        left = "".join(f"; {e} left out: {why}" for e, why in self.excluded.items())
        return f"engine {self.engine} ({how}){left}; {self.check}"


def candidates(precision: str = "fp32", int8_file: str | Path | None = None, device: str = "cpu",
               weights_file: str | Path | None = None, can_quantize: bool = False) -> tuple[list[str], dict[str, str]]:  # fmt: skip
    """The engines `precision` allows that this machine can run, and why each other allowed one cannot
    (an `int8_file` older than the `weights_file` it was quantized from is stale; `can_quantize`: the caller
    quantizes the model itself, as `timing_engines` does)."""
    if precision not in PRECISION_ENGINES:
        raise CnnzooError(f"precision {precision!r}: choose {', '.join(PRECISION_ENGINES)}")
    allowed, excluded = list(PRECISION_ENGINES[precision]), {}
    pinned = os.environ.get(ENGINES_ENV, "").replace(",", " ").split()
    if set(pinned) - set(ENGINES):
        raise CnnzooError(f"{ENGINES_ENV}={os.environ[ENGINES_ENV]!r}: name engines among {', '.join(ENGINES)}, separated by commas")
    if pinned:
        excluded = {e: f"left out by {ENGINES_ENV}" for e in allowed if e not in pinned}
        allowed = [e for e in allowed if e in pinned]
    if device != "cpu":
        return [e for e in allowed if e.startswith("torch")], {}
    auto = precision == "auto"  # asked for by precision, a slow engine still runs; it is only not chosen for speed
    if "torch-bf16" in allowed and auto and not cpu_has_fast_bf16():
        excluded["torch-bf16"] = "this CPU has no native bf16 (AMX or AVX-512 BF16): it would be emulated, slower than fp32"
    if any(e.startswith("onnx") for e in allowed) and not _have_onnxruntime():
        excluded |= {e: "onnx, onnxscript or onnxruntime is not installed (pip install 'cnnzoo[export]')" for e in allowed if e.startswith("onnx")}
    if "onnx-int8" in allowed and "onnx-int8" not in excluded:
        if auto and not cpu_has_fast_int8():
            excluded["onnx-int8"] = "this CPU has no VNNI or AMX: int8 ran slower than fp32 without them"
        elif can_quantize:
            pass
        elif int8_file is None or not Path(int8_file).is_file():
            excluded["onnx-int8"] = "the model is not quantized (`cnnzoo quantize` writes RUN/model.int8.onnx)"
        elif weights_file is not None and Path(int8_file).stat().st_mtime < Path(weights_file).stat().st_mtime:
            excluded["onnx-int8"] = f"{int8_file} is older than {weights_file}: quantize it again"
    return [e for e in allowed if e not in excluded], excluded


def _have_onnxruntime() -> bool:
    """onnxruntime, and what exporting to it takes (onnx, onnxscript)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


def build_engine(name: str, model: nn.Module, meta: dict, int8_file: str | Path | None = None,
                 export_dir: Path | None = None) -> EngineModule:  # fmt: skip
    """`model` (fp32, eval mode) on engine `name`: PyTorch on its inference path, or an ONNX Runtime session of its
    export (made once and cached by the weights' digest, or made in `export_dir`) or of its quantized file."""
    if name not in ENGINES:
        raise CnnzooError(f"engine {name!r}: choose {', '.join(ENGINES)} or auto")
    if name.startswith("torch"):
        path = resolve_path(name.split("-")[1], device="cpu")
        return EngineModule(name, prepare(model, path), path)
    threads = torch.get_num_threads()  # ONNX Runtime takes as many threads as PyTorch was given
    if name == "onnx-int8":
        return EngineModule(name, ExportedModel(int8_file, threads))
    if export_dir is not None:
        file = Path(export_dir) / "model.onnx"
        export_model(model, meta, file, "onnx", dynamic_batch=True)
        return EngineModule(name, ExportedModel(file, threads))
    return EngineModule(name, ExportedModel(_exported(model, meta), threads))


def timing_engines(model: nn.Module, meta: dict, images: torch.Tensor, names: list[str],
                   workdir: Path) -> tuple[dict[str, EngineModule], dict[str, str]]:  # fmt: skip
    """Engines `names` of `model` for timing it (`cnnzoo bench`), and why any could not be built: its files are written
    in `workdir`; without a quantized file, int8 is quantized there on `images` (weights and calibration both random:
    speed only)."""
    from .quantize import quantize_model

    engines, failed = {}, {}
    for name in names:
        int8 = None
        try:
            if name == "onnx-int8":
                int8 = Path(workdir) / "model.int8.onnx"
                quantize_model(model, meta, [images], int8, images=len(images))
            engines[name] = build_engine(name, model, meta, int8, export_dir=workdir)
        except CnnzooError as e:  # an architecture the exporter cannot take: timed without it
            failed[name] = str(e)
    return engines, failed


def _exported(model: nn.Module, meta: dict) -> Path:
    """The ONNX export of `model` in the cache, made (and checked) the first time these weights are asked for."""
    digest = hashlib.sha256(json.dumps(meta, sort_keys=True, default=str).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    file = cache_dir() / "engines" / f"{digest.hexdigest()[:32]}.onnx"
    if not file.is_file():
        file.parent.mkdir(parents=True, exist_ok=True)
        export_model(model, meta, file, "onnx", dynamic_batch=True)
        prune_exports(file.parent)
    else:
        file.touch()  # recently used: kept by the pruning
    return file


# The cache keeps the most recently used exports (a ResNet-50 is 100 MB): older ones are made again when asked for.
# One used within the last hour is never removed (another process may be about to load it).
EXPORTS_KEPT, EXPORT_GRACE_SECONDS = 16, 3600.0


def prune_exports(folder: Path) -> list[Path]:
    """Remove the exports beyond the EXPORTS_KEPT most recently used from `folder`; returns what went."""
    files = sorted(folder.glob("*.onnx"), key=lambda f: f.stat().st_mtime, reverse=True)
    now, removed = time.time(), []
    for f in files[EXPORTS_KEPT:]:
        if now - f.stat().st_mtime > EXPORT_GRACE_SECONDS:
            f.unlink(missing_ok=True)
            removed.append(f)
    return removed


def check_engine(engine: str, logits: torch.Tensor, reference: torch.Tensor) -> str | None:
    """Why `logits` of `engine` disagree with fp32 eager's `reference` on the same images, or None if they agree:
    fp32 engines to within 1e-3 of the logits' scale (summation order), bf16 and int8 in their top-1 class on at
    least 90% of the images."""
    if not torch.isfinite(logits).all():
        return "it computes NaN or infinite logits"
    scale = max(1.0, reference.abs().max().item())
    diff = (logits - reference).abs().max().item()
    if engine.endswith("fp32"):
        return None if diff <= 1e-3 * scale else f"its logits differ from fp32 eager by {diff:.3g} (tolerance {1e-3 * scale:.3g})"
    agree = (logits.argmax(1) == reference.argmax(1)).float().mean().item()
    return None if agree >= 0.9 else f"its top-1 class agrees with fp32 eager on {100 * agree:.0f}% of the images (at least 90% needed)"


def _speed_key(meta: dict, images: torch.Tensor) -> str:
    """The cache's key: what the engines' speed depends on (the architecture, input, batch, machine), not the weights."""
    try:
        import onnxruntime

        ort = onnxruntime.__version__
    except ImportError:
        ort = None
    arch = [meta.get("model"), meta.get("model_options", {}), meta.get("num_classes"), list(images.shape)]
    return json.dumps([*arch, machine(), torch.__version__, ort], sort_keys=True, default=str)


def _known() -> dict:
    try:
        known = json.loads((cache_dir() / "engine-speeds.json").read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def cached_rates(meta: dict, images: torch.Tensor, names: list[str]) -> dict[str, float] | None:
    """The cached images/s of engines `names` for this architecture and batch here, if all were measured (0: the
    engine could not be built for this architecture)."""
    try:
        rates = {str(e): float(r) for e, r in _known()[_speed_key(meta, images)]["rates"].items()}
    except (TypeError, KeyError, ValueError, AttributeError):
        return None  # never measured, or a damaged entry: measured again
    if not set(names) <= set(rates) or not all(math.isfinite(rates[n]) and rates[n] >= 0 for n in names):
        return None
    return {n: rates[n] for n in names}


def store_rates(meta: dict, images: torch.Tensor, rates: dict[str, float]) -> None:
    """Keep measured images/s of these engines on this machine for this architecture and batch (`bench` too)."""
    file, known, key = cache_dir() / "engine-speeds.json", _known(), _speed_key(meta, images)
    before = known.get(key, {}).get("rates", {}) if isinstance(known.get(key), dict) else {}
    known[key] = {"rates": {**before, **rates}, "measured": datetime.date.today().isoformat()}
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(file, json.dumps(known, indent=0))


def measure(modules: dict[str, nn.Module], images: torch.Tensor, repeats: int = REPEATS) -> dict[str, float]:
    """Median images/s of each module on `images` (one warm-up, then `repeats` batches, the modules interleaved)."""
    times = time_models({name: (m, ExecPath("cpu")) for name, m in modules.items()}, images, warmup=1, repeats=repeats, show_progress=False)
    return {name: len(images) / sorted(t)[len(t) // 2] for name, t in times.items()}


@torch.no_grad()
def choose_engine(model: nn.Module, meta: dict, images: torch.Tensor, engine: str = "auto", precision: str = "fp32",
                  int8_file: str | Path | None = None, weights_file: str | Path | None = None,
                  measure_fn: Callable = measure) -> Chosen:  # fmt: skip
    """`model` on the fastest engine `precision` allows here (`engine="auto"`) or on `engine`, checked against
    fp32 eager on `images` (normalised, N x 3 x H x W: the images about to be run, or like them). `int8_file`:
    the model's quantized file, if it has one (from `weights_file`)."""
    if model.training or any(p.device.type != "cpu" or p.dtype != torch.float32 for p in model.parameters()):
        model = copy.deepcopy(model).float().eval().cpu()  # the caller's model stays as it was
    reference = model(images)
    if not torch.isfinite(reference).all():
        raise CnnzooError(f"{meta.get('model', 'the model')} computes NaN or infinite logits in fp32: its weights are broken")
    if engine != "auto":
        if engine == "onnx-int8" and (int8_file is None or not Path(int8_file).is_file()):
            raise CnnzooError("engine onnx-int8 needs the model quantized: `cnnzoo quantize` writes RUN/model.int8.onnx")
        chosen = Chosen(engine, build_engine(engine, model, meta, int8_file))
        logits = chosen.module(images)
        problem = check_engine(engine, logits, reference)
        if problem:
            raise CnnzooError(f"engine {engine}: {problem}; run it on torch-fp32")
        return _checked(chosen, logits, reference)
    names, excluded = candidates(precision, int8_file, weights_file=weights_file)
    if not names:
        raise CnnzooError(f"no engine for precision {precision} runs here: " + "; ".join(f"{e}: {why}" for e, why in excluded.items()))
    if len(names) == 1:  # nothing to choose between
        chosen = choose_engine(model, meta, images, names[0], int8_file=int8_file)
        chosen.excluded, chosen.why = excluded, f"the only engine precision {precision} allows here"
        return chosen
    batch = images[:MAX_BATCH]
    rates, cached = cached_rates(meta, batch, names), True
    modules: dict[str, EngineModule] = {}
    if rates is None:
        for name in names:
            try:
                modules[name] = build_engine(name, model, meta, int8_file)
            except ExportError as e:
                excluded[name] = str(e)
        rates, cached = measure_fn(modules, batch), False
        store_rates(meta, batch, rates | {name: 0.0 for name in names if name not in modules})  # 0: cannot run here
    for name in sorted(rates, key=lambda e: -rates[e]):  # the fastest that computes what fp32 eager does
        if name in excluded:
            continue
        if rates[name] <= 0:
            excluded[name] = "it could not be built here (remembered from its measurement)"
            continue
        try:
            module = modules.get(name) or build_engine(name, model, meta, int8_file)
        except ExportError as e:
            excluded[name] = str(e)
            continue
        logits = module(images)
        problem = check_engine(name, logits, reference)
        if problem is None:
            return _checked(Chosen(name, module, rates, excluded, cached=cached, batch=len(batch)), logits, reference)
        excluded[name] = problem
    raise CnnzooError("no engine computes what the fp32 model does: " + "; ".join(f"{e}: {why}" for e, why in excluded.items()))


def _checked(chosen: Chosen, logits: torch.Tensor, reference: torch.Tensor) -> Chosen:
    diff = (logits - reference).abs().max().item()
    agree = 100 * (logits.argmax(1) == reference.argmax(1)).float().mean().item()
    chosen.check = f"against fp32 eager on {len(logits)} images: max |logit difference| {diff:.2g}, top-1 agrees on {agree:.0f}%"
    return chosen
