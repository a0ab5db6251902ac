"""Building blocks shared by the families."""
from .activations import create_act, get_act_layer
from .conv import ConvNormAct
from .drop_path import DropPath, set_drop_path
from .fold import fold_batchnorm
from .helpers import make_divisible
from .lrn import LocalResponseNorm
from .padding import Conv2dSame, MaxPool2dSame
from .separable import SeparableConv2d
from .squeeze_excite import SqueezeExcite, make_se

__all__ = [
    "Conv2dSame",
    "ConvNormAct",
    "DropPath",
    "MaxPool2dSame",
    "LocalResponseNorm",
    "SeparableConv2d",
    "SqueezeExcite",
    "create_act",
    "fold_batchnorm",
    "get_act_layer",
    "make_divisible",
    "make_se",
    "set_drop_path",
]
