"""Text reports: numbers in human units, tables laid out in columns."""
from collections.abc import Sequence

from .layers import LayerRow


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23M'. K, M, G are powers of 1000."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.3g}{suffix}{unit}" if n / factor < 100 else f"{n / factor:.0f}{suffix}{unit}"
    return f"{n:g}{unit}"


def columns(rows: Sequence[Sequence[str]], align: str) -> str:
    """Lay out rows of strings; `align` has one 'l' or 'r' per column."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(align))]
    lines = []
    for row in rows:
        cells = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(row, widths, align)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def shape_hwc(shape: tuple[int, ...]) -> str:
    """Lecture style: C x H x W -> 'HxWxC'; a vector -> its length."""
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}x{w}x{c}"
    return "x".join(map(str, shape))


def layer_report(rows: list[LayerRow]) -> str:
    table = [("layer", "type", "output (HxWxC)", "params", "MACs")]
    for r in rows:
        table.append((r.name, r.kind, shape_hwc(r.out_shape), f"{r.params:,}", f"{r.macs:,}"))
    total_params = sum(r.params for r in rows)
    total_macs = sum(r.macs for r in rows)
    table.append(("total", "", "", f"{total_params:,}", f"{total_macs:,}"))
    footer = (
        f"{human(total_params)} parameters, {human(total_macs)} MACs ({human(2 * total_macs)} FLOPs) per image; "
        "MACs count conv and linear layers only"
    )
    return columns(table, "llrrr") + "\n" + footer
