"""Training speed: cnnzoo's default training path against a plain fp32 torchvision-style loop, in one
process, steps interleaved; and how long the cached CIFAR path keeps the model waiting for data.

    python benchmarks/training.py [--steps 6]

  ResNet-20 (CIFAR, 32x32, batch 128) and ResNet-50 (224x224, batch 32), SGD with momentum.
  The plain loop: the model as constructed (NCHW fp32), a batch, forward, backward, step.
  Ours: the default path of this machine (bf16 autocast + channels_last with AMX/AVX-512 BF16 or on
  CUDA; fp32 + channels_last on AVX2-only CPUs).
Targets (issue 5): >= 2x for ResNet-20 and >= 2.5x for ResNet-50; data waits under 5% of step time.
"""
import argparse
import platform
import time

import torch
import torchvision

import cnnzoo
from cnnzoo.analysis.timing import time_models
from cnnzoo.data.loaders import MemoryLoader
from cnnzoo.runtime.execution import ExecPath, default_path


def data_wait_share(batch: int = 128, steps: int = 20) -> float:
    """Share of a ResNet-20 training step spent making the next augmented, normalised batch in memory."""
    images = torch.randint(0, 256, (batch * steps, 3, 32, 32), dtype=torch.uint8)
    loader = MemoryLoader(images, torch.randint(0, 10, (batch * steps,)), batch, augment="cifar")
    start = time.perf_counter()
    for _ in loader.batches(0):
        pass
    per_batch = (time.perf_counter() - start) / steps
    model = cnnzoo.create_model("resnet20").to(memory_format=torch.channels_last)
    path = default_path(train=True)
    step = time_models({"r20": (model, path)}, torch.randn(batch, 3, 32, 32), train=True, warmup=1, repeats=5, show_progress=False)["r20"]
    step_time = sorted(step)[len(step) // 2]
    return per_batch / (per_batch + step_time)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    path = default_path(train=True)
    plain = ExecPath(path.device)
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"cnnzoo's default training path here: {path.describe()}; median of {args.steps} steps\n")
    for name, peer, size, batch in (("resnet20", None, 32, 128), ("resnet50", "resnet50", 224, 32)):
        torch.manual_seed(0)
        ours = cnnzoo.create_model(name)
        baseline = getattr(torchvision.models, peer)() if peer else cnnzoo.create_model(name)
        runs = {
            "plain fp32 loop": (baseline, plain),
            "cnnzoo default path": (ours.to(memory_format=torch.channels_last) if path.channels_last else ours, path),
        }
        times = time_models(runs, torch.randn(batch, 3, size, size), train=True, warmup=1, repeats=args.steps)
        rate = {k: batch / sorted(v)[len(v) // 2] for k, v in times.items()}
        base = rate["plain fp32 loop"]
        print(f"{name} (batch {batch}, {size}x{size}):")
        for k, r in rate.items():
            print(f"  {k:22s} {r:7.1f} images/s  {r / base:5.2f}x")
    print(f"\ncached CIFAR path: making a batch takes {100 * data_wait_share():.1f}% of a ResNet-20 training step")


if __name__ == "__main__":
    main()
