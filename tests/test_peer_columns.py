"""The README's comparison with torchvision, timm and Keras Applications says what each peer ships: its
"the lecture's architectures" row names an architecture for a peer exactly when that peer's installed
version has it, and cnnzoo's cell counts the registry's families and models."""
import os
import re
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")

from cnnzoo import list_models, model_info  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
PEERS = ("torchvision", "timm", "keras")

# The README's word for each lecture architecture, and a pattern that finds it among each peer's model names
# (torchvision's and timm's snake_case builders, Keras Applications' classes).
ARCHITECTURES = {
    "AlexNet": (r"^alexnet$", r"alexnet", r"AlexNet"),
    "ZFNet": (r"^zf", r"^zf", r"ZFNet"),
    "VGG": (r"^vgg16$", r"^vgg16$", r"^VGG16$"),
    "GoogLeNet": (r"^googlenet$", r"googlenet", r"GoogLeNet"),
    "BN-Inception": (r"bn_?inception", r"bn_?inception", r"BNInception"),
    "Inception-v3": (r"^inception_v3$", r"^inception_v3$", r"^InceptionV3$"),
    "ResNet": (r"^resnet50$", r"^resnet50$", r"^ResNet50$"),
    "ResNeXt": (r"^resnext50_32x4d$", r"^resnext50_32x4d$", r"ResNeXt"),
    "SENet": (r"^se_?res|^senet", r"^seresnet50$", r"^SE|SENet"),
    "Inception-ResNet-v2": (r"^inception_resnet_v2$", r"^inception_resnet_v2$", r"^InceptionResNetV2$"),
    "Xception": (r"xception", r"xception", r"^Xception$"),
    "MobileNet v1": (r"^mobilenet_v1", r"^mobilenetv1_100$", r"^MobileNet$"),
    "MobileNet v2": (r"^mobilenet_v2$", r"^mobilenetv2_100$", r"^MobileNetV2$"),
    "MobileNet v3": (r"^mobilenet_v3_large$", r"^mobilenetv3_large_100$", r"^MobileNetV3Large$"),
}


def row_cells() -> dict[str, str]:
    line = next(line for line in README.read_text().splitlines() if line.startswith("| the lecture's architectures |"))
    cells = [c.strip() for c in line.strip("|").split("|")][1:]
    return dict(zip(("cnnzoo", *PEERS), cells, strict=True))


def named(cell: str) -> set[str]:
    """The architectures a cell names; "MobileNet v1-v3" names three."""
    found = {word for word in ARCHITECTURES if not word.startswith("MobileNet") and re.search(rf"(?<![\w-]){re.escape(word)}(?![\w])", cell)}
    for first, last in re.findall(r"MobileNet v(\d)(?:-v(\d))?", cell):
        found |= {f"MobileNet v{v}" for v in range(int(first), int(last or first) + 1)}
    return found


def peer_models(peer: str) -> list[str]:
    if peer == "torchvision":
        import torchvision.models

        return torchvision.models.list_models()
    if peer == "timm":
        timm = pytest.importorskip("timm")
        return timm.list_models()
    keras = pytest.importorskip("keras")
    return [n for n in dir(keras.applications) if n[:1].isupper()]


def test_the_vocabulary_reads_the_cells():
    assert named("AlexNet (one tower), ResNet, ResNeXt, MobileNet v2-v3") == {"AlexNet", "ResNet", "ResNeXt", "MobileNet v2", "MobileNet v3"}
    assert named("Inception-ResNet-v2, Inception-v3, MobileNet v1") == {"Inception-ResNet-v2", "Inception-v3", "MobileNet v1"}


@pytest.mark.parametrize("peer", PEERS)
def test_a_peer_is_said_to_have_an_architecture_exactly_when_it_does(peer):
    models = peer_models(peer)
    has = {word for word, patterns in ARCHITECTURES.items() if any(re.search(patterns[PEERS.index(peer)], m) for m in models)}
    said = named(row_cells()[peer])
    assert said == has, f"README says {peer} has {sorted(said - has)} (it does not), and omits {sorted(has - said)}"


def test_cnnzoo_cell_counts_the_registry():
    families = {model_info(name).family for name in list_models()}
    m = re.search(r"all (\d+) families, (\d+) models", row_cells()["cnnzoo"])
    assert m and (int(m.group(1)), int(m.group(2))) == (len(families), len(list_models()))
