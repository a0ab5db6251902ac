"""The sweeps' converged schedule against the paper's recipe, ResNet-20 on the CIFAR-10 45k/5k split:
validation error against epochs from the two runs' logs, and the epochs each took to reach a few errors.

    python scripts/schedule_curve.py [CONVERGED_LOG] [PAPER_LOG] [--plot docs/converged-schedule.png]
"""
import argparse
import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONVERGED = ROOT / "experiments/resnet-cifar/runs/resnet20/log.csv"
PAPER = ROOT / "experiments/time-to-accuracy/resnet20-paper-183ep/log.csv"
TARGETS = (30.0, 20.0, 15.0, 13.46)  # 13.46: within one point of the paper recipe's 12.46%


def read(file: Path) -> list[tuple[int, float]]:
    with open(file) as f:
        return [(int(r["epoch"]), float(r["val_top1_error"])) for r in csv.DictReader(f)]


def epochs_to(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((epoch for epoch, error in curve if error <= target), None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("converged", nargs="?", type=Path, default=CONVERGED)
    p.add_argument("paper", nargs="?", type=Path, default=PAPER)
    p.add_argument("--plot", type=Path, default=ROOT / "docs/converged-schedule.png")
    args = p.parse_args()
    curves = {"converged (short recipe, 30 epochs)": read(args.converged), "paper (64k iterations, 183 epochs)": read(args.paper)}
    print("| schedule | final val error | " + " | ".join(f"epochs to <= {t:g}%" for t in TARGETS) + " |")
    print("|---|---:|" + "---:|" * len(TARGETS))
    for name, curve in curves.items():
        cells = [str(epochs_to(curve, t) or "never") for t in TARGETS]
        print(f"| {name} | {curve[-1][1]:.2f}% (epoch {curve[-1][0]}) | " + " | ".join(cells) + " |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (name, curve) in enumerate(curves.items()):
        ax.plot([e for e, _ in curve], [v for _, v in curve], color=f"C{i}", lw=2 if i == 0 else 1.2, label=name)
    ax.axhspan(12.46, 13.46, color="C2", alpha=0.2, label="within 1 point of the paper recipe's 12.46%")
    ax.set_xscale("log")
    ax.set_ylim(5, 60)
    ax.set_xlabel("epoch (log scale)")
    ax.set_ylabel("validation top-1 error (%)")
    ax.set_title("ResNet-20, CIFAR-10 45k/5k: the sweeps' schedule against the paper's", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.plot, dpi=110)
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
