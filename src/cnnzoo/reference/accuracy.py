"""Published ImageNet-1k accuracies (top-1 / top-5 %, single centre crop): the record type each
registered model carries (`ModelInfo.published`), timm's results table, and the ILSVRC winners.

Weights' accuracies are those their publishers state for them (torchvision's weights metadata,
timm's results table); papers' are the tables the lecture shows. They describe weights trained
elsewhere: a model built here starts untrained.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Accuracy:
    """Published ImageNet-1k accuracy (%, single centre crop) and whose it is."""

    top1: float
    top5: float | None
    source: str


TORCHVISION = "torchvision weights (IMAGENET1K_V1)"
TIMM = "timm weights"


def torchvision_v1(top1: float, top5: float) -> Accuracy:
    """The accuracy torchvision's metadata states for its IMAGENET1K_V1 weights (the papers' era)."""
    return Accuracy(top1, top5, TORCHVISION)


def paper_reported(top1: float, where: str) -> Accuracy:
    """An accuracy a paper reports for its own training (no top-5 given)."""
    return Accuracy(top1, None, where)


# timm publishes its weights' accuracies in results/results-imagenet.csv of its repository, not in the
# package: these are that file's rows (huggingface/pytorch-image-models@0173a139), each measured at the
# weights' own input size and crop_pct. That version predates mobilenetv1_100's weights: none for it.
TIMM_RESULTS: dict[str, tuple[float, float]] = {
    "inception_resnet_v2.tf_in1k": (80.462, 95.308),
    "resnext101_32x4d.fb_ssl_yfcc100m_ft_in1k": (80.924, 95.734),
    "legacy_seresnet18.in1k": (71.766, 90.332),
    "legacy_seresnet34.in1k": (74.808, 92.126),
    "legacy_seresnet50.in1k": (77.644, 93.758),
    "legacy_seresnet101.in1k": (78.386, 94.262),
    "legacy_seresnet152.in1k": (78.660, 94.370),
    "legacy_seresnext50_32x4d.in1k": (79.076, 94.432),
    "legacy_seresnext101_32x4d.in1k": (80.230, 95.026),
    "legacy_senet154.in1k": (81.308, 95.492),
    "legacy_xception.tf_in1k": (79.040, 94.382),
}


def timm_published(weights: str) -> Accuracy:
    """The accuracy timm's results table states for the named weights."""
    top1, top5 = TIMM_RESULTS[weights]
    return Accuracy(top1, top5, f"{TIMM} ({weights})")


# ILSVRC classification winners' top-5 test error (%), as the lecture's first slide lists them.
ILSVRC_WINNERS = [
    (2012, "AlexNet", 15.4),
    (2013, "ZFNet", 11.2),
    (2014, "GoogLeNet", 6.7),
    (2015, "ResNet", 3.57),
    (2016, "CUImage (ensemble of 6)", 2.99),
    (2017, "SENet", 2.251),
]
ILSVRC_RUNNERS_UP = [(2014, "VGG", 7.3)]  # second in classification, first in localization
