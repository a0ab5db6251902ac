"""analyze(): what a model costs, layer by layer, from one pass on meta tensors.

Meta tensors carry shapes and dtypes but no data: no weights are allocated and no arithmetic is
done, so any nn.Module of any size is analyzed in a fraction of a second. Leaf modules are
costed by the rules of rules.py; operators a non-leaf module calls itself (a residual add, SE's
product, a concat) are costed one by one; anything without a rule is listed as uncounted.
"""
import contextlib
import itertools
import math
import weakref
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.utils._python_dispatch import TorchDispatchMode

from ..factory import meta_model, no_gc
from ..models.base import ImageClassifier
from ..registry import model_info
from .meta_ops import LEAF_SHAPES, fast_meta
from .rules import CATEGORIES, DEFAULT, Conventions, module_costs, op_costs


@dataclass(slots=True)
class Row:
    """One leaf module call, or one operator that a non-leaf module calls itself."""

    name: str  # qualified module name ("" for the model itself)
    kind: str  # the module's class, or the operator ("add", "mul", "cat", ...)
    type_key: str  # for by_type(): "Conv 1x1", "Conv DW 3x3", "Fully Connected", or `kind`
    in_shape: tuple[int, ...]  # one image: C x H x W, or features
    out_shape: tuple[int, ...]
    weights: int  # parameters other than biases
    biases: int
    costs: dict[str, int] | None  # MACs of one image by category (rules.py); None: no rule knows it
    activations: int  # elements of the new tensor it outputs, one image (0: in place, or a view)

    @property
    def params(self) -> int:
        return self.weights + self.biases

    def macs(self, conventions: Conventions | None = None) -> int:
        conventions = conventions or DEFAULT
        return sum(v for k, v in (self.costs or {}).items() if conventions.counts(k))


@dataclass
class Analysis:
    model: str
    input_shape: tuple[int, int, int]  # C x H x W
    batch_size: int
    rows: list[Row]
    params: int  # every parameter of the model, once
    param_bytes: int
    peak_activation_bytes: int  # inference (no autograd): most memory live at once, the whole batch
    element_bytes: int = 4
    conventions: Conventions = field(default_factory=Conventions)
    _training_pass: Callable[[], int] | None = field(default=None, repr=False)
    _saved: int | None = field(default=None, repr=False)

    @property
    def saved_activation_bytes(self) -> int:
        """What a training forward keeps for backward, the whole batch (a second meta pass, on first use)."""
        if self._saved is None:
            self._saved = self._training_pass()
        return self._saved

    @property
    def macs(self) -> int:
        """One image, under `conventions`."""
        return sum(r.macs(self.conventions) for r in self.rows)

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def activations(self) -> int:
        """Elements of the input and of every new layer output, one image (the lecture's VGG 'memory')."""
        return math.prod(self.input_shape) + sum(r.activations for r in self.rows)

    @property
    def activation_bytes(self) -> int:
        return self.activations * self.element_bytes * self.batch_size

    @property
    def uncounted(self) -> list[str]:
        """Layers and operators no rule knows: their cost is missing from the totals."""
        return [f"{r.name or '(model)'} ({r.kind})" for r in self.rows if r.costs is None]

    def category_macs(self) -> dict[str, int]:
        totals = dict.fromkeys(CATEGORIES, 0)
        for r in self.rows:
            for k, v in (r.costs or {}).items():
                totals[k] += v
        return totals

    def training_bytes(self, optimizer_states: int = 1) -> int:
        """Estimated memory of a training step: saved activations, parameters, their gradients, and
        `optimizer_states` buffers per parameter (SGD with momentum: 1; Adam: 2; plain SGD: 0)."""
        return self.saved_activation_bytes + self.param_bytes * (2 + optimizer_states)

    def by_type(self) -> list[tuple[str, int, int]]:
        """(type, MACs, params) per layer type, largest first: MobileNet Table 2's view."""
        macs, params = defaultdict(int), defaultdict(int)
        for r in self.rows:
            macs[r.type_key] += r.macs(self.conventions)
            params[r.type_key] += r.params
        return sorted(((k, macs[k], params[k]) for k in macs), key=lambda t: (-t[1], -t[2]))

    def group(self, depth: int) -> list[Row]:
        """Rows summed by the first `depth` parts of their names, in order of first appearance
        (GoogLeNet Table 1's view at depth 2: one row per Inception module)."""
        groups: dict[str, list[Row]] = {}
        for r in self.rows:
            groups.setdefault(".".join(r.name.split(".")[:depth]), []).append(r)
        return [_sum_rows(name, rows) for name, rows in groups.items()]


def _sum_rows(name: str, rows: list[Row]) -> Row:
    costs: dict[str, int] | None = defaultdict(int)
    for r in rows:
        if r.costs is None:
            costs = None
            break
        for k, v in r.costs.items():
            costs[k] += v
    kind = rows[0].kind if len(rows) == 1 else type_name_of_group(rows)
    return Row(
        name, kind, kind, rows[0].in_shape, rows[-1].out_shape, sum(r.weights for r in rows),
        sum(r.biases for r in rows), None if costs is None else dict(costs), sum(r.activations for r in rows),
    )  # fmt: skip


def type_name_of_group(rows: list[Row]) -> str:
    return f"{len(rows)} layers"


# -- the tracer ----------------------------------------------------------------------------------------


def _per_image(t) -> tuple[int, ...]:
    return tuple(t.shape[1:]) if isinstance(t, Tensor) and t.dim() > 0 else ()


def _type_key(module: nn.Module) -> str:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        depthwise = module.groups > 1 and module.groups == module.in_channels
        return f"Conv {'DW ' if depthwise else ''}{kh}x{kw}"
    if isinstance(module, nn.Linear):
        return "Fully Connected"
    return type(module).__name__


def _is_leaf(module: nn.Module) -> bool:
    return next(module.children(), None) is None


class _FastMeta(TorchDispatchMode):
    """Meta results from meta_ops.py where it knows the operator, from PyTorch otherwise."""

    def compute(self, func, args, kwargs):
        out = fast_meta(func, args, kwargs or {})
        return func(*args, **(kwargs or {})) if out is NotImplemented else out

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return self.compute(func, args, kwargs)


@dataclass(frozen=True)
class _ModuleInfo:
    name: str
    leaf: bool
    type_key: str
    weights: int
    biases: int


def _module_info(name: str, module: nn.Module) -> _ModuleInfo:
    own = [(n, p) for n, p in module._parameters.items() if p is not None]  # this module's own, not its children's
    biases = sum(p.numel() for n, p in own if n.endswith("bias"))
    weights = sum(p.numel() for _, p in own) - biases
    return _ModuleInfo(name, not module._modules, _type_key(module), weights, biases)


class _Tracer(_FastMeta):
    """Runs a model on meta tensors and records a Row per leaf module call and per operator that a
    non-leaf module calls itself, with the live memory of every tensor made.

    Leaf modules of the types in meta_ops.LEAF_SHAPES skip their own forward: their output is made
    from the input's shape. Every other module runs as written, under this dispatch mode.
    """

    def __init__(self, model: nn.Module, batch_size: int):
        super().__init__()
        self.model, self.batch = model, batch_size
        self.modules = {m: _module_info(n, m) for n, m in model.named_modules()}
        self.stack: list[nn.Module] = []
        self.leaf_ops: dict[nn.Module, dict | None] = {}  # per running leaf without a rule: its operators' costs
        self.rows: list[Row] = []
        self.live = self.peak = 0
        self._refs: dict[int, int] = {}  # live weak references -> bytes
        self._ops: dict = {}  # per operator: (name, returns an alias)

    # memory ------------------------------------------------------------------------------------------
    def track(self, t: Tensor) -> None:
        nbytes = t.untyped_storage().nbytes()
        self.live += nbytes
        self.peak = max(self.peak, self.live)
        ref = weakref.ref(t, self._free)
        self._refs[id(ref)] = nbytes
        t._cnnzoo_ref = ref  # the reference lives as long as the tensor

    def _free(self, ref: weakref.ref) -> None:
        self.live -= self._refs.pop(id(ref))

    # modules -----------------------------------------------------------------------------------------
    def __enter__(self):
        for module, info in self.modules.items():
            shape_fn = LEAF_SHAPES.get(type(module))
            original = module.forward
            module.forward = partial(self._known_leaf, module, info, shape_fn, original) if shape_fn else partial(
                self._run_module, module, info, original
            )
        return super().__enter__()

    def __exit__(self, *exc):
        for module in self.modules:
            module.__dict__.pop("forward", None)
        return super().__exit__(*exc)

    def _known_leaf(self, module, info: _ModuleInfo, shape_fn, original, x, *args, **kwargs):
        with torch._C._DisableTorchDispatch():  # a plain meta tensor, made without a trip through this mode
            out = shape_fn(module, x)
        if out is NotImplemented:
            return self._run_module(module, info, original, x, *args, **kwargs)
        if out is not x:
            out._cnnzoo_owner = module
            self.track(out)
        self._leaf_row(module, info, x, out, None)
        return out

    def _run_module(self, module, info: _ModuleInfo, original, *args, **kwargs):
        self.stack.append(module)
        if info.leaf:
            self.leaf_ops[module] = {}
        try:
            out = original(*args, **kwargs)
        finally:
            self.stack.pop()
        if info.leaf and isinstance(out, Tensor):
            inp = args[0] if args and isinstance(args[0], Tensor) else None
            self._leaf_row(module, info, inp, out, self.leaf_ops.pop(module))
        return out

    def _leaf_row(self, module, info: _ModuleInfo, inp, out: Tensor, op_costs_sum) -> None:
        costs = module_costs(module, inp, out)
        if costs is None:  # no rule for the module: the sum of its operators' (None if one has none)
            costs = op_costs_sum
        new = out.numel() // self.batch if getattr(out, "_cnnzoo_owner", None) is module else 0
        self.rows.append(Row(info.name, type(module).__name__, info.type_key, _per_image(inp), _per_image(out),
                             info.weights, info.biases, costs, new))  # fmt: skip

    # operators ---------------------------------------------------------------------------------------
    def _op(self, func) -> tuple[str, bool, bool]:
        """(name, returns a view of an input, writes into an input)."""
        if func not in self._ops:
            aliases = [r.alias_info for r in func._schema.returns if r.alias_info is not None]
            in_place = any(a.is_write for a in aliases)
            self._ops[func] = (func.overloadpacket.__name__, bool(aliases) and not in_place, in_place)
        return self._ops[func]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = self.compute(func, args, kwargs)
        outputs = [t for t in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(t, Tensor)]
        if not outputs:
            return out
        op, is_view, in_place = self._op(func)
        owner = self.stack[-1] if self.stack else None
        for t in outputs:
            if not (is_view or in_place):
                t._cnnzoo_owner = owner  # who made this tensor: in-place and view outputs keep their maker
                self.track(t)
            elif t is not args[0]:
                t._cnnzoo_base = args[0]  # a view keeps its base's memory alive
        if owner is not None and owner in self.leaf_ops:  # inside a leaf module without a rule
            if self.leaf_ops[owner] is not None:
                costs = op_costs(op, is_view, [a for a in args if isinstance(a, Tensor)], outputs[0], args)
                self.leaf_ops[owner] = None if costs is None else _merge(self.leaf_ops[owner], costs)
        elif not is_view and op != "empty":
            inputs = [a for a in args if isinstance(a, Tensor)]
            costs = op_costs(op, is_view, inputs, outputs[0], args)
            name = self.modules[owner].name if owner is not None else ""
            shape_in = _per_image(inputs[0]) if inputs else ()
            new = 0 if in_place else outputs[0].numel() // self.batch
            self.rows.append(Row(name, op, op, shape_in, _per_image(outputs[0]), 0, 0, costs, new))
        return out


def _merge(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0) + b.get(k, 0) for k in a.keys() | b.keys()}


# -- analyze() -----------------------------------------------------------------------------------------


def _meta_state(model: nn.Module) -> dict[str, Tensor]:
    """Meta stand-ins for a model's real weights (none needed when it was built on meta)."""
    state = {}
    if all(t.is_meta for t in itertools.chain(model.parameters(), model.buffers())):
        return state
    for k, v in model.state_dict(keep_vars=True).items():
        if not v.is_meta:
            t = torch.empty(v.shape, dtype=v.dtype, device="meta")
            state[k] = t.requires_grad_(v.requires_grad) if isinstance(v, nn.Parameter) else t
    return state


def _run(model: nn.Module, x: Tensor, tracer: _Tracer | None, training: bool) -> int:
    """Forward on meta tensors; returns the bytes saved for backward (training) or 0."""
    state = _meta_state(model)
    saved: dict[int, int] = {}
    if training:
        weights = [*state.values(), *(t for t in model.state_dict(keep_vars=True).values() if t.is_meta)]
        weight_storages = {t.untyped_storage()._cdata for t in weights}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        if storage._cdata not in weight_storages:  # parameters are counted as parameters
            saved[storage._cdata] = storage.nbytes()
        return t

    with torch.set_grad_enabled(training), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with tracer or _FastMeta():
            if tracer is not None:
                tracer.track(x)
            out = functional_call(model, state, (x,), strict=False) if state else model(x)
    del out
    return sum(saved.values())


@contextlib.contextmanager
def _eval(model: nn.Module):
    """Eval mode for the duration: BatchNorm uses running statistics, auxiliary heads stay off."""
    if not model.training:
        yield
        return
    model.eval()
    try:
        yield
    finally:
        model.train()


def analyze(
    model: nn.Module | str,
    input_size: int | tuple[int, int] | None = None,
    batch_size: int = 1,
    conventions: Conventions | None = None,
    **options,
) -> Analysis:
    """Per-layer shapes, parameters, MACs and memory of `model` (a registered name, built on the meta
    device with `options`, or any nn.Module), for `batch_size` images of `input_size` (default: the
    model's native size). No weights are allocated and no arithmetic is done."""
    with no_gc():  # one deferred collection instead of many during the build and the trace
        return _analyze(model, input_size, batch_size, conventions, **options)


def _analyze(model, input_size, batch_size, conventions, **options) -> Analysis:
    if isinstance(model, str):
        input_size = input_size or model_info(model).input_size
        name, model = model, meta_model(model, **options)
    else:
        name = type(model).__name__
    size = input_size or getattr(model, "input_size", 224)
    h, w = (size, size) if isinstance(size, int) else size
    in_chans = getattr(model, "in_chans", 3)
    x = torch.empty(batch_size, in_chans, h, w, device="meta")
    if isinstance(model, ImageClassifier):
        with _eval(model):
            model.check_input(x)  # a clear error for a bad size, and the size probe runs outside the trace
    tracer = _Tracer(model, batch_size)
    with _eval(model):
        _run(model, x, tracer, training=False)

    def training_pass() -> int:
        with _eval(model):
            return _run(model, x, None, training=True)

    params = list(model.parameters())
    return Analysis(
        model=name,
        input_shape=(in_chans, h, w),
        batch_size=batch_size,
        rows=tracer.rows,
        params=sum(p.numel() for p in params),
        param_bytes=sum(p.numel() * p.element_size() for p in params),
        peak_activation_bytes=tracer.peak,
        _training_pass=training_pass,
        element_bytes=x.element_size(),
        conventions=conventions or DEFAULT,
    )
