"""Deployment: export (ONNX, torch.export, TorchScript, checked against PyTorch), int8 quantization for the CPU
(ONNX Runtime), and prediction on image files. Opening the files they write is `cnnzoo.artifacts`'s."""
from ..artifacts.loading import load_predictor
from .export import export_model
from .predict import predict_image
from .quantize import quantize_model

__all__ = ["export_model", "load_predictor", "predict_image", "quantize_model"]
