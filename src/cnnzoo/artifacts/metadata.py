"""A run's metadata read back from a file (a checkpoint, a weights file, an exported ONNX file) is
untrusted input: every field cnnzoo uses is checked for its type and range before anything is built
from it, so that a damaged or hostile file ends in one clear error, never in a traceback, a model of
absurd size or an allocation that exhausts memory."""
import math

import torch

from ..data.preprocessing import Preprocessing
from ..errors import CnnzooError
from ..factory import meta_model
from ..recipes import Recipe
from ..registry import model_info
from .checkpoint import CheckpointError

MAX_INPUT = 2048  # pixels a side: beyond any published evaluation size (EfficientNet-B7's 600, FixRes' 448)
MAX_CLASSES = 100_000  # ImageNet-21k has 21,843
MAX_PARAMS = 2_000_000_000  # SENet-154, the largest network of the lecture, has 115 million

CHECKPOINT_FIELDS = ("model", "model_options", "num_classes", "input_size", "class_names", "normalization")
EXPORT_FIELDS = ("input_size", "class_names", "normalization")


def validated_meta(meta: object, source: str, required: tuple[str, ...] = CHECKPOINT_FIELDS) -> dict:
    """`meta` if every field present is well-formed and every `required` one is there; else a
    CheckpointError naming the field and what it should be."""

    def bad(field: str, why: str) -> CheckpointError:
        return CheckpointError(f"{source} has bad cnnzoo metadata: {field} {why}; the file is damaged or was not written by cnnzoo")

    if not isinstance(meta, dict):
        raise bad("(the whole)", f"is a {type(meta).__name__}, not a mapping")
    missing = [f for f in required if f not in meta]
    if missing:
        raise bad(missing[0], "is missing")
    if "num_classes" in meta and not _is_int(meta["num_classes"], 1, MAX_CLASSES):
        raise bad("num_classes", f"must be an integer in [1, {MAX_CLASSES:,}], not {_short(meta['num_classes'])}")
    if "model" in meta:
        _check_model(meta, bad)
    for field in ("classes", "class_names"):
        if field in meta:
            names = meta[field]
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise bad(field, "must be a list of strings")
            if "num_classes" in meta and len(names) != meta["num_classes"]:
                raise bad(field, f"lists {len(names):,} classes, not num_classes {meta['num_classes']:,}")
    if not _is_int(meta.get("input_size", 1), 1, MAX_INPUT):
        raise bad("input_size", f"must be an integer in [1, {MAX_INPUT}], not {_short(meta['input_size'])}")
    if "normalization" in meta and meta["normalization"] != "imagenet":
        _check_normalization(meta["normalization"], bad)
    if meta.get("preprocessing") is not None:
        _check_preprocessing(meta["preprocessing"], bad)
    if "recipe" in meta:
        try:
            Recipe.from_dict(dict(meta["recipe"], name=str(meta["recipe"].get("name", "saved")))).validated()
        except (TypeError, ValueError, AttributeError) as e:
            raise bad("recipe", f"is not a valid recipe ({str(e)[:120]})") from None
    if "data" in meta and not isinstance(meta["data"], str):
        raise bad("data", "must be a string")
    return meta


def _check_model(meta: dict, bad) -> None:
    name, options = meta["model"], meta.get("model_options", {})
    if not isinstance(name, str):
        raise bad("model", "must be a model name")
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise bad("model_options", "must be a mapping of option names to values")
    try:
        model_info(name)
        net = meta_model(name, num_classes=meta.get("num_classes", 1000), **options)  # on the meta device: no memory
    except CnnzooError as e:
        raise bad("model", f"cannot be built ({e})") from None
    except Exception as e:  # an option value the constructor chokes on
        raise bad("model_options", f"{_short(options)} cannot build {name} ({type(e).__name__}: {str(e)[:100]})") from None
    params = sum(p.numel() for p in net.parameters())
    if params > MAX_PARAMS:
        raise bad("model_options", f"{_short(options)} make a {name} of {params:,} parameters")
    size = meta.get("input_size")
    if _is_int(size, 1, MAX_INPUT) and size < net.min_input_size():
        raise bad("input_size", f"{size} is below the {net.min_input_size()} pixels {name} needs")


def _check_normalization(norm: object, bad) -> None:
    if not isinstance(norm, dict) or "mean" not in norm or "std" not in norm:
        raise bad("normalization", "must be 'imagenet' or a mapping with mean and std")
    try:
        mean, std = torch.tensor(norm["mean"], dtype=torch.float64), torch.tensor(norm["std"], dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise bad("normalization", "must hold numbers (per channel, or per pixel: channels x height x width)") from None
    shape_ok = mean.shape == std.shape and (mean.dim() == 1 or (mean.dim() == 3 and max(mean.shape[1:]) <= MAX_INPUT))
    if not shape_ok or mean.shape[0] not in (1, 3):
        raise bad("normalization", f"has mean {tuple(mean.shape)} and std {tuple(std.shape)}: 3 channels, or 3 x H x W")
    if not (torch.isfinite(mean).all() and torch.isfinite(std).all() and (std > 0).all()):
        raise bad("normalization", "must be finite, with std > 0")


def _check_preprocessing(prep: object, bad) -> None:
    if not isinstance(prep, dict):
        raise bad("preprocessing", "must be a mapping")
    try:
        p = Preprocessing.from_dict(prep)
    except (KeyError, TypeError, ValueError) as e:
        raise bad("preprocessing", f"is incomplete ({str(e)[:80]})") from None
    if not (1 <= p.input_size <= p.resize <= MAX_INPUT * 2):
        raise bad("preprocessing", f"crops {p.input_size} of a {p.resize} resize: need 1 <= crop <= resize <= {MAX_INPUT * 2}")
    values = [*p.mean, *p.std]
    if len(p.mean) != 3 or len(p.std) != 3 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values) or min(p.std) <= 0:
        raise bad("preprocessing", "mean and std must be 3 finite numbers each, std > 0")


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
