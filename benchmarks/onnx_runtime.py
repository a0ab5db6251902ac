"""Deployment speed: onnxruntime on cnnzoo's ONNX export against PyTorch, in one process, interleaved.

    python benchmarks/onnx_runtime.py [--model resnet50] [--batches 1 32] [--repeats 10]

One ResNet-50 (torchvision's weights copied into ours), three ways of running it:
  - torchvision, default fp32 eager (what a user gets without thinking about it);
  - cnnzoo on its default PyTorch path (channels_last, BatchNorm folded, bf16 where the CPU has it);
  - onnxruntime (CPU provider) running `cnnzoo export`'s file (fp32, BatchNorm folded);
and each one's logits against torchvision's fp32 eager, as a relative error.
"""
import argparse
import platform
import tempfile
from pathlib import Path

import onnxruntime
import torch

import cnnzoo
from cnnzoo.analysis.timing import time_models
from cnnzoo.deploy.export import OnnxModel, export_model
from cnnzoo.interop import build_peer, load_peer_state_dict
from cnnzoo.runtime.execution import ExecPath, default_path, prepare


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="resnet50")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    path, eager, plain = default_path(), ExecPath("cpu"), ExecPath("cpu")
    threads = torch.get_num_threads()
    print(f"{platform.processor() or platform.machine()}, {threads} threads, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}")
    print(f"cnnzoo's default path here: {path.describe()}; median of {args.repeats} runs\n")
    torch.manual_seed(0)
    info = cnnzoo.model_info(args.model)
    peer = build_peer(info.peer).eval()
    ours = load_peer_state_dict(cnnzoo.create_model(args.model), peer.state_dict()).eval()
    size = info.input_size
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / f"{args.model}.onnx"
        meta = {"model": args.model, "input_size": size}
        print(export_model(ours, meta, file, "onnx", dynamic_batch=True).line() + "\n")
        runs = {
            "torchvision fp32 eager": (prepare(peer, eager), eager),
            "cnnzoo, default path": (prepare(ours, path), path),
            "onnxruntime, cnnzoo export": (OnnxModel(file, threads), plain),
        }
        for batch in args.batches:
            x = torch.randn(batch, 3, size, size)
            times = time_models(runs, x, repeats=args.repeats, warmup=2)
            rate = {k: batch / sorted(v)[len(v) // 2] for k, v in times.items()}
            with torch.no_grad():
                reference = runs["torchvision fp32 eager"][0](x)
                with torch.autocast(path.device, dtype=path.autocast_dtype, enabled=path.autocast_dtype is not None):
                    fast = runs["cnnzoo, default path"][0](x.to(memory_format=torch.channels_last))
                exported = runs["onnxruntime, cnnzoo export"][0](x)
            errors = {"cnnzoo, default path": relative_error(fast, reference), "onnxruntime, cnnzoo export": relative_error(exported, reference)}
            base = rate["torchvision fp32 eager"]
            print(f"{args.model}, batch {batch}:")
            for k, r in rate.items():
                error = f"  logits' relative error {errors[k]:.1e}" if k in errors else ""
                print(f"  {k:28s} {r:7.1f} images/s  {r / base:5.2f}x  ({1000 * batch / r:7.1f} ms per batch){error}")
            ratio = rate["onnxruntime, cnnzoo export"] / rate["cnnzoo, default path"]
            print(f"  onnxruntime / cnnzoo default path: {ratio:.2f}x\n")


if __name__ == "__main__":
    main()
