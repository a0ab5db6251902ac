"""Final weights as safetensors, with what is needed to rebuild and use the model in its metadata;
and loading any cnnzoo artifact (a checkpoint or weights file) back into a model."""
import json
from pathlib import Path

from safetensors.torch import load_file, safe_open, save_file
from torch import nn

from ..factory import create_model
from ..fileio import atomic_path
from .checkpoint import CheckpointError, load_checkpoint


def save_weights(path: str | Path, model: nn.Module, meta: dict) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"cnnzoo": json.dumps(meta)})


def load_trained(path: str | Path) -> tuple[nn.Module, dict]:
    """A model and its metadata (classes, input size, normalisation) from a cnnzoo checkpoint (.pt)
    or final weights (.safetensors). Neither format runs code when read."""
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
        if "meta" not in ckpt or "model" not in ckpt:
            raise CheckpointError(f"{path} is not a cnnzoo checkpoint (no model or metadata in it)")
        meta, state = ckpt["meta"], ckpt["model"]
    try:
        model = create_model(meta["model"], num_classes=meta["num_classes"], **meta["model_options"])
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{path} has incomplete cnnzoo metadata ({e}): it was not written by `cnnzoo train`") from None
    load_fitting(model, state, f"{path} ({meta['model']}, {meta['num_classes']} classes)")
    return model.eval(), meta


def load_fitting(model: nn.Module, state: dict, source: str) -> None:
    """`model.load_state_dict(state)`, or an error naming the first tensor that is missing, extra or
    of the wrong shape (torch's own message lists them all, from deep inside)."""
    own = model.state_dict()
    for key, tensor in own.items():
        if key not in state:
            raise CheckpointError(f"{source} does not fit the model: tensor {key} is missing")
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source} does not fit the model: {key} has shape {tuple(state[key].shape)}, the model's is {tuple(tensor.shape)}"
            )
    extra = [k for k in state if k not in own]
    if extra:
        raise CheckpointError(f"{source} does not fit the model: unexpected tensor {extra[0]}")
    model.load_state_dict(state)
