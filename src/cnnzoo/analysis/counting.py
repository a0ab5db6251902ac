"""Parameter and multiply-accumulate counts, on meta tensors: no weights allocated, no arithmetic.

MACs follow the reference convention (torchvision's weight metadata):
convolutions and fully connected layers only; bias, norms, activations and pooling are not
counted. One FLOP is two MACs.
"""

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from ..factory import meta_model
from ..models.base import ImageClassifier
from ..registry import model_info


def count_params(model: nn.Module) -> int:
    """Every parameter tensor's elements (weights, biases, norm affine); running statistics excluded."""
    return sum(p.numel() for p in model.parameters())








def count_macs(model: nn.Module | str, input_size: int | tuple[int, int] | None = None, **options) -> int:
    """Conv + linear MACs for one image, counted by torch's FlopCounterMode on meta tensors: the
    independent reference the analyzer (profile.py) is tested against.

    `model` is a registered name (built on meta with `options`) or any nn.Module (its weights
    are swapped for meta tensors for the count). `input_size` defaults to the model's native size.
    """
    if isinstance(model, str):
        input_size = input_size or model_info(model).input_size
        model = meta_model(model, **options)
    size = input_size or getattr(model, "input_size", 224)
    h, w = (size, size) if isinstance(size, int) else size
    x = torch.empty(1, getattr(model, "in_chans", 3), h, w, device="meta")
    state = {k: torch.empty_like(v, device="meta") for k, v in model.state_dict(keep_vars=True).items()}
    was_training = model.training
    model.eval()
    try:
        if isinstance(model, ImageClassifier):
            model.check_input(x)  # outside the counter: the size probe's runs must not be counted
        with FlopCounterMode(display=False) as counter:
            functional_call(model, state, (x,), strict=False)
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2
