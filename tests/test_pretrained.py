"""Weights people already have: found where torchvision and timm keep them, never downloaded, and a
file that does not fit refused with the first mismatch named."""
import pytest
import torch
from safetensors.torch import save_file

import cnnzoo
from cnnzoo import CnnzooError
from cnnzoo.interop import build_peer
from cnnzoo.interop.pretrained import WeightsNotFoundError, weight_source


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty torch hub and Hugging Face caches."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


def test_torchvision_weights_come_from_the_hub_cache_and_are_never_downloaded(caches):
    with pytest.raises(WeightsNotFoundError, match=r"never downloads.*resnet18-f37072fd\.pth.*put it at .*torch/hub/checkpoints"):
        cnnzoo.create_model("resnet18", weights="torchvision")
    torch.manual_seed(0)
    peer = build_peer(cnnzoo.model_info("resnet18").peer).eval()
    src = weight_source("resnet18", "torchvision")
    src.files[0].parent.mkdir(parents=True)
    torch.save({"state_dict": peer.state_dict()}, src.files[0])  # wrapped, as training scripts save them
    ours = cnnzoo.create_model("resnet18", weights="torchvision").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), peer(x), atol=1e-4, rtol=1e-4)
    prep = ours.preprocessing
    assert (prep.input_size, prep.resize, prep.interpolation) == (224, 256, "bilinear") and src.top1 == pytest.approx(69.758)


def test_timm_weights_come_from_the_hugging_face_cache(caches):
    pytest.importorskip("timm")
    with pytest.raises(WeightsNotFoundError, match="never downloads.*xception-43020ad28.pth"):  # a file timm keeps in torch's cache
        cnnzoo.create_model("xception", weights="timm")
    with pytest.raises(WeightsNotFoundError, match="models--timm--mobilenetv1_100"):  # one it keeps in Hugging Face's
        cnnzoo.create_model("mobilenet_v1", weights="timm")
    torch.manual_seed(0)
    peer = build_peer(cnnzoo.model_info("mobilenet_v1").peer).eval()
    src = weight_source("mobilenet_v1", "timm")
    snapshot = caches / "hf" / f"models--{src.url.split('huggingface.co/')[1].replace('/', '--')}" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in peer.state_dict().items()}, str(snapshot / "model.safetensors"))
    ours = cnnzoo.create_model("mobilenet_v1", weights="timm").eval()  # timm's variant: ReLU6 (Peer.ours)
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), peer(x), atol=1e-4, rtol=1e-4)
    assert ours.preprocessing.interpolation in ("bilinear", "bicubic")


def test_a_new_head_on_pretrained_weights(tmp_path):
    torch.manual_seed(0)
    peer = build_peer(cnnzoo.model_info("resnet18").peer)
    torch.save(peer.state_dict(), tmp_path / "r18.pth")
    ours = cnnzoo.create_model("resnet18", weights=tmp_path / "r18.pth", num_classes=10)
    assert ours.fc.out_features == 10
    assert torch.equal(next(iter(ours.parameters())), peer.conv1.weight)  # the stem keeps its pretrained weights


def test_files_that_do_not_fit_name_the_first_mismatch(tmp_path):
    torch.save(build_peer(cnnzoo.model_info("resnet34").peer).state_dict(), tmp_path / "r34.pth")
    with pytest.raises(CnnzooError, match=r"r34.pth does not fit resnet18: .*first unmatched in the file: layer1.2.conv1.weight"):
        cnnzoo.create_model("resnet18", weights=tmp_path / "r34.pth")
    state = build_peer(cnnzoo.model_info("resnet18").peer).state_dict()
    save_file({k: v for k, v in list(state.items())[:-1]}, str(tmp_path / "short.safetensors"))
    with pytest.raises(CnnzooError, match="first unmatched in the model: fc.bias"):
        cnnzoo.create_model("resnet18", weights=tmp_path / "short.safetensors")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CnnzooError, match="cannot read weights"):
        cnnzoo.create_model("resnet18", weights=tmp_path / "junk.pth")
    with pytest.raises(CnnzooError, match="no counterpart in torchvision or timm"):
        cnnzoo.create_model("zfnet", weights="torchvision")
    with pytest.raises(CnnzooError, match="use weights='timm'"):
        cnnzoo.create_model("xception", weights="torchvision")
