"""Class probabilities for image files, preprocessed as the model was trained (a cnnzoo run) or as
its weights' authors fed it (published weights), run by PyTorch or by an exported file's runtime.

    run, meta = load_predictor(checkpoint="runs/a/model.safetensors")      # or model="resnet50" (published)
    probs = predict_image(run, "cat.jpg", meta_transform(meta))           # softmax over meta["class_names"]
"""
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..data.decoding import decode
from ..errors import CnnzooError


@torch.no_grad()
def predict_image(run: Callable[[torch.Tensor], torch.Tensor], path: str, transform: Callable) -> torch.Tensor:
    """Softmax over the classes of one image; `run` maps a batch to logits (a model, an ONNX session)."""
    x = transform(decode(path)).unsqueeze(0)
    logits = torch.as_tensor(run(x)).float()
    if not torch.isfinite(logits).all():
        raise CnnzooError(f"the model computes NaN or infinite logits for {path}: its weights are broken")
    return F.softmax(logits, dim=1)[0]
