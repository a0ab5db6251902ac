"""Dense evaluation (VGG Sec. 3.2): the fully connected layers applied as convolutions over the whole,
uncropped image, giving a map of class scores that is averaged over space. The first FC layer of a
head that pools to p x p becomes a p x p convolution, the others 1x1; a head that pools to 1 x 1
becomes 1x1 convolutions (global pooling then a linear layer equals the spatial mean of the map)."""
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import InvalidOptionError
from .base import ImageClassifier

_POINTWISE = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU, nn.GELU, nn.Dropout, nn.Identity)


def _head_layers(model: ImageClassifier) -> list[nn.Module]:
    if not isinstance(model, ImageClassifier) or type(model).forward_head is not ImageClassifier.forward_head:
        raise InvalidOptionError(f"{type(model).__name__} cannot run densely: its head is not a pool and fully connected layers")
    pre = model.pre_logits
    layers = list(pre) if isinstance(pre, nn.Sequential) else [pre]
    for layer in layers:
        if not isinstance(layer, (nn.Linear, *_POINTWISE)):
            raise InvalidOptionError(f"{type(model).__name__} cannot run densely: its head has a {type(layer).__name__}")
    return [*layers, model.fc]


def dense_logits(model: ImageClassifier, x: Tensor) -> Tensor:
    """N x classes x h x w class scores of `model` (in eval mode) slid over the whole image `x`."""
    size = model.pool.output_size
    p = size if isinstance(size, int) else size[0]
    x = model.forward_features(x)
    if x.shape[-1] < p or x.shape[-2] < p:
        raise InvalidOptionError(f"the image is too small for dense evaluation: features {tuple(x.shape[-2:])}, the head needs {p}x{p}")
    first = True
    for layer in _head_layers(model):
        if isinstance(layer, nn.Linear):
            k = p if first else 1
            weight = layer.weight.view(layer.out_features, -1, k, k)
            x = F.conv2d(x, weight, layer.bias)
            first = False
        elif not isinstance(layer, (nn.Dropout, nn.Identity)):
            x = layer(x)
    return x


def dense_scores(model: ImageClassifier, x: Tensor) -> Tensor:
    """The class score map averaged over space (VGG's "sum-pooled" map): N x classes logits."""
    return dense_logits(model, x).mean((-2, -1))
