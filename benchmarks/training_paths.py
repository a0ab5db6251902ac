"""Which execution path trains each model fastest on this CPU: a training step (forward, backward, SGD) of
the CIFAR-sized nets the experiments train, on each of the four CPU paths, steps interleaved, median.

    python benchmarks/training_paths.py [--repeats 8]

The default training path is one per machine (bf16 autocast + channels_last where the CPU has AMX or
AVX-512 BF16; fp32 + channels_last elsewhere). This measures whether one path suits every model:
depthwise-separable nets and full convolutions need not agree. Random weights and inputs.
"""
import argparse

import torch

import cnnzoo
from cnnzoo.analysis.timing import time_models
from cnnzoo.runtime.execution import ExecPath, default_path
from cnnzoo.runtime.machine import machine

MODELS = {  # the experiments' nets at 32x32 and the other depthwise-separable families: name -> (model, options, input, batch)
    "ResNet-20": ("resnet20", {}, 32, 128),
    "ResNeXt-29 32x4d (half width)": ("resnext29_cifar", {"groups": 32, "base_width": 4}, 32, 128),
    "MobileNet v1 (stem stride 1)": ("mobilenet_v1", {"stem_stride": 1}, 32, 128),
    "MobileNet v1, alpha 0.25": ("mobilenet_v1", {"stem_stride": 1, "width_mult": 0.25}, 32, 128),
    "MobileNet v1, full convolutions": ("mobilenet_v1_conv", {"stem_stride": 1}, 32, 128),
    "MobileNetV2, 96x96": ("mobilenet_v2", {}, 96, 32),
    "MobileNetV3-Small, 96x96": ("mobilenet_v3_small", {}, 96, 32),
    "Xception, 96x96": ("xception", {}, 96, 16),
    "ResNet-50, 96x96": ("resnet50", {}, 96, 16),
}
PATHS = {
    "bf16 + channels_last": ExecPath(precision="bf16", channels_last=True),
    "fp32 + channels_last": ExecPath(precision="fp32", channels_last=True),
    "fp32": ExecPath(precision="fp32", channels_last=False),
    "bf16": ExecPath(precision="bf16", channels_last=False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()
    default = default_path(train=True)
    print(f"{machine()}, torch {torch.__version__}; the default training path here: {default.describe()}")
    print("seconds per step (median), and each path's speed as a multiple of bf16 + channels_last")
    print(f"| model | {' | '.join(PATHS)} | fastest |")
    print(f"|---|{'---:|' * len(PATHS)}---|")
    for label, (name, options, size, batch) in MODELS.items():
        x = torch.randn(batch, 3, size, size)
        runs = {}
        for path_name, path in PATHS.items():
            torch.manual_seed(0)
            model = cnnzoo.create_model(name, num_classes=10, **options).train()
            runs[path_name] = (model.to(memory_format=torch.channels_last) if path.channels_last else model, path)
        times = time_models(runs, x, train=True, warmup=2, repeats=args.repeats, show_progress=False)
        median = {p: sorted(t)[len(t) // 2] for p, t in times.items()}
        base = median["bf16 + channels_last"]
        cells = [f"{median[p]:.3f} s ({base / median[p]:.2f}x)" for p in PATHS]
        print(f"| {label}, batch {batch} | {' | '.join(cells)} | {min(median, key=median.get)} |", flush=True)


if __name__ == "__main__":
    main()
