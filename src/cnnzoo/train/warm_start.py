"""`cnnzoo train --init RUN/model.safetensors`: a new run starting from a cnnzoo run's weights."""
from pathlib import Path

from torch import nn

from ..artifacts.checkpoint import CheckpointError
from ..artifacts.weights import load_fitting, read_trained
from ..factory import create_model


def warm_start(path: str | Path, name: str, num_classes: int, options: dict) -> tuple[nn.Module, dict]:
    """Model `name` holding a cnnzoo run's weights (`cnnzoo train --init RUN/model.safetensors`): the
    run's model options, with `options` over them (stochastic depth, say); a new classifier where the
    classes differ in number. Returns the model and its options."""
    state, meta = read_trained(path)
    if meta["model"] != name:
        raise CheckpointError(f"`init` {path} holds {meta['model']} weights, not {name}'s: train {meta['model']}, or start {name} afresh")
    options = {**meta["model_options"], **options}
    model = create_model(name, num_classes=meta["num_classes"], **options)
    load_fitting(model, state, f"--init {path} ({meta['model']}, {meta['num_classes']} classes)")
    if num_classes != meta["num_classes"]:
        model.reset_classifier(num_classes)
    return model, options
