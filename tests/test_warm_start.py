"""`cnnzoo train --init RUN/model.safetensors`: a run that starts from another cnnzoo run's weights
(a second cycle of a schedule, a born-again student), not from the seed's initialisation."""
import pytest
import torch
from safetensors.torch import load_file

from cnnzoo.artifacts.weights import is_cnnzoo_weights
from cnnzoo.train import CheckpointError, StopRequested, get_recipe, loop
from cnnzoo.train.warm_start import warm_start
from helpers import quick_run


def test_a_run_starts_from_the_weights_of_a_cnnzoo_run(tmp_path, two_step_weights, monkeypatch):
    built = []
    build = loop.build_model

    def recording_build(*args):
        model, options = build(*args)
        built.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return model, options

    monkeypatch.setattr(loop, "build_model", recording_build)
    recipe = get_recipe("short").override(batch_size=64, checkpoint_every=1)
    for name, init in (("warm", str(two_step_weights)), ("cold", None)):
        with pytest.raises(StopRequested):
            quick_run(tmp_path / name, recipe, max_steps=1, init=init)
    warm, cold = built
    saved = load_file(two_step_weights)
    assert warm.keys() == saved.keys()
    assert all(torch.equal(warm[k], saved[k]) for k in saved)
    assert not torch.equal(cold["fc.weight"], saved["fc.weight"])  # the seed's initialisation: not what was two_step_weights
    assert torch.load(tmp_path / "warm" / "checkpoint.pt", weights_only=True)["meta"]["init"] == str(two_step_weights)


def test_another_models_weights_are_refused_and_other_classes_get_a_new_classifier(two_step_weights, tmp_path):
    assert is_cnnzoo_weights(two_step_weights) and not is_cnnzoo_weights(tmp_path / "absent.safetensors")
    with pytest.raises(CheckpointError, match="holds resnet20 weights, not resnet32's"):
        warm_start(two_step_weights, "resnet32", 10, {})
    model, options = warm_start(two_step_weights, "resnet20", 3, {})
    saved, own = load_file(two_step_weights), model.state_dict()
    assert own["fc.weight"].shape == (3, saved["fc.weight"].shape[1])
    assert all(torch.equal(own[k], saved[k]) for k in saved if not k.startswith("fc."))


def test_a_born_again_run_resumes_to_the_same_weights(tmp_path, two_step_weights):
    """Initialised and taught by the same run (a born-again student), stopped mid-epoch and resumed:
    bitwise the weights of the run that was never stopped (the teacher adds no state to lose)."""
    recipe = get_recipe("short").override(epochs=1, batch_size=64, checkpoint_every=3, teacher=str(two_step_weights), lr=0.1)
    whole = quick_run(tmp_path / "whole", recipe, init=str(two_step_weights))
    with pytest.raises(StopRequested):
        quick_run(tmp_path / "parts", recipe, init=str(two_step_weights), max_steps=5)
    parts = quick_run(tmp_path / "parts", recipe, init=str(two_step_weights), resume=True)
    assert parts.final["val_top1_error"] == whole.final["val_top1_error"]
    whole, parts = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "parts" / "model.safetensors")
    assert all(torch.equal(whole[k], parts[k]) for k in whole)
