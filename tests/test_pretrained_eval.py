"""Evaluating published weights on ImageNet's validation images: the weights' own preprocessing
(checked against torchvision's and timm's own pipelines), labels in the 1000-class order (subsets of
classes included), the val split alone (no train folder), and the published accuracy beside ours."""
import re
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import cnnzoo
from cnnzoo.cli import main
from cnnzoo.eval.options import EvalOptions
from cnnzoo.eval.runner import evaluate_published
from cnnzoo.interop import build_peer
from cnnzoo.interop.pretrained import WeightsNotFoundError, weight_source

sys.path.insert(0, str(Path(__file__).parent))
from test_data import _devkit  # noqa: E402

# three ImageNet classes and their index among the 1000 outputs (the first two and the last)
CLASSES = {"n01440764": 0, "n01443537": 1, "n15075141": 999}
CIFAR_CLASS = {"n01440764": "airplane", "n01443537": "cat", "n15075141": "truck"}


def _photos(cifar: Path | None, cls: str, n: int) -> list[Image.Image]:
    """Real photos where the shared CIFAR-10 is present (resized to a non-square 64x48: the resize of
    the shorter side and the centre crop both matter), noise otherwise."""
    if cifar is not None:
        files = sorted((cifar / "train" / CIFAR_CLASS[cls]).iterdir())[:n]
        return [Image.open(f).convert("RGB").resize((64, 48), Image.BICUBIC) for f in files]
    g = torch.Generator().manual_seed(len(cls))
    return [Image.fromarray(torch.randint(0, 256, (48, 64, 3), generator=g, dtype=torch.uint8).numpy()) for _ in range(n)]


@pytest.fixture
def imagenet_val(tmp_path, request) -> Path:
    """root/val/<wnid>/*.JPEG with no train folder beside it."""
    try:
        cifar = request.getfixturevalue("cifar10_root")
    except pytest.skip.Exception:
        cifar = None
    root = tmp_path / "imagenet"
    for cls in CLASSES:
        (root / "val" / cls).mkdir(parents=True)
        for k, img in enumerate(_photos(cifar, cls, 4)):
            img.save(root / "val" / cls / f"ILSVRC2012_val_{cls}_{k}.JPEG", quality=95)
    return root


@pytest.fixture
def caches(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


def _reference_nll(model, transform, root: Path) -> tuple[float, float]:
    """Mean NLL and top-1 error by the peer library's own model and transform."""
    nll, wrong, n = 0.0, 0, 0
    model.eval()
    for cls, index in CLASSES.items():
        for f in sorted((root / "val" / cls).iterdir()):
            with torch.no_grad():
                logits = model(transform(Image.open(f).convert("RGB")).unsqueeze(0))
            nll += F.cross_entropy(logits, torch.tensor([index])).item()
            wrong += int(logits.argmax(1).item() != index)
            n += 1
    return nll / n, 100 * wrong / n


def test_torchvision_weights_on_a_val_folder_match_torchvision_own_pipeline(capsys, caches, imagenet_val, fp32_path):
    import torchvision

    torch.manual_seed(0)
    peer = build_peer(cnnzoo.model_info("resnet18").peer)
    with torch.no_grad():
        peer.fc.weight *= 6  # logits that vary from image to image: a difference in preprocessing shows in the loss
        peer.fc.bias[0] += 12.0  # a prior for class 0 (tench): some images right, so top-1 is tested too
    src = weight_source("resnet18", "torchvision")
    src.files[0].parent.mkdir(parents=True)
    torch.save(peer.state_dict(), src.files[0])
    code = main(["eval", "--model", "resnet18", "--data", str(imagenet_val), "--workers", "0", "--batch", "5"])
    out = capsys.readouterr().out
    assert code == 0, out
    loss = float(re.search(r"loss (\d+\.\d+)", out).group(1))
    top1 = float(re.search(r"top-1 error (\d+\.\d+)%", out).group(1))
    ref_loss, ref_top1 = _reference_nll(peer, torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms(), imagenet_val)
    assert loss == pytest.approx(ref_loss, abs=2e-4) and top1 == pytest.approx(ref_top1, abs=0.01)
    assert 0 < ref_top1 < 100  # the labels (indices 0, 1 and 999 of 1000) are also checked by the loss
    assert "12 images (3 of its 1000 classes)" in out and "centre crop 224" in out
    assert "published top-1 69.758%, top-5 89.078% (torchvision's ResNet18_Weights.IMAGENET1K_V1 metadata)" in out
    # exported to ONNX (batch 1) and evaluated by onnxruntime: the same preprocessing, from the file's metadata
    onnx_file = caches / "r18.onnx"
    assert main(["export", "resnet18", "--out", str(onnx_file)]) == 0
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(onnx_file), "--data", str(imagenet_val), "--workers", "0", "--batch", "5"]) == 0
    out = capsys.readouterr().out
    assert "run by onnxruntime" in out and float(re.search(r"loss (\d+\.\d+)", out).group(1)) == pytest.approx(ref_loss, abs=2e-4)


def test_timm_weights_use_timm_preprocessing(caches, imagenet_val):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    peer = build_peer(cnnzoo.model_info("se_resnet18").peer)  # legacy_seresnet18: bicubic, crop_pct 0.875
    with torch.no_grad():
        peer.last_linear.weight *= 6
    src = weight_source("se_resnet18", "timm")
    file = next(f for f in src.files if "hub" in str(f))
    file.parent.mkdir(parents=True)
    torch.save(peer.state_dict(), file)
    result = evaluate_published(["se_resnet18"], ["timm"], EvalOptions(data=imagenet_val, workers=0, precision="fp32"))
    assert [e.engine for e in result.engines] in (["torch-fp32"], ["onnx-fp32"])  # fp32 numerics, whichever engine is faster
    scored, ensemble = result.members, result.ensemble
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=peer))
    ref_loss, ref_top1 = _reference_nll(peer, transform, imagenet_val)
    assert scored[0].metrics.loss == pytest.approx(ref_loss, abs=2e-4) and scored[0].metrics.top1_error == pytest.approx(ref_top1)
    assert scored[0].source.preprocessing.interpolation == "bicubic" and ensemble is None
    assert "published top-1 71.766%" in "\n".join(scored[0].lines())


def test_the_published_set_that_is_on_the_machine_is_the_one_used(caches):
    v1 = weight_source("resnet50", "torchvision:IMAGENET1K_V1")
    assert weight_source("resnet50", "torchvision").name.endswith("IMAGENET1K_V2")  # none here: the DEFAULT is named
    v1.files[0].parent.mkdir(parents=True)
    v1.files[0].touch()
    chosen = weight_source("resnet50", "torchvision")
    assert chosen.name.endswith("IMAGENET1K_V1") and chosen.preprocessing.resize == 256 and chosen.top1 == pytest.approx(76.13)
    v2 = weight_source("resnet50", "torchvision:IMAGENET1K_V2")
    assert v2.preprocessing.resize == 232 and v2.top1 == pytest.approx(80.858)
    with pytest.raises(WeightsNotFoundError, match="resnet50-11ad3fa6.pth"):
        cnnzoo.create_model("resnet50", weights="torchvision:IMAGENET1K_V2")
    with pytest.raises(cnnzoo.CnnzooError, match="publishes IMAGENET1K_V2, IMAGENET1K_V1"):
        weight_source("resnet50", "torchvision:V3")


def test_official_layout_val_only_and_a_stratified_limit(capsys, caches, tmp_path):
    truth = [0, 1, 2, 1, 0, 2]
    for k in range(len(truth)):
        Image.new("RGB", (80, 60), (40 * k, 90, 30)).save(tmp_path / f"ILSVRC2012_val_{k + 1:08d}.JPEG")
    root = tmp_path / "ilsvrc"
    (root / "val").mkdir(parents=True)
    for f in tmp_path.glob("*.JPEG"):
        f.rename(root / "val" / f.name)
    _devkit(root, truth)
    torch.save(build_peer(cnnzoo.model_info("resnet18").peer).state_dict(), tmp_path / "r18.pth")
    code = main(["eval", "--model", "resnet18", "--pretrained", str(tmp_path / "r18.pth"), "--data", str(root), "--workers", "0", "--limit", "3"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "the val split of" in out and "3 images (3 of its 1000 classes)" in out  # one of each class


@pytest.mark.parametrize("argv, message", [
    (["eval", "--model", "resnet18"], "--data is needed"),
    (["eval", "--model", "resnet18", "--data", "DATA"], "never downloads"),
    (["eval", "--model", "resnet18", "--checkpoint", "x.pt", "--data", "DATA"], "give one of them"),
    (["eval", "--model", "resnet20", "--data", "DATA"], "no torchvision/timm weights"),
    (["eval", "--checkpoint", "x.pt", "--pretrained", "torchvision"], "goes with --model"),
    (["eval"], "give --checkpoint"),
    (["eval", "--model", "resnet18", "--pretrained", "P", "--data", "CATS"], "not an ImageNet class"),
])  # fmt: skip
def test_bad_eval_input_is_one_line_and_exit_2(capsys, caches, imagenet_val, tmp_path, argv, message):
    for k in range(2):
        for cls in ("cat", "dog"):
            (tmp_path / "cats" / cls).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (40, 40)).save(tmp_path / "cats" / cls / f"{k}.png")
    torch.save(build_peer(cnnzoo.model_info("resnet18").peer).state_dict(), tmp_path / "P")
    argv = [{"DATA": str(imagenet_val), "CATS": str(tmp_path / "cats"), "P": str(tmp_path / "P")}.get(a, a) for a in argv]
    code = main([*argv, "--workers", "0"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_predict_with_published_weights_names_imagenet_classes(capsys, caches, imagenet_val):
    torch.manual_seed(0)
    peer = build_peer(cnnzoo.model_info("resnet18").peer)
    with torch.no_grad():
        peer.fc.bias[999] += 50.0
    src = weight_source("resnet18", "torchvision")
    src.files[0].parent.mkdir(parents=True)
    torch.save(peer.state_dict(), src.files[0])
    image = next((imagenet_val / "val" / "n01440764").iterdir())
    assert main(["predict", str(image), "--model", "resnet18", "--top", "1"]) == 0
    assert "toilet tissue 100.0%" in capsys.readouterr().out  # class 999, by torchvision's category names


def test_compare_and_eval_quote_the_same_published_accuracy():
    """`cnnzoo compare`'s published column and `eval`'s published line agree, and the torchvision
    numbers are torchvision's own metadata (the IMAGENET1K_V1 sets, the ones the papers' era trained)."""
    from cnnzoo.reference.accuracy import TIMM_RESULTS

    checked = 0
    for name in cnnzoo.list_models():
        acc, peer = cnnzoo.model_info(name).published, cnnzoo.model_info(name).peer
        if acc is None or peer is None or "paper" in acc.source:
            continue
        if peer.library == "timm" and pytest.importorskip("timm"):
            src = weight_source(name, "timm")
            assert src.name in acc.source and (src.top1, src.top5) == (acc.top1, acc.top5) == TIMM_RESULTS[src.name], name
        else:
            src = weight_source(name, "torchvision:IMAGENET1K_V1")
            assert (src.top1, src.top5) == (acc.top1, acc.top5), name
        checked += 1
    assert checked >= 25
