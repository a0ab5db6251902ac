"""Which images a model is evaluated on, and fed how: a run's own validation split as it made it, a folder of
labelled images matched to its classes by name, or ImageNet's validation images with published weights' preprocessing."""
from dataclasses import replace
from pathlib import Path

import torch

from ..data import load_data
from ..data.bundle import BUILT_IN, DataBundle, is_training_data
from ..data.evalset import imagenet_wnids, load_eval_data
from ..data.folder import readable
from ..data.loaders import MemoryLoader
from ..data.preprocessing import Preprocessing
from ..data.transforms import SMALL_INPUT, meta_transform
from ..errors import CnnzooError
from ..recipes import Recipe
from .options import DEFAULT_OPTIONS, EvalOptions, check_options, default_batch


def calibration_images(meta: dict, spec: str | Path, images: int):
    """Normalised image batches to calibrate an int8 model on, fed as `meta` says: a run's own data
    (one with a training split) gives a stratified `images` of its training images, unaugmented, so
    that its validation split stays unseen; any other folder (ImageNet, labelled images) gives its
    images as evaluation would."""
    if not meta.get("preprocessing") and is_training_data(spec):
        recipe = Recipe.from_dict(meta["recipe"])
        options = replace(recipe.data_options(meta["input_size"], limit=images), augment="none")
        train = load_data(str(spec), options).train
        if isinstance(meta.get("normalization"), dict) and isinstance(train, MemoryLoader):  # the run's statistics, not the subset's
            train.mean, train.std = (torch.tensor(meta["normalization"][k]).float() for k in ("mean", "std"))
        return (batch.images for batch in train.batches())
    bundle = checkpoint_data(meta, EvalOptions(data=str(spec), limit=images))
    return (batch.images for batch in bundle.val.batches())


def data_to_use(meta: dict, given: str | Path | None) -> str:
    """`given`, or else the data the checkpoint trained on where that is built in (digits, synthetic). A folder
    a checkpoint names is never opened on the file's say-so (loading a file reads no other file it names): the
    error says which it names, for the caller to pass."""
    if given:
        return str(given)
    named = meta.get("data")
    if named in BUILT_IN:
        return named
    raise CnnzooError(f"which images? this checkpoint names {named!r} as the data it trained on, and cnnzoo opens no folder a "
                      f"file names: pass the data (--data {named}, if that is the folder you mean)")  # fmt: skip


def checkpoint_data(meta: dict, options: EvalOptions = DEFAULT_OPTIONS) -> DataBundle:
    """The images a checkpoint is evaluated on, fed as it wants them:
      - published weights exported to a file: ImageNet's validation images of `options.data`;
      - data with a training split (`options.data`, or the built-in data the run trained on where it is None):
        that data's validation split, as the run made it (the recipe's seed and split, the run's normalisation);
      - any other folder: labelled images alone (`<class>/` folders, or a root holding `val/`), each
        folder matched to the checkpoint's class of that name (a subset of them is fine; a class the
        checkpoint does not know is an error)."""
    check_options(options)
    batch, workers = options.batch_size, options.workers
    if meta.get("preprocessing"):
        if not options.data:
            raise CnnzooError("`data` is needed for an export of published weights: an ImageNet folder holding val/")
        transform = Preprocessing.from_dict(meta["preprocessing"]).transform(options.crops)
        return load_eval_data(options.data, transform, list(imagenet_wnids()), meta["class_names"], batch or default_batch(options.crops),
                              2 if workers is None else workers, options.strict, options.limit)  # fmt: skip
    if options.crops == 144 and meta["input_size"] <= SMALL_INPUT:
        raise CnnzooError(f"144 crops is GoogLeNet's protocol for ImageNet-sized inputs (scales 256-352): {meta['model']} takes "
                          f"{meta['input_size']}x{meta['input_size']} images; use --crops 1, 2 or 10")  # fmt: skip
    spec = data_to_use(meta, options.data)
    recipe = Recipe.from_dict(meta["recipe"])
    if is_training_data(spec):
        if options.limit:
            raise CnnzooError("`limit` is for evaluation-only data (a folder of labelled images, ImageNet val): a run's split is fixed")
        data_options = recipe.data_options(meta["input_size"], options.crops, options.strict)
        return as_trained(load_data(str(spec), data_options), meta, str(spec))
    return load_eval_data(spec, meta_transform(meta, options.crops), list(meta["classes"]), list(meta["class_names"]),
                          batch or (default_batch(options.crops) if options.crops == 144 else max(recipe.batch_size, 100)),
                          recipe.workers if workers is None else workers,
                          options.strict, options.limit, by_order=False)  # fmt: skip


def shared_data(files: list[str | Path], metas: list[dict], options: EvalOptions = DEFAULT_OPTIONS) -> DataBundle:
    """The images several checkpoints are scored on together (`checkpoint_data` of the first). On a
    dataset's own validation split, every run must have held out the same images (split seed and
    size): otherwise some would be scored on images they trained on, and their ensemble with them."""
    named = options.data or (metas[0].get("data") if metas[0].get("data") in BUILT_IN else None)  # else checkpoint_data asks for it
    if not metas[0].get("preprocessing") and named and is_training_data(named):
        splits = [_split(meta) for meta in metas]
        for file, split in zip(files[1:], splits[1:]):
            if split != splits[0]:
                raise CnnzooError(
                    f"{file} held out a different validation split ({_describe(split)}) from {files[0]} ({_describe(splits[0])}): "
                    "scored together, one would be measured on images it trained on. Evaluate them one at a time, "
                    "or together on images none of them trained on (--data FOLDER of labelled images)"
                )  # fmt: skip
    return checkpoint_data(metas[0], options)


def _split(meta: dict) -> tuple:
    if not meta.get("recipe"):
        return None, None
    recipe = Recipe.from_dict(meta["recipe"])
    return recipe.split_seed, recipe.val_size


def _describe(split: tuple) -> str:
    return f"split_seed {split[0]}, val_size {split[1] if split[1] is not None else 'default'}"


def as_trained(data: DataBundle, meta: dict, spec: str) -> DataBundle:
    """A dataset's validation split as a checkpoint sees it: labelled by the checkpoint's classes (by
    name; a class it does not know is an error), normalised with its training data's statistics."""
    classes = list(meta.get("classes") or data.classes)
    if data.classes != classes:
        unknown = [c for c in data.classes if c not in classes]
        if unknown:
            raise CnnzooError(f"{spec} has class {readable(unknown[0])!r}, which {meta['model']} was not trained on "
                              f"({', '.join(map(readable, classes[:8]))}{', ...' if len(classes) > 8 else ''})")  # fmt: skip
        data.val.relabel([classes.index(c) for c in data.classes])
    if isinstance(meta.get("normalization"), dict) and isinstance(data.val, MemoryLoader):
        data.val.mean, data.val.std = (torch.tensor(meta["normalization"][k]).float() for k in ("mean", "std"))
    return DataBundle(None, data.val, classes, list(meta["class_names"]), data.stats, data.description)
