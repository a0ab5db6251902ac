"""CIFAR-10's python batches (`cifar-10-batches-py`), read without running code from them.

The batches are Python pickles. A pickle can name any callable to run on load, so they are read
by an unpickler that only allows the numpy array reconstruction the files need.
"""
import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import CnnzooError
from ..files.untrusted import regular_file

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes: encodes a string, nothing more
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise CnnzooError(f"refusing to load {module}.{name} from a CIFAR batch: the file is not plain data")


def _load_batch(path: Path) -> dict:
    path = regular_file(path, "CIFAR-10 batch")  # a FIFO would block for ever
    try:
        with open(path, "rb") as f:
            batch = _SafeUnpickler(f, encoding="bytes").load()
        return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    except CnnzooError:
        raise
    except Exception as e:  # truncated or not a pickle at all: UnpicklingError, EOFError, AttributeError, ...
        raise CnnzooError(f"{path} is not a readable CIFAR-10 batch ({type(e).__name__}): download the dataset again") from None


def is_cifar_batches(root: Path) -> bool:
    return (root / "data_batch_1").is_file() and (root / "batches.meta").is_file()


def load_cifar_batches(root: str | Path, split: str) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images (N x 3 x 32 x 32, uint8), labels and class names of the `train` or `test` split."""
    root = Path(root)
    if not is_cifar_batches(root):
        raise CnnzooError(f"{root} is not a cifar-10-batches-py folder (no data_batch_1 / batches.meta)")
    files = [root / f"data_batch_{i}" for i in range(1, 6)] if split == "train" else [root / "test_batch"]
    data, labels = [], []
    try:
        for f in files:
            batch = _load_batch(f)
            data.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.extend(int(v) for v in batch["labels"])
        names = [n.decode() if isinstance(n, bytes) else n for n in _load_batch(root / "batches.meta")["label_names"]]
    except (KeyError, ValueError, TypeError) as e:
        raise CnnzooError(f"{root} holds a CIFAR-10 batch without its data, labels or names ({type(e).__name__}: {e}): "
                          f"download the dataset again") from None
    return torch.from_numpy(np.concatenate(data)), torch.tensor(labels), names
