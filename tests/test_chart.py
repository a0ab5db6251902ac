"""The "Comparing Complexity" chart is readable: one colour per family with a legend, a size key for
the bubbles, and no label over another (checked from the boxes the renderer reports)."""
import matplotlib.pyplot as plt

import cnnzoo
from cnnzoo.analysis.chart import FAMILIES, family_colors
from cnnzoo.analysis.compare import Compared, draw
from cnnzoo.analysis.costs import model_costs
from cnnzoo.registry import model_info


def _rows(measured: bool) -> list[Compared]:
    rows = []
    for i, name in enumerate(cnnzoo.list_models()):
        costs, info = model_costs(name), model_info(name)
        latency = costs.macs / 1e8 + i % 3 if measured else None  # made-up timings: only the layout is tested here
        rows.append(Compared(name, costs.params, costs.macs, 0, info.input_size, info.published, latency, None))
    return rows


def test_no_label_overlaps_another_and_the_keys_are_there():
    for measured in (False, True):
        fig, labels = draw(_rows(measured), "test machine")
        renderer = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(renderer) for t in labels]
        overlapping = [(labels[i].get_text(), labels[j].get_text()) for i in range(len(boxes)) for j in range(i) if boxes[i].overlaps(boxes[j])]
        assert not overlapping, overlapping
        with_accuracy = [n for n in cnnzoo.list_models() if model_info(n).published]
        top = fig.axes[0]
        assert sorted(t.get_text() for t in labels[: len(with_accuracy)]) == sorted(with_accuracy)
        frame = top.get_window_extent(renderer)
        assert all(frame.contains(b.x0, b.y0) and frame.contains(b.x1, b.y1) for b in boxes[: len(with_accuracy)])
        legends = [c for c in top.get_children() if type(c).__name__ == "Legend"]
        texts = {t.get_text() for legend in legends for t in legend.get_texts()}
        families = {model_info(n).family for n in with_accuracy}
        assert {FAMILIES[f] for f in families} | {"5M", "25M", "100M"} <= texts
        assert len(fig.axes) == (3 if measured else 2) and len(fig.axes[1].patches) == len(with_accuracy)  # the density bars
        plt.close(fig)


def test_every_family_has_its_own_colour():
    colors = family_colors(list(FAMILIES))
    assert len(set(colors.values())) == len(FAMILIES)
