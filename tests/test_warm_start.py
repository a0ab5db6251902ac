"""`cnnzoo train --init RUN/model.safetensors`: a run that starts from another cnnzoo run's weights
(a second cycle of a schedule, a born-again student), not from the seed's initialisation."""
import pytest
import torch
from safetensors.torch import load_file

from cnnzoo.artifacts.weights import is_cnnzoo_weights
from cnnzoo.train import CheckpointError, StopRequested, get_recipe, loop
from cnnzoo.train.warm_start import warm_start
from helpers import train_tiny


def _run(out, recipe, **kwargs):
    return train_tiny(out, recipe, limit=512, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 2-step run on 512 digits: the weights to start from."""
    out = tmp_path_factory.mktemp("base")
    _run(out, get_recipe("short").override(epochs=1, batch_size=256))
    return out / "model.safetensors"


def test_a_run_starts_from_the_weights_of_a_cnnzoo_run(tmp_path, trained, monkeypatch):
    built = []
    build = loop.build_model

    def recording_build(*args):
        model, options = build(*args)
        built.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return model, options

    monkeypatch.setattr(loop, "build_model", recording_build)
    recipe = get_recipe("short").override(batch_size=64, checkpoint_every=1)
    for name, init in (("warm", str(trained)), ("cold", None)):
        with pytest.raises(StopRequested):
            _run(tmp_path / name, recipe, max_steps=1, init=init)
    warm, cold = built
    saved = load_file(trained)
    assert warm.keys() == saved.keys()
    assert all(torch.equal(warm[k], saved[k]) for k in saved)
    assert not torch.equal(cold["fc.weight"], saved["fc.weight"])  # the seed's initialisation: not what was trained
    assert torch.load(tmp_path / "warm" / "checkpoint.pt", weights_only=True)["meta"]["init"] == str(trained)


def test_another_models_weights_are_refused_and_other_classes_get_a_new_classifier(trained, tmp_path):
    assert is_cnnzoo_weights(trained) and not is_cnnzoo_weights(tmp_path / "absent.safetensors")
    with pytest.raises(CheckpointError, match="holds resnet20 weights, not resnet32's"):
        warm_start(trained, "resnet32", 10, {})
    model, options = warm_start(trained, "resnet20", 3, {})
    saved, own = load_file(trained), model.state_dict()
    assert own["fc.weight"].shape == (3, saved["fc.weight"].shape[1])
    assert all(torch.equal(own[k], saved[k]) for k in saved if not k.startswith("fc."))


def test_a_born_again_run_resumes_to_the_same_weights(tmp_path, trained):
    """Initialised and taught by the same run (a born-again student), stopped mid-epoch and resumed:
    bitwise the weights of the run that was never stopped (the teacher adds no state to lose)."""
    recipe = get_recipe("short").override(epochs=1, batch_size=64, checkpoint_every=3, teacher=str(trained), lr=0.1)
    whole = _run(tmp_path / "whole", recipe, init=str(trained))
    with pytest.raises(StopRequested):
        _run(tmp_path / "parts", recipe, init=str(trained), max_steps=5)
    parts = _run(tmp_path / "parts", recipe, init=str(trained), resume=True)
    assert parts.final["val_top1_error"] == whole.final["val_top1_error"]
    whole, parts = load_file(tmp_path / "whole" / "model.safetensors"), load_file(tmp_path / "parts" / "model.safetensors")
    assert all(torch.equal(whole[k], parts[k]) for k in whole)
