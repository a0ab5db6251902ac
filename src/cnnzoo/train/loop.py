"""The training loop: any registered model, any data spec, a recipe; checkpoints at every N steps
and at every epoch end, an exact resume, logs, curves and a final summary. One process, or many
under torchrun (DistributedDataParallel; see cnnzoo.distributed)."""
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..analysis.counting import meta_model
from ..data import DataOptions, load_data
from ..data.loaders import derived_seed
from ..distributed import join
from ..errors import CnnzooError
from ..evaluate import evaluate
from ..execution import ExecPath, resolve_path
from ..fileio import atomic_write_text
from ..models.base import AuxOutputs
from ..progress import Progress
from ..registry import create_model, model_info
from .checkpoint import CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .logs import plot_curves, write_logs
from .optim import EMA, backbone_to_eval, build_optimizer, freeze_backbone
from .recipes import Recipe
from .schedule import Plateau, lr_factor
from .weights import load_fitting, save_weights


class TrainingDiverged(CnnzooError):
    """The loss became NaN or infinite."""


class _Diverged(Exception):
    def __init__(self, message: str):
        self.message = message


class StopRequested(Exception):
    """Raised after `max_steps` (tests use it to interrupt a run at a given step)."""


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
    init: str | None = None  # start from pretrained weights: "torchvision", "timm" or a file of theirs (a new classifier)
    num_classes: int | None = None  # with init: the classes the new classifier must have (checked against the data)
    log: object = print


@dataclass
class RunResult:
    history: list[dict]
    final: dict
    out: Path


def _input_size(config: RunConfig, model: nn.Module, data_size: int | None) -> int:
    if config.recipe.input_size:
        return config.recipe.input_size
    if data_size and data_size >= model.min_input_size():  # small in-memory images: train at their size
        return data_size
    return model.input_size


def _loss(out, labels: torch.Tensor, recipe: Recipe) -> tuple[torch.Tensor, torch.Tensor]:
    logits = out.logits if isinstance(out, AuxOutputs) else out
    loss = F.cross_entropy(logits.float(), labels, label_smoothing=recipe.label_smoothing)
    for aux in getattr(out, "aux_logits", ()):
        loss = loss + recipe.aux_weight * F.cross_entropy(aux.float(), labels, label_smoothing=recipe.label_smoothing)
    return loss, logits


def _check_run_folder(out: Path, resume: bool | str, dry_run: bool = False) -> bool:
    """Whether to resume; refuses a folder that cannot be written or would be overwritten."""
    checkpoint_file = out / "checkpoint.pt"
    if resume == "auto":
        resume = checkpoint_file.exists()
    if checkpoint_file.exists() and not resume:
        raise CnnzooError(f"{out} already holds a run: add --resume to continue it, or choose another --out")
    if resume and not checkpoint_file.exists():
        raise CnnzooError(f"nothing to resume: no checkpoint at {checkpoint_file}")
    if dry_run:
        return bool(resume)
    for stale in out.glob(".checkpoint.pt.*.tmp"):  # the half-written file of a process killed while saving
        stale.unlink(missing_ok=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise CnnzooError(f"cannot write to the run folder {out}: {e.strerror or e}; choose another --out") from None
    return bool(resume)


def train(config: RunConfig) -> RunResult:
    recipe = config.recipe.validated()
    model_info(config.model)  # an unknown name fails here, before any work
    out = Path(config.out)
    checkpoint_file = out / "checkpoint.pt"
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

    probe = meta_model(config.model, **config.model_options)  # its sizes, before the data says how many classes
    data_opts = DataOptions(
        batch_size=recipe.batch_size, eval_batch_size=max(recipe.batch_size, 100), augment=recipe.augment,
        input_size=None, seed=recipe.seed, val_size=recipe.val_size, normalize=recipe.normalize,
        strict=config.strict, workers=recipe.workers, crops=recipe.eval_crops, limit=config.limit,
    )  # fmt: skip
    data = load_data(config.data, data_opts)
    data_size = data.train.images.shape[-1] if hasattr(data.train, "images") else None
    size = _input_size(config, probe, data_size)
    data.train.size = data.val.size = size
    if hasattr(data.train, "dataset") and recipe.input_size is None and size != 224:
        raise CnnzooError(f"{config.model} takes {size}x{size} images: set input_size={size} for streamed data")
    if config.num_classes is not None and config.num_classes != data.num_classes:
        raise CnnzooError(f"--num-classes {config.num_classes}, but {config.data} has {data.num_classes} classes")
    torch.manual_seed(recipe.seed)  # the initial weights are the seed's
    options = config.model_options
    if config.init:  # the peer's variant of the architecture, its weights, a new classifier for these classes
        peer = model_info(config.model).peer
        options = {**(peer.ours if peer else {}), **options}
        model = create_model(config.model, num_classes=data.num_classes, weights=config.init, **options)
        if recipe.freeze_backbone:
            freeze_backbone(model)
    else:
        model = create_model(config.model, num_classes=data.num_classes, **options)
    if world.rank:  # dropout masks differ between ranks
        torch.manual_seed(derived_seed(recipe.seed, world.rank))
    model = model.to(path.device, memory_format=torch.channels_last if path.channels_last else torch.contiguous_format)
    net = model  # what the steps run: the model, or its DistributedDataParallel wrapper
    if world.distributed:
        if recipe.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.startswith("cuda") else None)
    optimizer = build_optimizer(model, recipe, recipe.lr, pretrained=bool(config.init))
    scaler = torch.amp.GradScaler(path.device.split(":")[0], enabled=path.precision == "fp16")
    ema = EMA(model, recipe.ema_decay) if recipe.ema_decay else None
    plateau = Plateau()
    steps_per_epoch = len(data.train)
    if steps_per_epoch == 0:
        raise CnnzooError(f"the training set ({data.train.num_samples} images) is smaller than one batch of {recipe.batch_size}")
    total_steps = recipe.iterations or max(1, round(recipe.epochs * steps_per_epoch))
    epochs = math.ceil(total_steps / steps_per_epoch)
    meta = {
        "model": config.model, "model_options": options, "num_classes": data.num_classes, "init": config.init,
        "classes": data.classes, "class_names": data.class_names, "input_size": size, "data": config.data,
        "normalization": {"mean": data.train.mean.tolist(), "std": data.train.std.tolist()} if hasattr(data.train, "mean") else "imagenet",
        "recipe": recipe.as_dict(),
    }  # fmt: skip
    step, epoch, start_batch, history, lr_scale, rollbacks = 0, 0, 0, [], 1.0, 0
    sums = {"loss": 0.0, "correct": 0, "seen": 0}  # this epoch's so far: a resumed epoch logs what a whole one would

    def restore(ckpt: dict) -> None:
        nonlocal plateau, step, epoch, start_batch, history, lr_scale, sums
        missing = [k for k in ("meta", "model", "optimizer", "scaler", "plateau", "rng", "position", "history") if k not in ckpt]
        if missing or not isinstance(ckpt.get("meta"), dict):
            raise CheckpointError(f"{checkpoint_file} is not a cnnzoo training checkpoint (it has no {(missing or ['meta'])[0]})")
        for key in ("model", "model_options", "data", "recipe", "init"):
            if ckpt["meta"].get(key) != meta[key]:
                raise CheckpointError(f"{checkpoint_file} was made with {key} {ckpt['meta'].get(key)!r}, not {meta[key]!r}")
        load_fitting(model, ckpt["model"], str(checkpoint_file))
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        plateau = Plateau(**ckpt["plateau"])
        if ema is not None:
            ema.load_state_dict(ckpt["ema"])
        ranks = ckpt.get("rng_ranks") or [ckpt["rng"]]
        set_rng_state(ranks[world.rank] if len(ranks) == world.size else ckpt["rng"])
        position = ckpt["position"]
        step, epoch, start_batch = position["step"], position["epoch"], position["batch"]
        lr_scale = position.get("lr_scale", 1.0)
        sums = dict(position.get("sums") or {"loss": 0.0, "correct": 0, "seen": 0})
        history = ckpt["history"]

    def checkpoint(next_epoch: int, next_batch: int) -> None:
        """Called on every rank (the ranks' RNG states are gathered); rank 0 writes."""
        rngs = world.gather(rng_state())
        if not world.main:
            return
        state = {
            "meta": meta, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
            "plateau": plateau.state(), "ema": ema.state_dict() if ema else None, "rng": rngs[0], "rng_ranks": rngs,
            "position": {"step": step, "epoch": next_epoch, "batch": next_batch, "lr_scale": lr_scale, "sums": dict(sums)},
            "history": history,
        }  # fmt: skip
        save_checkpoint(checkpoint_file, state)

    if config.dry_run or not resume:
        log(f"{config.model} on {data.description}")
        log(f"recipe {recipe.name}: " + ", ".join(f"{k}={v}" for k, v in recipe.as_dict().items() if k != "name"))
        where = f" in each of {world.size} processes" if world.distributed else ""
        log(f"{path.describe()}{where}; {total_steps:,} steps of {recipe.batch_size} ({epochs} epochs), input {size}x{size}")
    if config.dry_run:
        log(f"--dry-run: nothing trained or written{'; would resume ' + str(checkpoint_file) if resume else ''}")
        return RunResult([], {"model": config.model, "steps": total_steps, "epochs": epochs, "input_size": size}, out)
    if resume:
        restore(load_checkpoint(checkpoint_file))
        log(f"resuming {out} at step {step:,} (epoch {epoch + 1}, batch {start_batch})")
    else:
        if world.main:
            atomic_write_text(out / "recipe.json", json.dumps(recipe.as_dict(), indent=1))
        checkpoint(0, 0)  # a start to come back to: a restarted job or a rollback resumes from here

    started = time.perf_counter()
    images_seen, data_wait, lr = 0, 0.0, recipe.lr
    memory_format = torch.channels_last if path.channels_last else torch.contiguous_format
    while epoch < epochs and step < total_steps:
        model.train()
        if config.init and recipe.freeze_backbone:
            backbone_to_eval(model)
        if start_batch == 0:
            sums = {"loss": 0.0, "correct": 0, "seen": 0}
        batches_left = min(steps_per_epoch - start_batch, total_steps - step)
        try:
            with Progress(batches_left * recipe.batch_size, f"epoch {epoch + 1}/{epochs}", "img",
                          enabled=config.show_progress if world.main else False) as bar:  # fmt: skip
                batches = data.train.batches(epoch, start_batch, world)
                for b in range(start_batch, steps_per_epoch):
                    if step >= total_steps:
                        break
                    waited = time.perf_counter()
                    batch = next(batches, None)
                    data_wait += time.perf_counter() - waited
                    if batch is None:
                        break
                    lr = recipe.lr * lr_scale * lr_factor(recipe, step, total_steps, steps_per_epoch, plateau.factor)
                    for group in optimizer.param_groups:
                        group["lr"] = lr * group.get("lr_factor", 1.0)
                    x, y = batch.images.to(path.device, memory_format=memory_format), batch.labels.to(path.device)
                    with torch.autocast(path.device.split(":")[0], dtype=path.autocast_dtype, enabled=path.autocast_dtype is not None):
                        loss, logits = _loss(net(x), y, recipe)
                    n = len(y)
                    batch_loss, batch_correct, batch_n = world.sum(loss.item() * n, (logits.argmax(1) == y).sum().item(), n)
                    if not math.isfinite(batch_loss):  # every rank sees the same sum, so all stop together
                        raise _Diverged(f"the loss became {batch_loss / batch_n} at step {step:,} (epoch {epoch + 1}, lr {lr:.4g})")
                    optimizer.zero_grad(set_to_none=True)
                    scaler.scale(loss).backward()
                    if recipe.clip_grad:
                        scaler.unscale_(optimizer)
                        nn.utils.clip_grad_norm_(model.parameters(), recipe.clip_grad)
                    scaler.step(optimizer)
                    scaler.update()
                    if ema is not None:
                        ema.update(model)
                    step += 1
                    sums["loss"] += batch_loss
                    sums["correct"] += int(batch_correct)
                    sums["seen"] += int(batch_n)
                    images_seen += int(batch_n)
                    bar.update(int(batch_n), note=f"loss {sums['loss'] / sums['seen']:.3f} lr {lr:.3g}")
                    if step % recipe.checkpoint_every == 0 and b + 1 < steps_per_epoch and step < total_steps:
                        checkpoint(epoch, b + 1)
                    if step == config.max_steps and b + 1 < steps_per_epoch:
                        checkpoint(epoch, b + 1)
                        raise StopRequested(step)
        except _Diverged as e:
            if recipe.on_nan != "rollback" or rollbacks >= recipe.max_rollbacks:
                tried = f" after {rollbacks} rollbacks" if rollbacks else ""
                raise TrainingDiverged(f"{e.message}{tried}; the last good checkpoint is {checkpoint_file}: lower lr and --resume") from None
            scale = lr_scale * recipe.nan_lr_factor
            restore(load_checkpoint(checkpoint_file))
            rollbacks, lr_scale = rollbacks + 1, scale
            log(f"{e.message}: rolled back to step {step:,}, learning rate now x{lr_scale:.3g}")
            continue
        start_batch = 0
        if world.distributed:  # the ranks' BatchNorm statistics drift apart between DDP's broadcasts: take rank 0's
            for buffer in model.buffers():
                torch.distributed.broadcast(buffer, 0)
        eval_model = _ema_model(config, data.num_classes, ema, path, options) if ema is not None else model
        (val,), _ = evaluate([eval_model], data.val.batches(world=world), data.num_classes, path, world=world)
        dropped = recipe.schedule == "plateau" and plateau.update(val.top1_error, recipe)
        row = {
            "epoch": epoch + 1, "step": step, "lr": lr,
            "train_loss": round(sums["loss"] / max(sums["seen"], 1), 5),
            "train_top1_error": round(100 * (1 - sums["correct"] / max(sums["seen"], 1)), 3),
            "val_loss": round(val.loss, 5), "val_top1_error": round(val.top1_error, 3), "val_top5_error": round(val.top5_error, 3),
            "seconds": round(time.perf_counter() - started, 1),
        }  # fmt: skip
        history.append(row)
        log(f"epoch {epoch + 1}: train loss {row['train_loss']:.4f}, validation {val.line()}" + (" - lr divided" if dropped else ""))
        epoch += 1
        checkpoint(epoch, 0)
        if world.main:
            write_logs(out, history)
            plot_curves(out, history, f"{config.model} on {config.data} ({recipe.name})")
        if config.max_steps and step >= config.max_steps and step < total_steps:
            raise StopRequested(step)

    final_model = _ema_model(config, data.num_classes, ema, path, options) if ema is not None else model
    last = history[-1]
    best = min(history, key=lambda h: h["val_top1_error"])
    elapsed = time.perf_counter() - started
    final = {
        "model": config.model, "recipe": recipe.name, "steps": step, "epochs": len(history),
        "val_top1_error": last["val_top1_error"], "val_top5_error": last["val_top5_error"],
        "best_val_top1_error": best["val_top1_error"], "best_epoch": best["epoch"],
        "seconds": round(elapsed, 1), "train_images_per_second": round(images_seen / elapsed, 1) if images_seen else None,
        "data_wait_percent": round(100 * data_wait / elapsed, 2) if images_seen else None, "processes": world.size,
        "rollbacks": rollbacks, "skipped_images": data.stats.total, "skipped": data.stats.summary(), "path": path.describe(),
    }  # fmt: skip
    if world.main:
        save_weights(out / "model.safetensors", final_model, meta)
        write_logs(out, history)  # again: a run killed while writing them, then resumed at its end
        atomic_write_text(out / "summary.json", json.dumps(final, indent=1))
    world.barrier()
    log(
        f"done: validation top-1 error {last['val_top1_error']:.2f}%, top-5 {last['val_top5_error']:.2f}% "
        f"(best top-1 {best['val_top1_error']:.2f}% at epoch {best['epoch']}); {step:,} steps in {elapsed:.0f} s; "
        f"{data.stats.summary()}; weights in {out / 'model.safetensors'}"
    )
    return RunResult(history, final, out)


def _ema_model(config: RunConfig, num_classes: int, ema: EMA, path: ExecPath, options: dict) -> nn.Module:
    model = create_model(config.model, num_classes=num_classes, **options).to(path.device)
    model.load_state_dict(ema.shadow)
    return model
