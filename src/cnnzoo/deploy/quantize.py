"""int8 inference on the CPU: post-training static quantization of the ONNX export.

    report = quantize_model(model, meta, calibration_batches, "runs/r20/model.int8.onnx")

The model is exported as for `cnnzoo export` (fp32, BatchNorm folded, checked), then ONNX Runtime's
static quantization rewrites it in QDQ form: weights int8 per output channel, activations uint8 with
scales from the calibration images (the range each tensor takes over them), so that ONNX Runtime runs
the convolutions and matrix products in integer kernels (VNNI where the CPU has it). Measured here
against PyTorch's PT2E flow with the x86 quantizer (which needs torch.compile to run in int8 at all)
in `benchmarks/int8.py`: ONNX Runtime was faster and starts at once; see docs/weights-and-deployment.md.

The file is an ordinary exported .onnx with cnnzoo's metadata (and a `quantization` entry): `eval`,
`predict` and `bench --file` take it.
"""
import json
import math
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..artifacts.exported import ExportError, load_onnx
from ..errors import CnnzooError
from ..files.atomic import atomic_path
from .export import export_model


@dataclass
class QuantizeReport:
    file: Path
    images: int  # calibration images
    agreement: float  # share of calibration images whose top-1 class int8 and fp32 agree
    max_abs_diff: float  # int8 vs fp32 logits on the calibration images
    seconds: float

    def line(self) -> str:
        return (f"wrote {self.file} (int8 QDQ, {self.file.stat().st_size / 2**20:.1f} MiB, {self.seconds:.1f} s); calibrated on "
                f"{self.images:,} images; top-1 agrees with fp32 on {100 * self.agreement:.1f}% of them "
                f"(max |logit difference| {self.max_abs_diff:.3g})")  # fmt: skip


def _require_ort_quantization():
    try:
        from onnxruntime import quantization  # noqa: F401
    except ImportError:
        raise CnnzooError("int8 quantization uses onnxruntime's: pip install 'cnnzoo[export]'") from None


class _Reader:
    """onnxruntime's CalibrationDataReader over our batches (a class of its interface, duck-typed)."""

    def __init__(self, batches: list[torch.Tensor]):
        self._batches = iter(batches)

    def get_next(self):
        batch = next(self._batches, None)
        return None if batch is None else {"images": batch.float().contiguous().numpy()}


@torch.no_grad()
def quantize_model(model: nn.Module, meta: dict, calibration: Iterable[torch.Tensor], file: str | Path, images: int = 512) -> QuantizeReport:
    """Write `model` as int8 ONNX to `file` (a name ending in .onnx), its activation ranges calibrated
    on the first `images` images of `calibration` (normalised batches, as the model is fed)."""
    _require_ort_quantization()
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    file = Path(file)
    if file.suffix != ".onnx":
        raise CnnzooError(f"{file}: an int8 model is written as ONNX, a name ending in .onnx")
    if images < 1:
        raise CnnzooError(f"`images` must be at least 1, got {images}")
    start = time.perf_counter()
    batches, seen = [], 0
    for batch in calibration:
        batches.append(batch[: images - seen])
        seen += len(batches[-1])
        if seen >= images:
            break
    if not seen:
        raise CnnzooError("the calibration data holds no images")
    model = model.float().eval().cpu()
    with tempfile.TemporaryDirectory() as tmp:
        fp32, prepared, int8 = Path(tmp) / "fp32.onnx", Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        export_model(model, meta, fp32, "onnx", dynamic_batch=True)
        quant_pre_process(str(fp32), str(prepared))
        try:
            quantize_static(str(prepared), str(int8), _Reader(batches), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)  # fmt: skip
        except Exception as e:
            raise ExportError(f"onnxruntime could not quantize {meta.get('model', 'the model')}: {str(e).strip().splitlines()[0][:200]}") from None
        _write_meta(int8, {**meta, "quantization": {"method": "onnxruntime static QDQ", "weights": "int8 per channel",
                                                    "activations": "uint8 min-max", "calibration_images": seen}})  # fmt: skip
        run = load_onnx(int8)[0]
        agree, total, diff = 0, 0, 0.0
        for batch in batches:
            expected, got = model(batch.float()), run(batch)
            if not torch.isfinite(got).all():
                raise ExportError("the int8 model computes NaN or infinite logits: not written")
            agree += int((expected.argmax(1) == got.argmax(1)).sum())
            total += len(batch)
            diff = max(diff, (got - expected).abs().max().item())
        with atomic_path(file) as out:
            out.write_bytes(int8.read_bytes())
    return QuantizeReport(file, seen, agree / total, diff if math.isfinite(diff) else float("nan"), time.perf_counter() - start)


def _write_meta(file: Path, meta: dict) -> None:
    import onnx

    proto = onnx.load(str(file))
    for entry in list(proto.metadata_props):
        if entry.key == "cnnzoo":
            proto.metadata_props.remove(entry)
    entry = proto.metadata_props.add()
    entry.key, entry.value = "cnnzoo", json.dumps(meta)
    onnx.save(proto, str(file))


