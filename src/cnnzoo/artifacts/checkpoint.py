"""Checkpoints: everything needed to continue a run at the exact step, written atomically, read
without running code (torch.load(weights_only=True): tensors and plain containers only)."""
import pickle
import random
import re
from pathlib import Path

import numpy as np
import torch

from ..errors import CnnzooError
from ..files.atomic import atomic_path
from ..files.untrusted import check_torch_archive


class CheckpointError(CnnzooError):
    """A checkpoint that cannot be read, or does not fit the model."""


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]), "python_version": random.getstate()[0]}
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    state["numpy"] = torch.from_numpy(keys.astype(np.int64))
    state["numpy_position"], state["numpy_gauss"] = int(pos), [int(has_gauss), float(gauss)]
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), None))
    keys = state["numpy"].numpy().astype(np.uint32)
    has_gauss, gauss = state.get("numpy_gauss", (0, 0.0))  # checkpoints of before saved the keys only
    np.random.set_state(("MT19937", keys, int(state.get("numpy_position", 624)), int(has_gauss), float(gauss)))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write `state` to `path` atomically: a crash leaves the previous checkpoint whole."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    check_torch_archive(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # torch's refusal to unpickle anything but tensors and plain containers
        found = re.search(r"unsupported GLOBAL (\S+)", str(e))
        what = f" ({found.group(1)})" if found else ""
        raise CheckpointError(
            f"cannot read checkpoint {path}: it holds Python objects{what} that only unpickling with code execution could "
            f"rebuild, and cnnzoo loads tensors and plain containers only; re-save the weights from a trusted source"
        ) from None
    except Exception as e:  # truncated files, other formats
        raise CheckpointError(f"cannot read checkpoint {path}: {first_sentence(e)}") from None


def first_sentence(e: BaseException, limit: int = 160) -> str:
    """An exception's message cut to its first sentence, or at a word boundary below `limit` characters."""
    text = " ".join(str(e).split()) or type(e).__name__
    text = text.split(". ")[0].rstrip(".")
    return text if len(text) <= limit else text[: limit - 4].rsplit(" ", 1)[0] + " ..."
