"""Published ImageNet-1k accuracies (top-1 / top-5 %, single centre crop), by registered name.

Weights' accuracies are those their publishers state for them (torchvision's weights metadata,
timm's results table); papers' are the tables the lecture shows. They describe weights trained elsewhere: a model
built here starts untrained.
"""
from .registry import Accuracy

TORCHVISION = "torchvision weights (IMAGENET1K_V1)"
TIMM = "timm weights"

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


def _timm(weights: str) -> Accuracy:
    top1, top5 = TIMM_RESULTS[weights]
    return Accuracy(top1, top5, f"{TIMM} ({weights})")


PUBLISHED: dict[str, Accuracy] = {
    "alexnet_owt": Accuracy(56.522, 79.066, TORCHVISION),
    "vgg11": Accuracy(69.020, 88.628, TORCHVISION),
    "vgg13": Accuracy(69.928, 89.246, TORCHVISION),
    "vgg16": Accuracy(71.592, 90.382, TORCHVISION),
    "vgg19": Accuracy(72.376, 90.876, TORCHVISION),
    "vgg16_bn": Accuracy(73.360, 91.516, TORCHVISION),
    "googlenet_bn": Accuracy(69.778, 89.530, TORCHVISION),
    "inception_v3": Accuracy(77.294, 93.450, TORCHVISION),
    "resnet18": Accuracy(69.758, 89.078, TORCHVISION),
    "resnet34": Accuracy(73.314, 91.420, TORCHVISION),
    "resnet50": Accuracy(76.130, 92.862, TORCHVISION),
    "resnet101": Accuracy(77.374, 93.546, TORCHVISION),
    "resnet152": Accuracy(78.312, 94.046, TORCHVISION),
    "resnext50_32x4d": Accuracy(77.618, 93.698, TORCHVISION),
    "mobilenet_v2": Accuracy(71.878, 90.286, TORCHVISION),
    "mobilenet_v3_large": Accuracy(74.042, 91.340, TORCHVISION),
    "mobilenet_v3_small": Accuracy(67.668, 87.402, TORCHVISION),
    "se_resnet18": _timm("legacy_seresnet18.in1k"),
    "se_resnet34": _timm("legacy_seresnet34.in1k"),
    "se_resnet50": _timm("legacy_seresnet50.in1k"),
    "se_resnet101": _timm("legacy_seresnet101.in1k"),
    "se_resnet152": _timm("legacy_seresnet152.in1k"),
    "se_resnext50_32x4d": _timm("legacy_seresnext50_32x4d.in1k"),
    "se_resnext101_32x4d": _timm("legacy_seresnext101_32x4d.in1k"),
    "senet154": _timm("legacy_senet154.in1k"),
    "xception": _timm("legacy_xception.tf_in1k"),
    "inception_resnet_v2": _timm("inception_resnet_v2.tf_in1k"),
    "mobilenet_v1": Accuracy(70.6, None, "MobileNet paper, Tables 4 and 6"),
    "mobilenet_v1_conv": Accuracy(71.7, None, "MobileNet paper, Table 4"),
    "mobilenet_v1_shallow": Accuracy(65.3, None, "MobileNet paper, Table 5"),
}


def published_accuracy(name: str) -> Accuracy | None:
    return PUBLISHED.get(name)


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
