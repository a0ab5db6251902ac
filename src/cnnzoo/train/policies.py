"""What the training loop does at its decision points, each as a small piece it calls: when to write a
checkpoint (and when a test's `max_steps` stops the run), what a NaN or infinite loss does, and what a `kill`
(SIGTERM) does."""
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from ..errors import CnnzooError
from ..recipes import Recipe
from .state import TrainState


class TrainingDiverged(CnnzooError):
    """The loss became NaN or infinite."""


class StopRequested(Exception):
    """Raised after `max_steps` (tests use it to interrupt a run at a given step)."""


class Diverged(Exception):
    """A step's loss was not finite (raised by the step, handled by `NanPolicy`)."""

    def __init__(self, message: str):
        self.message = message


@dataclass(frozen=True)
class Cadence:
    """Checkpoints every `every` steps inside an epoch (and always at its end); a stop after `max_steps`."""

    every: int
    steps_per_epoch: int
    total_steps: int
    max_steps: int | None = None

    def checkpoint_now(self, state: TrainState) -> bool:
        """Mid-epoch (the epoch's end has its own): every `every` steps, and where `max_steps` stops the run."""
        inside = state.batch < self.steps_per_epoch
        return inside and (state.step % self.every == 0 and state.step < self.total_steps or state.step == self.max_steps)

    def stop_mid_epoch(self, state: TrainState) -> bool:
        return state.step == self.max_steps and state.batch < self.steps_per_epoch

    def stop_after_epoch(self, state: TrainState) -> bool:
        return self.max_steps is not None and self.max_steps <= state.step < self.total_steps


@dataclass(frozen=True)
class NanPolicy:
    """`on_nan=stop`: the run ends with the last good checkpoint kept. `on_nan=rollback`: back to the
    last checkpoint with the learning rate times `nan_lr_factor`, at most `max_rollbacks` times."""

    recipe: Recipe
    checkpoint_file: Path

    def handle(self, error: Diverged, state: TrainState, restore, log) -> None:
        recipe = self.recipe
        if recipe.on_nan != "rollback" or state.rollbacks >= recipe.max_rollbacks:
            tried = f" after {state.rollbacks} rollbacks" if state.rollbacks else ""
            raise TrainingDiverged(f"{error.message}{tried}; the last good checkpoint is {self.checkpoint_file}: lower lr and --resume")
        scale = state.lr_scale * recipe.nan_lr_factor
        restore()
        state.rollbacks, state.lr_scale = state.rollbacks + 1, scale
        log(f"{error.message}: rolled back to step {state.step:,}, learning rate now x{state.lr_scale:.3g}")


class GracefulStop:
    """A `kill` (SIGTERM) asks the run to stop at the next step's end, after a checkpoint at that step (the loop
    asks `requested` after each step and at each epoch's end), so no step is lost; a second kill stops at once.
    Stopping raises KeyboardInterrupt, as the CLI's kill does elsewhere. A kill during the last weights' writing
    lets them finish and stops on the way out. Off under torchrun (the ranks would stop at different steps) and
    outside the main thread (handlers can only be set there): a kill stops at once there, as before."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._before = None

    def _ask(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> "GracefulStop":
        if self.enabled:
            self._before = signal.signal(signal.SIGTERM, self._ask)
        return self

    def __exit__(self, kind, error, trace) -> None:
        if self.enabled:
            signal.signal(signal.SIGTERM, self._before)
        if self.requested and kind is None:
            raise KeyboardInterrupt
