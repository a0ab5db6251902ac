"""Fuse a convolution with the activation after it, for inference on the CPU: one oneDNN call computes the
convolution and applies the activation while each output tile is still in cache, instead of a second pass
over the whole activation in memory. It is the kernel torch.compile's inductor emits for the same pattern
(`mkldnn._convolution_pointwise`), called here without compiling.

Why: on the 2-core Xeon with AMX, MobileNetV2's ReLU6 passes took 13% of an fp32 forward pass (the
separate clamp over a channels_last tensor costs up to ten times the depthwise convolution before it);
fused, they cost nearly nothing (benchmarks/depthwise.py). The result is the same to the last bit for
ReLU and ReLU6, within 3e-7 for the others.

    model = fuse_conv_act(fold_batchnorm(model))   # after folding: conv -> (folded BN) -> act becomes one call
"""
import copy

import torch
from torch import nn

# activation module -> (oneDNN's name for it, its scalars)
_ATTRS = {
    nn.ReLU: lambda m: ("relu", []),
    nn.ReLU6: lambda m: ("hardtanh", [0.0, 6.0]),
    nn.Hardtanh: lambda m: ("hardtanh", [float(m.min_val), float(m.max_val)]),
    nn.Hardswish: lambda m: ("hardswish", []),
    nn.SiLU: lambda m: ("swish", []),
    nn.Sigmoid: lambda m: ("sigmoid", []),
    nn.Hardsigmoid: lambda m: ("hardsigmoid", []),
}


def fusion_available() -> bool:
    """Whether this build of PyTorch has oneDNN's fused convolution (every x86 build does)."""
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class FusedConvAct(nn.Module):
    """`act(conv(x))` in one oneDNN call on CPU fp32 batches without gradients (the fused call has no backward);
    elsewhere (CUDA, autocast, other dtypes, unbatched input, autograd) the two modules as they were, so that a
    fused model runs, and differentiates, wherever the unfused one did."""

    def __init__(self, conv: nn.Conv2d, act: nn.Module):
        super().__init__()
        self.conv, self.act = conv, act
        self.attr, self.scalars = _ATTRS[type(act)](act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        grad = torch.is_grad_enabled() and (x.requires_grad or conv.weight.requires_grad)
        if (x.device.type != "cpu" or x.dtype != torch.float32 or conv.weight.dtype != torch.float32 or x.dim() != 4 or grad
                or torch.is_autocast_enabled("cpu")):  # fmt: skip
            return self.act(conv(x))
        return torch.ops.mkldnn._convolution_pointwise(x, conv.weight, conv.bias, list(conv.padding), list(conv.stride),
                                                       list(conv.dilation), conv.groups, self.attr, self.scalars, "")  # fmt: skip


def _fusable(conv: nn.Module) -> bool:
    return type(conv) is nn.Conv2d and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)


def fuse_conv_act(model: nn.Module) -> nn.Module:
    """A copy of `model` in eval mode where every Conv2d followed by a supported activation inside an
    nn.Sequential (Identity modules left by BatchNorm folding in between) runs as one `FusedConvAct`.
    A model is returned unchanged where this build has no oneDNN."""
    model = copy.deepcopy(model).eval()
    if not fusion_available():
        return model
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = [n for n in seq._modules if not isinstance(seq._modules[n], nn.Identity)]
        for first, second in zip(names, names[1:]):
            conv, act = seq._modules[first], seq._modules[second]
            if _fusable(conv) and type(act) in _ATTRS:
                seq._modules[first] = FusedConvAct(conv, act)
                seq._modules[second] = nn.Identity()
    return model
