"""Why ONNX Runtime's fp32 beats PyTorch's on the depthwise nets, one cause at a time:

    python benchmarks/depthwise.py [--model mobilenet_v2] [--batch 16] [--repeats 6]

1. Fusion: a depthwise convolution and its ReLU6 as two PyTorch calls against one fused oneDNN call
   (`cnnzoo.layers.fuse`), on MobileNetV2's layer shapes, channels_last, and the share of the unfused
   model's time that goes to the activations (torch.profiler).
2. Threads: the whole model on 1 thread and on all, PyTorch (cnnzoo's default fp32 path) against ONNX Runtime
   on the same number of threads.
3. Batch: the same batch fed whole and in slices of 1, 4 and 16 images (how much is cache, not kernels).
Random weights; speed only. Prints plain lines; docs/speed.md has the findings.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.profiler import profile

import cnnzoo
from cnnzoo.deploy.engines import build_engine
from cnnzoo.layers.fuse import FusedConvAct
from cnnzoo.runtime.execution import prepare, resolve_path


def _ms(fn, x, repeats: int) -> float:
    fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def fusion(repeats: int) -> None:
    print("1. a 3x3 depthwise convolution and ReLU6, channels_last, batch 4 (ms): two calls | fused | the convolution alone")
    for channels, size, stride in ((96, 112, 2), (144, 56, 1), (192, 28, 1), (576, 14, 1)):
        conv = nn.Conv2d(channels, channels, 3, stride, 1, groups=channels).eval().to(memory_format=torch.channels_last)
        x = torch.randn(4, channels, size, size).contiguous(memory_format=torch.channels_last)
        fused = FusedConvAct(conv, nn.ReLU6())
        two = _ms(lambda t: torch.clamp(conv(t), 0, 6), x, repeats)
        print(f"   {channels} channels, {size}x{size}, stride {stride}: {two:.2f} | {_ms(fused, x, repeats):.2f} | {_ms(conv, x, repeats):.2f}")


def activation_share(model: nn.Module, x: torch.Tensor) -> None:
    path = resolve_path("fp32", device="cpu", fuse=False)
    unfused, xc = prepare(model, path), path.to_device(x)
    unfused(xc)
    with profile() as prof:
        unfused(xc)
    events = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    act = sum(t for k, t in events.items() if k in ("aten::clamp", "aten::clamp_", "aten::hardtanh_", "aten::relu_", "aten::clamp_min_"))
    conv = events.get("aten::mkldnn_convolution", 0)
    total = sum(events.values())
    print(f"   unfused model: convolutions {100 * conv / total:.0f}% of the time, activations {100 * act / total:.0f}%")


def threads_and_batch(name: str, model: nn.Module, x: torch.Tensor, repeats: int) -> None:
    meta = {"model": name, "num_classes": 1000, "input_size": x.shape[-1], "class_names": [str(i) for i in range(1000)],
            "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3}, "model_options": {}}  # fmt: skip
    every = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        for threads in sorted({1, every}):
            torch.set_num_threads(threads)
            engines = {e: build_engine(e, model, meta, export_dir=Path(tmp)) for e in ("torch-fp32", "onnx-fp32")}
            rates = {e: len(x) / _ms(m, x, repeats) * 1e3 for e, m in engines.items()}
            print(f"2. {threads} thread{'s' * (threads > 1)}: torch-fp32 {rates['torch-fp32']:.1f}, onnx-fp32 {rates['onnx-fp32']:.1f} "
                  f"images/s ({rates['onnx-fp32'] / rates['torch-fp32']:.2f}x)")  # fmt: skip
        for chunk in (1, 4, 16, len(x)):
            rates = {e: len(x) / _ms(lambda t, m=m: [m(c) for c in t.split(chunk)], x, repeats) * 1e3 for e, m in engines.items()}
            print(f"3. slices of {chunk}: torch-fp32 {rates['torch-fp32']:.1f}, onnx-fp32 {rates['onnx-fp32']:.1f} images/s")


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=6)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = cnnzoo.create_model(args.model).eval()
    x = torch.randn(args.batch, 3, model.input_size, model.input_size)
    fusion(args.repeats)
    activation_share(model, x[:8])
    threads_and_batch(args.model, model, x, args.repeats)


if __name__ == "__main__":
    main()
