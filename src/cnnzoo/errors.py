"""Errors cnnzoo raises for bad input: each names the problem and the fix."""


class CnnzooError(ValueError):
    """Base class: a request cnnzoo refuses, with a message meant for the user."""


class UnknownModelError(CnnzooError):
    """A model name that is not registered."""


class InvalidOptionError(CnnzooError):
    """An option a model does not take, or a value it cannot build."""


class InputShapeError(CnnzooError):
    """An input tensor a model cannot run on (wrong rank, channels, or too small)."""
