"""The whole resumable state of a training run, as one object that saves and restores itself.

A checkpoint is this state at a position (step; epoch and the next batch in it) plus the run's
metadata, written atomically; restoring it and carrying on gives the weights an uninterrupted run
would have, bit for bit (the batches are pure functions of seed, epoch and batch index)."""
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..artifacts.checkpoint import CheckpointError, first_sentence, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ..artifacts.weights import load_fitting
from ..data.fingerprint import DataFiles
from ..recipes import Recipe
from ..runtime.distributed import World
from .lr_schedule import Plateau
from .optim import EMA

# what a run's checkpoint must agree on with the run resuming from it; of the recipe, every field but
# these: the ones that change nothing in the result, and the length, which a resumed run may extend
SAME_RUN = ("model", "model_options", "init")
FREE_ON_RESUME = ("workers", "checkpoint_every", "grad_checkpointing")  # how, not what, is computed
BY_CONTENT = ("teacher",)  # files: compared by their contents' digest in the metadata, wherever they now lie
MAY_GROW = ("epochs", "iterations")


def _same_data(a: object, b: object) -> bool:
    """The same data spec: `digits` and `synthetic` by name, folders by where they resolve to."""
    if a == b:
        return True
    if not isinstance(a, str) or not isinstance(b, str) or {a, b} & {"digits", "synthetic"}:
        return False
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def run_differences(saved: dict, now: dict) -> list[str]:
    """What makes the run `now` describes another one than the checkpoint's (`saved`), as readable
    'field: then -> now' items; empty when it may resume from it."""
    diffs = [f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in SAME_RUN if saved.get(k) != now[k]]
    if saved.get("teacher_sha256") != now.get("teacher_sha256"):
        had, has = ("one" if m.get("teacher_sha256") else "none" for m in (saved, now))
        diffs.append("teacher: another file (its contents differ)" if had == has else f"teacher: {had} -> {has}")
    if not _same_data(saved.get("data"), now["data"]):
        diffs.append(f"data: {saved.get('data')!r} -> {now['data']!r}")
    try:
        then = Recipe.from_dict(saved.get("recipe") or {"name": "?"}).as_dict()
    except TypeError:
        return [*diffs, "recipe: unreadable in the checkpoint"]
    for key, value in Recipe.from_dict(now["recipe"]).as_dict().items():
        old = then.get(key)
        grows = key in MAY_GROW and isinstance(old, (int, float)) and isinstance(value, (int, float)) and value >= old
        if old != value and key not in FREE_ON_RESUME + BY_CONTENT and not grows:
            diffs.append(f"recipe {key}: {old!r} -> {value!r}")
    return diffs


def _zero_sums() -> dict:
    return {"loss": 0.0, "correct": 0, "seen": 0}


@dataclass
class TrainState:
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    ema: EMA | None = None
    plateau: Plateau = field(default_factory=Plateau)  # the plateau schedule's memory
    step: int = 0  # optimizer steps taken
    epoch: int = 0  # the epoch being trained (0-based)
    batch: int = 0  # the next batch of that epoch
    lr_scale: float = 1.0  # lowered by NaN rollbacks
    history: list[dict] = field(default_factory=list)  # one row per finished epoch
    sums: dict = field(default_factory=_zero_sums)  # this epoch's training loss/accuracy so far (a resumed epoch logs whole)
    rollbacks: int = 0  # NaN rollbacks in this process (not saved: a restarted job may roll back afresh)
    seconds: float = 0.0  # wall time of the run's kept work before this process's stretch (saved: a resumed run adds on)
    since: float | None = None  # perf_counter() when this process's stretch began (`start_timer`)
    data_files: DataFiles | None = None  # what the run trains on, file by file (saved: a resume checks it)
    steps_per_epoch: int | None = None  # the epoch the position counts in (saved: a resume checks it)
    saved: dict = field(default_factory=dict)  # after `load`: the checkpoint's data files and epoch length

    def start_timer(self) -> None:
        self.since = time.perf_counter()

    def elapsed(self) -> float:
        """Wall seconds of the run's work so far, over every process that trained it (work lost to a kill
        or a rollback after the last checkpoint is not counted)."""
        return self.seconds + (time.perf_counter() - self.since if self.since is not None else 0.0)

    def start_epoch(self) -> None:
        if self.batch == 0:
            self.sums = _zero_sums()

    def count(self, loss_sum: float, correct: int, seen: int) -> None:
        """One step's summed loss, correct predictions and images (over every process)."""
        self.step += 1
        self.batch += 1
        self.sums["loss"] += loss_sum
        self.sums["correct"] += int(correct)
        self.sums["seen"] += int(seen)

    def end_epoch(self, row: dict) -> None:
        self.history.append(row)
        self.epoch += 1
        self.batch = 0

    def train_loss(self) -> float:
        return self.sums["loss"] / max(self.sums["seen"], 1)

    def train_error(self) -> float:
        return 100 * (1 - self.sums["correct"] / max(self.sums["seen"], 1))

    # -- checkpoints ----------------------------------------------------------------------------

    def state_dict(self, meta: dict, rngs: list[dict]) -> dict:
        return {
            "meta": meta, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(), "plateau": self.plateau.state(),
            "ema": self.ema.state_dict() if self.ema else None, "rng": rngs[0], "rng_ranks": rngs,
            "position": {"step": self.step, "epoch": self.epoch, "batch": self.batch, "lr_scale": self.lr_scale,
                         "sums": dict(self.sums), "seconds": self.elapsed()},
            "history": self.history, "steps_per_epoch": self.steps_per_epoch,
            "data_files": self.data_files.state() if self.data_files is not None else None,
        }  # fmt: skip

    def save(self, file: Path, meta: dict, world: World) -> None:
        """Called on every process (their RNG states are gathered); the main one writes."""
        rngs = world.gather(rng_state())
        if world.main:
            save_checkpoint(file, self.state_dict(meta, rngs))

    def load(self, file: Path, meta: dict, world: World) -> dict:
        """Restore everything from `file`, which must be a checkpoint of the same run; returns its metadata."""
        ckpt = load_checkpoint(file)
        missing = [k for k in ("meta", "model", "optimizer", "scaler", "plateau", "rng", "position", "history") if k not in ckpt]
        if missing or not isinstance(ckpt.get("meta"), dict):
            raise CheckpointError(f"{file} is not a cnnzoo training checkpoint (it has no {(missing or ['meta'])[0]})")
        diffs = run_differences(ckpt["meta"], meta)
        if diffs:
            raise CheckpointError(
                f"{file} is a checkpoint of another run ({'; '.join(diffs)}): resume with its settings (only workers and "
                f"checkpoint_every may change, epochs or iterations may grow), or start a new run in another --out"
            )  # fmt: skip
        load_fitting(self.model, ckpt["model"], str(file))
        try:
            self._restore(ckpt, world)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError) as e:
            raise CheckpointError(
                f"{file} is damaged: its training state does not fit this run ({type(e).__name__}: {first_sentence(e)}); "
                f"resume from an earlier copy, or start again with --restart (the folder is set aside)"
            ) from None
        return ckpt["meta"]

    def _restore(self, ckpt: dict, world: World) -> None:
        """Everything but the weights, from a checkpoint whose metadata matched this run."""
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.plateau = Plateau(**ckpt["plateau"])
        if self.ema is not None:
            self.ema.load_state_dict(ckpt["ema"])
        ranks = ckpt.get("rng_ranks") or [ckpt["rng"]]
        set_rng_state(ranks[world.rank] if len(ranks) == world.size else ckpt["rng"])
        position = ckpt["position"]
        self.step, self.epoch, self.batch = position["step"], position["epoch"], position["batch"]
        if not all(type(n) is int and n >= 0 for n in (self.step, self.epoch, self.batch)):
            raise ValueError(f"its position (step, epoch, batch) is {self.step!r}, {self.epoch!r}, {self.batch!r}")
        if not isinstance(ckpt["history"], list) or not all(isinstance(row, dict) for row in ckpt["history"]):
            raise TypeError("its history is not a list of epoch rows")
        self.lr_scale = position.get("lr_scale", 1.0)
        self.sums = dict(position.get("sums") or _zero_sums())
        self.seconds = float(position.get("seconds", 0.0))  # older checkpoints kept no time: counted from 0
        self.since = time.perf_counter() if self.since is not None else None
        self.history = ckpt["history"]
        self.saved = {"steps_per_epoch": ckpt.get("steps_per_epoch"), "data_files": ckpt.get("data_files")}
