"""Evaluation as the papers report it: `metrics` counts top-1/top-5 error (single view, multi-crop, dense, ensembles),
`inputs` chooses the images and feeds them as each model wants, `runner` puts them together.

    from cnnzoo.eval import EvalOptions, evaluate_checkpoints, evaluate_published

    result = evaluate_checkpoints(["runs/a/model.safetensors"])                       # the run's validation split
    result = evaluate_published(["resnet50"], options=EvalOptions(data="/data/imagenet", limit=5000))
"""
from .inputs import checkpoint_data
from .metrics import Metrics, evaluate
from .options import EvalOptions
from .runner import Evaluation, Scored, evaluate_checkpoints, evaluate_published

__all__ = ["EvalOptions", "Evaluation", "Metrics", "Scored", "checkpoint_data", "evaluate", "evaluate_checkpoints", "evaluate_published"]
