"""Keras Applications' weights, moved onto the cnnzoo model of the same architecture.

    create_model("mobilenet_v1", weights="keras:0.5_160")   # mobilenet_5_0_160_tf.h5 from ~/.keras/models
    create_model("resnet50", weights="resnet50.weights.h5")   # any Keras file of that application

Three layouts are read, with h5py and nothing else (no model config is run, no code is loaded): the
HDF5 files Keras publishes (Keras 2: `layer_names` / `weight_names`, as `save_weights` wrote them, or
under `model_weights` as `model.save("x.h5")` writes them), Keras 3's `.weights.h5` (`layers/<class>/vars`,
the layer's own name in an attribute) and `.keras` (a zip holding that file). Kernels go from HWIO to
OIHW (depthwise: HW, in, multiplier), Dense kernels are transposed (and, after a flatten, their rows
reordered from Keras's height-width-channel to PyTorch's channel-height-width), a conv bias that a
BatchNorm follows is folded into the BatchNorm's mean, and the difference between Keras's BatchNorm
epsilon and ours is added to the variance: the same numbers come out.
"""
import io
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from ..data.preprocessing import Preprocessing
from ..errors import CnnzooError
from ..files.untrusted import check_hdf5, checked_zip, read_member, regular_file
from ..registry import Peer, model_info
from .keras_layouts import BASE_URL, KERAS_APPS, MODES, KerasApp
from .peers import WeightMismatchError
from .sources import WeightSource, find_weights

SUFFIXES = (".h5", ".hdf5", ".keras")
CROP_PCT = 0.875  # shorter side to size / 0.875, then the centre crop: Keras's table does not say; the usual protocol

KerasLayer = dict[str, np.ndarray]  # role (kernel, bias, gamma, beta, moving_mean, moving_variance) -> array
_BN_ROLES = {4: ("gamma", "beta", "moving_mean", "moving_variance"), 3: ("beta", "moving_mean", "moving_variance"),
             2: ("moving_mean", "moving_variance")}  # fmt: skip


def keras_home() -> Path:
    """Where Keras keeps its downloads ($KERAS_HOME, default ~/.keras; the files go in models/)."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")


def is_keras(weights) -> bool:
    text = str(weights)
    return text == "keras" or text.startswith("keras:") or Path(text).suffix.lower() in SUFFIXES


def keras_app(name: str) -> KerasApp:
    if name not in KERAS_APPS:
        raise CnnzooError(f"Keras Applications has no {name}; cnnzoo reads Keras weights for {', '.join(KERAS_APPS)}")
    return KERAS_APPS[name]


def keras_sources(name: str):
    """Every set of weights Keras publishes for cnnzoo model `name`, its default first."""
    app = keras_app(name)
    sources = []
    for variant in app.variants:
        file, size = app.file(variant), app.input_size(variant)
        mean, std = MODES[app.mode]
        prep = Preprocessing(size, round(size / CROP_PCT), mean, std, "bilinear")
        default = variant == app.variants[0]
        label = f"keras.applications.{app.application}" + (f" {variant}" if variant else "")
        sources.append(WeightSource("keras", Peer("keras", app.application), (keras_home() / "models" / file,),
                                    BASE_URL + app.folder + file, prep, app.top1 if default else None,
                                    app.top5 if default else None, label, "keras.io/api/applications"))  # fmt: skip
    return sources


def keras_source(name: str, weights: str):
    """The published set `weights` names: 'keras' (its default, or the one on this machine) or
    'keras:VARIANT' (MobileNet's alpha_size, as keras:0.5_160)."""
    sources, app = keras_sources(name), keras_app(name)
    _, _, variant = str(weights).partition(":")
    if variant:
        if variant not in app.variants:
            raise CnnzooError(f"Keras publishes no {variant!r} weights for {name}: it has {', '.join(app.variants)}")
        return sources[app.variants.index(variant)]
    return next((s for s in sources if s.available), sources[0])


# -- reading -------------------------------------------------------------------------------------


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _array(dataset, where: str) -> np.ndarray:
    a = np.asarray(dataset[()])
    if a.dtype.kind != "f":
        raise CnnzooError(f"{where} holds {a.dtype} values, not floating point weights")
    if not np.isfinite(a).all():
        raise CnnzooError(f"{where} holds non-finite values (NaN or inf): the file is damaged")
    return a.astype(np.float32)


def _role(weight_name: str) -> str:
    return weight_name.rsplit("/", 1)[-1].split(":")[0]  # conv1_bn/gamma:0 -> gamma


def _keras2_layers(group) -> dict[str, KerasLayer]:
    layers = {}
    for name in map(_text, group.attrs["layer_names"]):
        g = group[name]
        weight_names = [_text(w) for w in g.attrs.get("weight_names", [])]
        if weight_names:
            layers[name] = {_role(w): _array(g[w], f"{name}/{w}") for w in weight_names}
    return layers


def _keras3_layers(group) -> dict[str, KerasLayer]:
    layers = {}
    for key in group:
        vars_ = group[key].get("vars")
        if vars_ is None or not len(vars_):
            continue
        name = _text(vars_.attrs.get("name", key))
        arrays = [_array(vars_[str(i)], f"{name}/vars/{i}") for i in range(len(vars_))]
        if key.startswith("separable_conv2d"):
            layers[name] = dict(zip(("depthwise_kernel", "pointwise_kernel", "bias"), arrays))
        elif key.startswith("batch_normalization"):
            if len(arrays) not in _BN_ROLES:
                raise CnnzooError(f"{name}: a BatchNormalization with {len(arrays)} weights is not one cnnzoo knows")
            layers[name] = dict(zip(_BN_ROLES[len(arrays)], arrays))
        else:
            layers[name] = dict(zip(("kernel", "bias"), arrays))
    return layers


def layer_key(name: str) -> str:
    """A Keras layer name as both Keras generations spell it: lower case, '/' as '_', BatchNorm as bn
    (Keras 2's MobileNetV3 "expanded_conv/depthwise/BatchNorm" is Keras 3's "expanded_conv_depthwise_bn")."""
    return name.lower().replace("/", "_").replace("_batchnorm", "_bn")


def read_keras_weights(path: str | Path) -> dict[str, KerasLayer]:
    """Keras layer name (as `layer_key` spells it) -> its arrays by role, from any of the three layouts."""
    try:
        import h5py
    except ImportError:
        raise CnnzooError("reading Keras files needs h5py: pip install 'cnnzoo[keras]'") from None

    path = regular_file(path, "Keras weights file")
    try:
        if zipfile.is_zipfile(path):  # .keras: config.json, metadata.json and model.weights.h5 in a zip
            with checked_zip(path) as z:
                data = read_member(z, "model.weights.h5")
                source, stored = io.BytesIO(data), len(data)
        else:
            source, stored = path, path.stat().st_size
        with h5py.File(source, "r") as f:
            check_hdf5(f, path, stored)  # no link, external storage or plugin followed; sizes bounded; before any read
            layers = None
            if "layer_names" in f.attrs:
                layers = _keras2_layers(f)
            elif "model_weights" in f and "layer_names" in f["model_weights"].attrs:
                layers = _keras2_layers(f["model_weights"])
            elif "layers" in f:
                layers = _keras3_layers(f["layers"])
            if layers is not None:
                return {layer_key(name): arrays for name, arrays in layers.items()}
    except CnnzooError:
        raise
    except (OSError, KeyError, ValueError, TypeError, AttributeError, zipfile.BadZipFile, RuntimeError) as e:  # a layout out of shape
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise CnnzooError(f"cannot read Keras weights from {path}: {first}") from None
    raise CnnzooError(f"{path} is an HDF5 file but not one of Keras's weight layouts (no layer_names, model_weights or layers)")


# -- converting ----------------------------------------------------------------------------------


def _need(layer: KerasLayer, role: str, name: str) -> Tensor:
    if role not in layer:
        raise WeightMismatchError(f"Keras layer {name} has no {role} (it has {', '.join(layer)})")
    return torch.from_numpy(layer[role])


def _resolve(names: list[str], layers: dict[str, KerasLayer]) -> list[str]:
    """'@prefix' (an unnamed Keras layer) becomes the file's next layer `prefix`, `prefix_1`, ...
    in the order Keras created them; a '#role' suffix is kept."""
    queues: dict[str, list[str]] = {}
    resolved = []
    for name in names:
        base, sep, role = name.partition("#")
        if base.startswith("@"):
            prefix = base[1:]
            if prefix not in queues:
                numbered = [(int(m[1] or 0), n) for n in layers if (m := re.fullmatch(re.escape(prefix) + r"(?:_(\d+))?", n))]
                queues[prefix] = [n for _, n in sorted(numbered)]
            if not queues[prefix]:
                raise WeightMismatchError(f"the file has fewer unnamed {prefix} layers than the model's {names.count(name)}")
            base = queues[prefix].pop(0)
        resolved.append(base + sep + role)
    return resolved


def _check(t: Tensor, like: Tensor, what: str) -> Tensor:
    if t.shape != like.shape:
        raise WeightMismatchError(f"{what} has shape {tuple(t.shape)} where cnnzoo needs {tuple(like.shape)}: not this architecture")
    return t.contiguous()


def keras_state_dict(model: nn.Module, layers: dict[str, KerasLayer], app: KerasApp) -> dict[str, Tensor]:
    """`model`'s state dict from Keras's layers (named as `app` names them)."""
    modules = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
    names = _resolve([layer_key(n) for n in app.keras_name([n for n, _ in modules])], layers)
    state, used, pending_bias, first_conv, flattened = {}, set(), None, True, False
    for (path, module), token in zip(modules, names):
        name, _, role = token.partition("#")
        if name not in layers:
            raise WeightMismatchError(f"the file has no Keras layer {name} (for cnnzoo's {path})")
        layer, used = layers[name], used | {name}
        if isinstance(module, nn.Conv2d):
            k = _need(layer, role or ("depthwise_kernel" if "depthwise_kernel" in layer else "kernel"), name)
            if k.ndim != 4:
                raise WeightMismatchError(f"Keras layer {name} has a {k.ndim}-d kernel where a convolution's is 4-d")
            w = k.permute(3, 2, 0, 1) if module.groups == 1 else k.permute(2, 3, 0, 1).reshape(-1, 1, *k.shape[:2])
            if first_conv and app.mode == "caffe":
                w = w.flip(1)  # Keras's caffe mode feeds BGR; reversing the input channels takes RGB
            first_conv = False
            state[f"{path}.weight"] = _check(w, module.weight, name)
            bias = torch.from_numpy(layer["bias"]) if "bias" in layer else None
            if module.bias is not None:
                state[f"{path}.bias"] = _check(bias if bias is not None else torch.zeros_like(module.bias), module.bias, f"{name} bias")
            else:
                pending_bias = bias  # folded into the BatchNorm that follows
        elif isinstance(module, nn.BatchNorm2d):
            mean, var = _need(layer, "moving_mean", name), _need(layer, "moving_variance", name)
            if pending_bias is not None:
                mean, pending_bias = mean - _check(pending_bias, mean, f"the bias before {name}"), None
            state[f"{path}.weight"] = _check(torch.from_numpy(layer["gamma"]) if "gamma" in layer else torch.ones_like(mean), module.weight, name)
            state[f"{path}.bias"] = _check(torch.from_numpy(layer["beta"]) if "beta" in layer else torch.zeros_like(mean), module.bias, name)
            state[f"{path}.running_mean"] = _check(mean, module.running_mean, name)
            state[f"{path}.running_var"] = _check((var + (app.bn_eps - module.eps)).clamp_min(0), module.running_var, name)
        else:
            k = _need(layer, "kernel", name)
            k = k.reshape(k.shape[-2], k.shape[-1]) if k.ndim == 4 else k  # a 1x1 conv as classifier (MobileNet)
            if app.flatten_from and not flattened:  # Keras flattens H, W, C; PyTorch C, H, W
                h, w = app.flatten_from
                k = k.reshape(h, w, -1, k.shape[-1]).permute(2, 0, 1, 3).reshape(-1, k.shape[-1])
                flattened = True
            state[f"{path}.weight"] = _check(k.T, module.weight, name)
            state[f"{path}.bias"] = _check(_need(layer, "bias", name), module.bias, f"{name} bias")
    unused = [n for n in layers if n not in used]
    if unused:
        raise WeightMismatchError(f"the file has {len(unused)} Keras layers cnnzoo's model does not: {', '.join(unused[:4])}")
    return state


def keras_model(name: str, weights: str | Path, num_classes: int | None = None, **options) -> nn.Module:
    """cnnzoo model `name` holding Keras's weights: `weights` is 'keras', 'keras:VARIANT' or a Keras
    file (.h5, .weights.h5, .keras); `model.preprocessing` is Keras's preprocess_input for it."""
    app = keras_app(name)
    keyword = str(weights) == "keras" or str(weights).startswith("keras:")
    source = keras_source(name, str(weights)) if keyword else None
    path = find_weights(source) if source else Path(weights)
    if source is None:  # a file of Keras's own name says which variant it is
        source = next((s for s in keras_sources(name) if s.files[0].name == path.name), None)
    variant = app.variants[[s.name for s in keras_sources(name)].index(source.name)] if source else ""
    built = {**app.ours, **(app.variant_options(variant) if variant else {}), **options}
    model = model_info(name).build(**built)
    try:
        state = keras_state_dict(model, read_keras_weights(path), app)
    except WeightMismatchError as e:
        raise WeightMismatchError(f"{path} does not fit {name}{' ' + str(built) if built else ''}: {e}") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing), (missing, unexpected)
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_classifier(num_classes)
    model.preprocessing = source.preprocessing if source else keras_sources(name)[0].preprocessing
    model.weight_source = source
    model.weights_file = str(path)
    model.model_options = built
    return model
