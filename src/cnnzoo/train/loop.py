"""The training loop: any registered model, any data spec, a recipe; checkpoints at every N steps
and at every epoch end, an exact resume, logs, curves and a final summary. One process, or many
under torchrun (DistributedDataParallel; see cnnzoo.runtime.distributed).

It reads as its phases: `setup` decides everything before the first step (the run folder, the
execution path, the input size, then the data at that size, the model, the `TrainState`); each epoch
is `train_epoch` (steps, with mid-epoch checkpoints) then `validate`; `finish` writes the weights and
the summary. The resumable state is one object (`state.TrainState`); when to checkpoint or stop and
what a NaN does are small policies (`policies.py`) the loop calls.
"""
import contextlib
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..artifacts.weights import is_cnnzoo_weights, save_weights
from ..data import DataBundle
from ..data.bundle import open_data
from ..data.fingerprint import DataFiles
from ..data.loaders import Batch, derived_seed
from ..errors import CnnzooError
from ..eval.metrics import evaluate
from ..factory import create_model, meta_model
from ..files.atomic import atomic_write_text
from ..files.lock import LOCK_FILE, folder_lock
from ..models.base import AuxOutputs
from ..recipes import Recipe
from ..registry import model_info
from ..runtime.distributed import World, join
from ..runtime.execution import ExecPath, resolve_path
from ..runtime.progress import Progress, duration
from .distill import Teacher, distillation_loss
from .logs import plot_curves, write_logs
from .lr_schedule import lr_factor
from .optim import EMA, backbone_to_eval, build_optimizer, freeze_backbone
from .path_choice import choose_training_path, worth_measuring
from .policies import Cadence, Diverged, GracefulStop, NanPolicy, StopRequested, TrainingDiverged
from .predictions import write_predictions
from .state import TrainState
from .warm_start import warm_start

__all__ = ["RunConfig", "RunResult", "StopRequested", "TrainingDiverged", "train"]


@dataclass
class RunConfig:
    model: str
    data: str
    recipe: Recipe
    out: Path
    model_options: dict = field(default_factory=dict)
    resume: bool | str = False  # True: continue the run in `out`; "auto": continue it if there is one, else start
    strict: bool = False
    precision: str | None = None  # overrides the recipe's
    max_steps: int | None = None  # stop (with a checkpoint) after this many steps in total
    limit: int | None = None  # train on this many images only (stratified), for quick runs
    show_progress: bool | None = None  # None: on a terminal
    dry_run: bool = False  # check everything and say what would run; write nothing
    restart: bool = False  # a run already in `out`: set its files aside (out/replaced-TIME/) and start a new one
    init: str | None = None  # start from pretrained weights: "torchvision", "timm", a file of theirs (a new classifier), or a cnnzoo run's
    num_classes: int | None = None  # with init: the classes the new classifier must have (checked against the data)
    log: object = print


@dataclass
class RunResult:
    history: list[dict]
    final: dict
    out: Path


@dataclass
class Run:
    """What a run decided in its set-up, before the first step; fixed from then on."""

    config: RunConfig
    recipe: Recipe
    out: Path
    resume: bool
    world: World
    path: ExecPath
    data: DataBundle
    model: nn.Module
    net: nn.Module  # what the steps run: the model, or its DistributedDataParallel wrapper
    options: dict  # the model's options (with the peer's variant under --init)
    meta: dict  # what the weights file and checkpoints record about the run
    size: int  # the input size
    steps_per_epoch: int
    total_steps: int
    epochs: int
    cadence: Cadence
    nan: NanPolicy
    log: object
    teacher: Teacher | None = None  # the recipe's `teacher`, loaded
    plotted: float = field(default_factory=time.monotonic)  # when curves.png was last drawn (or the run set up)
    stop: GracefulStop = field(default_factory=lambda: GracefulStop(enabled=False))  # a kill's request to stop

    @property
    def checkpoint_file(self) -> Path:
        return self.out / "checkpoint.pt"


@dataclass
class Clock:
    """This process's counters for the summary (not part of the resumable state)."""

    started: float = field(default_factory=time.perf_counter)
    images: int = 0
    data_wait: float = 0.0
    lr: float = 0.0  # the last step's

    def next_batch(self, batches) -> Batch | None:
        waited = time.perf_counter()
        batch = next(batches, None)
        self.data_wait += time.perf_counter() - waited
        return batch

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def train(config: RunConfig) -> RunResult:
    """Train as `config` says, holding the run folder's lock (one process per folder) for the run's life."""
    if config.dry_run:
        run, _ = setup(config)
        announce(run)
        return RunResult([], {"model": config.model, "steps": run.total_steps, "epochs": run.epochs, "input_size": run.size}, run.out)
    main = int(os.environ.get("RANK", "0")) == 0  # under torchrun the first process holds the lock for all
    out = Path(config.out)
    before = set(out.iterdir()) if out.is_dir() else None
    with folder_lock(out, "run", config.log) if main else contextlib.nullcontext():
        state = None
        alone = int(os.environ.get("WORLD_SIZE", "1")) == 1
        try:
            with GracefulStop(enabled=alone) as stop:
                run, state = setup(config)
                run.stop = stop
                announce(run)
                begin(run, state)
                return _run(run, state)
        except Exception:
            started = state is not None and (state.step > 0 or run.resume)
            if main and not started:  # a failed start leaves nothing behind
                _remove_new_files(out, before)
            raise


def _remove_new_files(out: Path, before: set | None) -> None:
    """A run that failed before its first step leaves the folder as it found it (a new folder: removed)."""
    for f in (set(out.iterdir()) if out.is_dir() else set()) - (before or set()):
        if f.is_file() and f.name != LOCK_FILE:
            f.unlink(missing_ok=True)
    if before is None and out.is_dir() and all(f.name == LOCK_FILE for f in out.iterdir()):
        shutil.rmtree(out, ignore_errors=True)


def _run(run: Run, state: TrainState) -> RunResult:
    """The epochs, from wherever `begin` left the state, then the final weights and summary."""
    clock = Clock(lr=run.recipe.lr)
    state.start_timer()
    while state.epoch < run.epochs and state.step < run.total_steps:
        try:
            train_epoch(run, state, clock)
        except Diverged as e:
            run.nan.handle(e, state, lambda: state.load(run.checkpoint_file, run.meta, run.world), run.log)
            continue
        end_epoch(run, state, validate(run, state, clock))
        if run.stop.requested:
            stop_here(run, state, saved=True)
        if run.cadence.stop_after_epoch(state):
            raise StopRequested(state.step)
    return finish(run, state, clock)


# -- set-up: everything decided before the first step ---------------------------------------------


def setup(config: RunConfig) -> tuple[Run, TrainState]:
    recipe = config.recipe.validated()
    model_info(config.model)  # an unknown name fails here, before any work
    if recipe.teacher and not Path(recipe.teacher).is_file():  # and a missing teacher (it is read once the data is known)
        raise CnnzooError(f"teacher={recipe.teacher!r}: no such file; name a trained run's model.safetensors or checkpoint.pt")
    out = Path(config.out)
    if config.restart and config.resume:
        raise CnnzooError("`restart` starts a new run and `resume` continues the old one: give one")
    if config.restart and not config.dry_run and (out / "checkpoint.pt").exists():
        _set_aside(out, config.log)
    resume = _check_run_folder(out, config.resume, config.dry_run)
    path = resolve_path(config.precision or recipe.precision, recipe.channels_last, compile=recipe.compile, train=True)
    world, device = join(path.device)
    path = path.replace(device=device)
    log = config.log if world.main else (lambda *args, **kwargs: None)
    if recipe.batch_size % world.size:
        raise CnnzooError(f"batch_size {recipe.batch_size} (the global batch) must be a multiple of the {world.size} processes")
    if recipe.sync_bn and world.distributed and not device.startswith("cuda"):
        raise CnnzooError("sync_bn needs GPUs (PyTorch's SyncBatchNorm is CUDA-only): drop sync_bn=true on the CPU")
    world.barrier()  # every rank has looked at the run folder before rank 0 writes to it

    source = open_data(config.data, config.strict)
    size = input_size(recipe, meta_model(config.model, **config.model_options), source.image_size)
    data = source.bundle(recipe.data_options(size, strict=config.strict, limit=config.limit))
    if data.num_classes < 2:
        raise CnnzooError(f"{config.data} has {data.num_classes} class ({', '.join(data.class_names)}): a classifier needs at least two")
    if config.num_classes is not None and config.num_classes != data.num_classes:
        raise CnnzooError(f"`num_classes` {config.num_classes}, but {config.data} has {data.num_classes} classes")
    steps_per_epoch = len(data.train)
    if steps_per_epoch == 0:
        raise CnnzooError(f"the training set ({data.train.num_images:,} images) is smaller than one batch of {recipe.batch_size}: "
                          f"lower batch_size (e.g. batch_size={_fitting_batch(data.train.num_images)})")  # fmt: skip
    total_steps = recipe.iterations or max(1, round(recipe.epochs * steps_per_epoch))

    model, options = build_model(config, recipe, data.num_classes, world, path)
    if not config.dry_run and worth_measuring(recipe, config.precision, path, world.size, total_steps):  # the faster CPU path
        what = [config.model, options, data.num_classes, recipe.freeze_backbone, recipe.grad_checkpointing]
        choice = choose_training_path(model, what, recipe.batch_size, size, path)
        path = choice.path
        log(choice.note())
    net = model
    if world.distributed:
        if recipe.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.startswith("cuda") else None)
    state = TrainState(
        model, build_optimizer(model, recipe, recipe.lr, pretrained=bool(config.init)),
        torch.amp.GradScaler(path.device.split(":")[0], enabled=path.precision == "fp16"),
        EMA(model, recipe.ema_decay) if recipe.ema_decay else None,
        data_files=DataFiles.of(source.paths, source.root) if source.paths else None, steps_per_epoch=steps_per_epoch,
    )  # fmt: skip
    meta = {
        "model": config.model, "model_options": options, "num_classes": data.num_classes, "init": config.init,
        "classes": data.classes, "class_names": data.class_names, "input_size": size, "data": config.data,
        "normalization": data.train.normalization, "recipe": recipe.as_dict(),
    }  # fmt: skip
    teacher = Teacher(recipe.teacher, meta, path) if recipe.teacher else None
    if teacher is not None:
        meta["teacher_sha256"] = teacher.sha256
    run = Run(config, recipe, out, resume, world, path, data, model, net, options, meta, size, steps_per_epoch, total_steps,
              math.ceil(total_steps / steps_per_epoch), Cadence(recipe.checkpoint_every, steps_per_epoch, total_steps, config.max_steps),
              NanPolicy(recipe, out / "checkpoint.pt"), log, teacher)  # fmt: skip
    return run, state


# curves.png is redrawn at an epoch's end when this many seconds have passed since it was last drawn, and at the run's end:
# a long run's curves follow it epoch by epoch, a short run does not spend a second of plotting per epoch
CURVES_EVERY = 30.0
RUN_FILES = ("checkpoint.pt", "model.safetensors", "recipe.json", "log.csv", "log.json", "summary.json", "curves.png", "confusion.png")


def _set_aside(out: Path, log) -> None:
    """The run in `out` moved whole into out/replaced-TIME/, so that a new run starts there and the old one's
    files (its log above all) are never overwritten."""
    aside = out / time.strftime("replaced-%Y%m%d-%H%M%S")
    aside.mkdir()
    for name in RUN_FILES:
        if (out / name).exists():
            (out / name).rename(aside / name)
    log(f"the run that was in {out} is set aside in {aside}; a new run starts")


def _fitting_batch(images: int) -> int:
    return max(1, 2 ** max(0, (images // 2).bit_length() - 1))  # a power of two, at most half the images


def _check_run_folder(out: Path, resume: bool | str, dry_run: bool = False) -> bool:
    """Whether to resume; refuses a folder that cannot be written or would be overwritten."""
    checkpoint_file = out / "checkpoint.pt"
    if resume == "auto":
        resume = checkpoint_file.exists()
    if checkpoint_file.exists() and not resume:
        raise CnnzooError(f"{out} already holds a run: add `resume` to continue it, `restart` to set it aside and start anew, "
                          f"or choose another `out`")  # fmt: skip
    if resume and not checkpoint_file.exists():
        raise CnnzooError(f"nothing to resume: no checkpoint at {checkpoint_file}")
    if dry_run:  # write nothing, but a folder that could not be written is refused as a real run would be
        _probe(next(p for p in (out, *out.parents) if p.exists()), out)
        return bool(resume)
    for stale in out.glob(".*.tmp"):  # the half-written files of a process killed while saving (checkpoint, weights, logs)
        stale.unlink(missing_ok=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CnnzooError(f"cannot write to the run folder {out}: {e.strerror or e}; choose another `out`") from None
    _probe(out, out)
    return bool(resume)


def _probe(folder: Path, out: Path) -> None:
    """A file created and removed in `folder`: the run folder (or, for a dry run, its nearest existing
    parent) can be written."""
    try:
        if not folder.is_dir():
            raise NotADirectoryError(20, f"{folder} is not a folder")
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise CnnzooError(f"cannot write to the run folder {out}: {e.strerror or e}; choose another `out`") from None


def input_size(recipe: Recipe, model: nn.Module, data_size: int | None) -> int:
    """The recipe's input size; else small in-memory images' own size where the model can take it; else
    the model's native size."""
    if recipe.input_size:
        return recipe.input_size
    if data_size and (data_size >= model.input_size or data_size >= model.min_input_size()):  # probe only when smaller
        return data_size
    return model.input_size


def build_model(config: RunConfig, recipe: Recipe, num_classes: int, world: World, path: ExecPath) -> tuple[nn.Module, dict]:
    """The model with the seed's initial weights (or pretrained ones under --init, the peer's variant of
    the architecture, a new classifier), on the path's device and layout; and its options."""
    torch.manual_seed(recipe.seed)
    options = config.model_options
    if recipe.drop_path_rate:
        if "drop_path_rate" not in model_info(config.model).options():
            raise CnnzooError(f"drop_path_rate={recipe.drop_path_rate}: {config.model} has no residual blocks to drop (stochastic depth "
                              "is for ResNet, ResNeXt, SE nets, Inception-ResNet and MobileNet v2/v3)")  # fmt: skip
        options = {**options, "drop_path_rate": recipe.drop_path_rate}
    if config.init and is_cnnzoo_weights(config.init):  # a cnnzoo run's weights: its options, a new start of the recipe
        model, options = warm_start(config.init, config.model, num_classes, options)
        if recipe.freeze_backbone:
            freeze_backbone(model)
    elif config.init:  # built as the weights' source needs (a peer's variant, Keras's padding): those options are the run's
        model = create_model(config.model, num_classes=num_classes, weights=config.init, **options)
        options = dict(model.model_options)
        if recipe.freeze_backbone:
            freeze_backbone(model)
    else:
        model = create_model(config.model, num_classes=num_classes, **options)
    if recipe.grad_checkpointing:
        model.set_grad_checkpointing()
    if world.rank:  # dropout masks differ between ranks
        torch.manual_seed(derived_seed(recipe.seed, world.rank))
    return model.to(path.device, memory_format=path.memory_format), options


def announce(run: Run) -> None:
    """The plan, before a new run (or a dry run) starts."""
    if run.config.dry_run or not run.resume:
        recipe = run.recipe
        run.log(f"{run.config.model} on {run.data.description}")
        run.log(f"recipe {recipe.name}: " + ", ".join(f"{k}={v}" for k, v in recipe.as_dict().items() if k != "name"))
        for note in recipe.schedule_notes():
            run.log(f"note: {note}")
        where = f" in each of {run.world.size} processes" if run.world.distributed else ""
        if run.teacher is not None:
            run.log(f"{run.teacher.describe()}: weight {recipe.distill_weight}, temperature {recipe.distill_temperature}")
        run.log(f"{run.path.describe()}{where}; {run.total_steps:,} steps of {recipe.batch_size} ({run.epochs} epoch{'s' if run.epochs != 1 else ''}), "
                f"input {run.size}x{run.size}")  # fmt: skip
    if run.config.dry_run:
        run.log(f"--dry-run: nothing trained or written{'; would resume ' + str(run.checkpoint_file) if run.resume else ''}")


def begin(run: Run, state: TrainState) -> None:
    """Resume from the run folder's checkpoint, or write the first one (a start to come back to: a
    restarted job or a NaN rollback resumes from here)."""
    if run.resume:
        saved = state.load(run.checkpoint_file, run.meta, run.world)["recipe"]
        check_same_data(run, state)
        run.log(f"resuming {run.out} at step {state.step:,} (epoch {state.epoch + 1}, batch {state.batch})")
        longer = {k: (saved.get(k), run.recipe.as_dict()[k]) for k in ("epochs", "iterations") if saved.get(k) != run.recipe.as_dict()[k]}
        if longer:
            what = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in longer.items())
            run.log(f"extended ({what}): {run.total_steps:,} steps in all; the learning-rate schedule follows the new length from here")
            if run.world.main:
                atomic_write_text(run.out / "recipe.json", json.dumps(run.recipe.as_dict(), indent=1))
        return
    if run.world.main:
        atomic_write_text(run.out / "recipe.json", json.dumps(run.recipe.as_dict(), indent=1))
    state.save(run.checkpoint_file, run.meta, run.world)


def check_same_data(run: Run, state: TrainState) -> None:
    """A resume continues on the very files the run began on: refuse one whose data changed (added,
    removed or resized files would move the seeded validation split and the epoch's length)."""
    before, epoch_was = state.saved.get("data_files"), state.saved.get("steps_per_epoch")
    where = f"{run.config.data} changed since {run.out} began"
    fix = "resume on the data it trained on, or start a new run (--restart keeps the old one's files aside)"
    if before is not None and state.data_files is not None:
        changes = DataFiles.from_state(before).changes(state.data_files)
        if changes["added"] or changes["removed"] or changes["modified"]:
            raise CnnzooError(f"{where}: {changes['added']:,} files added, {changes['removed']:,} removed, {changes['modified']:,} "
                              f"modified: {fix}")  # fmt: skip
        if changes["touched"]:
            run.log(f"{changes['touched']:,} data files have new modification times but the same paths and sizes (a fresh copy of "
                    f"the same data): resuming")  # fmt: skip
    elif before is None and epoch_was is None:
        run.log(f"{run.checkpoint_file} records no list of its data files (written before cnnzoo kept one): not checked")
    if epoch_was is not None and epoch_was != run.steps_per_epoch:
        raise CnnzooError(f"{where}: an epoch was {epoch_was:,} steps and is now {run.steps_per_epoch:,}: {fix}")


# -- an epoch: steps, then validation ----------------------------------------------------------------


def _loss(out, labels: torch.Tensor, recipe: Recipe, soft: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The labels' cross-entropy (auxiliary classifiers' added at their weight); mixed with the
    distillation loss against the teacher's logits `soft` where there is a teacher."""
    logits = out.logits if isinstance(out, AuxOutputs) else out
    loss = F.cross_entropy(logits.float(), labels, label_smoothing=recipe.label_smoothing)
    if soft is not None:
        a = recipe.distill_weight
        loss = (1 - a) * loss + a * distillation_loss(logits, soft, recipe.distill_temperature)
    for aux in getattr(out, "aux_logits", ()):
        loss = loss + recipe.aux_weight * F.cross_entropy(aux.float(), labels, label_smoothing=recipe.label_smoothing)
    return loss, logits


def train_step(run: Run, state: TrainState, batch: Batch) -> tuple[float, int]:
    """One optimizer step on one batch; returns its learning rate and the images it saw (every process's)."""
    recipe = run.recipe
    lr = recipe.lr * state.lr_scale * lr_factor(recipe, state.step, run.total_steps, run.steps_per_epoch, state.plateau.factor)
    for group in state.optimizer.param_groups:
        group["lr"] = lr * group.get("lr_factor", 1.0)
    x, y = run.path.to_device(batch.images), batch.labels.to(run.path.device)
    soft = run.teacher.logits(x) if run.teacher is not None else None
    with run.path.autocast():
        loss, logits = _loss(run.net(x), y, recipe, soft)
    n = len(y)
    loss_sum, correct, seen = run.world.sum(loss.item() * n, (logits.argmax(1) == y).sum().item(), n)
    if not math.isfinite(loss_sum):  # every rank sees the same sum, so all stop together
        raise Diverged(f"the loss became {loss_sum / seen} at step {state.step:,} (epoch {state.epoch + 1}, lr {lr:.4g})")
    state.optimizer.zero_grad(set_to_none=True)
    state.scaler.scale(loss).backward()
    if recipe.clip_grad:
        state.scaler.unscale_(state.optimizer)
        nn.utils.clip_grad_norm_(run.model.parameters(), recipe.clip_grad)
    state.scaler.step(state.optimizer)
    state.scaler.update()
    if state.ema is not None:
        state.ema.update(run.model)
    state.count(loss_sum, correct, seen)
    return lr, int(seen)


def train_epoch(run: Run, state: TrainState, clock: Clock) -> None:
    """The epoch's remaining steps, with checkpoints at the cadence's steps."""
    run.model.train()
    if run.config.init and run.recipe.freeze_backbone:
        backbone_to_eval(run.model)
    state.start_epoch()
    left = min(run.steps_per_epoch - state.batch, run.total_steps - state.step)
    show = run.config.show_progress if run.world.main else False
    with Progress(left * run.recipe.batch_size, f"epoch {state.epoch + 1}/{run.epochs}", "img", enabled=show) as bar:
        batches = run.data.train.batches(state.epoch, state.batch, run.world)
        while state.batch < run.steps_per_epoch and state.step < run.total_steps:
            batch = clock.next_batch(batches)
            if batch is None:
                break
            clock.lr, seen = train_step(run, state, batch)
            clock.images += seen
            bar.update(seen, note=f"loss {state.train_loss():.3f} lr {clock.lr:.3g}")
            saved = run.cadence.checkpoint_now(state)
            if saved:
                state.save(run.checkpoint_file, run.meta, run.world)
            if run.stop.requested:
                stop_here(run, state, saved)
            if run.cadence.stop_mid_epoch(state):
                raise StopRequested(state.step)


def stop_here(run: Run, state: TrainState, saved: bool) -> None:
    """A kill asked the run to stop: it does, after a checkpoint at this step (the same command resumes it)."""
    if not saved:
        state.save(run.checkpoint_file, run.meta, run.world)
    run.log(f"stopped at step {state.step:,} (epoch {state.epoch + 1}, batch {state.batch}): checkpoint {run.checkpoint_file} saved")
    raise KeyboardInterrupt


def validate(run: Run, state: TrainState, clock: Clock) -> dict:
    """The validation split's metrics after an epoch (of the EMA weights where there are), as a log row;
    the plateau schedule sees the error."""
    model = _ema_model(run, state.ema) if state.ema is not None else run.model
    if run.recipe.bn_recalibrate:
        recalibrate_batchnorm(model, run.data.train.batches(state.epoch, world=run.world), run.recipe.bn_recalibrate, run.path)
    if run.world.distributed:  # the ranks' BatchNorm statistics drift apart between DDP's broadcasts: take rank 0's
        for buffer in model.buffers():
            torch.distributed.broadcast(buffer, 0)
    (val,), _ = evaluate([model], run.data.val.batches(world=run.world), run.data.num_classes, run.path, world=run.world)
    dropped = run.recipe.schedule == "plateau" and state.plateau.update(val.top1_error, run.recipe)
    row = {
        "epoch": state.epoch + 1, "step": state.step, "lr": clock.lr,
        "train_loss": round(state.train_loss(), 5), "train_top1_error": round(state.train_error(), 3),
        "val_loss": round(val.loss, 5), "val_top1_error": round(val.top1_error, 3), "val_top5_error": round(val.top5_error, 3),
        "seconds": round(state.elapsed(), 1),
    }  # fmt: skip
    took = row["seconds"] - (state.history[-1]["seconds"] if state.history else 0.0)  # over every resume, so a resumed epoch counts whole
    pace = f"; {duration(took)} this epoch, about {duration(took * (run.epochs - row['epoch']))} left" if row["epoch"] < run.epochs else ""
    run.log(f"epoch {row['epoch']}/{run.epochs}: train loss {row['train_loss']:.4f}, validation {val.line()}" + (" - lr divided" if dropped else "") + pace)
    return row


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches, count: int, path: ExecPath) -> None:
    """BatchNorm's running mean and variance replaced by their averages over `count` training batches through
    the current weights (train-mode forward passes, no gradient). The running averages (momentum 0.1) mix the
    statistics of the last ~10 steps' weights: while a large learning rate still moves the net, the network
    validated with them is one no step trained, and its validation loss spikes."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches below
    was_training = model.training
    model.train()
    for _, batch in zip(range(count), batches):
        with path.autocast():
            model(path.to_device(batch.images))
    model.train(was_training)
    for m, momentum in zip(norms, saved):
        m.momentum = momentum


def end_epoch(run: Run, state: TrainState, row: dict) -> None:
    """The epoch's row in the history, a checkpoint at the next epoch's start, the logs and curves."""
    state.end_epoch(row)
    state.save(run.checkpoint_file, run.meta, run.world)
    if run.world.main:
        write_logs(run.out, state.history)
        if time.monotonic() - run.plotted >= CURVES_EVERY:
            draw_curves(run, state.history)


def draw_curves(run: Run, history: list[dict]) -> None:
    plot_curves(run.out, history, f"{run.config.model} on {run.config.data} ({run.recipe.name})")
    run.plotted = time.monotonic()


def _ema_model(run: Run, ema: EMA) -> nn.Module:
    model = create_model(run.config.model, num_classes=run.data.num_classes, **run.options).to(run.path.device)
    model.load_state_dict(ema.shadow)
    return model


# -- the end ---------------------------------------------------------------------------------------------


def finish(run: Run, state: TrainState, clock: Clock) -> RunResult:
    """The final weights (EMA's where kept), the logs and the summary."""
    final_model = _ema_model(run, state.ema) if state.ema is not None else run.model
    history = state.history
    last, best = history[-1], min(history, key=lambda h: h["val_top1_error"])
    elapsed, data = clock.elapsed, run.data
    final = {
        "model": run.config.model, "recipe": run.recipe.name, "steps": state.step, "epochs": len(history),
        "val_top1_error": last["val_top1_error"], "val_top5_error": last["val_top5_error"],
        "best_val_top1_error": best["val_top1_error"], "best_epoch": best["epoch"],
        "seconds": round(state.elapsed(), 1), "seconds_this_process": round(elapsed, 1), "train_images_per_second": round(clock.images / elapsed, 1) if clock.images else None,
        "data_wait_percent": round(100 * clock.data_wait / elapsed, 2) if clock.images else None, "processes": run.world.size,
        "rollbacks": state.rollbacks, "skipped_images": data.stats.total, "skipped": data.stats.summary(), "path": run.path.describe(),
    }  # fmt: skip
    if run.world.main:
        save_weights(run.out / "model.safetensors", final_model, run.meta)
        write_predictions(run.out, final_model, run.data, run.path.device)  # per image: claims are judged on them
        write_logs(run.out, history)  # again: a run killed while writing them, then resumed at its end
        draw_curves(run, history)
        atomic_write_text(run.out / "summary.json", json.dumps(final, indent=1))
    run.world.barrier()
    run.log(
        f"done: validation top-1 error {last['val_top1_error']:.2f}%, top-5 {last['val_top5_error']:.2f}% "
        f"(best top-1 {best['val_top1_error']:.2f}% at epoch {best['epoch']}); {state.step:,} steps in {elapsed:.0f} s; "
        f"{data.stats.summary()}; weights in {run.out / 'model.safetensors'}"
    )
    return RunResult(history, final, run.out)
