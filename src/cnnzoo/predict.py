"""Class probabilities for one image file, preprocessed as the model was trained."""
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import functional as TF

from .data.decoding import decode


@torch.no_grad()
def predict_image(model: nn.Module, path: str, size: int, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Softmax over the classes. Small-image models (64 px or less) see the whole image resized to their
    input; larger ones a centre crop of it resized to size / 0.875, as in evaluation."""
    img = decode(path)
    if size <= 64:
        img = TF.resize(img, [size, size])
    else:
        img = TF.center_crop(TF.resize(img, round(size / 0.875)), size)
    x = TF.to_tensor(img)
    x = (x - (mean.view(-1, 1, 1) if mean.dim() == 1 else mean)) / (std.view(-1, 1, 1) if std.dim() == 1 else std)
    return F.softmax(model.eval()(x.unsqueeze(0)), dim=1)[0]
