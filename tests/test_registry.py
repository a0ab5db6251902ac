import inspect

import pytest
import torch

import cnnzoo
from cnnzoo import InvalidOptionError, UnknownModelError
from cnnzoo.reference.accuracy import TORCHVISION
from cnnzoo.registry import Paper, register_model
from cnnzoo.train import RECIPES, recipe_for


def test_list_models_patterns():
    assert "resnet50" in cnnzoo.list_models()
    assert cnnzoo.list_models("vgg*_bn") == ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]
    # a plain word is a substring match, in natural order
    assert cnnzoo.list_models("resnext50") == ["resnext50_2x40d", "resnext50_4x24d", "resnext50_8x14d", "resnext50_32x4d", "se_resnext50_32x4d"]
    assert cnnzoo.list_models("no-such-thing") == []


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownModelError, match="resnet50") as e:
        cnnzoo.create_model("resnet_50")
    assert "did you mean" in str(e.value)
    with pytest.raises(UnknownModelError, match="cnnzoo list"):
        cnnzoo.model_info("qwertyuiop")


def test_unknown_option_is_refused_with_the_valid_ones():
    with pytest.raises(InvalidOptionError, match="'stride_in_3x3'.*stride_in_1x1"):
        cnnzoo.create_model("resnet50", stride_in_3x3=True)
    with pytest.raises(InvalidOptionError, match="num_classes"):
        cnnzoo.create_model("resnet18", num_classes=-1)


def test_bad_option_values_are_refused():
    with pytest.raises(InvalidOptionError, match="shortcut"):
        cnnzoo.create_model("resnet20", shortcut="D")
    with pytest.raises(InvalidOptionError, match="basic blocks take no groups"):
        cnnzoo.create_model("resnet18", groups=32)
    with pytest.raises(InvalidOptionError, match="se must be"):
        cnnzoo.create_model("resnet18", se="yes")


def test_registering_a_name_twice_is_refused():
    with pytest.raises(ValueError, match="registered twice"):

        @register_model(paper=Paper("t", "a", 2000), follows="-")
        def resnet50(**kwargs):
            return None


@pytest.mark.parametrize("name", cnnzoo.list_models())
def test_metadata_is_complete(name):
    info = cnnzoo.model_info(name)
    assert info.paper.title and info.paper.authors and 2010 <= info.paper.year <= 2020
    assert info.follows and info.summary.endswith(".")
    assert info.input_size in (32, 224, 227, 299)
    assert (info.params is None and info.macs is None) or info.reference
    assert info.options()["num_classes"].default == info.num_classes
    # every option shown by `info` is a keyword the builder takes
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in info.options().items() if n != "num_classes")
    # the training recipe of its paper is named at its registration, not guessed from its name
    assert info.recipe in RECIPES, f"{name} names no recipe: register it with recipe=..."
    assert recipe_for(name).name == info.recipe
    assert info.published is None or 0 < info.published.top1 < 100 and info.published.source  # values: the tests below


def test_the_papers_recipes_follow_the_papers():
    """The three models that once fell back silently to the ResNet recipe now name their own papers'."""
    assert recipe_for("xception").optimizer == "sgd" and recipe_for("xception").weight_decay == 1e-5
    assert recipe_for("inception_resnet_v2").optimizer == "rmsprop" and recipe_for("inception_resnet_v2").gamma == 0.94
    assert recipe_for("senet154").batch_size == 1024 and recipe_for("senet154").lr == 0.6
    assert recipe_for("resnet20").name == recipe_for("plain56").name == "resnet_cifar"
    assert recipe_for("zfnet").name == "alexnet" and recipe_for("se_inception_v3").name == "inception_v3"


def test_options_default_to_the_variant():
    opts = cnnzoo.model_info("se_resnet50").options()
    assert opts["se"].default == 16 and opts["stride_in_1x1"].default is True
    assert cnnzoo.model_info("resnet50").options()["se"].default is None


def test_create_model_passes_options_through():
    m = cnnzoo.create_model("resnet20", se=True, num_classes=7)
    assert m.fc.out_features == 7 and m.layer1[0].se is not None
    assert cnnzoo.create_model("vgg11", in_chans=1)(torch.randn(1, 1, 32, 32)).shape == (1, 1000)


TORCHVISION_PUBLISHED = [n for n in cnnzoo.list_models() if (p := cnnzoo.model_info(n).published) and p.source == TORCHVISION]


@pytest.mark.parametrize("name", TORCHVISION_PUBLISHED)
def test_published_accuracies_are_torchvisions_own(name):
    """An accuracy credited to torchvision's weights is the one torchvision ships in those weights' metadata."""
    from torchvision.models import get_model_weights

    info = cnnzoo.model_info(name)
    metrics = get_model_weights(info.peer.name).IMAGENET1K_V1.meta["_metrics"]["ImageNet-1K"]
    assert (info.published.top1, info.published.top5) == pytest.approx((metrics["acc@1"], metrics["acc@5"]), abs=1e-3)
