"""A finished run's per-image answers: the final model's top-1 class for every validation image and, for
data held in memory, every training image (unaugmented), beside the labels. Saved as predictions.npz
beside summary.json (a few tens of KB), so that two runs on the same split can be compared image by
image (a paired bootstrap, `experiments/verdicts.py`) long after their weights are gone.

The file holds integer arrays only and is read with `allow_pickle=False`: loading it runs nothing."""
import hashlib
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import CnnzooError
from ..eval.metrics import probabilities
from ..files.atomic import atomic_path
from ..runtime.execution import ExecPath, prepare

FILE = "predictions.npz"
MAX_BYTES = 256 * 2**20
KEYS = ("val_labels", "val_predicted", "train_labels", "train_predicted")


@torch.no_grad()
def predicted(model: nn.Module, batches, path: ExecPath) -> tuple[np.ndarray, np.ndarray]:
    """(labels, top-1 predictions) over `batches`, in their order."""
    labels, guesses = [], []
    for batch in batches:
        guesses.append(probabilities(model, batch.images, path).argmax(1))
        labels.append(batch.labels)
    return torch.cat(labels).numpy().astype(np.int32), torch.cat(guesses).numpy().astype(np.int32)


def write_predictions(folder: Path, model: nn.Module, data, device: str = "cpu") -> Path:
    """The final model's answers on `data` (a DataBundle), computed in fp32 with BatchNorm folded (what
    anyone re-evaluating the weights gets), written atomically to folder/predictions.npz."""
    path = ExecPath(device, "fp32", channels_last=True, fold_bn=True)
    net = prepare(model, path)
    arrays = dict(zip(KEYS[:2], predicted(net, data.val.batches(), path)))
    if hasattr(data.train, "in_order"):  # in memory: a clean pass over the training images too
        arrays.update(zip(KEYS[2:], predicted(net, data.train.in_order().batches(), path)))
    file = folder / FILE
    with atomic_path(file) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
    return file


def read_predictions(folder: Path) -> dict[str, np.ndarray] | None:
    """A run's saved answers (None if it has none: finished before runs saved them)."""
    file = Path(folder) / FILE
    if not file.is_file():
        return None
    try:
        with zipfile.ZipFile(file) as z:  # ImageNet's 1.3M training images make 10 MB: more is not this file
            declared = sum(info.file_size for info in z.infolist())
        if declared > MAX_BYTES:
            raise CnnzooError(f"{file} declares {declared / 2**20:,.0f} MiB of arrays, over the {MAX_BYTES / 2**20:.0f} MiB a file of "
                              f"per-image predictions can hold: refused; remove it (it is made again from the weights)")  # fmt: skip
        with np.load(file, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k in KEYS}
    except (OSError, ValueError, zipfile.BadZipFile, MemoryError) as e:  # MemoryError: an array header declaring more than its bytes
        raise CnnzooError(f"cannot read {file}: {e}; remove it (it is made again from the run's model.safetensors)") from None
    if "val_labels" not in arrays or "val_predicted" not in arrays or any(a.dtype.kind not in "iu" for a in arrays.values()):
        raise CnnzooError(f"{file} is not a file of cnnzoo's per-image predictions; remove it (it is made again from the weights)")
    for split in ("val", "train"):  # each split's labels and answers: two lists of one length, or (train) neither
        pair = [arrays.get(f"{split}_{k}") for k in ("labels", "predicted")]
        if all(a is None for a in pair) and split == "train":
            continue
        if any(a is None or a.ndim != 1 for a in pair) or len(pair[0]) != len(pair[1]) or not len(pair[0]):
            shapes = " and ".join("missing" if a is None else f"shape {a.shape}" for a in pair)
            raise CnnzooError(f"{file}: {split}_labels and {split}_predicted must be two lists of one length, not {shapes} (a damaged "
                              f"or hand-made file); remove it (it is made again from the weights)")  # fmt: skip
    return arrays


def split_digest(labels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int32).tobytes()).hexdigest()[:16]


def predictions_from_weights(folder: Path, data: str, limit: int | None = None) -> Path:
    """predictions.npz for a finished run that has its weights but not the file (it finished before runs
    saved them): its data (`data`, the sweep's: never a folder the weights name) rebuilt as the run made it
    (the recipe's split and normalisation), then the same computation as at the run's end."""
    from ..artifacts.weights import load_trained
    from ..data.bundle import load_data
    from ..recipes import Recipe

    model, meta = load_trained(Path(folder) / "model.safetensors")
    bundle = load_data(str(data), Recipe.from_dict(meta["recipe"]).data_options(meta["input_size"], limit=limit))
    return write_predictions(Path(folder), model, bundle)
