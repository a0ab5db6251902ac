"""Feature extraction as timm: `feature_info`, `forward_intermediates`, `features_only=True`. Over the
whole registry the stages are checked against the analyzer's rows (shapes only, on meta tensors);
on real numbers, the last stage is `forward_features`, and for the models whose peer is in timm the
feature maps are timm's own `features_only` model's, with the same weights."""
import pytest
import torch

import cnnzoo
from cnnzoo import CnnzooError, analyze, list_models, model_info
from cnnzoo.interop import build_peer
from cnnzoo.interop.peers import load_peer_state_dict
from cnnzoo.models.features import FeatureListNet


@pytest.mark.parametrize("name", list_models())
def test_every_model_has_stages_that_the_analyzer_agrees_with(name):
    with torch.device("meta"):
        model = cnnzoo.create_model(name).eval()
    size = model.input_size
    final, features = model.forward_intermediates(torch.empty(1, model.in_chans, size, size, device="meta"))
    info = model.feature_info
    assert [f.shape[1] for f in features] == info.channels()
    reductions = info.reduction()
    assert reductions == sorted(set(reductions)) and all(r & (r - 1) == 0 for r in reductions), reductions
    assert features[-1].shape == final.shape  # the last stage is the trunk's end: forward_features
    rows = analyze(name).rows
    names = [r.name for r in rows]
    for stage, fmap in zip(info, features):
        module = stage["module"]
        inside = [i for i, n in enumerate(names) if n == module or n.startswith(module + ".")]
        after = next(r for r in rows[inside[-1] + 1:] if not (r.name == module or r.name.startswith(module + ".")))
        assert tuple(after.in_shape) == tuple(fmap.shape[1:]), (module, after.name)  # what the next layer is fed


@pytest.mark.parametrize("name, size", [("resnet20", 32), ("mobilenet_v2", 64), ("googlenet", 64)])
def test_the_features_are_the_networks_own(name, size):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name).eval()
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        final, features = model.forward_intermediates(x)
        torch.testing.assert_close(final, model.forward_features(x), rtol=0, atol=0)
        torch.testing.assert_close(features[-1], final, rtol=0, atol=0)
        last_two = model.forward_intermediates(x, indices=2, intermediates_only=True)
        assert [f.shape for f in last_two] == [f.shape for f in features[-2:]]
        backbone = cnnzoo.create_model(name, features_only=True, out_indices=(0, -1))
        backbone.load_state_dict({f"model.{k}": v for k, v in model.state_dict().items() if not k.startswith(("fc.", "pre_logits.", "aux_heads."))})
        got = backbone.eval()(x)
    assert len(got) == 2 and torch.equal(got[0], features[0]) and torch.equal(got[1], features[-1])
    assert backbone.feature_info.channels() == [features[0].shape[1], features[-1].shape[1]]
    assert backbone.feature_info.reduction() == [model.feature_info[0]["reduction"], model.feature_info[-1]["reduction"]]


def test_stage_indices_are_checked():
    model = cnnzoo.create_model("resnet20")
    with pytest.raises(CnnzooError, match="stages 0 to 2"):
        model.forward_intermediates(torch.randn(1, 3, 32, 32), indices=[3])
    with pytest.raises(CnnzooError, match="out_indices goes with features_only"):
        cnnzoo.create_model("resnet20", out_indices=(1,))


TIMM_PEERS = [("mobilenet_v1", 64), ("xception", 71), ("inception_resnet_v2", 75), ("se_resnet18", 64)]


@pytest.mark.parametrize("name, size", TIMM_PEERS)
def test_same_feature_maps_as_timms_features_only_model(name, size):
    timm = pytest.importorskip("timm")
    peer = model_info(name).peer
    torch.manual_seed(0)
    full = build_peer(peer).eval()
    theirs = timm.create_model(peer.name, pretrained=False, features_only=True, **peer.kwargs).eval()
    weights = full.state_dict()
    theirs.load_state_dict({k: weights[k.removeprefix("body.")] for k in theirs.state_dict()})
    whole = cnnzoo.create_model(name, **peer.ours)
    load_peer_state_dict(whole, weights)
    ours = FeatureListNet(whole).eval()
    assert ours.feature_info.channels() == theirs.feature_info.channels()
    assert ours.feature_info.reduction() == theirs.feature_info.reduction()
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        for a, b in zip(ours(x), theirs(x)):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
