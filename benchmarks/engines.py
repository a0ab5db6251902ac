"""Every inference engine of cnnzoo side by side with the peer, in one process, the runs interleaved:

    python benchmarks/engines.py [--models resnet50 mobilenet_v2 vgg16] [--batch 16] [--repeats 8]

Per model: the peer's fp32 eager model (torchvision, NCHW, BatchNorm unfolded: what a user of it runs), cnnzoo's
PyTorch fp32 path (channels_last, BatchNorm folded) without and with each convolution fused with its activation
(the default), PyTorch bf16 where the CPU has it natively, ONNX Runtime fp32, and ONNX Runtime int8 where the CPU
has VNNI or AMX (random weights and calibration: speed only; the accuracy of int8 is measured on trained weights
in docs/weights-and-deployment.md). Prints one markdown table: images/s, the ratio to the peer, the logits'
relative difference from cnnzoo's fp32 eager model, and the engine `cnnzoo eval --precision auto` would choose.
"""
import argparse
import tempfile
from pathlib import Path

import torch

import cnnzoo
from cnnzoo.analysis.timing import time_models
from cnnzoo.deploy.engines import EngineModule, candidates, timing_engines
from cnnzoo.interop import build_peer
from cnnzoo.runtime.execution import ExecPath, prepare, resolve_path
from cnnzoo.runtime.machine import machine


def _meta(name: str, size: int) -> dict:
    return {"model": name, "num_classes": 1000, "input_size": size, "class_names": [str(i) for i in range(1000)],
            "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3}, "model_options": {}}  # fmt: skip


@torch.no_grad()
def _row(name: str, batch: int, repeats: int) -> str:
    torch.manual_seed(0)
    info = cnnzoo.model_info(name)
    model, size = info.build().eval(), info.input_size
    x = torch.randn(batch, 3, size, size)
    names, _ = candidates("auto", can_quantize=True)
    unfused = resolve_path("fp32", device="cpu", fuse=False)
    runs = {"peer": (build_peer(info.peer).eval(), ExecPath("cpu")),
            "unfused": (EngineModule("torch-fp32", prepare(model, unfused), unfused), ExecPath("cpu"))}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        engines = timing_engines(model, _meta(name, size), x[:8], names, Path(tmp))
        runs |= {engine: (module, ExecPath("cpu")) for engine, module in engines.items()}
        times = time_models(runs, x, warmup=2, repeats=repeats, show_progress=False)
        reference = model(x)
        error = {label: ((module(x) - reference).abs().max() / reference.abs().max()).item() for label, (module, _) in runs.items()
                 if label != "peer"}  # fmt: skip
    rate = {label: batch / sorted(t)[len(t) // 2] for label, t in times.items()}
    cell = lambda label: f"{rate[label]:.1f} ({rate[label] / rate['peer']:.2f}x; {error[label]:.0e})" if label in rate else "-"  # noqa: E731
    best = max(names, key=rate.get)
    columns = ["unfused", "torch-fp32", "torch-bf16", "onnx-fp32", "onnx-int8"]
    return f"| {name} | {rate['peer']:.1f} (1.00x) | " + " | ".join(cell(c) for c in columns) + f" | {best} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["resnet50", "mobilenet_v2", "vgg16"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()
    print(f"{machine()}, torch {torch.__version__}; batch {args.batch}, median of {args.repeats} interleaved runs; "
          f"images/s (x the peer; logits' max difference from fp32 eager, relative)\n")  # fmt: skip
    print("| model | peer fp32 eager | cnnzoo fp32, unfused | torch-fp32 (fused) | torch-bf16 | onnx-fp32 | onnx-int8 | chosen |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name in args.models:
        print(_row(name, args.batch, args.repeats), flush=True)


if __name__ == "__main__":
    main()
