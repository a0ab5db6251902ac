"""Per-epoch logs (CSV and JSON, rewritten atomically each epoch) and the training curves (PNG)."""
import csv
import io
import json
from pathlib import Path

from ..files.atomic import atomic_path, atomic_write_text


def write_logs(out: Path, history: list[dict]) -> None:
    if not history:
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, list(history[0]))
    writer.writeheader()
    writer.writerows(history)
    atomic_write_text(out / "log.csv", buffer.getvalue())
    atomic_write_text(out / "log.json", json.dumps(history, indent=1))


def plot_curves(out: Path, history: list[dict], title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(epochs, [h["train_loss"] for h in history], label="train")
    left.plot(epochs, [h["val_loss"] for h in history], label="validation")
    left.set_xlabel("epoch")
    left.set_ylabel("loss")
    left.legend()
    left.grid(alpha=0.3)
    right.plot(epochs, [h["train_top1_error"] for h in history], label="train top-1")
    right.plot(epochs, [h["val_top1_error"] for h in history], label="validation top-1")
    right.plot(epochs, [h["val_top5_error"] for h in history], label="validation top-5")
    right.set_xlabel("epoch")
    right.set_ylabel("error (%)")
    right.legend()
    right.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    path = out / "curves.png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
