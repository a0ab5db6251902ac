"""What to evaluate, and on which images: checkpoints of cnnzoo runs (one, or an ensemble), files
exported by `cnnzoo export` (.onnx run by onnxruntime, .pt2 by torch.export), and weights people already have (torchvision's,
timm's) on ImageNet's validation images. `evaluate.py` does the counting; this module chooses the
models, the data, the preprocessing and the execution path.

    from cnnzoo.evaluation import EvalOptions, evaluate_checkpoints, evaluate_published

    result = evaluate_checkpoints(["runs/a/model.safetensors"])                       # the run's validation split
    result = evaluate_checkpoints(["runs/a/model.safetensors"], EvalOptions(data="my_test_images/"))
    result = evaluate_published(["resnet50"], options=EvalOptions(data="/data/imagenet", limit=5000))
    result.members[0].metrics.top1_error, result.ensemble

Images are fed as the model wants them: a checkpoint by its own run's preprocessing (input size,
normalisation), published weights by their authors' (resize, crop, mean/std, interpolation).
"""
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from .data import load_data
from .data.bundle import DataBundle, is_training_data
from .data.evalset import imagenet_wnids, load_eval_data
from .data.folder import readable
from .data.loaders import MemoryLoader
from .data.preprocessing import EVAL_CROPS, Preprocessing
from .data.transforms import SMALL_INPUT, meta_transform
from .distributed import SINGLE, World, join
from .errors import CnnzooError
from .evaluate import DENSE_SCALES, Metrics, evaluate, evaluate_dense
from .execution import ExecPath, prepare, resolve_path
from .export import ExportedModel, is_exported
from .factory import create_model
from .interop.pretrained import WeightSource, imagenet_categories
from .registry import model_info
from .train.metadata import EXPORT_FIELDS, validated_meta
from .train.recipes import Recipe
from .train.weights import load_trained

# Evaluation runs in fp32 unless asked otherwise: a published accuracy is a number to reproduce, and a
# run's error is compared across machines, so neither may depend on which CPU evaluates it. bf16 (the
# fast path on AVX-512 BF16 / AMX CPUs and GPUs) is `precision="auto"` or "bf16"; see the README for
# what it costs in accuracy on the committed CIFAR-10 weights.
DEFAULT_PRECISION = "fp32"


@dataclass(frozen=True)
class EvalOptions:
    data: str | Path | None = None  # checkpoints: None is the run's own data (its validation split)
    crops: int = 1  # 1 (centre), 2 (centre and mirror), 10 (AlexNet's: centre and corners, mirrored) or 144 (GoogLeNet's, Sec. 7)
    batch_size: int | None = None  # None: the run's recipe's evaluation batch; 50 for published weights
    workers: int | None = None  # decoding processes; None: the run's recipe's, 2 for published weights
    limit: int | None = None  # a stratified subset of this many images (labelled folders and ImageNet val)
    strict: bool = False  # an undecodable image is an error instead of skipped
    precision: str = DEFAULT_PRECISION  # fp32 | bf16 | fp16 | auto (the fastest safe path here)
    weights: tuple[float, ...] | None = None  # ensemble weights, one per checkpoint
    dense: bool = False  # VGG's dense evaluation (published weights): whole images at `scales`, FC layers as convolutions
    scales: tuple[int, ...] = DENSE_SCALES  # with dense: the shorter sides Q, for a 224 model


@dataclass
class Scored:
    """One evaluated model: what it is, where its weights came from, its metrics."""

    name: str
    file: str
    metrics: Metrics
    pretrained: bool = False  # published weights (not a cnnzoo run)
    source: WeightSource | None = None  # of published weights: their name, preprocessing and published accuracy

    def lines(self) -> list[str]:
        if not self.pretrained:
            return [f"{self.name} ({self.file}): {self.metrics.line()}"]
        what = self.source.name if self.source else "weights"
        top = [f"{self.name} ({what}, {self.file}): {self.metrics.line()}"]
        acc1, acc5 = 100 - self.metrics.top1_error, 100 - self.metrics.top5_error
        measured = f"  accuracy top-1 {acc1:.3f}%, top-5 {acc5:.3f}%"
        if self.source is None or self.source.top1 is None:
            return top + [measured]
        diff = f"; difference {acc1 - self.source.top1:+.3f} points top-1"
        return top + [f"{measured}; published {self.source.published()}{diff}"]


@dataclass
class Evaluation:
    data: DataBundle
    members: list[Scored]
    ensemble: Metrics | None
    path: ExecPath
    runtime: str = "PyTorch"  # or "onnxruntime", "torch.export": what ran exported files
    metas: list[dict] = field(default_factory=list)
    world: World = SINGLE  # under torchrun: this process's place (the metrics are every process's sum)

    @property
    def main(self) -> bool:
        """Whether this process reports (rank 0, or the only one)."""
        return self.world.main

    @property
    def result(self) -> Metrics:
        """The ensemble's metrics, or the one model's."""
        return self.ensemble or self.members[0].metrics


def _check(options: EvalOptions) -> None:
    if options.crops not in EVAL_CROPS:
        raise CnnzooError(f"crops must be 1, 2 (flip), 10 (AlexNet's) or 144 (GoogLeNet's), got {options.crops}")
    for name in ("batch_size", "workers", "limit"):
        value = getattr(options, name)
        if value is not None and value < (0 if name == "workers" else 1):
            raise CnnzooError(f"{name} must be a positive number, got {value}")


def _batch(crops: int) -> int:
    """Images per batch by default: 50, or 2 with 144 crops (288 views of 224 x 224: 170 MB of input)."""
    return 2 if crops == 144 else 50


def _path(precision: str, device: str | None = None) -> tuple[World, ExecPath]:
    path = resolve_path(precision, device=device)
    world, device = join(path.device)  # under torchrun each process evaluates its share; every image counts once
    return world, path.replace(device=device)


def load_checkpoints(files: list[str | Path]) -> tuple[list[nn.Module], list[dict]]:
    """Models and their metadata from cnnzoo checkpoints (.pt, .safetensors) or exported files (.onnx,
    .pt2), which must all be one or the other and share their classes (to be ensembled)."""
    exported = [is_exported(f) for f in files]
    if any(exported) and not all(exported):
        raise CnnzooError("give either exported files (.onnx, .pt2) or cnnzoo checkpoints, not both: they run on different paths")
    loaded = [_exported_with_meta(f) if done else load_trained(f) for f, done in zip(files, exported)]
    models, metas = [m for m, _ in loaded], [meta for _, meta in loaded]
    classes = [m.get("classes", m.get("class_names")) for m in metas]
    if any(c != classes[0] for c in classes):
        raise CnnzooError("the checkpoints were trained on different classes: they cannot be ensembled")
    return models, metas


def _exported_with_meta(file: str | Path) -> tuple[nn.Module, dict]:
    model = ExportedModel(file)
    if not model.meta:
        raise CnnzooError(f"{file} has no cnnzoo metadata: export it with `cnnzoo export`")
    return model, validated_meta(model.meta, str(file), EXPORT_FIELDS)


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


def checkpoint_data(meta: dict, options: EvalOptions = EvalOptions()) -> DataBundle:
    """The images a checkpoint is evaluated on, fed as it wants them:
      - published weights exported to a file: ImageNet's validation images of `options.data`;
      - `options.data` None, or data with a training split: that data's validation split, as the run
        made it (the recipe's seed and split, the run's normalisation);
      - any other folder: labelled images alone (`<class>/` folders, or a root holding `val/`), each
        folder matched to the checkpoint's class of that name (a subset of them is fine; a class the
        checkpoint does not know is an error)."""
    _check(options)
    batch, workers = options.batch_size, options.workers
    if meta.get("preprocessing"):
        if not options.data:
            raise CnnzooError("--data is needed for an export of published weights: an ImageNet folder holding val/")
        transform = Preprocessing.from_dict(meta["preprocessing"]).transform(options.crops)
        return load_eval_data(options.data, transform, list(imagenet_wnids()), meta["class_names"], batch or _batch(options.crops),
                              2 if workers is None else workers, options.strict, options.limit)  # fmt: skip
    if options.crops == 144 and meta["input_size"] <= SMALL_INPUT:
        raise CnnzooError(f"144 crops is GoogLeNet's protocol for ImageNet-sized inputs (scales 256-352): {meta['model']} takes "
                          f"{meta['input_size']}x{meta['input_size']} images; use --crops 1, 2 or 10")  # fmt: skip
    recipe = Recipe.from_dict(meta["recipe"])
    spec = options.data or meta["data"]
    if is_training_data(spec):
        if options.limit:
            raise CnnzooError("--limit is for evaluation-only data (a folder of labelled images, ImageNet val): a run's split is fixed")
        data_options = recipe.data_options(meta["input_size"], options.crops, options.strict)
        return as_trained(load_data(str(spec), data_options), meta, str(spec))
    return load_eval_data(spec, meta_transform(meta, options.crops), list(meta["classes"]), list(meta["class_names"]),
                          batch or (_batch(options.crops) if options.crops == 144 else max(recipe.batch_size, 100)),
                          recipe.workers if workers is None else workers,
                          options.strict, options.limit, by_order=False)  # fmt: skip


def shared_data(files: list[str | Path], metas: list[dict], options: EvalOptions = EvalOptions()) -> DataBundle:
    """The images several checkpoints are scored on together (`checkpoint_data` of the first). On a
    dataset's own validation split, every run must have held out the same images (split seed and
    size): otherwise some would be scored on images they trained on, and their ensemble with them."""
    if not metas[0].get("preprocessing") and is_training_data(options.data or metas[0]["data"]):
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


def evaluate_checkpoints(files: list[str | Path], options: EvalOptions = EvalOptions(), device: str | None = None) -> Evaluation:
    """Each checkpoint's top-1/top-5 error and loss on `options.data` (see `checkpoint_data`), and their
    ensemble's (softmax average, weighted by `options.weights`) for several."""
    _check(options)
    if not files:
        raise CnnzooError("give at least one checkpoint")
    if options.weights is not None:
        if len(options.weights) != len(files):
            raise CnnzooError(f"--weights needs one weight per checkpoint ({len(files)}), got {len(options.weights)}")
        if not all(math.isfinite(w) and w >= 0 for w in options.weights) or not sum(options.weights) > 0:
            raise CnnzooError(f"--weights must be finite and >= 0, at least one > 0: got {' '.join(map(str, options.weights))}")
    models, metas = load_checkpoints(files)
    exported = isinstance(models[0], ExportedModel)
    data = shared_data(files, metas, options)
    if exported:  # an exported file: fp32 (or its own int8) on the CPU, as it was written
        world, path = join("cpu")[0], ExecPath("cpu")
        runnable = models
    else:
        world, path = _path(options.precision, device)
        runnable = [prepare(m, path) for m in models]
    weights = list(options.weights) if options.weights else None
    members, ensemble = evaluate(runnable, data.val.batches(world=world), data.num_classes, path, weights, world)
    scored = [Scored(meta["model"], str(f), m) for f, meta, m in zip(files, metas, members)]
    runtimes = sorted({m.runtime for m in models}) if exported else ["PyTorch"]
    return Evaluation(data, scored, ensemble, path, " and ".join(runtimes), metas, world)


def load_published(names: list[str], weights: list[str] | tuple[str, ...] = ()) -> list[nn.Module]:
    """cnnzoo models holding published weights: one source for all (`weights=["timm"]`), one per model,
    or none (each model's peer library)."""
    if len(weights) not in (0, 1, len(names)):
        raise CnnzooError(f"--pretrained takes one source for all models or one per model ({len(names)}), got {len(weights)}")
    models = []
    for i, name in enumerate(names):
        source = weights[i] if len(weights) == len(names) else weights[0] if weights else None
        info = model_info(name)
        if info.peer is None and source is None:
            raise CnnzooError(f"{name} has no torchvision/timm weights: give --pretrained FILE, or evaluate a --checkpoint of cnnzoo's")
        model = create_model(name, weights=source or info.peer.library)
        if model.preprocessing is None:
            raise CnnzooError(f"{model.weights_file}: cnnzoo does not know how these weights want their images (pip install timm)")
        models.append(model)
    return models


def evaluate_published(names: list[str], weights: list[str] | tuple[str, ...] = (), options: EvalOptions = EvalOptions(),
                       device: str | None = None) -> Evaluation:  # fmt: skip
    """Each model's top-1/top-5 with published weights on the ImageNet validation images of
    `options.data` (a root holding val/, or a folder of `<wnid>/` class folders; a subset of the classes
    is scored against all 1000 outputs), fed with the weights' own preprocessing, beside the accuracy
    their publisher states; several models with the same preprocessing also as an ensemble."""
    _check(options)
    if not options.data:
        raise CnnzooError("--data is needed with --model: an ImageNet folder holding val/, or a folder of class folders")
    if options.weights:
        raise CnnzooError("--weights (ensemble weights) goes with --checkpoint; pretrained models are averaged equally")
    for name in names:
        model_info(name)  # an unknown name fails before any loading
    models = load_published(names, weights)
    preps = {m.preprocessing for m in models}
    if len(preps) > 1:
        raise CnnzooError(
            "these weights want their images differently (" + "; ".join(f"{n}: {m.preprocessing.describe()}" for n, m in zip(names, models))
            + "): evaluate them one at a time"
        )
    if options.dense:
        return _evaluate_dense(names, models, options)
    transform = models[0].preprocessing.transform(options.crops)
    workers = 2 if options.workers is None else options.workers
    data = load_eval_data(options.data, transform, list(imagenet_wnids()), imagenet_categories(), options.batch_size or _batch(options.crops), workers,
                          options.strict, options.limit)  # fmt: skip
    world, path = _path(options.precision, device)
    runnable = [prepare(m, path) for m in models]
    members, ensemble = evaluate(runnable, data.val.batches(world=world), data.num_classes, path, world=world)
    scored = [Scored(n, m.weights_file, s, True, m.weight_source) for n, m, s in zip(names, models, members)]
    return Evaluation(data, scored, ensemble, path, world=world)


def _evaluate_dense(names: list[str], models: list[nn.Module], options: EvalOptions) -> Evaluation:
    if options.crops != 1:
        raise CnnzooError("--dense evaluates whole images: it takes no --crops")
    if not options.scales or min(options.scales) < 1:
        raise CnnzooError(f"--scales must be positive sizes, got {options.scales}")
    prep = models[0].preprocessing
    data = load_eval_data(options.data, prep.transform(), list(imagenet_wnids()), imagenet_categories(), 1, 0, options.strict,
                          options.limit)  # fmt: skip
    items = data.val.items
    members, ensemble = evaluate_dense(models, items.paths, items.labels, data.num_classes, prep, options.scales, data.stats,
                                       options.strict)  # fmt: skip
    scored = [Scored(n, m.weights_file, s, True, m.weight_source) for n, m, s in zip(names, models, members)]
    return Evaluation(data, scored, ensemble, ExecPath("cpu", "fp32"))


__all__ = ["EvalOptions", "Evaluation", "Scored", "checkpoint_data", "evaluate_checkpoints", "evaluate_published",
           "load_checkpoints", "load_published"]  # fmt: skip
