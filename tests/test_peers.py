"""Peer equivalence: the peer's model with random weights, copied into ours, gives the same outputs.

Equal parameter totals could hide a different architecture; equal outputs cannot.
"""
import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.interop import WeightMismatchError, build_peer, load_peer_state_dict

WITH_PEER = [n for n in cnnzoo.list_models() if cnnzoo.model_info(n).peer]


def _randomise_norms(model: nn.Module) -> None:
    """Non-trivial BatchNorm statistics, so that a swapped or skipped norm shows in the output."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)


@pytest.mark.parametrize("name", WITH_PEER)
def test_same_outputs_as_peer(name):
    pytest.importorskip("timm")
    torch.manual_seed(0)
    info = cnnzoo.model_info(name)
    peer = build_peer(info.peer).eval()
    _randomise_norms(peer)
    ours = cnnzoo.create_model(name, **info.peer.ours).eval()
    load_peer_state_dict(ours, peer.state_dict(), info.peer.aux_prefixes)
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        expected, actual = peer(x), ours(x)
    scale = expected.abs().max().clamp(min=1.0)  # deep nets with random BN can have huge logits
    torch.testing.assert_close(actual / scale, expected / scale, atol=1e-4, rtol=0)


def test_mismatched_weights_name_the_first_mismatch():
    ours = cnnzoo.create_model("resnet18")
    state = cnnzoo.create_model("resnet34").state_dict()
    with pytest.raises(WeightMismatchError, match="tensor #"):
        load_peer_state_dict(ours, state)
    short = dict(list(ours.state_dict().items())[:-1])
    with pytest.raises(WeightMismatchError, match="first unmatched in the model: fc.bias"):
        load_peer_state_dict(ours, short)


@pytest.mark.parametrize("name", [n for n in WITH_PEER if cnnzoo.model_info(n).peer.aux_prefixes])
def test_aux_heads_match_peer_in_training_mode(name):
    """With dropout off, the training-mode outputs (logits and every aux head) match the peer's."""
    torch.manual_seed(0)
    info = cnnzoo.model_info(name)
    peer = build_peer(info.peer)
    ours = cnnzoo.create_model(name, **info.peer.ours)
    load_peer_state_dict(ours, peer.state_dict(), info.peer.aux_prefixes)
    for model in (peer, ours):
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
        model.train()
    x = torch.randn(2, 3, info.input_size, info.input_size)
    with torch.no_grad():
        expected, actual = peer(x), ours(x)
    torch.testing.assert_close(actual.logits, expected.logits, atol=1e-4, rtol=1e-4)
    theirs = [t for field, t in expected._asdict().items() if field != "logits"]
    assert len(actual.aux_logits) == len(theirs)
    for aux in actual.aux_logits:  # torchvision lists GoogLeNet's heads last-first
        assert any(torch.allclose(aux, t, atol=1e-4, rtol=1e-4) for t in theirs)
