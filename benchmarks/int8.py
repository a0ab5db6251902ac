"""int8 on the CPU against the fp32 and bf16 paths, one process, the runs interleaved:

    python benchmarks/int8.py [--models resnet50 mobilenet_v2 vgg16] [--batch 8] [--repeats 10] [--pt2e]

For each model: PyTorch fp32 (BatchNorm folded, channels_last), PyTorch bf16 (autocast, channels_last;
only where the CPU has native bf16), ONNX Runtime fp32 (the `cnnzoo export` file) and ONNX Runtime
int8 (the `cnnzoo quantize` file: static QDQ, per-channel weights). With --pt2e also PyTorch's own
int8 flow, PT2E with the x86 quantizer, which runs in int8 only once torch.compile has lowered it
(compilation takes minutes per model; it needs torchao). Random weights and images: speed only, the
accuracy cost is measured on the trained ResNet-20 (README). Calibration: 32 random images.
"""
import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

import cnnzoo
from cnnzoo.artifacts.exported import ExportedModel
from cnnzoo.deploy.export import export_model
from cnnzoo.deploy.quantize import quantize_model
from cnnzoo.runtime.execution import ExecPath, prepare, resolve_path


def _meta(name: str, size: int) -> dict:
    return {"model": name, "num_classes": 1000, "input_size": size, "class_names": [str(i) for i in range(1000)],
            "normalization": {"mean": [0.5] * 3, "std": [0.25] * 3}, "model_options": {}}  # fmt: skip


def _pt2e(model: torch.nn.Module, x: torch.Tensor):
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq

    captured = torch.export.export(model, (x,)).module()
    prepared = prepare_pt2e(captured, xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config()))
    prepared(x)  # calibration
    torch._inductor.config.freezing = True  # constant-folds the quantized weights: needed for inductor's int8 kernels
    compiled = torch.compile(convert_pt2e(prepared))
    start = time.perf_counter()
    compiled(x)
    return compiled, time.perf_counter() - start


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["resnet50", "mobilenet_v2", "vgg16"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--pt2e", action="store_true", help="also PyTorch's PT2E int8 (torch.compile: minutes per model)")
    args = parser.parse_args()
    bf16 = resolve_path(None).precision == "bf16"
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; batch {args.batch}; "
          f"native bf16 here: {'yes' if bf16 else 'no (bf16 path skipped)'}")  # fmt: skip
    for name in args.models:
        torch.manual_seed(0)
        model = cnnzoo.create_model(name).eval()
        size = model.input_size
        x = torch.randn(args.batch, 3, size, size)
        runs = {"torch fp32": (prepare(model, ExecPath("cpu", "fp32", channels_last=True, fold_bn=True)), True)}
        if bf16:
            runs["torch bf16"] = (prepare(model, ExecPath("cpu", "bf16", channels_last=True, fold_bn=True)), True)
        with tempfile.TemporaryDirectory() as tmp:
            export_model(model, _meta(name, size), Path(tmp) / "fp32.onnx", "onnx", dynamic_batch=True)
            calibration = [torch.randn(8, 3, size, size) for _ in range(4)]
            quantize_model(model, _meta(name, size), calibration, Path(tmp) / "int8.onnx", images=32)
            runs["onnxruntime fp32"] = (ExportedModel(Path(tmp) / "fp32.onnx"), False)
            runs["onnxruntime int8"] = (ExportedModel(Path(tmp) / "int8.onnx"), False)
            if args.pt2e:
                compiled, seconds = _pt2e(model, x)
                runs[f"torch PT2E int8 (compiled in {seconds:.0f} s)"] = (compiled, False)
            times = {label: [] for label in runs}
            for _ in range(2):  # warm-up
                for fn, cl in runs.values():
                    fn(x.contiguous(memory_format=torch.channels_last) if cl else x)
            for _ in range(args.repeats):
                for label, (fn, cl) in runs.items():
                    xi = x.contiguous(memory_format=torch.channels_last) if cl else x
                    start = time.perf_counter()
                    if "bf16" in label:
                        with torch.autocast("cpu", torch.bfloat16):
                            fn(xi)
                    else:
                        fn(xi)
                    times[label].append(time.perf_counter() - start)
        base = statistics.median(times["torch fp32"])
        print(f"\n{name} ({size}x{size})")
        for label, t in times.items():
            median = statistics.median(t)
            print(f"  {label:<40} {args.batch / median:8.1f} images/s   {base / median:5.2f}x torch fp32")


if __name__ == "__main__":
    main()
