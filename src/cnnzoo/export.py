"""Export for deployment: ONNX (run by onnxruntime) or TorchScript, with BatchNorm folded into the
convolutions, checked by running the exported file against the PyTorch model before it is kept.

    report = export_model(model, meta, "resnet50.onnx", "onnx", dynamic_batch=True)
    run, meta = load_onnx("resnet50.onnx")   # run(images) -> logits, with onnxruntime (any batch size)

The file carries cnnzoo's metadata (model, classes, input size, preprocessing), so `cnnzoo predict`
can feed it images without the checkpoint. An export that fails its check is not written.
"""
import contextlib
import io
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .errors import CnnzooError
from .execution import ExecPath, prepare
from .fileio import atomic_path

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
OPSET = 18
# what an exported file computes: fp32 on the CPU, BatchNorm folded, the default memory layout (the
# runtime picks its own)
EXPORT_PATH = ExecPath("cpu", "fp32", channels_last=False, fold_bn=True)


class ExportError(CnnzooError):
    """An export that could not be made, or that does not compute what the model computes."""


@dataclass
class ExportReport:
    file: Path
    format: str
    batch_sizes: tuple[int, ...]  # the batch sizes the check ran the exported file at
    max_abs_diff: float  # exported vs PyTorch (unfolded, fp32) logits
    tolerance: float
    seconds: float

    def line(self) -> str:
        sizes = " and ".join(map(str, self.batch_sizes))
        return (f"wrote {self.file} ({self.format}, {self.file.stat().st_size / 2**20:.1f} MiB, {self.seconds:.1f} s); "
                f"checked at batch {sizes}: max |difference| from PyTorch {self.max_abs_diff:.2e} (tolerance {self.tolerance:.0e})")  # fmt: skip


def _require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401  (torch.onnx's exporter)
    except ImportError:
        raise ExportError("ONNX export needs onnx, onnxscript and onnxruntime: pip install 'cnnzoo[export]'") from None


def _export_onnx(model: nn.Module, x: torch.Tensor, file: Path, dynamic_batch: bool, meta: dict) -> None:
    import onnx

    dynamic = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    quiet = io.StringIO()
    try:
        with contextlib.redirect_stdout(quiet), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(file), input_names=["images"], output_names=["logits"], opset_version=OPSET,
                              dynamo=True, external_data=False, dynamic_shapes=dynamic, verbose=False)  # fmt: skip
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ExportError(f"torch.onnx could not export {meta.get('model', 'the model')}: {first}") from None
    proto = onnx.load(str(file))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "cnnzoo", json.dumps(meta)
    proto.doc_string = f"cnnzoo {meta.get('model', '')}: images N x 3 x H x W, normalised -> logits"
    onnx.save(proto, str(file))


def _export_torchscript(model: nn.Module, x: torch.Tensor, file: Path, meta: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, x, check_trace=False)
        torch.jit.save(traced, str(file), _extra_files={"cnnzoo.json": json.dumps(meta)})


def load_onnx(file: str | Path, threads: int | None = None) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict]:
    """An onnxruntime session of an exported file as `run(images) -> logits`, and its cnnzoo metadata.
    An ONNX file is a graph of operators: reading it runs no code."""
    _require_onnx()
    import onnxruntime as ort

    file = Path(file)
    if not file.is_file():
        raise ExportError(f"no ONNX file at {file}")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ExportError(f"onnxruntime cannot load {file}: {str(e).strip().splitlines()[0][:200]}") from None
    try:
        meta = json.loads(session.get_modelmeta().custom_metadata_map.get("cnnzoo", "{}"))
    except ValueError:
        raise ExportError(f"{file}: its cnnzoo metadata is not valid JSON (a damaged file?): export it again") from None
    name, fixed = session.get_inputs()[0].name, session.get_inputs()[0].shape[0]
    fixed = fixed if isinstance(fixed, int) else None  # a file exported without --dynamic-batch

    def run_one(images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {name: images.detach().float().contiguous().numpy()})[0])

    def run(images: torch.Tensor) -> torch.Tensor:
        if fixed is None or len(images) == fixed:
            return run_one(images)
        outputs = []  # a fixed-batch file runs any batch in slices of its size, the last one zero-padded
        for chunk in images.split(fixed):
            padded = torch.cat([chunk, chunk.new_zeros(fixed - len(chunk), *chunk.shape[1:])])
            outputs.append(run_one(padded)[: len(chunk)])
        return torch.cat(outputs)

    return run, meta


class OnnxModel(nn.Module):
    """An exported file behind nn.Module's call, for `evaluate` and timing loops (fp32, on the CPU)."""

    def __init__(self, file: str | Path, threads: int | None = None):
        super().__init__()
        self.run, self.meta = load_onnx(file, threads)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.run(images)


def _load_torchscript(file: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export; TorchScript files still run
        module = torch.jit.load(str(file), map_location="cpu").eval()
    return lambda images: module(images)


@torch.no_grad()
def export_model(model: nn.Module, meta: dict, file: str | Path, format: str = "onnx", dynamic_batch: bool = False,
                 batch: int = 1) -> ExportReport:  # fmt: skip
    """Write `model` (BatchNorm folded, fp32, eval mode) to `file` and check it against the PyTorch model
    on random images: at `batch`, and with `dynamic_batch` at another batch size too."""
    if format not in FORMATS:
        raise ExportError(f"format {format!r}: choose {' or '.join(FORMATS)}")
    if batch < 1:
        raise ExportError(f"the export batch must be positive, got {batch}")
    if format == "onnx":
        _require_onnx()
    start = time.perf_counter()
    model = model.float().eval().cpu()
    folded = prepare(model, EXPORT_PATH)
    size = meta["input_size"]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=g)
    file = Path(file)
    sizes = (batch, batch + 2) if dynamic_batch else (batch,)
    with atomic_path(file) as tmp:
        if format == "onnx":
            _export_onnx(folded, x, tmp, dynamic_batch, meta)
            run = load_onnx(tmp)[0]
        else:
            _export_torchscript(folded, x, tmp, meta)
            run = _load_torchscript(tmp)
        diff, scale = 0.0, 1.0
        for n in sizes:
            images = torch.randn(n, 3, size, size, generator=g)
            expected = model(images)
            if not torch.isfinite(expected).all():
                raise ExportError(f"{meta.get('model', 'the model')} outputs NaN or infinite logits on random images: its weights "
                                  f"are broken, so there is nothing to export")  # fmt: skip
            try:
                got = run(images)
            except Exception as e:
                raise ExportError(f"the exported {format} file fails at batch {n}: {str(e).strip().splitlines()[0][:200]}") from None
            gap = (torch.as_tensor(got).float() - expected).abs().max().item()  # NaN where the file computes NaN
            diff = gap if math.isnan(gap) or math.isnan(diff) else max(diff, gap)
            scale = max(scale, expected.abs().max().item())
        tolerance = 1e-3 * scale  # BN folding and another runtime reorder fp32 sums: differences of ~1e-5 relative
        if not diff <= tolerance:
            raise ExportError(f"the exported {format} file computes other logits than the model (max |difference| {diff:.3g}): not written")
    return ExportReport(file, format, sizes, diff, tolerance, time.perf_counter() - start)
