"""The training loop: any registered model, any data spec, a recipe; checkpoints at every N steps
and at every epoch end, an exact resume, logs, curves and a final summary."""
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..analysis.counting import meta_model
from ..analysis.timing import ExecPath, default_path
from ..data import DataOptions, load_data
from ..errors import CnnzooError
from ..evaluate import evaluate
from ..fileio import atomic_write_text
from ..models.base import AuxOutputs
from ..progress import Progress
from ..registry import create_model, model_info
from .checkpoint import CheckpointError, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .logs import plot_curves, write_logs
from .optim import EMA, build_optimizer
from .recipes import Recipe
from .schedule import Plateau, lr_factor
from .weights import save_weights


class TrainingDiverged(CnnzooError):
    """The loss became NaN or infinite."""


class StopRequested(Exception):
    """Raised after `max_steps` (tests use it to interrupt a run at a given step)."""


@dataclass
class RunConfig:
    model: str
    data: str
    recipe: Recipe
    out: Path
    model_options: dict = field(default_factory=dict)
    resume: bool = False
    strict: bool = False
    precision: str | None = None  # overrides the recipe's
    max_steps: int | None = None  # stop (with a checkpoint) after this many steps in total
    limit: int | None = None  # train on this many images only (stratified), for quick runs
    show_progress: bool | None = None  # None: on a terminal
    log: object = print


@dataclass
class RunResult:
    history: list[dict]
    final: dict
    out: Path


def _exec_path(recipe: Recipe, precision: str | None) -> ExecPath:
    path = default_path(train=True)
    wanted = precision or recipe.precision
    if wanted != "auto":
        if wanted == "fp16" and not path.device.startswith("cuda"):
            raise CnnzooError("precision fp16 needs a CUDA device (it trains with gradient scaling); use bf16 or fp32 here")
        path = ExecPath(path.device, wanted, path.channels_last, False)
    if recipe.channels_last is not None:
        path = ExecPath(path.device, path.precision, recipe.channels_last, False)
    return ExecPath(path.device, path.precision, path.channels_last, False, recipe.compile)


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


def train(config: RunConfig) -> RunResult:
    recipe, log = config.recipe.validated(), config.log
    model_info(config.model)  # an unknown name fails here, before any work
    out = Path(config.out)
    checkpoint_file = out / "checkpoint.pt"
    if checkpoint_file.exists() and not config.resume:
        raise CnnzooError(f"{out} already holds a run: add --resume to continue it, or choose another --out")
    if config.resume and not checkpoint_file.exists():
        raise CnnzooError(f"nothing to resume: no checkpoint at {checkpoint_file}")

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
    torch.manual_seed(recipe.seed)  # the initial weights are the seed's
    model = create_model(config.model, num_classes=data.num_classes, **config.model_options)
    path = _exec_path(recipe, config.precision)
    model = model.to(path.device, memory_format=torch.channels_last if path.channels_last else torch.contiguous_format)
    optimizer = build_optimizer(model, recipe, recipe.lr)
    scaler = torch.amp.GradScaler(path.device, enabled=path.precision == "fp16")
    ema = EMA(model, recipe.ema_decay) if recipe.ema_decay else None
    plateau = Plateau()
    steps_per_epoch = len(data.train)
    if steps_per_epoch == 0:
        raise CnnzooError(f"the training set ({data.train.num_samples} images) is smaller than one batch of {recipe.batch_size}")
    total_steps = recipe.iterations or max(1, round(recipe.epochs * steps_per_epoch))
    epochs = math.ceil(total_steps / steps_per_epoch)
    meta = {
        "model": config.model, "model_options": config.model_options, "num_classes": data.num_classes,
        "classes": data.classes, "class_names": data.class_names, "input_size": size, "data": config.data,
        "normalization": {"mean": data.train.mean.tolist(), "std": data.train.std.tolist()} if hasattr(data.train, "mean") else "imagenet",
        "recipe": recipe.as_dict(),
    }  # fmt: skip
    step, epoch, start_batch, history = 0, 0, 0, []
    if config.resume:
        ckpt = load_checkpoint(checkpoint_file)
        for key in ("model", "model_options", "data", "recipe"):
            if ckpt["meta"].get(key) != meta[key]:
                raise CheckpointError(f"{checkpoint_file} was made with {key} {ckpt['meta'].get(key)!r}, not {meta[key]!r}")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scaler.load_state_dict(ckpt["scaler"])
        plateau = Plateau(**ckpt["plateau"])
        if ema is not None:
            ema.load_state_dict(ckpt["ema"])
        set_rng_state(ckpt["rng"])
        step, epoch, start_batch = ckpt["position"]["step"], ckpt["position"]["epoch"], ckpt["position"]["batch"]
        history = ckpt["history"]
        log(f"resuming {out} at step {step:,} (epoch {epoch + 1}, batch {start_batch})")
    else:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "recipe.json", json.dumps(recipe.as_dict(), indent=1))
        log(f"{config.model} on {data.description}")
        log(f"recipe {recipe.name}: " + ", ".join(f"{k}={v}" for k, v in recipe.as_dict().items() if k != "name"))
        log(f"{path.describe()}; {total_steps:,} steps of {recipe.batch_size} ({epochs} epochs), input {size}x{size}")

    def checkpoint(next_epoch: int, next_batch: int) -> None:
        state = {
            "meta": meta, "model": model.state_dict(), "optimizer": optimizer.state_dict(), "scaler": scaler.state_dict(),
            "plateau": plateau.state(), "ema": ema.state_dict() if ema else None, "rng": rng_state(),
            "position": {"step": step, "epoch": next_epoch, "batch": next_batch}, "history": history,
        }  # fmt: skip
        save_checkpoint(checkpoint_file, state)

    started = time.perf_counter()
    images_seen, data_wait = 0, 0.0
    while epoch < epochs and step < total_steps:
        model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        batches_left = min(steps_per_epoch - start_batch, total_steps - step)
        with Progress(batches_left * recipe.batch_size, f"epoch {epoch + 1}/{epochs}", "img", enabled=config.show_progress) as bar:
            batches = data.train.batches(epoch, start_batch)
            for b in range(start_batch, steps_per_epoch):
                if step >= total_steps:
                    break
                waited = time.perf_counter()
                batch = next(batches, None)
                data_wait += time.perf_counter() - waited
                if batch is None:
                    break
                lr = recipe.lr * lr_factor(recipe, step, total_steps, steps_per_epoch, plateau.factor)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x = batch.images.to(path.device, memory_format=torch.channels_last if path.channels_last else torch.contiguous_format)
                y = batch.labels.to(path.device)
                with torch.autocast(path.device.split(":")[0], dtype=path.autocast_dtype, enabled=path.autocast_dtype is not None):
                    loss, logits = _loss(model(x), y, recipe)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"the loss became {loss.item()} at step {step:,} (epoch {epoch + 1}, lr {lr:.4g}); "
                        f"the last good checkpoint is {checkpoint_file}: lower lr and --resume"
                    )
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
                n = len(y)
                loss_sum += loss.item() * n
                correct += (logits.argmax(1) == y).sum().item()
                seen += n
                images_seen += n
                bar.update(n, note=f"loss {loss_sum / seen:.3f} lr {lr:.3g}")
                if step % recipe.checkpoint_every == 0 and b + 1 < steps_per_epoch:
                    checkpoint(epoch, b + 1)
                if step == config.max_steps and b + 1 < steps_per_epoch:
                    checkpoint(epoch, b + 1)
                    raise StopRequested(step)
        start_batch = 0
        eval_model = model
        if ema is not None:
            eval_model = create_model(config.model, num_classes=data.num_classes, **config.model_options).to(path.device)
            eval_model.load_state_dict(ema.shadow)
        (val,), _ = evaluate([eval_model], data.val.batches(), data.num_classes, path)
        dropped = recipe.schedule == "plateau" and plateau.update(val.top1_error, recipe)
        row = {
            "epoch": epoch + 1, "step": step, "lr": lr,
            "train_loss": round(loss_sum / max(seen, 1), 5), "train_top1_error": round(100 * (1 - correct / max(seen, 1)), 3),
            "val_loss": round(val.loss, 5), "val_top1_error": round(val.top1_error, 3), "val_top5_error": round(val.top5_error, 3),
            "seconds": round(time.perf_counter() - started, 1),
        }  # fmt: skip
        history.append(row)
        log(f"epoch {epoch + 1}: train loss {row['train_loss']:.4f}, validation {val.line()}" + (" - lr divided" if dropped else ""))
        epoch += 1
        checkpoint(epoch, 0)
        write_logs(out, history)
        plot_curves(out, history, f"{config.model} on {config.data} ({recipe.name})")
        if config.max_steps and step >= config.max_steps and step < total_steps:
            raise StopRequested(step)

    final_model = model
    if ema is not None:
        final_model = eval_model
    save_weights(out / "model.safetensors", final_model, meta)
    last = history[-1]
    best = min(history, key=lambda h: h["val_top1_error"])
    elapsed = time.perf_counter() - started
    final = {
        "model": config.model, "recipe": recipe.name, "steps": step, "epochs": len(history),
        "val_top1_error": last["val_top1_error"], "val_top5_error": last["val_top5_error"],
        "best_val_top1_error": best["val_top1_error"], "best_epoch": best["epoch"],
        "seconds": round(elapsed, 1), "train_images_per_second": round(images_seen / elapsed, 1) if elapsed else None,
        "data_wait_percent": round(100 * data_wait / elapsed, 2) if elapsed else None,
        "skipped_images": data.stats.total, "skipped": data.stats.summary(), "path": path.describe(),
    }  # fmt: skip
    atomic_write_text(out / "summary.json", json.dumps(final, indent=1))
    log(
        f"done: validation top-1 error {last['val_top1_error']:.2f}%, top-5 {last['val_top5_error']:.2f}% "
        f"(best top-1 {best['val_top1_error']:.2f}% at epoch {best['epoch']}); {step:,} steps in {elapsed:.0f} s; "
        f"{data.stats.summary()}; weights in {out / 'model.safetensors'}"
    )
    return RunResult(history, final, out)
