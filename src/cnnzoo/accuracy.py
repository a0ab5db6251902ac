"""Published ImageNet-1k accuracies (top-1 / top-5 %, single centre crop), by registered name.

Weights' accuracies are those their publishers state for them (torchvision's and timm's model
cards); papers' are the tables the lecture shows. They describe weights trained elsewhere: a model
built here starts untrained.
"""
from .registry import Accuracy

TORCHVISION = "torchvision weights (IMAGENET1K_V1)"
TIMM = "timm weights"

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
    "se_resnet50": Accuracy(77.650, 93.732, TIMM + " (legacy_seresnet50)"),
    "se_resnext50_32x4d": Accuracy(79.080, 94.428, TIMM + " (legacy_seresnext50_32x4d)"),
    "senet154": Accuracy(81.320, 95.502, TIMM + " (legacy_senet154)"),
    "xception": Accuracy(79.058, 94.396, TIMM + " (legacy_xception)"),
    "inception_resnet_v2": Accuracy(80.434, 95.312, TIMM),
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
