"""`create_model`: a registered model by name, with random weights or with weights people already
have (torchvision's, timm's, Keras's, a file of theirs), whole or as a backbone of feature maps. It sits above the registry (the facts) and `interop`
(the peers' files), as torchvision's `get_model` sits above its builders."""
import contextlib
import gc
from pathlib import Path

import torch
from torch import nn

from .errors import InvalidOptionError
from .interop.pretrained import pretrained_model
from .models.features import FeatureListNet
from .registry import model_info


def create_model(name: str, num_classes: int | None = None, weights: str | Path | None = None, features_only: bool = False,
                 out_indices: int | tuple[int, ...] | None = None, **options) -> nn.Module:  # fmt: skip
    """Build a registered model by name. `num_classes` defaults to the model's (1000 for ImageNet).

    `weights`: "torchvision" or "timm" (the peer library's file, from its local cache; never
    downloaded), one published set ("torchvision:IMAGENET1K_V1"), or a path to a torchvision/timm
    state dict (.pth, .pt, .bin, .safetensors). The model is then built as the peer's variant (its
    `Peer.ours` options) and, for another `num_classes`, gets a fresh classifier on the pretrained
    backbone.

    `features_only=True`: the network without its head, returning the feature map of each stage
    (`out_indices`: which; all by default), as timm's `features_only` models (see `feature_info`)."""
    info = model_info(name)
    model = pretrained_model(name, weights, num_classes, **options) if weights is not None else info.build(num_classes, **options)
    if features_only:
        return FeatureListNet(model, out_indices)
    if out_indices is not None:
        raise InvalidOptionError("out_indices goes with features_only=True")
    return model


@contextlib.contextmanager
def _no_reset_parameters():
    """Skip torch's own random init while building on meta: there are no values to initialise."""
    classes = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._NormBase)
    saved = {cls: cls.__dict__["reset_parameters"] for cls in classes}
    for cls in classes:
        cls.reset_parameters = lambda self: None
    try:
        yield
    finally:
        for cls, method in saved.items():
            cls.reset_parameters = method


def meta_model(name: str, **options) -> nn.Module:
    """A registered model built on the meta device, in eval mode (no auxiliary heads run)."""
    with torch.device("meta"), _no_reset_parameters(), no_gc():
        model = model_info(name).build(**options)
        for m in model.modules():  # what .eval() does, minus nn.Module.__setattr__'s cost on every module
            m.__dict__["training"] = False
        return model


@contextlib.contextmanager
def no_gc():
    """Building or tracing a model makes many objects in one go; pause the cycle collector meanwhile
    (it would rescan everything built so far, several times)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
