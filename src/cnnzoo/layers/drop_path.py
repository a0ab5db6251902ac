"""Stochastic depth: Huang, Sun, Liu, Sedra, Weinberger, "Deep Networks with Stochastic Depth", 2016
(arXiv:1603.09382). In training, each sample's residual branch is dropped with probability p (the
block is then the identity for that sample) and kept branches are scaled by 1/(1-p), so that the
expectation is the full net's, which is what evaluation runs."""
import torch
from torch import Tensor, nn

from ..errors import InvalidOptionError


class DropPath(nn.Module):
    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1 - self.p
        mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p:.4g}"


def set_drop_path(model: nn.Module, rate: float) -> None:
    """Stochastic depth on every residual block of `model` (each module with a `drop_path` slot), in
    forward order, with the paper's linear decay rule: block l of L drops with probability
    rate * l / L, the last one `rate` (timm starts its ramp at 0 instead)."""
    if not 0 <= rate < 1:
        raise InvalidOptionError(f"drop_path_rate must be in [0, 1), got {rate!r}")
    blocks = [m for m in model.modules() if "drop_path" in m._modules]
    if rate and not blocks:
        raise InvalidOptionError(f"drop_path_rate={rate}: {type(model).__name__} has no residual blocks to drop (a plain net?)")
    for l, block in enumerate(blocks, 1):
        block.drop_path = DropPath(rate * l / len(blocks)) if rate else nn.Identity()
