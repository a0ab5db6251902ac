"""One place that opens what cnnzoo runs, each as a model with the metadata that says how to feed it (classes,
input size, normalisation or published preprocessing), with one set of errors:

  - a cnnzoo run's weights or checkpoint (`model.safetensors`, `checkpoint.pt`): `open_run`;
  - a file of `cnnzoo export` (.onnx run by onnxruntime, .pt2 by torch.export): `open_exported`;
  - published weights (torchvision's, timm's, Keras's, or a file of theirs) on a registered model: `open_published`.

Evaluation, prediction, export, quantization and the experiments open their models here.

    model, meta = load_model(checkpoint="runs/a/model.safetensors")   # or model="resnet50" (its peer's weights)
    run, meta = load_predictor(checkpoint="resnet20.onnx")             # run(images) -> logits
"""
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..errors import CnnzooError
from ..factory import create_model
from ..interop.pretrained import pretrained_meta
from ..registry import model_info
from .exported import ExportedModel, is_exported
from .metadata import EXPORT_FIELDS, validated_meta
from .weights import load_trained


def open_run(file: str | Path, model: str | None = None) -> tuple[nn.Module, dict]:
    """A cnnzoo run's model in eval mode and its metadata; `model`, if given, is the architecture it must hold."""
    net, meta = load_trained(file)
    if model and meta["model"] != model:
        raise CnnzooError(f"{file} holds a {meta['model']}, not a {model}")
    return net, meta


def open_exported(file: str | Path) -> tuple[ExportedModel, dict]:
    """An exported file (.onnx, .pt2) behind nn.Module's call, and its cnnzoo metadata (checked)."""
    model = ExportedModel(file)
    if not model.meta:
        raise CnnzooError(f"{file} has no cnnzoo metadata: export it with `cnnzoo export`")
    return model, validated_meta(model.meta, str(file), EXPORT_FIELDS)


def open_published(name: str, source: str | Path | None = None) -> nn.Module:
    """Registered model `name` in eval mode holding published weights: `source` ("torchvision", "timm", "keras",
    "torchvision:IMAGENET1K_V2", or a file of theirs), by default its peer library's. The model carries the weights'
    preprocessing (`model.preprocessing`) and where they came from (`model.weight_source`)."""
    info = model_info(name)
    if info.peer is None and source is None:
        raise CnnzooError(f"{name} has no torchvision/timm weights: give `checkpoint` of a cnnzoo run, or `pretrained` FILE")
    return create_model(name, weights=source or info.peer.library).eval()


def load_checkpoints(files: list[str | Path]) -> tuple[list[nn.Module], list[dict]]:
    """Models and their metadata from cnnzoo checkpoints (.pt, .safetensors) or exported files (.onnx,
    .pt2), which must all be one or the other and share their classes (to be ensembled)."""
    exported = [is_exported(f) for f in files]
    if any(exported) and not all(exported):
        raise CnnzooError("give either exported files (.onnx, .pt2) or cnnzoo checkpoints, not both: they run on different paths")
    loaded = [open_exported(f) if done else open_run(f) for f, done in zip(files, exported)]
    models, metas = [m for m, _ in loaded], [meta for _, meta in loaded]
    classes = [m.get("classes", m.get("class_names")) for m in metas]
    if any(c != classes[0] for c in classes):
        raise CnnzooError("the checkpoints were trained on different classes: they cannot be ensembled")
    return models, metas


def load_published(names: list[str], weights: list[str] | tuple[str, ...] = ()) -> list[nn.Module]:
    """cnnzoo models holding published weights: one source for all (`weights=["timm"]`), one per model,
    or none (each model's peer library); each must know how its weights want their images."""
    if len(weights) not in (0, 1, len(names)):
        raise CnnzooError(f"--pretrained takes one source for all models or one per model ({len(names)}), got {len(weights)}")
    models = []
    for i, name in enumerate(names):
        model = open_published(name, weights[i] if len(weights) == len(names) else weights[0] if weights else None)
        if model.preprocessing is None:
            raise CnnzooError(f"{model.weights_file}: cnnzoo does not know how these weights want their images (pip install timm)")
        models.append(model)
    return models


def load_model(checkpoint: str | Path | None = None, model: str | None = None, pretrained: str | None = None) -> tuple[nn.Module, dict]:
    """A model in eval mode and its metadata (classes, input size, preprocessing): of `checkpoint` (a cnnzoo
    run's), or of the registered `model` with published weights (`pretrained`, default its peer library's)."""
    if checkpoint and pretrained:
        raise CnnzooError("`checkpoint` (a cnnzoo run) and `pretrained` (published weights) exclude each other: give one")
    if checkpoint:
        return open_run(checkpoint, model)
    if not model:
        raise CnnzooError("give `checkpoint` (of `cnnzoo train`), or `model` NAME with published weights (`pretrained` torchvision|timm|FILE)")
    net = open_published(model, pretrained)
    return net, pretrained_meta(model, net)


def load_predictor(checkpoint: str | Path | None = None, model: str | None = None, pretrained: str | None = None,
                   runtime: str | None = None) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict]:  # fmt: skip
    """`run(images) -> logits` and the metadata to feed it: PyTorch (a checkpoint, published weights, or
    a .pt2 ExportedProgram), or onnxruntime for an exported .onnx file (`runtime="onnx"`, its default)."""
    suffix = Path(checkpoint).suffix if checkpoint is not None else ""
    runtime = runtime or ("onnx" if suffix == ".onnx" else "torch")
    if runtime == "onnx" and suffix != ".onnx":
        raise CnnzooError("`runtime` onnx runs an exported file: give `checkpoint` MODEL.onnx (from `cnnzoo export`)")
    if runtime == "torch" and suffix == ".onnx":
        raise CnnzooError(f"{checkpoint} is an ONNX file: it runs with `runtime` onnx")
    if is_exported(checkpoint):
        return open_exported(checkpoint)
    return load_model(checkpoint, model, pretrained)
