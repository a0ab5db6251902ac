"""How long an experiment's runs train: the paper's schedule, a number of epochs, or a budget of minutes
on this machine, sized from a measured training step (never a guess)."""
import hashlib
import json
import time

import torch

from ..artifacts.weights import load_trained
from ..data.bundle import cache_dir
from ..factory import create_model
from ..files.atomic import atomic_write_text
from ..recipes import Recipe
from ..runtime.execution import prepare, resolve_path
from ..runtime.machine import machine
from ..train.path_choice import MIN_STEPS, choose_training_path, worth_measuring
from .definitions import RunSpec

DEFAULT_BUDGET_MINUTES = 120.0  # `reproduce --schedule budget`: minutes for the whole sweep

CIFAR_TRAIN = 45_000  # the images an epoch of the experiments' data has (CIFAR-10's 45k/5k split)


def paper_epochs(recipe: Recipe, steps_per_epoch: int) -> float:
    return recipe.iterations / steps_per_epoch if recipe.iterations else recipe.epochs


def scaled(recipe: Recipe, epochs: float, steps_per_epoch: int) -> Recipe:
    """`recipe` shortened (or lengthened) to `epochs`, its schedule's milestones at the same fractions of
    the run; a warm-up keeps its length (it is there to get training going, as ResNet-110's 400 iterations)."""
    unit = steps_per_epoch if recipe.iterations else 1  # the recipe's schedule fields count iterations, or epochs
    f = epochs / paper_epochs(recipe, steps_per_epoch)
    at = lambda v: round(v, 6)  # noqa: E731  (epochs, to a millionth: a plan reads 7.0, not 6.999999999999999)
    return recipe.override(iterations=None, epochs=epochs, milestones=tuple(at(m / unit * f) for m in recipe.milestones),
                           step_size=at(recipe.step_size / unit * f), warmup=at(recipe.warmup / unit)).validated()  # fmt: skip


def _timed_steps(spec: RunSpec, recipe: Recipe, size: int, steps: int) -> float:
    path = resolve_path(recipe.precision, recipe.channels_last, train=True)
    model = create_model(spec.model, num_classes=10, **spec.options).to(path.device, memory_format=path.memory_format).train()
    if worth_measuring(recipe, None, path, 1, MIN_STEPS):  # the path the run will train on (`train/path_choice.py`)
        path = choose_training_path(model, [spec.model, spec.options, 10, False, False], recipe.batch_size, size, path).path
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = path.to_device(torch.randn(recipe.batch_size, 3, size, size))
    y = torch.randint(0, 10, (recipe.batch_size,), device=path.device)
    teacher = prepare(load_trained(recipe.teacher)[0], path.replace(fold_bn=True)) if recipe.teacher else None
    times = []
    for _ in range(steps + 1):  # the first step warms up (allocations, kernel selection)
        start = time.perf_counter()
        if teacher is not None:  # distillation: the teacher's forward pass is part of every step
            with torch.no_grad(), path.autocast():
                teacher(x)
        with path.autocast():
            out = model(x)
        loss = torch.nn.functional.cross_entropy((out.logits if hasattr(out, "logits") else out).float(), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[len(times[1:]) // 2]


def step_seconds(spec: RunSpec, recipe: Recipe, steps: int = 2) -> float:
    """Seconds per training step of this run on this machine (median of `steps`, after a warm-up step),
    measured once and cached under $CNNZOO_CACHE keyed by the model, batch, input and machine."""
    size = recipe.input_size or 32
    teacher = hashlib.sha256(open(recipe.teacher, "rb").read()).hexdigest() if recipe.teacher else None
    key = json.dumps([spec.model, spec.options, recipe.batch_size, size, recipe.precision, machine(), torch.__version__]
                     + ([teacher] if teacher else []), sort_keys=True)  # fmt: skip
    file = cache_dir() / "step-seconds.json"
    try:
        known = json.loads(file.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = _timed_steps(spec, recipe, size, steps)
        atomic_write_text(file, json.dumps(known, indent=0))
    return float(known[key])


def epoch_minutes(spec: RunSpec, recipe: Recipe, steps_per_epoch: int) -> float:
    """One epoch's training steps, and a validation pass (a tenth of the images, forward only: ~1/30 of it)."""
    return step_seconds(spec, recipe) * steps_per_epoch * (1 + 1 / 30) / 60
