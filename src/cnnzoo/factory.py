"""`create_model`: a registered model by name, with random weights or with weights people already
have (torchvision's, timm's, a file of theirs). It sits above the registry (the facts) and `interop`
(the peers' files), as torchvision's `get_model` sits above its builders."""
from pathlib import Path

from torch import nn

from .interop.pretrained import pretrained_model
from .registry import model_info


def create_model(name: str, num_classes: int | None = None, weights: str | Path | None = None, **options) -> nn.Module:
    """Build a registered model by name. `num_classes` defaults to the model's (1000 for ImageNet).

    `weights`: "torchvision" or "timm" (the peer library's file, from its local cache; never
    downloaded), one published set ("torchvision:IMAGENET1K_V1"), or a path to a torchvision/timm
    state dict (.pth, .pt, .bin, .safetensors). The model is then built as the peer's variant (its
    `Peer.ours` options) and, for another `num_classes`, gets a fresh classifier on the pretrained
    backbone."""
    info = model_info(name)
    if weights is not None:
        return pretrained_model(name, weights, num_classes, **options)
    return info.build(num_classes, **options)
