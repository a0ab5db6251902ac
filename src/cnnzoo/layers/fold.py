"""Fold BatchNorm into the convolution before it, for inference: y = gamma (Wx + b - mu) / sigma + beta
becomes one convolution with W' = W gamma / sigma and b' = beta + (b - mu) gamma / sigma."""
import copy

import torch
from torch import nn


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    folded = copy.deepcopy(conv)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    folded.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    folded.bias = nn.Parameter(bn.bias + (bias - bn.running_mean) * scale)
    return folded


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of `model` in eval mode where every BatchNorm2d that directly follows a Conv2d inside
    an nn.Sequential (cnnzoo's ConvNormAct, VGG's features, ...) is folded into that conv."""
    model = copy.deepcopy(model).eval()
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for first, second in zip(names, names[1:]):
            conv, bn = seq._modules[first], seq._modules[second]
            if isinstance(conv, nn.Conv2d) and type(bn) is nn.BatchNorm2d and bn.track_running_stats:
                seq._modules[first] = fold_conv_bn(conv, bn)
                seq._modules[second] = nn.Identity()
    return model
