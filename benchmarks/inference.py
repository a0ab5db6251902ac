"""Inference speed: cnnzoo's default path against torchvision, in one process, models interleaved.

    python benchmarks/inference.py [--batch 32] [--repeats 3]

For ResNet-50, MobileNetV2 and VGG-16, each with torchvision's weights copied into ours:
  - torchvision, default fp32 eager (what a user gets without thinking about it);
  - torchvision on our default path (same precision, layout and BatchNorm folding): the gain of the
    path itself, and whether our model code costs anything over torchvision's;
  - cnnzoo on its default path;
and the numerical cost of the path: relative error of the logits against fp32 eager.
"""
import argparse
import platform

import torch

import cnnzoo
from cnnzoo.analysis.bench import fold_peer
from cnnzoo.analysis.timing import time_models
from cnnzoo.interop import build_peer, load_peer_state_dict
from cnnzoo.runtime.execution import ExecPath, default_path, prepare

MODELS = ("resnet50", "mobilenet_v2", "vgg16")


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    path = default_path()
    eager = ExecPath(path.device)
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"cnnzoo's default path here: {path.describe()}; batch {args.batch}, median of {args.repeats} runs\n")
    torch.manual_seed(0)
    for name in MODELS:
        peer = build_peer(cnnzoo.model_info(name).peer).eval()
        ours = load_peer_state_dict(cnnzoo.create_model(name), peer.state_dict()).eval()
        x = torch.randn(args.batch, 3, 224, 224)
        runs = {
            "torchvision fp32 eager": (prepare(peer, eager), eager),
            "torchvision, our path": (prepare(peer, path, fold=fold_peer), path),
            "cnnzoo, default path": (prepare(ours, path), path),
        }
        times = time_models(runs, x, repeats=args.repeats, warmup=1)
        rate = {k: args.batch / sorted(v)[len(v) // 2] for k, v in times.items()}
        with torch.no_grad():
            reference = runs["torchvision fp32 eager"][0](x)
            with torch.autocast(path.device, dtype=path.autocast_dtype, enabled=path.autocast_dtype is not None):
                fast = runs["cnnzoo, default path"][0](x.to(memory_format=torch.channels_last))
        base = rate["torchvision fp32 eager"]
        print(f"{name}:")
        for k, r in rate.items():
            print(f"  {k:24s} {r:7.1f} images/s  {r / base:5.2f}x")
        print(f"  cnnzoo vs torchvision on the same path: {rate['cnnzoo, default path'] / rate['torchvision, our path']:.2f}x; "
              f"logits' relative error against fp32 eager: {relative_error(fast, reference):.1e}\n")  # fmt: skip


if __name__ == "__main__":
    main()
