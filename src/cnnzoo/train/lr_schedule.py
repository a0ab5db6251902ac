"""Learning-rate schedules: a pure function of the step (the plateau schedule, which depends on the
validation error, keeps its few numbers in a small state that the checkpoint saves)."""
import math
from dataclasses import dataclass

from ..recipes import Recipe


def lr_factor(recipe: Recipe, step: int, total_steps: int, steps_per_epoch: int, plateau_factor: float = 1.0) -> float:
    """Multiplier of the recipe's lr at optimizer step `step` (0-based)."""
    unit = 1 if recipe.iterations else steps_per_epoch  # schedule lengths are in iterations or epochs
    t = step / unit
    warmup = recipe.warmup
    if warmup and t < warmup:
        return recipe.warmup_factor + (1 - recipe.warmup_factor) * t / warmup
    s = recipe.schedule
    if s == "constant":
        return 1.0
    if s == "step":
        return recipe.gamma ** math.floor(t / recipe.step_size)
    if s == "multistep":
        return recipe.gamma ** sum(t >= m for m in recipe.milestones)
    if s == "plateau":
        return plateau_factor
    total = total_steps / unit
    progress = min(1.0, max(0.0, (t - warmup) / max(total - warmup, 1e-9)))
    if s == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    if s == "onecycle":  # after the warm-up's rise, a linear fall to zero
        return 1.0 - progress
    raise ValueError(f"unknown schedule {s!r}")


@dataclass
class Plateau:
    """Divide the lr by 1/gamma when the validation error has not improved for `patience` epochs."""

    factor: float = 1.0
    best: float = math.inf
    bad_epochs: int = 0

    def update(self, error: float, recipe: Recipe) -> bool:
        """Record an epoch's validation error; True when the lr drops."""
        if error < self.best - 1e-9:
            self.best, self.bad_epochs = error, 0
            return False
        self.bad_epochs += 1
        if self.bad_epochs > recipe.patience:
            self.factor *= recipe.gamma
            self.bad_epochs = 0
            return True
        return False

    def state(self) -> dict:
        return {"factor": self.factor, "best": self.best, "bad_epochs": self.bad_epochs}
