"""What cnnzoo writes and reads back: a run's checkpoint and final weights (with the metadata that rebuilds and
feeds the model), exported files, and published weights, all opened through `loading`."""
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .exported import ExportedModel, ExportError, is_exported, load_exported, load_onnx
from .loading import load_checkpoints, load_model, load_predictor, load_published, open_exported, open_published, open_run
from .weights import load_trained, save_weights

__all__ = ["CheckpointError", "ExportError", "ExportedModel", "is_exported", "load_checkpoint", "load_checkpoints", "load_exported",
           "load_model", "load_onnx", "load_predictor", "load_published", "load_trained", "open_exported", "open_published",
           "open_run", "save_checkpoint", "save_weights"]  # fmt: skip
