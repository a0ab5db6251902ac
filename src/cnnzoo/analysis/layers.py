"""Per-layer table: every leaf module's output shape, parameters and MACs, from one meta run."""
import contextlib
from dataclasses import dataclass

from torch import Tensor, nn

from .counting import run_on_meta

# Modules that neither change a shape nor hold weights: left out of the table.
_PASS_THROUGH = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.SiLU, nn.Sigmoid, nn.Dropout, nn.Identity)


@dataclass(frozen=True)
class LayerRow:
    name: str  # qualified module name
    kind: str  # module class name
    out_shape: tuple[int, ...]  # one image's output, C x H x W (or features)
    params: int
    macs: int  # conv / linear multiply-accumulates for one image

    @property
    def activations(self) -> int:
        """Output elements for one image (the lecture's VGG 'memory' column)."""
        n = 1
        for d in self.out_shape:
            n *= d
        return n


def layer_macs(module: nn.Module, out: Tensor) -> int:
    """MACs of one image through a conv or linear layer; 0 for any other module."""
    per_image = out[0].numel()
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return per_image * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return per_image * module.in_features
    return 0


def layer_table(model: nn.Module, input_size: int | None = None) -> list[LayerRow]:
    """Run `model` once on meta tensors (eval mode) and report each leaf module in call order."""
    size = input_size or getattr(model, "input_size", 224)
    rows: list[LayerRow] = []
    names = {m: n for n, m in model.named_modules()}

    def hook(module: nn.Module, _inputs, out) -> None:
        if isinstance(out, Tensor) and not isinstance(module, _PASS_THROUGH):
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(LayerRow(names[module], type(module).__name__, tuple(out.shape[1:]), params, layer_macs(module, out)))

    run_on_meta(model, size, _hooked(model, hook))
    return rows


@contextlib.contextmanager
def _hooked(model: nn.Module, hook):
    """`hook` on every leaf module while the context is open."""
    handles = [m.register_forward_hook(hook) for m in model.modules() if not any(True for _ in m.children())]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
