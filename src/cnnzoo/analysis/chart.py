"""The lecture's "Comparing Complexity" chart (Canziani, Paszke & Culurciello 2017, Fig. 2), readable:
top-1 accuracy against operations, one colour per family with a legend, bubble area for parameters
with a size key, labels placed so that none overlaps another; beside it the accuracy-per-parameter
view ("accuracy density"), and, when measured, the latency panel testing whether operations predict
time on this machine."""
import math

FAMILIES = {
    "alexnet": "AlexNet, ZFNet", "vgg": "VGG", "googlenet": "GoogLeNet", "inception": "Inception-v3, BN-Inception",
    "inception_resnet": "Inception-ResNet", "resnet": "ResNet", "resnet_cifar": "CIFAR ResNet", "resnext": "ResNeXt",
    "senet": "SENet", "xception": "Xception", "mobilenet_v1": "MobileNet v1", "mobilenet_v2": "MobileNetV2",
    "mobilenet_v3": "MobileNetV3",
}  # fmt: skip
BUBBLE = 2e5  # parameters per point of bubble area
# label offsets to try, in points from the bubble's centre: nearest first, then further out with a leader line
_DIRECTIONS = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1), (-1, 1), (1, -1), (-1, -1), (2, 1), (-2, 1), (2, -1), (-2, -1)]
_RADII = (0, 7, 12, 18, 26, 36, 48, 62, 80, 100, 125, 150)


_COLORS = ("C0", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "black", "gold", "navy", "lime", "maroon")


def family_colors(families: list[str]) -> dict[str, str]:
    """A distinct colour per family, in FAMILIES' order (matplotlib's ten, then five more hues)."""
    order = [f for f in FAMILIES if f in families] + sorted(set(families) - set(FAMILIES))
    return {f: _COLORS[i % len(_COLORS)] for i, f in enumerate(order)}


def place_labels(ax, points: list[tuple[float, float, str]], fontsize: float = 7, skip: bool = False) -> list:
    """Annotate each (x, y, text) at the first offset where its box overlaps no other label's and stays
    inside the axes (a leader line when it had to move away); returns the text artists. A label with no
    free spot is left out with `skip` (a crowded panel), else drawn at its point. Call it once the
    figure's layout and the axes' limits are final: it measures boxes in display coordinates."""
    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    placed, texts = [], []
    for x, y, text in sorted(points, key=lambda p: (-p[1], p[0])):
        best = None
        for radius in _RADII:
            for dx, dy in _DIRECTIONS if radius else [(0, 0)]:
                norm = math.hypot(dx, dy)
                offset = (radius * dx / norm, radius * dy / norm) if radius else (0, 0)
                ha = "center" if dx == 0 else ("left" if dx > 0 else "right")
                va = "center" if dy == 0 else ("bottom" if dy > 0 else "top")
                artist = ax.annotate(text, (x, y), xytext=offset, textcoords="offset points", fontsize=fontsize, ha=ha, va=va,
                                     arrowprops=dict(arrowstyle="-", lw=0.5, color="0.4") if radius > 12 else None)  # fmt: skip
                box = artist.get_window_extent(renderer)
                inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
                if inside and not any(box.overlaps(other) for other in placed):
                    best = (artist, box)
                    break
                artist.remove()
            if best:
                break
        if best is None and skip:
            continue
        if best is None:  # nowhere free: the nearest spot, and the test that checks overlaps will say so
            best = (ax.annotate(text, (x, y), fontsize=fontsize, ha="center", va="center"), None)
        texts.append(best[0])
        placed.append(best[0].get_window_extent(renderer))
    return texts


def complexity_panel(ax, rows, families: dict[str, str]) -> list:
    """Top-1 accuracy against GMACs: colour = family, area = parameters; returns the label artists."""
    colors = family_colors(list(dict.fromkeys(families[r.name] for r in rows)))
    xs, ys = [r.macs / 1e9 for r in rows], [r.accuracy.top1 for r in rows]
    for fam, color in colors.items():
        members = [r for r in rows if families[r.name] == fam]
        ax.scatter([r.macs / 1e9 for r in members], [r.accuracy.top1 for r in members], s=[r.params / BUBBLE for r in members],
                   color=color, alpha=0.45, edgecolors="none", label=FAMILIES.get(fam, fam))  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlim(min(xs) / 1.6, max(xs) * 1.6)
    ax.set_ylim(min(ys) - 3, max(ys) + 2)
    ax.set_xlabel("operations (GMACs, one image; log scale)")
    ax.set_ylabel("published top-1 accuracy (%)")
    ax.set_title("Comparing complexity: colour = family, bubble area = parameters")
    ax.grid(alpha=0.3, which="both")
    families_legend = ax.legend(loc="lower right", fontsize=7, title="family", title_fontsize=7, framealpha=0.8)
    for handle in families_legend.legend_handles:  # the key shows the colour, at one size
        handle.set_sizes([30])
        handle.set_alpha(0.8)
    ax.add_artist(families_legend)
    keys = [ax.scatter([], [], s=n / BUBBLE, color="0.6", alpha=0.45, edgecolors="none") for n in (5e6, 25e6, 100e6)]
    ax.legend(keys, ["5M", "25M", "100M"], loc="upper left", fontsize=7, title="parameters", title_fontsize=7, labelspacing=1.6,
              borderpad=1.0, framealpha=0.8)  # fmt: skip
    return [(r.macs / 1e9, r.accuracy.top1, r.name) for r in rows]


def density_panel(ax, rows, families: dict[str, str]) -> None:
    """Top-1 accuracy per million parameters (Canziani et al.'s "accuracy density"), best first."""
    colors = family_colors(list(dict.fromkeys(families[r.name] for r in rows)))
    ranked = sorted(rows, key=lambda r: r.accuracy.top1 / (r.params / 1e6))
    ax.barh(range(len(ranked)), [r.accuracy.top1 / (r.params / 1e6) for r in ranked], color=[colors[families[r.name]] for r in ranked])
    ax.set_yticks(range(len(ranked)), [r.name for r in ranked], fontsize=6)
    ax.set_xscale("log")
    ax.set_xlabel("top-1 accuracy (%) per million parameters (log scale)")
    ax.set_title("Accuracy per parameter")
    ax.grid(alpha=0.3, axis="x", which="both")
