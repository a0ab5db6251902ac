"""Peer equivalence: the peer's model with random weights, saved to a file the way users hold
torchvision and timm weights and loaded through `create_model(name, weights=FILE)`, gives the same
outputs as the peer on real images (shared CIFAR-10, upscaled; random ones when it is absent).

Equal parameter totals could hide a different architecture; equal outputs cannot.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

import cnnzoo
from cnnzoo.interop import WeightMismatchError, build_peer, load_peer_state_dict
from helpers import randomize_batchnorm

WITH_PEER = [n for n in cnnzoo.list_models() if cnnzoo.model_info(n).peer]
CIFAR10 = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"


def _images(size: int = 128) -> torch.Tensor:
    """Two real photos (an airplane and a cat from the shared CIFAR-10) upscaled, normalised; or noise."""
    from PIL import Image

    files = [CIFAR10 / "train" / "airplane" / "0000.jpg", CIFAR10 / "train" / "cat" / "0000.jpg"]
    if not all(f.is_file() for f in files):
        return torch.randn(2, 3, size, size)
    x = torch.stack([torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1) for f in files]).float() / 255
    x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return (x - 0.45) / 0.225


@pytest.mark.parametrize("name", WITH_PEER)
def test_same_outputs_as_peer(name, tmp_path):
    pytest.importorskip("timm")
    torch.manual_seed(0)
    info = cnnzoo.model_info(name)
    peer = build_peer(info.peer).eval()
    randomize_batchnorm(peer, var=(0.5, 1.5))
    file = tmp_path / ("weights.safetensors" if info.peer.library == "timm" else "weights.pth")
    if file.suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in peer.state_dict().items()}, str(file))
    else:
        torch.save(peer.state_dict(), file)
    ours = cnnzoo.create_model(name, weights=file).eval()
    x = _images()
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
