"""Final weights as safetensors, with what is needed to rebuild and use the model in its metadata;
and loading any cnnzoo artifact (a checkpoint or weights file) back into a model."""
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from ..factory import create_model
from ..files.atomic import atomic_path
from .checkpoint import CheckpointError, load_checkpoint
from .metadata import validated_meta


def save_weights(path: str | Path, model: nn.Module, meta: dict) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"cnnzoo": json.dumps(meta)})


def load_trained(path: str | Path) -> tuple[nn.Module, dict]:
    """A model and its metadata (classes, input size, normalisation) from a cnnzoo checkpoint (.pt)
    or final weights (.safetensors). Neither format runs code when read."""
    state, meta = read_trained(path)
    model = create_model(meta["model"], num_classes=meta["num_classes"], **meta["model_options"])
    load_fitting(model, state, f"{path} ({meta['model']}, {meta['num_classes']} classes)")
    return model.eval(), meta


def is_cnnzoo_weights(path: str | Path) -> bool:
    """Whether `path` is a weights file written by `cnnzoo train` (safetensors with cnnzoo metadata)."""
    path = Path(path)
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    try:
        with safe_open(str(path), "pt") as f:
            return "cnnzoo" in (f.metadata() or {})
    except Exception:
        return False




def read_trained(path: str | Path) -> tuple[dict, dict]:
    """The tensors and the metadata of a cnnzoo checkpoint (.pt) or final weights (.safetensors)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), "pt") as f:
                meta = json.loads((f.metadata() or {}).get("cnnzoo", "null"))
            state = load_file(str(path))
        except Exception as e:
            raise CheckpointError(f"cannot read {path}: {str(e).splitlines()[0][:160]}") from None
        if meta is None:
            raise CheckpointError(f"{path} has no cnnzoo metadata: it was not written by `cnnzoo train`")
    else:
        ckpt = load_checkpoint(path)
        if not isinstance(ckpt, dict) or "meta" not in ckpt or "model" not in ckpt:
            raise CheckpointError(f"{path} is not a cnnzoo checkpoint (no model or metadata in it)")
        meta, state = ckpt["meta"], ckpt["model"]
    validated_meta(meta, str(path))
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds no tensors by name (its weights are a {type(state).__name__})")
    return state, meta


def load_fitting(model: nn.Module, state: dict, source: str) -> None:
    """`model.load_state_dict(state)`, or an error naming the first tensor that is missing, extra or
    of the wrong shape (torch's own message lists them all, from deep inside)."""
    own = model.state_dict()
    for key, tensor in own.items():
        if key not in state:
            raise CheckpointError(f"{source} does not fit the model: tensor {key} is missing")
        if not isinstance(state[key], torch.Tensor):
            raise CheckpointError(f"{source}: {key} is a {type(state[key]).__name__}, not a tensor")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source} does not fit the model: {key} has shape {tuple(state[key].shape)}, the model's is {tuple(tensor.shape)}"
            )
    extra = [k for k in state if k not in own]
    if extra:
        raise CheckpointError(f"{source} does not fit the model: unexpected tensor {extra[0]}")
    for key, tensor in state.items():
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{source}: {key} is a {type(tensor).__name__}, not a tensor")
        if tensor.dtype != own[key].dtype and not (tensor.is_floating_point() and own[key].is_floating_point()):
            raise CheckpointError(f"{source}: {key} holds {tensor.dtype}, the model's is {own[key].dtype}")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise CheckpointError(f"{source}: tensor {key} holds {bad:,} NaN or infinite values: the weights are broken "
                                  f"(a run that diverged?); use an earlier checkpoint")  # fmt: skip
    model.load_state_dict(state)
