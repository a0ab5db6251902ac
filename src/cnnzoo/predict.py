"""Class probabilities for image files, preprocessed as the model was trained (a cnnzoo run) or as
its weights' authors fed it (published weights), run by PyTorch or by an exported file's runtime."""
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torchvision import transforms as T

from .data.decoding import decode
from .data.preprocessing import Preprocessing
from .train.weights import normalize_tensor


def image_transform(meta: dict) -> Callable:
    """PIL image -> normalised C x H x W tensor. Published weights carry their `preprocessing`; a
    cnnzoo run its normalisation: small-image models (64 px or less) see the whole image resized to
    their input, larger ones a centre crop of it resized to size / 0.875, as in evaluation."""
    if meta.get("preprocessing"):
        return Preprocessing.from_dict(meta["preprocessing"]).transform()
    size = meta["input_size"]
    mean, std = normalize_tensor(meta)
    mean, std = (mean.view(-1, 1, 1), std.view(-1, 1, 1)) if mean.dim() == 1 else (mean, std)
    resize = [T.Resize([size, size])] if size <= 64 else [T.Resize(round(size / 0.875)), T.CenterCrop(size)]
    return T.Compose([*resize, T.ToTensor(), T.Lambda(lambda x: (x - mean) / std)])


@torch.no_grad()
def predict_image(run: Callable[[torch.Tensor], torch.Tensor], path: str, transform: Callable) -> torch.Tensor:
    """Softmax over the classes of one image; `run` maps a batch to logits (a model, an ONNX session)."""
    x = transform(decode(path)).unsqueeze(0)
    return F.softmax(torch.as_tensor(run(x)).float(), dim=1)[0]
