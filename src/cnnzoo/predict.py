"""Class probabilities for image files, preprocessed as the model was trained (a cnnzoo run) or as
its weights' authors fed it (published weights), run by PyTorch or by an exported file's runtime.

    run, meta = load_predictor(checkpoint="runs/a/model.safetensors")      # or model="resnet50" (published)
    probs = predict_image(run, "cat.jpg", meta_transform(meta))           # softmax over meta["class_names"]
"""
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .data.decoding import decode
from .errors import CnnzooError
from .export import load_exported, load_onnx
from .factory import create_model
from .interop.pretrained import pretrained_meta
from .registry import model_info
from .train.metadata import EXPORT_FIELDS, validated_meta
from .train.weights import load_trained


def load_model(checkpoint: str | Path | None = None, model: str | None = None, pretrained: str | None = None) -> tuple[nn.Module, dict]:
    """A model in eval mode and its metadata (classes, input size, preprocessing): of `checkpoint` (a cnnzoo
    run's), or of the registered `model` with published weights (`pretrained`, default its peer library's)."""
    if checkpoint and pretrained:
        raise CnnzooError("--checkpoint (a cnnzoo run) and --pretrained (published weights) exclude each other: give one")
    if checkpoint:
        net, meta = load_trained(checkpoint)
        if model and meta["model"] != model:
            raise CnnzooError(f"{checkpoint} holds a {meta['model']}, not a {model}")
        return net, meta
    if not model:
        raise CnnzooError("give --checkpoint (of `cnnzoo train`), or --model NAME with published weights (--pretrained torchvision|timm|FILE)")
    info = model_info(model)
    if info.peer is None and not pretrained:
        raise CnnzooError(f"{model} has no torchvision/timm weights: give --checkpoint of a cnnzoo run, or --pretrained FILE")
    net = create_model(model, weights=pretrained or info.peer.library)
    return net.eval(), pretrained_meta(model, net)


def load_predictor(checkpoint: str | Path | None = None, model: str | None = None, pretrained: str | None = None,
                   runtime: str | None = None) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict]:  # fmt: skip
    """`run(images) -> logits` and the metadata to feed it: PyTorch (a checkpoint, published weights, or
    a .pt2 ExportedProgram), or onnxruntime for an exported .onnx file (`runtime="onnx"`, its default)."""
    suffix = Path(checkpoint).suffix if checkpoint is not None else ""
    runtime = runtime or ("onnx" if suffix == ".onnx" else "torch")
    if runtime == "onnx" and suffix != ".onnx":
        raise CnnzooError("--runtime onnx runs an exported file: give --checkpoint MODEL.onnx (from `cnnzoo export`)")
    if runtime == "torch" and suffix == ".onnx":
        raise CnnzooError(f"{checkpoint} is an ONNX file: it runs with --runtime onnx")
    if suffix in (".onnx", ".pt2"):
        run, meta = load_onnx(checkpoint) if suffix == ".onnx" else load_exported(checkpoint)
        if not meta:
            raise CnnzooError(f"{checkpoint} has no cnnzoo metadata: export it with `cnnzoo export`")
        return run, validated_meta(meta, str(checkpoint), EXPORT_FIELDS)
    return load_model(checkpoint, model, pretrained)


@torch.no_grad()
def predict_image(run: Callable[[torch.Tensor], torch.Tensor], path: str, transform: Callable) -> torch.Tensor:
    """Softmax over the classes of one image; `run` maps a batch to logits (a model, an ONNX session)."""
    x = transform(decode(path)).unsqueeze(0)
    logits = torch.as_tensor(run(x)).float()
    if not torch.isfinite(logits).all():
        raise CnnzooError(f"the model computes NaN or infinite logits for {path}: its weights are broken")
    return F.softmax(logits, dim=1)[0]
