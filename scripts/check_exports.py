"""Export one model of every architecture family to ONNX and check it with onnxruntime.

    python scripts/check_exports.py [--format onnx|torchscript] [NAMES...]

Each model gets BatchNorm statistics and affine terms that are not the identity (as after training),
is exported by `cnnzoo.deploy.export.export_model` with a dynamic batch (which runs the file at batch 1 and 3
against the PyTorch model and refuses a mismatch), and the result is printed. The test suite covers
five of these (tests/test_export.py); this covers the rest, in a few minutes.
"""
import argparse
import sys
import tempfile
from pathlib import Path

import torch

import cnnzoo
from cnnzoo.artifacts.exported import ExportError
from cnnzoo.deploy.export import FORMATS, export_model

FAMILIES = ("alexnet", "zfnet", "vgg11_bn", "googlenet", "googlenet_bn", "inception_v3", "resnet18", "plain18", "resnet20",
            "resnext50_32x4d", "se_resnet50", "senet154", "xception", "inception_resnet_v2", "mobilenet_v1", "mobilenet_v2",
            "mobilenet_v3_large", "mobilenet_v3_small")  # fmt: skip


def trained_like(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = cnnzoo.create_model(name)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="*", default=FAMILIES)
    parser.add_argument("--format", choices=tuple(FORMATS), default="onnx")
    args = parser.parse_args()
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.names:
            info = cnnzoo.model_info(name)
            meta = {"model": name, "input_size": info.input_size}
            try:
                report = export_model(trained_like(name), meta, Path(tmp) / f"{name}{FORMATS[args.format]}", args.format, dynamic_batch=True)
                print(f"{name:22s} ok    {report.line()}", flush=True)
            except ExportError as e:
                failed.append(name)
                print(f"{name:22s} FAIL  {e}", flush=True)
    print(f"\n{len(args.names) - len(failed)} of {len(args.names)} exported and checked" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
