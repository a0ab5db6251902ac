"""Training: recipes, schedules, the loop, checkpoints and weights."""
from ..artifacts.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from ..artifacts.weights import load_trained, save_weights
from ..recipes import RECIPES, Recipe, get_recipe, recipe_for
from .loop import RunConfig, RunResult, StopRequested, TrainingDiverged, train
from .state import TrainState

__all__ = [
    "RECIPES",
    "CheckpointError",
    "Recipe",
    "RunConfig",
    "RunResult",
    "StopRequested",
    "TrainState",
    "TrainingDiverged",
    "get_recipe",
    "load_checkpoint",
    "load_trained",
    "recipe_for",
    "save_checkpoint",
    "save_weights",
    "train",
]
