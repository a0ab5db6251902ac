"""`cnnzoo bench`: one model timed on this machine, alone or interleaved with its peer."""
import torch
from torch import nn

from ..errors import CnnzooError
from ..interop import build_peer
from ..registry import model_info
from ..runtime.execution import ExecPath, prepare
from .profile import analyze
from .timing import Timing, time_models


def fold_peer(model: nn.Module) -> nn.Module:
    """Fold a peer's BatchNorms through torch.fx (its convs and norms are not always in Sequentials)."""
    from torch.fx.experimental.optimization import fuse

    try:
        return fuse(model)
    except Exception:  # a model fx cannot trace keeps its norms: say so rather than fail
        return model


def benchmark(
    name: str,
    path: ExecPath,
    batch: int = 32,
    input_size: int | None = None,
    train: bool = False,
    vs: str | None = None,
    warmup: int = 2,
    repeats: int = 10,
    files: dict[str, nn.Module] | None = None,
) -> list[Timing]:
    """The model on `path` (and its peer's with `vs`, and exported `files`: label -> a module running
    one on the CPU in fp32 or its own int8), interleaved run by run."""
    info = model_info(name)
    size = input_size or info.input_size
    runs = {f"{name} (cnnzoo)": (prepare(info.build(), path, train), path)}
    if files and train:
        raise CnnzooError("`files` time inference: exported files do not train")
    for label, module in (files or {}).items():
        runs[label] = (module, ExecPath("cpu"))
    if vs:
        if info.peer is None or info.peer.library != vs:
            have = f"its peer is {info.peer}" if info.peer else "it has no peer"
            raise CnnzooError(f"`vs` {vs}: {name} has no {vs} counterpart ({have})")
        peer = build_peer(info.peer)
        runs[f"{info.peer} ({vs})"] = (prepare(peer, path, train, fold=fold_peer), path)
    x = torch.randn(batch, 3, size, size)
    macs = analyze(name, size).macs
    times = time_models(runs, x, train, warmup, repeats)
    # a module that says how it runs (an engine) is described by its own path; an exported file by its label
    paths = {label: getattr(module, "path", None) or (None if (files or {}).get(label) is module else path) for label, (module, _) in runs.items()}
    return [Timing(label, paths[label], batch, seconds, macs, train) for label, seconds in times.items()]
