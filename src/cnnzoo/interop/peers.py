"""The same architecture in torchvision or timm: build it, and move its weights into ours.

Two implementations of one architecture register the same tensors in the same order (each
block: its convolutions and norms, then its shortcut), so weights map by position; every
pair's shapes are checked, and the first mismatch is named. The peer-equivalence tests use
this, and so does weight import.
"""
from collections.abc import Mapping

import torch
from torch import Tensor, nn

from ..errors import CnnzooError
from ..registry import Peer


class WeightMismatchError(CnnzooError):
    """A state dict that does not fit a model's architecture."""


def build_peer(peer: Peer, num_classes: int = 1000) -> nn.Module:
    """The peer's model with random weights (never downloads)."""
    if peer.library == "torchvision":
        import torchvision

        return torchvision.models.get_model(peer.name, weights=None, num_classes=num_classes, **peer.kwargs)
    if peer.library == "timm":
        import timm

        return timm.create_model(peer.name, pretrained=False, num_classes=num_classes, **peer.kwargs)
    raise CnnzooError(f"unknown peer library {peer.library!r}: cnnzoo knows torchvision and timm")


def _tensors(state: Mapping[str, Tensor]) -> list[str]:
    # BatchNorm's step counter has no counterpart in every implementation; it is not a weight.
    return [k for k in state if not k.endswith("num_batches_tracked")]


def map_state_dict(state: Mapping[str, Tensor], model: nn.Module, aux_prefixes: tuple[str, ...] = ()) -> dict[str, Tensor]:
    """Rename `state` (a peer's state dict) to `model`'s keys, pairing tensors in order.

    cnnzoo registers auxiliary heads after the classifier; `aux_prefixes` names the peer's aux
    keys, which are moved to the end before pairing.
    """
    target = model.state_dict()
    ours, theirs = _tensors(target), _tensors(state)
    is_aux = lambda key: key.startswith(aux_prefixes) if aux_prefixes else False  # noqa: E731
    theirs = [k for k in theirs if not is_aux(k)] + [k for k in theirs if is_aux(k)]
    for i, (our_key, their_key) in enumerate(zip(ours, theirs)):
        if target[our_key].shape != state[their_key].shape:
            raise WeightMismatchError(
                f"tensor #{i}: {their_key} has shape {tuple(state[their_key].shape)} but "
                f"{our_key} needs {tuple(target[our_key].shape)}: the file is not this architecture"
            )
    if len(ours) != len(theirs):
        longer, side = (ours, "the model") if len(ours) > len(theirs) else (theirs, "the file")
        first_extra = longer[min(len(ours), len(theirs))]
        raise WeightMismatchError(
            f"the file has {len(theirs)} tensors and the model {len(ours)}; first unmatched in {side}: {first_extra}"
        )
    return {our_key: state[their_key] for our_key, their_key in zip(ours, theirs)}


@torch.no_grad()
def load_peer_state_dict(model: nn.Module, state: Mapping[str, Tensor], aux_prefixes: tuple[str, ...] = ()) -> nn.Module:
    """Copy a peer's weights (and BatchNorm statistics) into `model`, in place."""
    mapped = map_state_dict(state, model, aux_prefixes)
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
    return model
