"""`create_model`: a registered model by name, with random weights or with weights people already
have (torchvision's, timm's, Keras's, a file of theirs), whole or as a backbone of feature maps. It sits above the registry (the facts) and `interop`
(the peers' files), as torchvision's `get_model` sits above its builders."""
import contextlib
import gc
import threading
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
    with _default_init_deferred():
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


_LAYERS = (nn.modules.conv._ConvNd, nn.Linear)
_deferring: list[bool] = []  # non-empty while a build defers torch's init
_BUILDING = threading.RLock()  # the layers' classes are patched meanwhile: one thread builds at a time


@contextlib.contextmanager
def _default_init_deferred():
    """Build with torch's own random init of convolutions and linear layers deferred to the end, and run only where
    the model's own init (its paper's, in each family's constructor) did not write the tensor: most families
    overwrite every layer at once, and drawing its weights twice doubled the build (VGG-16: 2.5 s to 1.3 s). A
    deferred tensor holds NaN meanwhile; a tensor the model's init wrote only in part is an error, never a mix."""
    with _BUILDING:
        if _deferring:
            yield  # a model built inside another's build: the outer build finishes the init
            return
        yield from _deferring_build()


def _deferring_build():
    saved = {cls: cls.__dict__["reset_parameters"] for cls in _LAYERS}
    pending: list[nn.Module] = []

    def defer(layer: nn.Module) -> None:
        with torch.no_grad():
            for tensor in (layer.weight, layer.bias):
                if tensor is not None and tensor.is_floating_point() and tensor.device.type != "meta":
                    tensor.fill_(float("nan"))
        pending.append(layer)

    for cls in _LAYERS:
        cls.reset_parameters = defer
    _deferring.append(True)
    try:
        yield
    finally:
        _deferring.pop()
        for cls, method in saved.items():
            cls.reset_parameters = method
    for layer in pending:
        _finish_default_init(layer, saved[next(c for c in _LAYERS if isinstance(layer, c))])


def _untouched(layer: nn.Module, name: str) -> bool:
    tensor = getattr(layer, name, None)
    if tensor is None or not tensor.is_floating_point() or tensor.device.type == "meta":
        return False
    nan = torch.isnan(tensor)
    if nan.any() and not nan.all():
        raise RuntimeError(f"{type(layer).__name__}.{name} was initialised only in part by the model's own init")
    return bool(nan.any())


def _finish_default_init(layer: nn.Module, reset_parameters) -> None:
    """torch's own init for whatever of `layer` the model's init left: both tensors (reset_parameters itself), or
    the bias alone (torch's rule: uniform within 1/sqrt(fan_in))."""
    weight, bias = _untouched(layer, "weight"), _untouched(layer, "bias")
    if weight:
        kept = layer.bias.detach().clone() if layer.bias is not None and not bias else None  # the model's init wrote it
        reset_parameters(layer)
        if kept is not None:
            with torch.no_grad():
                layer.bias.copy_(kept)
    elif bias:
        fan_in, _ = nn.init._calculate_fan_in_and_fan_out(layer.weight)
        bound = 1 / fan_in**0.5 if fan_in > 0 else 0
        nn.init.uniform_(layer.bias, -bound, bound)


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
