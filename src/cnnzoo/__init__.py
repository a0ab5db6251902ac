"""cnnzoo: the landmark ILSVRC-era CNNs, built as their papers describe them."""
from . import models  # noqa: F401  (registers every family)
from .analysis import Analysis, Conventions, analyze
from .errors import CnnzooError, InputShapeError, InvalidOptionError, UnknownModelError
from .factory import create_model
from .models import AuxOutputs, ImageClassifier
from .registry import ModelInfo, Paper, list_models, model_info

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "AuxOutputs",
    "Conventions",
    "CnnzooError",
    "ImageClassifier",
    "InputShapeError",
    "InvalidOptionError",
    "ModelInfo",
    "Paper",
    "UnknownModelError",
    "analyze",
    "create_model",
    "list_models",
    "model_info",
]
