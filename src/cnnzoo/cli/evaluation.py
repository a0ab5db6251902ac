"""`cnnzoo eval | predict`: top-1/top-5 error of runs, exported files and published weights; the top classes of images."""
import argparse
import math
import sys
from pathlib import Path

from ..artifacts.exported import is_exported
from ..artifacts.loading import load_predictor
from ..data.decoding import BadImageError, decode
from ..data.transforms import meta_transform
from ..deploy.engines import choose_engine
from ..deploy.predict import predict_image
from ..errors import CnnzooError
from ..eval.metrics import DENSE_SCALES, plot_confusion
from ..eval.options import EvalOptions
from ..eval.runner import evaluate_checkpoints, evaluate_published
from ..runtime.execution import PRECISIONS
from .common import add_engine, add_weights


def cmd_eval(args: argparse.Namespace) -> None:
    options = EvalOptions(data=args.data, crops=args.crops, batch_size=args.batch, workers=args.workers, limit=args.limit,
                          strict=args.strict, precision=args.precision, engine=args.engine, weights=tuple(args.weights) if args.weights else None,
                          dense=args.dense, **({"scales": tuple(args.scales)} if args.scales else {}))  # fmt: skip
    if args.model:
        if args.checkpoint:
            raise CnnzooError("--model evaluates published weights and --checkpoint a run of cnnzoo's: give one of them")
        result = evaluate_published(args.model, args.pretrained or [], options)
    else:
        if args.pretrained:
            raise CnnzooError("--pretrained goes with --model (weights of torchvision/timm); a --checkpoint carries its own")
        if args.dense:
            raise CnnzooError("--dense goes with --model (published weights on ImageNet images)")
        if not args.checkpoint:
            raise CnnzooError("give --checkpoint (of `cnnzoo train`, or an exported .onnx) or --model NAME [--pretrained W] --data FOLDER")
        result = evaluate_checkpoints(args.checkpoint, options)
    if result.main:
        _print_evaluation(result, args)


def _print_evaluation(result, args: argparse.Namespace) -> None:
    data, crops = result.data, f"{args.crops} crop{'s' if args.crops > 1 else ''}"
    if args.crops > 1:
        crops += f" ({args.crops} forward passes per image: {args.crops}x the one-crop cost)"
    if args.dense:
        scales = args.scales or list(DENSE_SCALES)
        crops = (f"dense over whole images at Q = {', '.join(map(str, scales))} and their mirrors ({2 * len(scales)} passes per "
                 f"image, each on the whole image)")  # fmt: skip
    if args.model:
        print(f"{data.description}; {crops}; {result.path.describe()}")
    else:
        print(f"{data.description}; {crops}" + (f"; run by {result.runtime}" if result.runtime != "PyTorch" else ""))
    prep = args.model and result.members[0].source and result.members[0].source.preprocessing
    if prep:
        print(f"preprocessing: {prep.describe()}")
    for member in result.members:
        print("\n".join(member.lines()))
    if args.model and args.crops > 1:
        print("(the published accuracies are for one centre crop)")
    if result.ensemble is not None:
        how = "weighted " if args.weights else ""
        print(f"ensemble of {len(result.members)} ({how}softmax average): {result.ensemble.line()}")
    names = data.class_names
    if len(names) <= 20:
        worst = sorted(zip(result.result.per_class_accuracy, names), key=lambda t: (math.isnan(t[0]), t[0], t[1]))
        print("per-class accuracy: " + ", ".join(f"{name} {'n/a (no images)' if math.isnan(acc) else f'{acc:.1f}%'}" for acc, name in worst))
    figure = args.confusion or (None if args.model else Path(args.checkpoint[0]).with_name("confusion.png"))
    if figure:
        title = f"{', '.join(m.name for m in result.members)}: top-1 error {result.result.top1_error:.2f}%"
        plot_confusion(result.result.confusion, names, Path(figure), title)
        print(f"confusion matrix: {figure}")
    if data.stats.total:
        print(data.stats.summary())
    for member, chosen in zip(result.members, result.engines):
        print((f"{member.name}: " if len(result.engines) > 1 else "") + chosen.line())
    if not result.engines and not args.model and result.runtime == "PyTorch":
        print(f"execution path: {result.path.describe()}")


def cmd_predict(args: argparse.Namespace) -> None:
    if args.top < 1:
        raise CnnzooError(f"--top must be at least 1, got {args.top}")
    run, meta = load_predictor(args.checkpoint, args.model, args.pretrained, args.runtime)
    transform = meta_transform(meta)
    names = meta["class_names"]
    if not is_exported(args.checkpoint):  # a model of PyTorch's: on the fastest engine here, measured on the first image
        first = next((image for image in args.images if _readable(image)), None)
        if first is not None:
            int8 = Path(args.checkpoint).with_suffix(".int8.onnx") if args.checkpoint else None
            engine = args.engine
            if args.runtime == "torch" and engine == "auto":  # PyTorch asked for: its engine of the precision
                engine = "torch-bf16" if args.precision == "bf16" else "torch-fp32"
            chosen = choose_engine(run, meta, transform(decode(first)).unsqueeze(0), engine, args.precision, int8, args.checkpoint)
            run = chosen.module
            print(chosen.line(), file=sys.stderr)
    failed = []
    for image in args.images:  # a bad image is named and skipped; the others are still predicted
        try:
            probs = predict_image(run, image, transform)
        except (BadImageError, OSError) as e:
            failed.append(image)
            print(f"cnnzoo: error: cannot read {image}: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
            continue
        top = probs.topk(min(args.top, len(probs)))
        print(f"{image}: " + ", ".join(f"{names[i]} {100 * p:.1f}%" for p, i in zip(top.values.tolist(), top.indices.tolist())))
    if failed:
        raise CnnzooError(f"{len(failed)} of {len(args.images)} images could not be read (first: {failed[0]})")

def _readable(image: str) -> bool:
    try:
        decode(image)
    except (BadImageError, OSError):
        return False
    return True


def add_eval(sub) -> None:
    p = sub.add_parser("eval", help="top-1/top-5 error of a checkpoint, or of an ensemble of several")
    add_weights(p, many=True, exported=True, model=True)
    p.add_argument("--data", help="dataset (default: the one the first checkpoint was trained on: its validation split), or a "
                   "folder of <class>/ image folders (labelled images alone); with --model: an ImageNet folder holding val/, "
                   "or a folder of <wnid> class folders")
    p.add_argument("--batch", type=int, help="images per batch (default: the run's recipe's; 50 with --model)")
    p.add_argument("--workers", type=int, help="decoding processes (default: the run's recipe's; 2 with --model)")
    p.add_argument("--limit", type=int, help="a stratified subset of this many images of evaluation-only data (ImageNet val, "
                   "a labelled folder), for a quick check")
    p.add_argument("--precision", choices=(*PRECISIONS, "int8", "auto"), default="fp32",
                   help="the numerics the engines may use: fp32 (default: machine-independent, faithful to published numbers), "
                   "bf16, int8 (a quantized model), or auto: any of them, the fastest that agrees with fp32")
    add_engine(p)
    p.add_argument("--crops", type=int, choices=(1, 2, 10, 144), default=1,
                   help="views per image, softmax averaged: 1 centre crop, 2 (it and its mirror: flip test-time augmentation), "
                   "10 (AlexNet: corners, centre, mirrors), 144 (GoogLeNet Sec. 7)")
    p.add_argument("--weights", type=float, nargs="+", help="ensemble weights, one per checkpoint")
    p.add_argument("--dense", action="store_true", help="with --model: VGG's dense evaluation (whole images, FC layers as "
                   "convolutions, score maps averaged, mirrors too; one image at a time, fp32)")
    p.add_argument("--scales", type=int, nargs="+", help="with --dense: the shorter sides Q (default 256 384 512, VGG Sec. 4.1)")
    p.add_argument("--confusion", help="confusion matrix PNG (default: beside the first checkpoint)")
    p.add_argument("--strict", action="store_true")
    p.set_defaults(func=cmd_eval)

def add_predict(sub) -> None:
    p = sub.add_parser("predict", help="the top classes of images, with probabilities")
    p.add_argument("images", nargs="+")
    add_weights(p, exported=True, model=True)
    p.add_argument("--runtime", choices=("torch", "onnx"), help="onnx: run an exported file with onnxruntime (default for .onnx)")
    p.add_argument("--precision", choices=("fp32", "bf16", "int8", "auto"), default="auto",
                   help="the numerics the engines may use (default auto: any, the fastest that agrees with fp32; fp32: the "
                   "probabilities `cnnzoo eval` computes)")
    add_engine(p)
    p.add_argument("--top", type=int, default=5)
    p.set_defaults(func=cmd_predict)


COMMANDS = (add_eval, add_predict)
