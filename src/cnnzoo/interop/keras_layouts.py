"""Keras Applications, as data: which Keras layer each cnnzoo layer is, and what Keras publishes.

Every Keras application names its layers the same way in every file (`conv_dw_3_bn`,
`conv4_block2_1_conv`, `block_5_expand`), so a layout is a rule from a cnnzoo module's path to the
Keras layer's name, plus the cnnzoo options that make the two nets compute the same thing. Where
Keras leaves a layer unnamed (Inception's convolutions are `conv2d_17`, numbered by a counter that
runs across a whole Keras session), the layout says `@conv2d`: the next such layer in creation
order (by number), which is the order the application's code creates them and cnnzoo registers them.
A Keras SeparableConv2D is one layer holding both of cnnzoo's convolutions: `name#depthwise_kernel`
and `name#pointwise_kernel`.
Accuracies are Keras's own table (https://keras.io/api/applications, single centre crop, TensorFlow
backend, ILSVRC-2012 validation set).
"""
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import CnnzooError

BASE_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"

# preprocess_input's modes, as a normalisation of [0, 1] RGB images. "caffe": BGR, minus the ImageNet
# mean in 0-255 units (the first conv's input channels are reversed on import, so RGB goes in);
# "tf": scaled to [-1, 1].
MODES = {
    "caffe": ((123.68 / 255, 116.779 / 255, 103.939 / 255), (1 / 255,) * 3),
    "tf": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "torch": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


@dataclass(frozen=True)
class KerasApp:
    """One Keras application: its constructor, its layer names, its files and its published accuracy."""

    application: str  # keras.applications.<application>
    keras_name: Callable[[list[str]], list[str]]  # cnnzoo module paths -> Keras layer names, one each
    mode: str  # preprocess_input's mode
    file: Callable[[str], str]  # variant -> the file name Keras saves under ~/.keras/models
    folder: str  # below BASE_URL
    ours: dict = field(default_factory=dict)  # cnnzoo options that compute what Keras computes
    variants: tuple[str, ...] = ("",)  # published sets, the default first
    variant_options: Callable[[str], dict] = lambda variant: {}  # noqa: E731  options a variant implies
    input_size: Callable[[str], int] = lambda variant: 224  # noqa: E731
    top1: float | None = None  # Keras's table, for the default variant
    top5: float | None = None
    flatten_from: tuple[int, int] | None = None  # (H, W) of the map a Dense layer flattens (channels last in Keras)
    bn_eps: float = 1e-3  # Keras's BatchNormalization epsilon in this application


def _rename(rules: list[tuple[str, str]]) -> Callable[[list[str]], list[str]]:
    """A layout from regex rules, tried in order on each path; an unmatched path is a bug of the layout."""

    def keras_name(paths: list[str]) -> list[str]:
        names = []
        for path in paths:
            for pattern, repl in rules:
                if re.fullmatch(pattern, path):
                    names.append(re.sub(pattern, repl, path))
                    break
            else:
                raise CnnzooError(f"no Keras layer is known for {path}: this model does not follow the Keras application")
        return names

    return keras_name


def _resnet_names(paths: list[str]) -> list[str]:
    ends = _rename([(r"stem\.0\.conv", "conv1_conv"), (r"stem\.0\.bn", "conv1_bn"), (r"fc", "predictions")])
    names = []
    for path in paths:  # layer2.0.conv1.bn -> conv3_block1_1_bn; the shortcut is branch 0
        if m := re.fullmatch(r"layer(\d)\.(\d+)\.(?:conv(\d)|shortcut)\.(conv|bn)", path):
            names.append(f"conv{int(m[1]) + 1}_block{int(m[2]) + 1}_{m[3] or 0}_{m[4]}")
        else:
            names += ends([path])
    return names


def _mobilenet_v2_names(paths: list[str]) -> list[str]:
    blocks = list(dict.fromkeys(m[1] for p in paths if (m := re.match(r"features\.(block\d+_\d+)\.", p))))
    names = []
    for path in paths:
        if m := re.fullmatch(r"features\.(block\d+_\d+)\.(expand|depthwise|project)\.(conv|bn)", path):
            index = blocks.index(m[1])
            prefix = "expanded_conv" if index == 0 else f"block_{index}"
            names.append(f"{prefix}_{m[2]}" + ("_BN" if m[3] == "bn" else ""))
        else:
            rules = [(r"features\.conv1\.conv", "Conv1"), (r"features\.conv1\.bn", "bn_Conv1"),
                     (r"features\.conv_last\.conv", "Conv_1"), (r"features\.conv_last\.bn", "Conv_1_bn"), (r"fc", "predictions")]  # fmt: skip
            names += _rename(rules)([path])
    return names


_MOBILENET_V1 = _rename([
    (r"features\.conv1\.conv", "conv1"), (r"features\.conv1\.bn", "conv1_bn"),
    (r"features\.sep(\d+)\.(dw|pw)\.conv", r"conv_\2_\1"), (r"features\.sep(\d+)\.(dw|pw)\.bn", r"conv_\2_\1_bn"),
    (r"fc", "conv_preds"),
])  # fmt: skip
_VGG = _rename([
    (r"features\.conv(\d)_(\d)\.conv", r"block\1_conv\2"), (r"pre_logits\.fc6", "fc1"), (r"pre_logits\.fc7", "fc2"), (r"fc", "predictions"),
])  # fmt: skip

def _auto_bn(path: str) -> str | None:
    """Unnamed Keras conv2d_bn units: every Conv2d and BatchNorm not named otherwise."""
    if path.endswith(".conv"):
        return "@conv2d"
    if path.endswith(".bn"):
        return "@batch_normalization"
    return None


def _inception_v3_names(paths: list[str]) -> list[str]:
    return ["predictions" if p == "fc" else _auto_bn(p) or _unknown(p) for p in paths]


def _inception_resnet_v2_names(paths: list[str]) -> list[str]:
    blocks = {"a": "block35", "b": "block17", "c": "block8"}
    names = []
    for path in paths:  # the residual blocks' up-projections and the last 1x1 are named; the rest are not
        if m := re.fullmatch(r"features\.block_([abc])(\d+)\.up", path):
            names.append(f"{blocks[m[1]]}_{m[2]}_conv")
        elif m := re.fullmatch(r"features\.conv7b\.(conv|bn)", path):
            names.append("conv_7b" if m[1] == "conv" else "conv_7b_bn")
        else:
            names.append("predictions" if path == "fc" else _auto_bn(path) or _unknown(path))
    return names


def _xception_names(paths: list[str]) -> list[str]:
    names, separable = [], {}  # (block, body index) -> Keras's sepconv name
    for path in paths:
        if m := re.fullmatch(r"features\.conv([12])\.(conv|bn)", path):
            names.append(f"block1_conv{m[1]}" + ("_bn" if m[2] == "bn" else ""))
        elif re.fullmatch(r"features\.block\d+\.shortcut\.(conv|bn)", path):
            names.append(_auto_bn(path))  # the residual 1x1 convs are unnamed in Keras
        elif m := re.fullmatch(r"features\.(?:block(\d+)\.body|conv([34]))\.(\d+)(?:\.(depthwise|pointwise))?", path):
            block, index, part = (int(m[1]) + 1 if m[1] else 14), int(m[3]), m[4]
            if part:  # block b+1's k-th separable conv; the exit flow's two are block 14's
                key = (block, m[2] or index)
                number = int(m[2]) - 2 if m[2] else separable.setdefault(key, sum(b == block for b, _ in separable) + 1)
                names.append(f"block{block}_sepconv{number}#{part}_kernel")
            else:  # the BatchNorm after the separable conv just named
                names.append(names[-1].split("#")[0] + "_bn")
        else:
            names.append("predictions" if path == "fc" else _unknown(path))
    return names


def _mobilenet_v3_names(paths: list[str]) -> list[str]:
    names = []
    for path in paths:  # Keras 3's names; Keras 2's ("expanded_conv_3/squeeze_excite/Conv_1", "Conv/BatchNorm") read the same
        if m := re.fullmatch(r"features\.bneck(\d+)\.(expand|depthwise|project)\.(conv|bn)", path):
            prefix = "expanded_conv" if m[1] == "1" else f"expanded_conv_{int(m[1]) - 1}"
            names.append(f"{prefix}_{m[2]}" + ("_bn" if m[3] == "bn" else ""))
        elif m := re.fullmatch(r"features\.bneck(\d+)\.se\.fc([12])", path):
            prefix = "expanded_conv" if m[1] == "1" else f"expanded_conv_{int(m[1]) - 1}"
            names.append(f"{prefix}_squeeze_excite_conv" + ("_1" if m[2] == "2" else ""))
        else:
            fixed = {"features.conv1.conv": "conv", "features.conv1.bn": "conv_bn", "features.conv_last.conv": "conv_1",
                     "features.conv_last.bn": "conv_1_bn", "pre_logits.0": "conv_2", "fc": "logits"}  # fmt: skip
            names.append(fixed.get(path) or _unknown(path))
    return names


def _mobilenet_v3(size: str) -> KerasApp:
    """Alpha 1.0 only: Keras's 0.75 nets widen each block by its expansion ratio times the thinned
    input, where Table 1 (and torchvision, and cnnzoo) thins the expanded width itself: another net."""
    return KerasApp(f"MobileNetV3{size.title()}", _mobilenet_v3_names, "tf", lambda v: f"weights_mobilenet_v3_{size}_224_1.0_float.h5",
                    "mobilenet_v3/", ours=dict(tf_padding=True))  # fmt: skip


def _unknown(path: str):
    raise CnnzooError(f"no Keras layer is known for {path}: this model does not follow the Keras application")


_V1_ALPHAS = {"1.0": "1_0", "0.75": "7_5", "0.5": "5_0", "0.25": "2_5"}
_SIZES = (224, 192, 160, 128)
_V2_ALPHAS = ("1.0", "0.35", "0.5", "0.75", "1.3", "1.4")


def _split(variant: str) -> tuple[str, int]:
    alpha, _, size = variant.partition("_")
    return alpha, int(size)


def _resnet(depth: int) -> KerasApp:
    published = {50: (74.9, 92.1), 101: (76.4, 92.8), 152: (76.6, 93.1)}[depth]
    return KerasApp(f"ResNet{depth}", _resnet_names, "caffe", lambda v: f"resnet{depth}_weights_tf_dim_ordering_tf_kernels.h5",
                    "resnet/", ours=dict(stride_in_1x1=True), bn_eps=1.001e-5, top1=published[0], top5=published[1])  # fmt: skip


def _vgg(depth: int) -> KerasApp:
    published = {16: (71.3, 90.1), 19: (71.3, 90.0)}[depth]
    return KerasApp(f"VGG{depth}", _VGG, "caffe", lambda v: f"vgg{depth}_weights_tf_dim_ordering_tf_kernels.h5", f"vgg{depth}/",
                    top1=published[0], top5=published[1], flatten_from=(7, 7))  # fmt: skip


KERAS_APPS: dict[str, KerasApp] = {
    "mobilenet_v1": KerasApp(
        "MobileNet", _MOBILENET_V1, "tf", lambda v: f"mobilenet_{_V1_ALPHAS[_split(v)[0]]}_{_split(v)[1]}_tf.h5", "mobilenet/",
        ours=dict(act="relu6", tf_padding=True),
        variants=tuple(f"{a}_{s}" for a in _V1_ALPHAS for s in _SIZES),
        variant_options=lambda v: dict(width_mult=float(_split(v)[0])), input_size=lambda v: _split(v)[1],
        top1=70.4, top5=89.5,
    ),
    "mobilenet_v2": KerasApp(
        "MobileNetV2", _mobilenet_v2_names, "tf",
        lambda v: f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{_split(v)[0]}_{_split(v)[1]}.h5", "mobilenet_v2/",
        ours=dict(tf_padding=True),
        variants=tuple(f"{a}_{s}" for a in _V2_ALPHAS for s in (224, 192, 160, 128, 96) if float(a) <= 1 or s == 224),
        variant_options=lambda v: dict(width_mult=float(_split(v)[0])), input_size=lambda v: _split(v)[1],
        top1=71.3, top5=90.1,
    ),
    "inception_v3": KerasApp(
        "InceptionV3", _inception_v3_names, "tf", lambda v: "inception_v3_weights_tf_dim_ordering_tf_kernels.h5", "inception_v3/",
        ours=dict(aux_logits=False, pools={"count_include_pad": False}), input_size=lambda v: 299, top1=77.9, top5=93.7,
    ),
    "inception_resnet_v2": KerasApp(
        "InceptionResNetV2", _inception_resnet_v2_names, "tf", lambda v: "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
        "inception_resnet_v2/", input_size=lambda v: 299, top1=80.3, top5=95.3,
    ),
    "xception": KerasApp(
        "Xception", _xception_names, "tf", lambda v: "xception_weights_tf_dim_ordering_tf_kernels.h5", "xception/",
        ours=dict(tf_padding=True), input_size=lambda v: 299, top1=79.0, top5=94.5,
    ),
    "mobilenet_v3_large": _mobilenet_v3("large"),
    "mobilenet_v3_small": _mobilenet_v3("small"),
    "vgg16": _vgg(16),
    "vgg19": _vgg(19),
    "resnet50": _resnet(50),
    "resnet101": _resnet(101),
    "resnet152": _resnet(152),
}
