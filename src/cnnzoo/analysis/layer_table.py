"""Reports of an Analysis: the per-layer table, grouped or by type, as text, Markdown, CSV or JSON.

Text and Markdown use human units, K, M, G = 10^3, 10^6, 10^9 (bytes: kB, MB, GB), as the
lecture does ("224 x 224 x 64 = 3.2M"); CSV and JSON give exact numbers.
"""
import csv
import io
import json
from collections.abc import Sequence

from .profile import Analysis, Row
from .rules import CATEGORIES


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23M'; 3 significant digits; K, M, G are powers of 1000."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            value = n / factor
            return (f"{value:.3g}" if value < 100 else f"{value:.0f}") + suffix + unit
    return f"{n:g}{unit}"


def human_bytes(n: float) -> str:
    return human(n, "B").replace("KB", "kB")


def columns(rows: Sequence[Sequence[str]], align: str) -> str:
    """Lay out rows of strings; `align` has one 'l' or 'r' per column."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(align))]
    return "\n".join(
        "  ".join(c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)).rstrip() for row in rows
    )


def shape_text(shape: tuple[int, ...], nchw: bool = False, batch: int = 1) -> str:
    """The lecture's HxWxC for an image (C x H x W inside); N x C x H x W with `nchw`."""
    if not shape:
        return ""
    if nchw:
        return "x".join(map(str, (batch, *shape)))
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}x{w}x{c}"
    return "x".join(map(str, shape))


# -- tables as records: one dict per row, exact numbers ----------------------------------------------


def layer_records(a: Analysis, depth: int | None = None, nchw: bool = False) -> list[dict]:
    rows: list[Row] = a.group(depth) if depth else a.rows
    return [
        {
            "layer": r.name or "(model)",
            "type": r.kind,
            "input": shape_text(r.in_shape, nchw, a.batch_size),
            "output": shape_text(r.out_shape, nchw, a.batch_size),
            "weights": r.weights,
            "biases": r.biases,
            "macs": None if r.costs is None else r.macs(a.conventions),
            "activations": r.activations,
            "bytes": r.activations * a.element_bytes * a.batch_size,
        }
        for r in rows
    ]


def type_records(a: Analysis) -> list[dict]:
    total_macs, total_params = max(a.macs, 1), max(a.params, 1)
    return [
        {"type": kind, "macs": macs, "macs_share": macs / total_macs, "params": params, "params_share": params / total_params}
        for kind, macs, params in a.by_type()
        if macs or params
    ]


def totals(a: Analysis) -> dict:
    return {
        "model": a.model,
        "input": shape_text(a.input_shape),
        "batch": a.batch_size,
        "convention": a.conventions.label(),
        "params": a.params,
        "macs_per_image": a.macs,
        "flops_per_image": a.flops,
        "macs_by_category": a.category_macs(),
        "activations_per_image": a.activations,
        "activation_bytes": a.activation_bytes,
        "peak_inference_activation_bytes": a.peak_activation_bytes,
        "param_bytes": a.param_bytes,
        "training_bytes_sgd_momentum": a.training_bytes(optimizer_states=1),
        "uncounted": a.uncounted,
    }


# -- rendering --------------------------------------------------------------------------------------

_HUMAN = {"weights", "biases", "macs", "activations", "params"}
_HEADERS = {"macs": "MACs", "bytes": "memory", "macs_share": "MACs %", "params_share": "params %"}


def _cell(key: str, value) -> str:
    if value is None:
        return "uncounted"
    if key == "bytes":
        return human_bytes(value)
    if key.endswith("_share"):
        return f"{100 * value:.2f}%"
    if key in _HUMAN:
        return human(value)
    return str(value)


def render(records: list[dict], fmt: str = "text", summary: dict | None = None) -> str:
    if fmt == "json":
        return json.dumps({"summary": summary, "rows": records}, indent=1)
    keys = list(records[0])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, keys)
        writer.writeheader()
        writer.writerows(records)
        return out.getvalue()
    header = [_HEADERS.get(k, k) for k in keys]
    body = [[_cell(k, rec[k]) for k in keys] for rec in records]
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if k in ("layer", "type") else "---:" for k in keys) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
    align = "".join("l" if k in ("layer", "type", "input", "output") else "r" for k in keys)
    return columns([header, *body], align)


def footer(a: Analysis) -> str:
    counted = {k: v for k, v in a.category_macs().items() if v and not a.conventions.counts(k)}
    lines = [
        f"{human(a.params)} parameters ({human_bytes(a.param_bytes)}); "
        f"{human(a.macs)} MACs = {human(a.flops)} FLOPs per image ({a.conventions.label()})",
        f"not in that total: {', '.join(f'{k} {human(v)}' for k, v in counted.items())} (--count adds them)"
        if counted
        else "",
        f"activations: {human(a.activations)} elements per image, input and every layer output "
        f"(in-place ReLUs share their input's memory) = {human_bytes(a.activation_bytes)} at batch {a.batch_size}",
        f"peak inference memory at batch {a.batch_size}: {human_bytes(a.peak_activation_bytes)} of activations "
        f"+ {human_bytes(a.param_bytes)} of parameters",
        f"training step estimate at batch {a.batch_size}: {human_bytes(a.saved_activation_bytes)} saved activations "
        f"+ parameters, gradients and momentum (3 x {human_bytes(a.param_bytes)}) = "
        f"{human_bytes(a.training_bytes(optimizer_states=1))}",
        f"uncounted (no rule, cost unknown): {', '.join(a.uncounted)}" if a.uncounted else "",
        "units: K, M, G = 10^3, 10^6, 10^9 (bytes: kB, MB, GB); --format json or csv for exact numbers",
    ]
    return "\n".join(line for line in lines if line)


__all__ = ["CATEGORIES", "columns", "footer", "human", "human_bytes", "layer_records", "render", "totals", "type_records"]
