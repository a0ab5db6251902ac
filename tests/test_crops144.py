"""GoogLeNet's 144-crop evaluation (Sec. 7): 4 scales x 3 squares x (4 corners + centre + the resized
square) x 2 mirrors, each view's softmax averaged."""
import pytest
import torch
from PIL import Image

from cnnzoo.cli import main
from cnnzoo.data.preprocessing import T, googlenet_views
from cnnzoo.eval.metrics import CHUNK, probabilities
from cnnzoo.runtime.execution import ExecPath
from conftest import ROOT


def _picture(w: int, h: int) -> Image.Image:
    x = torch.arange(w * h * 3, dtype=torch.int64).reshape(h, w, 3) * 7919 % 251
    return Image.fromarray(x.to(torch.uint8).numpy())


@pytest.mark.parametrize("w,h", [(400, 300), (300, 400)])
def test_the_144_views_are_the_papers_crops(w, h):
    img = _picture(w, h)
    views = googlenet_views(img)
    assert len(views) == 144 and {v.size for v in views} == {(224, 224)}
    for i, scale in enumerate((256, 288, 320, 352)):
        resized = T.Resize(scale, antialias=True)(img)
        long = max(resized.size) - scale
        for j, start in enumerate((0, long // 2, long)):  # left/centre/right (landscape) or top/centre/bottom
            square = resized.crop((start, 0, start + scale, scale) if w > h else (0, start, scale, start + scale))
            base = (i * 3 + j) * 6
            edge = scale - 224
            expected = [square.crop((0, 0, 224, 224)), square.crop((edge, 0, scale, 224)), square.crop((0, edge, 224, scale)),
                        square.crop((edge, edge, scale, scale)), square.crop((edge // 2, edge // 2, edge // 2 + 224, edge // 2 + 224)),
                        square.resize((224, 224), Image.BILINEAR, reducing_gap=None)]  # fmt: skip
            for k, e in enumerate(expected[:5]):
                assert views[base + k].tobytes() == e.tobytes(), (scale, j, k)
                assert views[72 + base + k].tobytes() == e.transpose(Image.FLIP_LEFT_RIGHT).tobytes()  # the mirrors
            assert views[base + 5].size == (224, 224)


def test_the_softmax_is_averaged_over_all_views_in_chunks():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, 2), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 5)).eval()
    images = torch.randn(2, 144, 3, 16, 16)  # 288 views: more than one chunk
    assert 2 * 144 > CHUNK
    with torch.no_grad():
        got = probabilities(model, images, ExecPath("cpu", "fp32"))
        expected = torch.stack([torch.softmax(model(views), 1).mean(0) for views in images])
    assert torch.allclose(got, expected, atol=1e-6)


def test_144_crops_of_a_small_image_model_is_a_clear_error(capsys):
    weights = ROOT / "weights" / "cifar10-resnet20" / "model.safetensors"
    assert main(["eval", "--checkpoint", str(weights), "--crops", "144"]) == 2
    assert "144 crops is GoogLeNet's protocol for ImageNet-sized inputs" in capsys.readouterr().err
