"""What one JPEG compression costs a network on CIFAR-10: the same recipe trained and validated on the
shared images as they are, and on the same images compressed once more.

    python scripts/jpeg_penalty.py --data ../shared/data/cifar10 --work /tmp/jpeg-penalty [--epochs 10] [--seeds 0 1]

The shared CIFAR-10 is already JPEG (quality 75, 4:2:0 chroma), so its cost against the lossless
originals cannot be measured here directly. This measures the next best thing: a second compression
with the same settings, on an 8x8 block grid shifted by 4 pixels (each image edge-padded to 40x40
before encoding, cropped back after), so that it quantises afresh instead of repeating the first
one's rounding. The copy is stored lossless (PNG) in --work, outside the project; both datasets
hold out the same validation images (the same files, in the same order, split_seed 0), and each
seed trains on both. The printed difference in validation error is the cost of one more q75
compression on this recipe: read it as an estimate (likely a lower bound, the images having lost
their finest detail once already) of what the first compression cost against the published numbers.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from cnnzoo.train import RunConfig, get_recipe, train

SHIFT = 4  # pixels of padding before the second compression: half an 8x8 block


def recompress(src: Path, dst: Path, quality: int) -> int:
    """Every image of src/train/<class>/ compressed once more (shifted grid), stored as PNG in dst."""
    count = 0
    for folder in sorted(p for p in (src / "train").iterdir() if p.is_dir()):
        out = dst / "train" / folder.name
        out.mkdir(parents=True, exist_ok=True)
        for file in sorted(folder.iterdir()):
            target = out / (file.stem + ".png")
            if not target.exists():
                with Image.open(file) as image:
                    image = image.convert("RGB")
                padded = Image.fromarray(np.pad(np.asarray(image), ((SHIFT, SHIFT), (SHIFT, SHIFT), (0, 0)), mode="edge"))
                tmp = out / (file.stem + ".tmp.jpg")
                padded.save(tmp, quality=quality, subsampling=2)  # 4:2:0, as the shared files
                with Image.open(tmp) as again:
                    again.crop((SHIFT, SHIFT, SHIFT + image.width, SHIFT + image.height)).save(target)
                tmp.unlink()
            count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="CIFAR-10 in the folder layout (train/<class>/*.jpg)")
    parser.add_argument("--work", required=True, type=Path, help="a folder outside the project for the copy and the runs")
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--recipe", default="short")
    parser.add_argument("--epochs", type=float, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--quality", type=int, default=75)
    args = parser.parse_args()
    src = Path(args.data)
    if not (src / "train").is_dir():
        print(f"error: {src} has no train/ folder: give CIFAR-10 in the folder layout", file=sys.stderr)
        return 2
    copy = args.work / f"cifar10-q{args.quality}-again"
    print(f"compressing {src} once more at quality {args.quality} into {copy} ...", flush=True)
    print(f"{recompress(src, copy, args.quality):,} images", flush=True)
    rows = []
    for seed in args.seeds:
        errors = []
        for name, data in (("as shared", src), (f"q{args.quality} again", copy)):
            recipe = get_recipe(args.recipe).override(epochs=args.epochs, seed=seed, split_seed=0, val_size=5000)
            out = args.work / "runs" / f"{name.replace(' ', '-')}-seed{seed}"
            if not (out / "summary.json").is_file():  # a finished run is read back; an unfinished one resumes
                train(RunConfig(args.model, str(data), recipe, out, resume="auto"))
            errors.append(json.loads((out / "summary.json").read_text())["val_top1_error"])
            print(f"seed {seed}, {name}: {errors[-1]:.2f}% validation top-1 error", flush=True)
        rows.append({"seed": seed, "as_shared": errors[0], "again": errors[1], "cost": round(errors[1] - errors[0], 2)})
    mean = sum(r["cost"] for r in rows) / len(rows)
    summary = {"model": args.model, "recipe": args.recipe, "epochs": args.epochs, "quality": args.quality, "runs": rows,
               "mean_cost_points": round(mean, 2)}  # fmt: skip
    (args.work / "jpeg_penalty.json").write_text(json.dumps(summary, indent=1))
    print(f"one more q{args.quality} compression costs {mean:+.2f} points of validation error "
          f"({args.model}, {args.recipe} recipe, {args.epochs:g} epochs, {len(rows)} seed(s))")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
