"""Training: recipes, schedules, the loop, checkpoints and weights."""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .loop import RunConfig, RunResult, StopRequested, TrainingDiverged, train
from .recipes import RECIPES, Recipe, default_recipe_for, get_recipe
from .weights import load_trained, save_weights

__all__ = [
    "RECIPES",
    "CheckpointError",
    "Recipe",
    "RunConfig",
    "RunResult",
    "StopRequested",
    "TrainingDiverged",
    "default_recipe_for",
    "get_recipe",
    "load_checkpoint",
    "load_trained",
    "save_checkpoint",
    "save_weights",
    "train",
]
