"""VGG's dense evaluation (Sec. 3.2): the fully connected layers as convolutions over the whole image,
the class score map averaged over space, the softmax over scales and mirrors."""
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from cnnzoo import create_model
from cnnzoo.data.preprocessing import Preprocessing
from cnnzoo.errors import InvalidOptionError
from cnnzoo.eval.metrics import evaluate_dense
from cnnzoo.models.dense import dense_logits, dense_scores


@pytest.mark.parametrize("name", ["vgg11", "alexnet_owt", "resnet18", "mobilenet_v3_small"])
def test_at_the_native_size_dense_is_the_ordinary_forward(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10).eval()
    with torch.no_grad():
        for m in model.modules():  # non-trivial weights everywhere (a fresh head may be near zero)
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, std=0.05)
        x = torch.randn(1, 3, 224, 224)
        assert torch.allclose(dense_scores(model, x), model(x), atol=1e-4, rtol=1e-4)
        assert dense_logits(model, torch.randn(1, 3, 320, 256)).shape[:2] == (1, 10)


def test_vgg_slides_its_fc_layers_over_a_larger_image():
    model = create_model("vgg11", num_classes=10).eval()
    with torch.no_grad():
        scores = dense_logits(model, torch.randn(1, 3, 288, 352))
    assert scores.shape == (1, 10, 3, 5)  # features 9 x 11, a 7 x 7 "fc6" window: 3 x 5 positions


def test_a_head_that_is_not_pool_and_fc_is_a_clear_error():
    model = create_model("resnet18", num_classes=10).eval()
    model.pre_logits = torch.nn.BatchNorm1d(512)
    with pytest.raises(InvalidOptionError, match="cannot run densely: its head has a BatchNorm1d"):
        dense_scores(model, torch.randn(1, 3, 64, 64))


def test_dense_evaluation_averages_scales_and_mirrors(tmp_path):
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=3).eval()
    prep = Preprocessing(224, 256, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    paths = []
    for i in range(2):
        Image.fromarray(torch.randint(0, 255, (60, 80, 3), dtype=torch.uint8).numpy()).save(tmp_path / f"{i}.png")
        paths.append(str(tmp_path / f"{i}.png"))
    (metrics,), _ = evaluate_dense([model], paths, [0, 2], 3, prep, scales=(64, 96))
    nll = 0.0
    with torch.no_grad():
        for path, label in zip(paths, [0, 2]):
            img = torch.from_numpy(__import__("numpy").asarray(Image.open(path))).permute(2, 0, 1).float() / 255
            probs = []
            for q in (64, 96):  # shorter side 60 -> q, whole image, normalised; and its mirror
                x = F.interpolate(img[None], size=(q, round(80 * q / 60)), mode="bilinear", antialias=True, align_corners=False)
                x = (x - 0.5) / 0.25
                probs += [F.softmax(model(v), 1) for v in (x, x.flip(-1))]  # global pooling: the map's mean, then the FC
            nll -= torch.log(torch.cat(probs).mean(0)[label]).item()
    assert metrics.count == 2 and metrics.loss == pytest.approx(nll / 2, rel=2e-3)
