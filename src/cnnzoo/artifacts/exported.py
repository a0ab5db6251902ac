"""Files written by `cnnzoo export`, opened: .onnx (an onnxruntime session), .pt2 (torch.export.load, after the archive
is checked), .pt (TorchScript); each as `run(images) -> logits` with the cnnzoo metadata the file carries. Loading runs no
code from the file."""
import contextlib
import io
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..errors import CnnzooError
from ..files.untrusted import check_exported_program


@contextlib.contextmanager
def weights_only_loads():
    """Every torch.load inside reads tensors only: torch.export.load would otherwise retry a pickle it
    cannot read safely with weights_only=False, which runs whatever code the file holds."""
    original = torch.load

    def safe_load(*args, **kwargs):
        kwargs["weights_only"] = True
        return original(*args, **kwargs)

    torch.load = safe_load
    try:
        yield
    finally:
        torch.load = original


def load_exported(file: str | Path) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict]:
    """A .pt2 file of `cnnzoo export --format exported-program` as `run(images) -> logits`, and its
    metadata. The archive is checked first (`untrusted.check_exported_program`): a graph of ATen operators
    and raw tensors, nothing torch.export.load would unpickle or exec; loading it runs no code."""
    file = Path(file)
    if not file.is_file():
        raise ExportError(f"no ExportedProgram file at {file}")
    check_exported_program(file)
    extra = {"cnnzoo.json": ""}
    try:
        with warnings.catch_warnings(), weights_only_loads():
            warnings.simplefilter("ignore")
            module = torch.export.load(io.BytesIO(file.read_bytes()), extra_files=extra).module()
    except Exception as e:
        raise ExportError(f"torch.export cannot load {file}: {(str(e).strip().splitlines() or [type(e).__name__])[0][:200]}") from None
    try:
        meta = json.loads(extra["cnnzoo.json"] or "{}")
    except ValueError:
        raise ExportError(f"{file}: its cnnzoo metadata is not valid JSON (a damaged file?): export it again") from None
    return (lambda images: module(images.float().contiguous())), meta


def load_onnx(file: str | Path, threads: int | None = None) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict]:
    """An onnxruntime session of an exported file as `run(images) -> logits`, and its cnnzoo metadata.
    An ONNX file is a graph of operators: reading it runs no code. The session is built from the file's
    bytes, not its path, so a tensor kept as "external data" (a file the model names, which onnxruntime
    would read from the model's folder) is refused: loading a file never reads another file it names."""
    _require_onnx()
    import onnxruntime as ort

    file = Path(file)
    if not file.is_file():
        raise ExportError(f"no ONNX file at {file}")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(file.read_bytes(), options, providers=["CPUExecutionProvider"])
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        if "external" in reason.lower() or "model_path must not be empty" in reason:
            raise ExportError(f"{file} keeps tensors in other files it names (ONNX external data), and cnnzoo reads only the "
                              f"file it is given: export the model again as one file (`cnnzoo export` writes one)") from None  # fmt: skip
        raise ExportError(f"onnxruntime cannot load {file}: {reason}") from None
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


EXPORTED = {".onnx": ("onnxruntime", load_onnx), ".pt2": ("torch.export", load_exported)}  # files eval/predict/bench run


def is_exported(file: str | Path | None) -> bool:
    return file is not None and Path(file).suffix in EXPORTED


class ExportedModel(nn.Module):
    """An exported file (.onnx: onnxruntime, on `threads` threads or its default; .pt2: torch.export) behind
    nn.Module's call, for `evaluate` and timing loops (fp32, on the CPU)."""

    def __init__(self, file: str | Path, threads: int | None = None):
        super().__init__()
        self.runtime, load = EXPORTED[Path(file).suffix]
        self.run, self.meta = load(file, threads) if load is load_onnx else load(file)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.run(images)


def _load_torchscript(file: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in favour of torch.export; TorchScript files still run
        module = torch.jit.load(str(file), map_location="cpu").eval()
    return lambda images: module(images)


class ExportError(CnnzooError):
    """An export that could not be made, or that does not compute what the model computes."""


def _require_onnx():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401  (torch.onnx's exporter)
    except ImportError:
        raise ExportError("ONNX export needs onnx, onnxscript and onnxruntime: pip install 'cnnzoo[export]'") from None
