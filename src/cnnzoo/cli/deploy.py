"""`cnnzoo export | quantize`: files for deployment (ONNX, torch.export, TorchScript; int8 ONNX)."""
import argparse
from pathlib import Path

from ..artifacts.loading import load_model
from ..deploy.export import FORMATS, export_file, export_model
from ..deploy.quantize import quantize_model
from ..eval.inputs import calibration_images
from ..registry import model_info
from .common import add_out, add_weights


def cmd_export(args: argparse.Namespace) -> None:
    model_info(args.model)  # an unknown name fails before any loading
    out = export_file(args.format, args.out, args.checkpoint, args.model)
    model, meta = load_model(args.checkpoint, args.model, args.pretrained)
    report = export_model(model, meta, out, args.format, args.dynamic_batch, args.batch)
    print(report.line())
    if args.format in ("onnx", "exported-program"):
        print(f"run it: cnnzoo predict IMAGE --checkpoint {out}")


def cmd_quantize(args: argparse.Namespace) -> None:
    model_info(args.model)  # an unknown name fails before any loading
    if args.out:
        out = Path(args.out)
    else:
        out = Path(args.checkpoint).with_suffix(".int8.onnx") if args.checkpoint else Path(f"{args.model}.int8.onnx")
    model, meta = load_model(args.checkpoint, args.model, args.pretrained)
    report = quantize_model(model, meta, calibration_images(meta, args.calibrate, args.images), out, args.images)
    print(report.line())
    print(f"evaluate it: cnnzoo eval --checkpoint {out}; time it: cnnzoo bench {args.model} --file {out}")

def add_export(sub) -> None:
    p = sub.add_parser("export", help="ONNX or TorchScript for deployment, BatchNorm folded, checked against PyTorch")
    p.add_argument("model")
    add_weights(p)
    p.add_argument("--format", choices=tuple(FORMATS), default="onnx")
    p.add_argument("--dynamic-batch", action="store_true", help="any batch size at run time (default: the export batch only)")
    p.add_argument("--batch", type=int, default=1, help="the batch size to export at (default 1)")
    add_out(p, "beside the checkpoint, or MODEL.onnx / .pt2 / .pt here")
    p.set_defaults(func=cmd_export)

def add_quantize(sub) -> None:
    p = sub.add_parser("quantize", help="int8 for the CPU: post-training static quantization (ONNX Runtime QDQ), calibrated on DATA")
    p.add_argument("model")
    add_weights(p)
    p.add_argument("--calibrate", required=True, metavar="DATA", help="images to calibrate on: the run's data (its training "
                   "split is used, unaugmented) or a folder of labelled images / ImageNet")
    p.add_argument("--images", type=int, default=512, help="calibration images (default 512)")
    add_out(p, "beside the checkpoint, NAME.int8.onnx")
    p.set_defaults(func=cmd_quantize)


COMMANDS = (add_export, add_quantize)
