"""The families. Importing a family module registers its models."""
from . import alexnet, googlenet, resnet, resnet_cifar, resnext, senet, vgg  # noqa: F401
from .base import AuxOutputs, ImageClassifier

__all__ = ["AuxOutputs", "ImageClassifier"]
