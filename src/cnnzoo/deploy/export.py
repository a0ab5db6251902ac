"""Export for deployment: ONNX (run by onnxruntime), a torch.export ExportedProgram (.pt2) or
TorchScript, with BatchNorm folded into the convolutions, checked by running the exported file
against the PyTorch model before it is kept.

    report = export_model(model, meta, "resnet50.onnx", "onnx", dynamic_batch=True)
    run, meta = load_onnx("resnet50.onnx")   # run(images) -> logits, with onnxruntime (any batch size)
    run, meta = load_exported("resnet50.pt2")  # torch.export.load: a graph of ATen operators, no Python code

The file carries cnnzoo's metadata (model, classes, input size, preprocessing), so `cnnzoo predict`
can feed it images without the checkpoint. An export that fails its check is not written.
"""
import contextlib
import io
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..artifacts.exported import ExportError, _load_torchscript, _require_onnx, load_exported, load_onnx
from ..files.atomic import atomic_path
from ..runtime.execution import ExecPath, prepare

FORMATS = {"onnx": ".onnx", "exported-program": ".pt2", "torchscript": ".pt"}
OPSET = 18
# what an exported file computes: fp32 on the CPU, BatchNorm folded, the default memory layout (the
# runtime picks its own)
EXPORT_PATH = ExecPath("cpu", "fp32", channels_last=False, fold_bn=True)




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


def exported_program(model: nn.Module, x: torch.Tensor, dynamic_batch: bool = True, name: str = "the model") -> torch.export.ExportedProgram:
    """torch.export.export of `model` (in eval mode) on example input `x`; with `dynamic_batch`, any
    batch size. A model it cannot capture is named with torch.export's own first line (the operation)."""
    dynamic = ({0: torch.export.Dim("batch", min=1)},) if dynamic_batch else None
    if dynamic_batch and len(x) < 2:  # torch.export specialises a dimension traced at size 1
        x = torch.cat([x, x])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.export.export(model, (x,), dynamic_shapes=dynamic)
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:240]
        raise ExportError(f"torch.export cannot capture {name}: {first}") from None


def _export_program(model: nn.Module, x: torch.Tensor, file: Path, dynamic_batch: bool, meta: dict) -> None:
    program = exported_program(model, x, dynamic_batch, meta.get("model", "the model"))
    buffer = io.BytesIO()  # torch.export names archives by their .pt2 suffix; the temporary file has another
    torch.export.save(program, buffer, extra_files={"cnnzoo.json": json.dumps(meta)})
    file.write_bytes(buffer.getvalue())






def _export_torchscript(model: nn.Module, x: torch.Tensor, file: Path, meta: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, x, check_trace=False)
        torch.jit.save(traced, str(file), _extra_files={"cnnzoo.json": json.dumps(meta)})













def export_file(format: str, out: str | Path | None = None, checkpoint: str | Path | None = None, model: str | None = None) -> Path:
    """Where an export in `format` goes: `out`, else beside `checkpoint` (RUN/model.onnx), else MODEL.SUFFIX here;
    a file whose suffix is not the format's is refused (a .pt holding ONNX would be opened as TorchScript)."""
    if format not in FORMATS:
        raise ExportError(f"format {format!r}: choose {' or '.join(FORMATS)}")
    suffix = FORMATS[format]
    file = Path(out) if out else Path(checkpoint).with_suffix(suffix) if checkpoint else Path(f"{model}{suffix}")
    if file.suffix != suffix:
        raise ExportError(f"{file}: a {format} file ends in {suffix}")
    return file


@torch.no_grad()
def export_model(model: nn.Module, meta: dict, file: str | Path, format: str = "onnx", dynamic_batch: bool = False,
                 batch: int = 1) -> ExportReport:  # fmt: skip
    """Write `model` (BatchNorm folded, fp32, eval mode) to `file` and check it against the PyTorch model
    on random images: at `batch`, and with `dynamic_batch` at another batch size too."""
    file = export_file(format, file)
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
        elif format == "exported-program":
            _export_program(folded, x, tmp, dynamic_batch, meta)
            run = load_exported(tmp)[0]
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
