"""Activations by name, so that a block can take `act_layer="relu6"` or a module class."""
from collections.abc import Callable

from torch import nn

from ..errors import InvalidOptionError

ActLayer = Callable[..., nn.Module]

_ACTIVATIONS: dict[str, ActLayer] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "elu": nn.ELU,  # Xception Fig. 10's intermediate non-linearity
    "sigmoid": nn.Sigmoid,
    "hard_sigmoid": nn.Hardsigmoid,  # ReLU6(x + 3) / 6, MobileNetV3 Sec. 5.2
    "swish": nn.SiLU,  # x * sigmoid(x)
    "hard_swish": nn.Hardswish,  # x * ReLU6(x + 3) / 6, MobileNetV3 Sec. 5.2
    "identity": nn.Identity,
}


def get_act_layer(act: str | ActLayer | None) -> ActLayer | None:
    """Return a module factory for `act`: a name from the table above, a class, or None."""
    if act is None or callable(act):
        return act
    try:
        return _ACTIVATIONS[act]
    except KeyError:
        raise InvalidOptionError(
            f"unknown activation {act!r}; choose one of {', '.join(sorted(_ACTIVATIONS))}"
        ) from None


def create_act(act: str | ActLayer | None, inplace: bool = True) -> nn.Module:
    """Instantiate an activation, in place where the module supports it."""
    layer = get_act_layer(act)
    if layer is None:
        return nn.Identity()
    try:
        return layer(inplace=inplace)
    except TypeError:  # Sigmoid, Identity and friends take no `inplace`
        return layer()
