"""Evaluations put together: checkpoints of cnnzoo runs (one, or an ensemble), files exported by `cnnzoo export`
(.onnx run by onnxruntime, .pt2 by torch.export), and weights people already have (torchvision's, timm's) on ImageNet's
validation images. `artifacts` opens the models, `inputs` chooses and feeds the images, `metrics` counts; this module
chooses the execution path and reports.

    from cnnzoo.eval import EvalOptions, evaluate_checkpoints, evaluate_published

    result = evaluate_checkpoints(["runs/a/model.safetensors"])                       # the run's validation split
    result = evaluate_checkpoints(["runs/a/model.safetensors"], EvalOptions(data="my_test_images/"))
    result = evaluate_published(["resnet50"], options=EvalOptions(data="/data/imagenet", limit=5000))
    result.members[0].metrics.top1_error, result.ensemble

Images are fed as the model wants them: a checkpoint by its own run's preprocessing (input size,
normalisation), published weights by their authors' (resize, crop, mean/std, interpolation).
"""
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from ..artifacts.exported import ExportedModel
from ..artifacts.loading import load_checkpoints, load_published
from ..data.bundle import DataBundle
from ..data.evalset import imagenet_wnids, load_eval_data
from ..deploy.engines import Chosen, choose_engine
from ..errors import CnnzooError
from ..interop.pretrained import WeightSource, imagenet_categories, pretrained_meta
from ..registry import model_info
from ..runtime.distributed import SINGLE, World, join
from ..runtime.execution import ExecPath, prepare, resolve_path
from .inputs import shared_data
from .metrics import Metrics, evaluate, evaluate_dense
from .options import DEFAULT_OPTIONS, EvalOptions, check_options, default_batch


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
    engines: list[Chosen] = field(default_factory=list)  # on the CPU: the engine each model ran on, and why

    @property
    def main(self) -> bool:
        """Whether this process reports (rank 0, or the only one)."""
        return self.world.main

    @property
    def result(self) -> Metrics:
        """The ensemble's metrics, or the one model's."""
        return self.ensemble or self.members[0].metrics


def _path(options: EvalOptions, device: str | None = None) -> tuple[World, ExecPath]:
    """The execution path off the engines (a GPU, torchrun; PyTorch's engine on one CPU process feeds from it too)."""
    precision = options.precision
    if options.engine.startswith("torch-"):  # PyTorch asked for by name: its precision
        precision = options.engine.split("-")[1]
    path = resolve_path(precision if precision != "int8" else "fp32", device=device)
    world, device = join(path.device)  # under torchrun each process evaluates its share; every image counts once
    if (path.device != "cpu" or world.distributed) and (precision == "int8" or options.engine.startswith("onnx")):
        raise CnnzooError("ONNX Runtime's engines (and int8) run on one CPU process: not on a GPU, nor under torchrun")
    return world, path.replace(device=device)


def _runnable(models: list[nn.Module], metas: list[dict], batches, options: EvalOptions, path: ExecPath, world: World,
              files: list | None = None):  # fmt: skip
    """The models ready to run, the path `evaluate` feeds them on, the engines chosen, and the batches. On one CPU
    process each model runs on its engine (`deploy.engines`: the fastest here that `precision` allows, measured
    once per machine, checked against fp32 eager on the first batch); on a GPU or under torchrun, on `path`."""
    if path.device != "cpu" or world.distributed:
        return [prepare(m, path) for m in models], path, [], batches
    batches = iter(batches)
    first = next(batches, None)
    if first is None:
        return [prepare(m, path) for m in models], path, [], iter(())
    sample = first.images.flatten(0, 1) if first.images.dim() == 5 else first.images
    engines = []
    for i, (model, meta) in enumerate(zip(models, metas)):
        file = files[i] if files else None
        int8 = Path(file).with_suffix(".int8.onnx") if file else None
        engines.append(choose_engine(model, meta, sample[:64], options.engine, options.precision, int8, file))
    return [e.module for e in engines], ExecPath("cpu"), engines, itertools.chain([first], batches)


def evaluate_checkpoints(files: list[str | Path], options: EvalOptions = DEFAULT_OPTIONS, device: str | None = None) -> Evaluation:
    """Each checkpoint's top-1/top-5 error and loss on `options.data` (see `checkpoint_data`), and their
    ensemble's (softmax average, weighted by `options.weights`) for several."""
    check_options(options)
    if not files:
        raise CnnzooError("give at least one checkpoint")
    if options.weights is not None:
        if len(options.weights) != len(files):
            raise CnnzooError(f"`weights` needs one weight per checkpoint ({len(files)}), got {len(options.weights)}")
        if not all(math.isfinite(w) and w >= 0 for w in options.weights) or not sum(options.weights) > 0:
            raise CnnzooError(f"`weights` must be finite and >= 0, at least one > 0: got {' '.join(map(str, options.weights))}")
    models, metas = load_checkpoints(files)
    exported = isinstance(models[0], ExportedModel)
    data = shared_data(files, metas, options)
    if exported and (options.engine != "auto" or options.precision not in ("fp32", "auto")):
        raise CnnzooError("an exported file runs as it was written (fp32, or its own int8): `engine` and `precision` go with checkpoints")
    if exported:  # an exported file: fp32 (or its own int8) on the CPU, as it was written
        world, path = join("cpu")[0], ExecPath("cpu")
        runnable = models
    else:
        world, path = _path(options, device)
    batches, engines = data.val.batches(world=world), []
    if not exported:
        runnable, path, engines, batches = _runnable(models, metas, batches, options, path, world, files)
    weights = list(options.weights) if options.weights else None
    members, ensemble = evaluate(runnable, batches, data.num_classes, path, weights, world)
    scored = [Scored(meta["model"], str(f), m) for f, meta, m in zip(files, metas, members)]
    runtimes = sorted({m.runtime for m in models}) if exported else ["PyTorch"]
    return Evaluation(data, scored, ensemble, path, " and ".join(runtimes), metas, world, engines)


def evaluate_published(names: list[str], weights: list[str] | tuple[str, ...] = (), options: EvalOptions = DEFAULT_OPTIONS,
                       device: str | None = None) -> Evaluation:  # fmt: skip
    """Each model's top-1/top-5 with published weights on the ImageNet validation images of
    `options.data` (a root holding val/, or a folder of `<wnid>/` class folders; a subset of the classes
    is scored against all 1000 outputs), fed with the weights' own preprocessing, beside the accuracy
    their publisher states; several models with the same preprocessing also as an ensemble."""
    check_options(options)
    if not options.data:
        raise CnnzooError("`data` is needed with `model`: an ImageNet folder holding val/, or a folder of class folders")
    if options.weights:
        raise CnnzooError("`weights` (ensemble weights) goes with `checkpoint`; pretrained models are averaged equally")
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
        if options.engine != "auto":
            raise CnnzooError("`dense` evaluates one whole image at a time in PyTorch fp32: it takes no `engine`")
        return _evaluate_dense(names, models, options)
    transform = models[0].preprocessing.transform(options.crops)
    workers = 2 if options.workers is None else options.workers
    data = load_eval_data(options.data, transform, list(imagenet_wnids()), imagenet_categories(), options.batch_size or default_batch(options.crops), workers,
                          options.strict, options.limit)  # fmt: skip
    world, path = _path(options, device)
    metas = [pretrained_meta(n, m) for n, m in zip(names, models)]
    runnable, path, engines, batches = _runnable(models, metas, data.val.batches(world=world), options, path, world)
    members, ensemble = evaluate(runnable, batches, data.num_classes, path, world=world)
    scored = [Scored(n, m.weights_file, s, True, m.weight_source) for n, m, s in zip(names, models, members)]
    return Evaluation(data, scored, ensemble, path, world=world, engines=engines)


def _evaluate_dense(names: list[str], models: list[nn.Module], options: EvalOptions) -> Evaluation:
    if options.crops != 1:
        raise CnnzooError("`dense` evaluates whole images: it takes no `crops`")
    if not options.scales or min(options.scales) < 1:
        raise CnnzooError(f"`scales` must be positive sizes, got {options.scales}")
    prep = models[0].preprocessing
    data = load_eval_data(options.data, prep.transform(), list(imagenet_wnids()), imagenet_categories(), 1, 0, options.strict,
                          options.limit)  # fmt: skip
    items = data.val.items
    members, ensemble = evaluate_dense(models, items.paths, items.labels, data.num_classes, prep, options.scales, data.stats,
                                       options.strict)  # fmt: skip
    scored = [Scored(n, m.weights_file, s, True, m.weight_source) for n, m, s in zip(names, models, members)]
    return Evaluation(data, scored, ensemble, ExecPath("cpu", "fp32"))
