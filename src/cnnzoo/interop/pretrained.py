"""Weights people already have: a torchvision or timm checkpoint file, mapped onto the cnnzoo model of
the same architecture, with the preprocessing and the published accuracy that come with it.

    create_model("resnet50", weights="torchvision")      # the file torchvision downloads, from the hub cache
    create_model("xception", weights="timm")              # timm's, from the Hugging Face or torch hub cache
    create_model("resnet50", weights="resnet50.pth")      # any state dict file (.pth, .pt, .bin, .safetensors)

Nothing is downloaded: a source keyword looks where the peer library would have saved its file, and,
when the file is absent, says which file to put where. Files are read without running code
(`torch.load(weights_only=True)`, safetensors).
"""
import math
import os
from pathlib import Path

import torch
from torch import nn

from ..data.preprocessing import Preprocessing
from ..errors import CnnzooError
from ..files.untrusted import check_torch_archive, regular_file
from ..reference.accuracy import TIMM_RESULTS
from ..registry import Peer, model_info
from .keras import is_keras, keras_model, keras_source, keras_sources
from .peers import build_peer, load_peer_state_dict
from .sources import WeightsNotFoundError, WeightSource, find_weights

__all__ = ["WeightSource", "WeightsNotFoundError", "find_weights", "pretrained_model", "pretrained_meta", "weight_source"]

SOURCES = ("torchvision", "timm", "keras")


def hub_dir() -> Path:
    """torch.hub's cache ($TORCH_HOME/hub, default ~/.cache/torch/hub), where torchvision saves weights."""
    return Path(torch.hub.get_dir())


def hf_cache() -> Path:
    root = os.environ.get("HF_HUB_CACHE") or os.path.join(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"), "hub")
    return Path(root)


def _torchvision_sources(peer: Peer) -> list[WeightSource]:
    """Every set of ImageNet weights torchvision publishes for the architecture, its DEFAULT first."""
    import torchvision

    enum = torchvision.models.get_model_weights(peer.name)
    sources = []
    for weights in sorted(enum, key=lambda w: w is not enum.DEFAULT):
        t = weights.transforms()
        prep = Preprocessing(t.crop_size[0], t.resize_size[0], tuple(t.mean), tuple(t.std), t.interpolation.value)
        metrics = weights.meta.get("_metrics", {}).get("ImageNet-1K", {})
        file = hub_dir() / "checkpoints" / weights.url.rsplit("/", 1)[-1]
        name = f"{enum.__name__}.{weights.name}"
        sources.append(WeightSource("torchvision", peer, (file,), weights.url, prep, metrics.get("acc@1"), metrics.get("acc@5"),
                                    name, f"torchvision's {name} metadata"))  # fmt: skip
    return sources


def _timm_sources(peer: Peer) -> list[WeightSource]:
    try:
        import timm
    except ImportError:
        raise CnnzooError("weights='timm' reads timm's configuration: pip install timm (the weights file itself stays local)") from None
    cfg = timm.models.get_pretrained_cfg(peer.name)
    if cfg is None:
        raise CnnzooError(f"timm has no pretrained configuration for {peer.name}")
    size = cfg.input_size[-1]
    # timm's eval transform: the shorter side to floor(size / crop_pct), then the centre crop
    prep = Preprocessing(size, math.floor(size / cfg.crop_pct), tuple(cfg.mean), tuple(cfg.std), cfg.interpolation or "bilinear")
    files = []
    if cfg.hf_hub_id:
        repo = hf_cache() / f"models--{cfg.hf_hub_id.replace('/', '--')}" / "snapshots"
        snapshots = sorted(repo.glob("*"), key=lambda p: p.stat().st_mtime, reverse=True) if repo.is_dir() else []
        for snap in snapshots or [repo / "<revision>"]:
            files += [snap / "model.safetensors", snap / "pytorch_model.bin"]
    if cfg.url:
        files.append(hub_dir() / "checkpoints" / cfg.url.rsplit("/", 1)[-1])
    url = f"https://huggingface.co/{cfg.hf_hub_id}" if cfg.hf_hub_id else cfg.url
    name = f"{cfg.architecture}.{cfg.tag}" if cfg.tag else cfg.architecture
    top1, top5 = TIMM_RESULTS.get(name, (None, None))
    return [WeightSource("timm", peer, tuple(files), url or "", prep, top1, top5, name, "timm's results-imagenet.csv")]


def weight_sources(name: str, library: str) -> list[WeightSource]:
    """All the weights `library` publishes for cnnzoo model `name`, its default first."""
    info = model_info(name)
    if library not in SOURCES:
        raise CnnzooError(f"weights={library!r}: use 'torchvision', 'timm', 'keras' (or 'torchvision:IMAGENET1K_V1' for one set) or a file path")
    if library == "keras":
        return keras_sources(name)
    if info.peer is None:
        raise CnnzooError(f"{name} has no counterpart in torchvision or timm, so no weights to import; pass a file of its own")
    if info.peer.library != library:
        raise CnnzooError(f"{name}'s weights come from {info.peer.library} ({info.peer.name}), not {library}: use weights='{info.peer.library}'")
    return _torchvision_sources(info.peer) if library == "torchvision" else _timm_sources(info.peer)


def weight_source(name: str, source: str) -> WeightSource:
    """Where the weights for cnnzoo model `name` live and how they want their images. `source` is a
    library ('torchvision', 'timm': its default weights, or, when only another published set is on
    this machine, that one) or one named set ('torchvision:IMAGENET1K_V1')."""
    library, _, variant = source.partition(":")
    if library == "keras":
        return keras_source(name, source)
    sources = weight_sources(name, library)
    if variant:
        chosen = [s for s in sources if s.name.rsplit(".", 1)[-1] == variant or s.name == variant]
        if not chosen:
            names = ", ".join(s.name.rsplit(".", 1)[-1] for s in sources)
            raise CnnzooError(f"{library} has no weights {variant!r} for {name}: it publishes {names}")
        return chosen[0]
    return next((s for s in sources if s.available), sources[0])


def source_of_file(name: str, path: Path) -> WeightSource | None:
    """The published weights a file is, recognised by the peer library's file name (torchvision's carry
    a hash: resnet50-0676ba61.pth is IMAGENET1K_V1); otherwise the peer's default, or None without it."""
    info = model_info(name)
    try:
        sources = weight_sources(name, info.peer.library)
    except CnnzooError:  # timm not installed: no preprocessing to report
        return None
    return next((s for s in sources if any(f.name == path.name for f in s.files)), sources[0])


def imagenet_categories() -> list[str]:
    """The 1000 ImageNet class names in the index order of every torchvision and timm classifier."""
    import torchvision

    return list(torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a .pth/.pt/.bin (read with weights_only) or .safetensors file; common wrappers
    ({'state_dict': ...}, {'model': ...}) and DataParallel's 'module.' prefix are unwrapped."""
    path = regular_file(path, "weights file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(regular_file(path, "weights file")))
        else:
            state = torch.load(check_torch_archive(path), map_location="cpu", weights_only=True)
    except CnnzooError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise CnnzooError(f"cannot read weights from {path}: {first}") from None
    for key in ("state_dict", "model", "model_state_dict", "ema"):
        if isinstance(state, dict) and isinstance(state.get(key), dict) and not isinstance(state.get(key), torch.Tensor):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CnnzooError(f"{path} holds no state dict (a mapping of names to tensors)")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _in_peer_order(state: dict[str, torch.Tensor], peer: Peer) -> dict[str, torch.Tensor]:
    """The file's tensors in the order the peer's model registers them (weights map by position, and
    a safetensors file stores its keys sorted); keys the peer does not have go last, to be named."""
    try:
        with torch.device("meta"):  # the key order only: no memory, no initialisation
            order = list(build_peer(peer).state_dict())
    except Exception:  # the peer library is not installed: keep the file's order (pickled files keep it)
        return state
    known = {k: state[k] for k in order if k in state}
    return known | {k: v for k, v in state.items() if k not in known}


def pretrained_model(name: str, weights: str | Path, num_classes: int | None = None, **options) -> nn.Module:
    """cnnzoo model `name` holding a torchvision/timm file's weights; `model.preprocessing` says how
    the weights' authors fed it images (when the peer library is known)."""
    from .peers import WeightMismatchError

    if is_keras(weights):
        return keras_model(name, weights, num_classes, **options)
    info = model_info(name)
    if info.peer is None:
        raise CnnzooError(f"{name} has no counterpart in torchvision or timm, so no weights to import from them")
    keyword = str(weights).partition(":")[0] in SOURCES and not Path(weights).is_file()
    source = weight_source(name, str(weights)) if keyword else None
    path = find_weights(source) if source else Path(weights)
    state = _in_peer_order(read_state_dict(path), info.peer)
    model = info.build(**{**info.peer.ours, **options})
    try:
        load_peer_state_dict(model, state, info.peer.aux_prefixes)
    except WeightMismatchError as e:
        raise WeightMismatchError(f"{path} does not fit {name}: {e}") from None
    if num_classes is not None and num_classes != info.num_classes:
        model.reset_classifier(num_classes)
    source = source or source_of_file(name, path)
    model.preprocessing = source.preprocessing if source else None
    model.weight_source = source
    model.weights_file = str(path)
    model.model_options = {**info.peer.ours, **options}
    return model


def pretrained_meta(name: str, model: nn.Module) -> dict:
    """What `cnnzoo predict` and an exported file need to feed and read a model of published weights,
    in the form of a cnnzoo run's metadata."""
    prep: Preprocessing | None = getattr(model, "preprocessing", None)
    if prep is None:
        raise CnnzooError(f"cnnzoo does not know how {getattr(model, 'weights_file', 'these weights')} want their images (pip install timm)")
    source = getattr(model, "weight_source", None)
    return {
        "model": name,
        "num_classes": model_info(name).num_classes,
        "model_options": dict(getattr(model, "model_options", model_info(name).peer.ours)),
        "input_size": prep.input_size,
        "class_names": imagenet_categories(),
        "normalization": {"mean": list(prep.mean), "std": list(prep.std)},
        "preprocessing": prep.to_dict(),
        "weights": source.name if source else str(getattr(model, "weights_file", "")),
    }
