"""The families. Importing a family module registers its models."""
from . import (  # noqa: F401
    alexnet,
    googlenet,
    inception,
    inception_resnet,
    mobilenet_v1,
    mobilenet_v2,
    mobilenet_v3,
    resnet,
    resnet_cifar,
    resnext,
    senet,
    vgg,
    xception,
)
from .base import AuxOutputs, ImageClassifier

__all__ = ["AuxOutputs", "ImageClassifier"]
