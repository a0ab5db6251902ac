"""`cnnzoo ...`: a thin command line over the library. Bad input: one line on stderr, exit 2."""
import argparse
import ast
import contextlib
import math
import os
import signal
import sys
import threading
from pathlib import Path

from .analysis import Conventions, analyze
from .analysis.bench import benchmark
from .analysis.compare import compare, paper_costs, plot
from .analysis.costs import model_costs
from .analysis.layer_table import (
    columns,
    footer,
    human,
    human_bytes,
    layer_records,
    render,
    shape_text,
    totals,
    type_records,
)
from .analysis.rules import CATEGORIES
from .artifacts.exported import ExportedModel, is_exported
from .artifacts.loading import load_model, load_predictor
from .data.decoding import BadImageError
from .data.transforms import meta_transform
from .deploy.export import FORMATS, export_model
from .deploy.predict import predict_image
from .deploy.quantize import quantize_model
from .errors import CnnzooError
from .eval.inputs import calibration_images
from .eval.metrics import DENSE_SCALES, plot_confusion
from .eval.options import EvalOptions
from .eval.runner import evaluate_checkpoints, evaluate_published
from .experiments import EXPERIMENTS, estimate, get_experiment, reproduce
from .experiments.budget import machine
from .experiments.runner import CONVERGED_EPOCHS, SWEEP_SCHEDULES
from .interop.keras_layouts import KERAS_APPS
from .interop.pretrained import weight_source, weight_sources
from .recipes import RECIPES, get_recipe
from .reference.tables import TABLES
from .registry import list_models, model_info
from .runtime.distributed import leave
from .runtime.execution import PRECISIONS, default_path, resolve_path
from .train import RunConfig, train


def cmd_list(args: argparse.Namespace) -> None:
    names = list_models(args.pattern)
    if not names:
        raise CnnzooError(f"no model matches {args.pattern!r}; `cnnzoo list` shows them all")
    rows = [("model", "params", "MACs", "input", "paper")]
    for name in names:
        info, costs = model_info(name), model_costs(name)
        rows.append((name, human(costs.params), human(costs.macs), str(info.input_size), info.paper.cite()))
    print(columns(rows, "lrrrl"))
    print(f"\n{len(names)} models. Params exclude auxiliary heads; MACs: conv + linear, one image at the native input.")


def cmd_summary(args: argparse.Namespace) -> None:
    info = model_info(args.model)
    size = info.input_size if args.input is None else args.input
    if size < 1 or args.batch < 1:
        raise CnnzooError(f"--input and --batch must be positive, got --input {size} --batch {args.batch}")
    options = _model_options(args.model_option, info)
    analysis = analyze(args.model, size, args.batch, conventions=_conventions(args.count), **options)
    if args.by_type:
        records = type_records(analysis)
    else:
        records = layer_records(analysis, args.depth, args.nchw)
    if args.format in ("json", "csv"):
        print(render(records, args.format, totals(analysis)), end="" if args.format == "csv" else "\n")
        return
    print(f"{info.name}: {info.summary}")
    print(f"{info.paper.cite()}, {info.follows}; input {shape_text(analysis.input_shape)}, batch {args.batch}\n")
    print(render(records, args.format))
    print("\n" + footer(analysis))


def _conventions(count: str | None) -> Conventions:
    if not count:
        return Conventions()
    names = [c.strip() for c in count.split(",") if c.strip()]
    if names == ["all"]:
        return Conventions.all()
    optional = [c for c in CATEGORIES if c not in ("conv", "linear")]
    unknown = [c for c in names if c not in optional]
    if unknown:
        raise CnnzooError(f"--count takes {', '.join(optional)} or all; not {', '.join(unknown)}")
    return Conventions(**dict.fromkeys(names, True))


def cmd_info(args: argparse.Namespace) -> None:
    info = model_info(args.model)
    costs = model_costs(args.model)
    p = info.paper
    lines = [
        f"{info.name}: {info.summary}",
        f"  paper       {p.title} ({p.authors}, {p.year}{', arXiv:' + p.arxiv if p.arxiv else ''})",
        f"  follows     {info.follows}",
        f"  input       {info.input_size}x{info.input_size}, {info.num_classes} classes by default",
        f"  params      {costs.params:,} counted"
        + (f"; reference {info.params:,} ({info.reference})" if info.params else ""),
        f"  MACs        {costs.macs:,} counted"
        + (f"; reference {info.macs:,} ({info.reference})" if info.macs else ""),
    ]
    if info.reference_options:
        lines.append(f"  counted as  {', '.join(f'{k}={v!r}' for k, v in info.reference_options.items())}")
    lines.append(f"  recipe      {info.recipe} (its paper's; `cnnzoo train {info.name}` uses it unless --recipe says otherwise)")
    if info.published:
        top5 = f", top-5 {info.published.top5:.2f}%" if info.published.top5 else ""
        lines.append(f"  published   top-1 {info.published.top1:.2f}%{top5} ({info.published.source})")
    if info.peer:
        lines.append(f"  peer        {info.peer} (outputs checked equal in the tests)")
        lines.append(f"  weights     {_weights_line(args.model, info.peer.library)}")
    if args.model in KERAS_APPS:
        lines.append(f"  keras       {_weights_line(args.model, 'keras')}")
    lines += [f"  deviation   {d}" for d in info.deviations]
    options = ", ".join(f"{k}={_short(v.default)}" for k, v in info.options().items() if k != "num_classes")
    lines.append(f"  options     {options}")
    print("\n".join(lines))


def _weights_line(name: str, library: str) -> str:
    """Where the peer's pretrained file is expected, whether it is there, and how it wants its input."""
    try:
        src = weight_source(name, library)
    except CnnzooError as e:
        return f"weights={library!r}: {e}"
    here = src.available
    accuracy = f", published top-1 {src.top1:.2f}%" if src.top1 else ""
    where = f"found at {here}" if here else f"not on this machine (fetch {src.url} to {src.files[0]})"
    others = [o for o in weight_sources(name, library) if o.name != src.name]
    also = "".join(f"; also {library}:{o.name.rsplit('.', 1)[-1]} (top-1 {o.top1:.2f}%, resize {o.preprocessing.resize})"
                   for o in others if o.top1)  # fmt: skip
    if library == "keras" and others:
        also += f"; also {', '.join('keras:' + v for v in KERAS_APPS[name].variants[1:])}"
    return f"weights={library!r} ({src.name}{accuracy}): {where}; {src.preprocessing.describe()}{also}"


def cmd_compare(args: argparse.Namespace) -> None:
    if args.paper:
        _paper_tables(args.paper)
        return
    names = list_models() if args.all else args.models
    if not names:
        raise CnnzooError("name the models to compare, or give --all")
    for name in names:
        model_info(name)  # unknown names fail before any work
    if args.batch < 1:
        raise CnnzooError(f"--batch must be positive, got {args.batch}")
    path = default_path()
    rows = compare(names, args.measure, args.batch, path)
    header = ["model", "params", "GMACs", "act. memory", "top-1", "top-5", "published by"]
    if args.measure:
        header += ["ms (batch 1)", f"images/s (batch {args.batch})"]
    table = [header]
    for r in rows:
        acc = r.accuracy
        cells = [r.name, human(r.params), f"{r.macs / 1e9:.3f}", human_bytes(r.activation_bytes)]
        cells += [f"{acc.top1:.2f}", f"{acc.top5:.2f}" if acc.top5 else "-", acc.source] if acc else ["-", "-", "-"]
        if args.measure:
            cells += [f"{r.latency_ms:.1f}", f"{r.throughput:.1f}"]
        table.append(cells)
    print(columns(table, "lrrrrrl" + "rr" * args.measure))
    print("\nMACs: conv + linear, one image at the native input; activation memory: every layer output, one image, fp32.")
    if args.measure:
        print(f"measured here: {path.describe()}")
    if args.plot:
        written = plot(rows, args.plot, machine=f"({path.describe()})" if args.measure else "")
        print("wrote " + ", ".join(map(str, written)))


def _paper_tables(paper: str) -> None:
    """A paper's published tables, each row beside cnnzoo's computed multiply-adds and parameters."""
    if paper not in TABLES:
        raise CnnzooError(f"no published tables for {paper!r}; choose one of {', '.join(TABLES)}")
    for table in TABLES[paper]:
        print(f"{table.title} ({table.paper})")
        named = all(row.values[0] == row.label for row in table.rows)  # the first column names the row already
        ours = any(row.model for row in table.rows)
        unit, unit_name = table.macs_unit, {1e6: "M mult-adds", 1e9: "GMACs"}[table.macs_unit]
        rows = [(*(() if named else ("row",)), *table.columns, *(("model here", f"ours: {unit_name}", "ours: M params") if ours else ()))]
        for row, macs, params in paper_costs(table):
            cells = (*(() if named else (row.label,)), *(f"{v:g}" if isinstance(v, float) else str(v) for v in row.values))
            if row.model is None:
                rows.append((*cells, *(("-", "-", "-") if ours else ())))
                continue
            where = row.model + "".join(f" {k}={v}" for k, v in row.options.items()) + (f" @{row.input_size}" if row.input_size else "")
            rows.append((*cells, where, f"{macs / unit:,.1f}" if unit == 1e6 else f"{macs / unit:.3f}", f"{params / 1e6:.2f}"))
        print(columns(rows, "l" * (len(rows[0]) - 2) + ("rr" if ours else "ll")))
        if table.note:
            print(f"note: {table.note}")
        print()


def cmd_bench(args: argparse.Namespace) -> None:
    model_info(args.model)  # an unknown name fails here, before any work
    if args.batch < 1 or args.repeats < 1 or (args.input is not None and args.input < 1):
        raise CnnzooError("--batch, --repeats and --input must be positive")
    path = resolve_path(args.precision, args.channels_last, args.fold_bn, args.compile or None, args.device, args.train)
    files = {f"{f} ({ExportedModel(f).runtime})": ExportedModel(f) for f in args.file or []}
    for f in args.file or []:
        if not is_exported(f):
            raise CnnzooError(f"--file {f}: give an exported .onnx or .pt2 (of `cnnzoo export` or `cnnzoo quantize`)")
    timings = benchmark(args.model, path, args.batch, args.input, args.train, args.vs, args.warmup, args.repeats, files)
    note = "" if (args.precision or args.channels_last is not None) else " (the default path on this machine)"
    print(f"{path.describe()}{note}")
    for t in timings:
        print(t.line())
    if len(timings) == 2 and args.vs:
        print(f"ratio cnnzoo / {args.vs}: {timings[0].median / timings[1].median:.2f}x images/s")
    for t in timings[1 + bool(args.vs):]:
        print(f"ratio {t.label.split(' (')[0]} / cnnzoo: {timings[0].median / t.median:.2f}x images/s")


def cmd_train(args: argparse.Namespace) -> None:
    info = model_info(args.model)
    recipe_name = args.recipe or info.recipe
    recipe = get_recipe(recipe_name).parse_overrides(args.overrides)
    options = _model_options(args.model_option, info)
    data_name = Path(args.data).name or args.data
    out = Path(args.out) if args.out else Path("runs") / f"{args.model}-{data_name}-{recipe_name}"
    if args.limit is not None and args.limit < 1:
        raise CnnzooError(f"--limit must be a positive number of images, got {args.limit}")
    if args.num_classes is not None and not args.init:
        raise CnnzooError("--num-classes goes with --init (a new classifier on pretrained weights); without it the data set the classes")
    if args.resume and args.auto_resume:
        raise CnnzooError("--resume and --auto-resume exclude each other: --auto-resume alone continues a run if there is one")
    config = RunConfig(args.model, args.data, recipe, out, options, resume="auto" if args.auto_resume else args.resume,
                       strict=args.strict, precision="fp32" if args.fp32 else None, limit=args.limit,
                       dry_run=args.dry_run, init=args.init, num_classes=args.num_classes, restart=args.restart)  # fmt: skip
    train(config)


def _model_options(items: list[str], info) -> dict:
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise CnnzooError(f"--model-option {item!r} is not key=value (e.g. se=true)")
        try:
            value = ast.literal_eval({"true": "True", "false": "False", "none": "None"}.get(text.lower(), text))
        except (ValueError, SyntaxError):
            value = text
        options[key] = value
    unknown = set(options) - set(info.options())
    if unknown:
        raise CnnzooError(f"{info.name} has no option {', '.join(sorted(unknown))}; see `cnnzoo info {info.name}`")
    return options


def cmd_eval(args: argparse.Namespace) -> None:
    options = EvalOptions(data=args.data, crops=args.crops, batch_size=args.batch, workers=args.workers, limit=args.limit,
                          strict=args.strict, precision=args.precision, weights=tuple(args.weights) if args.weights else None,
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
    if not args.model and result.runtime == "PyTorch":
        print(f"execution path: {result.path.describe()} (--precision auto: the fastest here)")


def cmd_predict(args: argparse.Namespace) -> None:
    if args.top < 1:
        raise CnnzooError(f"--top must be at least 1, got {args.top}")
    run, meta = load_predictor(args.checkpoint, args.model, args.pretrained, args.runtime)
    transform = meta_transform(meta)
    names = meta["class_names"]
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


def cmd_export(args: argparse.Namespace) -> None:
    model_info(args.model)  # an unknown name fails before any loading
    suffix = FORMATS[args.format]
    if args.out:
        out = Path(args.out)
    elif args.checkpoint:
        out = Path(args.checkpoint).with_suffix(suffix)
    else:
        out = Path(f"{args.model}{suffix}")
    if out.suffix != suffix:
        raise CnnzooError(f"--out {out}: a {args.format} file ends in {suffix}")
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


def cmd_reproduce(args: argparse.Namespace) -> None:
    if args.list or not args.experiment:
        _list_experiments(args.experiment)
        return
    get_experiment(args.experiment)  # an unknown name fails before anything else
    data = args.data or os.environ.get("CNNZOO_CIFAR10")
    if not data:
        raise CnnzooError("give --data: a CIFAR-10 folder (train/<class>/ JPEGs, or cifar-10-batches-py), or set CNNZOO_CIFAR10")
    result = reproduce(args.experiment, data, args.out, args.epochs, args.schedule, args.runs, args.budget, args.limit,
                       args.overrides)  # fmt: skip
    if result:
        print(f"results: {Path(args.out or f'experiments/{args.experiment}') / 'results.md'}")


def _list_experiments(name: str | None) -> None:
    """Each experiment, its runs, and what they cost here: measured minutes per epoch (CIFAR-10's 45k images)."""
    chosen = [get_experiment(name)] if name else list(EXPERIMENTS.values())
    for e in chosen:
        specs = list(e.runs)
        costs = estimate(e, specs)
        default = [s for s in specs if not s.optional]
        per_epoch = sum(costs[s.name][0] for s in default)
        paper = sum(costs[s.name][0] * costs[s.name][1] for s in default)
        print(f"{e.name}: {e.title}\n  {e.paper.cite()}, {e.where}\n  claim: {e.claim}")
        rows = [("run", "model", "paper", "min/epoch", "paper schedule")]
        for s in specs:
            minutes, epochs = costs[s.name]
            paper_value = f"{s.paper.value:.2f}%" if s.paper else "-"
            rows.append((s.name + (" (optional)" if s.optional else ""), s.model, paper_value, f"{minutes:.2f}",
                         f"{epochs:.0f} epochs, {minutes * epochs / 60:.1f} h"))  # fmt: skip
        print("\n".join("  " + line for line in columns(rows, "llrrr").splitlines()))
        print(f"  all default runs: {per_epoch:.1f} min per epoch here; the converged schedule ({CONVERGED_EPOCHS} epochs) "
              f"{per_epoch * CONVERGED_EPOCHS / 60:.1f} h; the paper's {paper / 60:.1f} h\n")  # fmt: skip
    print(f"measured on {machine()} (a training step of each run, cached); run one: cnnzoo reproduce NAME --data CIFAR10")


def _short(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"({len(value)} rows)" if isinstance(value, (tuple, list)) else text[:limit] + "..."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnzoo", description="The landmark ILSVRC-era CNNs, built as their papers describe them.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("list", help="registered models with their parameters, MACs and paper")
    p.add_argument("pattern", nargs="?", help="substring or wildcard pattern, e.g. resnet or 'vgg*_bn'")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("summary", help="per-layer shapes, parameters, MACs and memory of one model")
    p.add_argument("model")
    p.add_argument("--input", type=int, help="square input size in pixels (default: the model's native size)")
    p.add_argument("--batch", type=int, default=1, help="batch size for the memory figures (default 1)")
    p.add_argument("--depth", type=int, help="sum the layers by the first D parts of their names (2: one row per block)")
    p.add_argument("--by-type", action="store_true", help="one row per layer type (MobileNet's Table 2 view)")
    p.add_argument("--format", choices=("text", "markdown", "csv", "json"), default="text")
    p.add_argument("--nchw", action="store_true", help="shapes as N x C x H x W instead of the lecture's H x W x C")
    p.add_argument("--count", help="also count these as MACs: bias,norm,lrn,act,pool,add,scale or all")
    p.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a model option, e.g. naive=true (GoogLeNet's naive Inception modules), width_mult=0.5")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("compare", help="models side by side: cost, memory, published accuracy, measured speed")
    p.add_argument("models", nargs="*")
    p.add_argument("--all", action="store_true", help="every registered model")
    p.add_argument("--measure", action="store_true", help="also time each model here: latency (batch 1), throughput")
    p.add_argument("--batch", type=int, default=8, help="batch for the throughput column (default 8)")
    p.add_argument("--plot", help="write the Comparing Complexity chart here (PNG), and the ILSVRC timeline beside it")
    p.add_argument("--paper", help="instead: a paper's published tables beside our computed costs (mobilenet, resnext, resnet, "
                   "senet, ilsvrc)")
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("bench", help="time a model on this machine (images/s, GFLOP/s), optionally against its peer")
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--input", type=int, help="square input size (default: the model's native size)")
    p.add_argument("--precision", choices=("fp32", "bf16", "fp16"), help="default: the fastest safe one here")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--fold-bn", action=argparse.BooleanOptionalAction, default=None, help="fold BatchNorm (inference)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow to start)")
    p.add_argument("--train", action="store_true", help="time a training step (forward, backward, SGD) instead")
    p.add_argument("--vs", choices=("torchvision", "timm"), help="also time the peer's model, interleaved")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--file", nargs="+", help="also time exported files (.onnx, .pt2; an int8 .onnx of `cnnzoo quantize`), interleaved")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.set_defaults(func=cmd_bench)
    p = sub.add_parser("quantize", help="int8 for the CPU: post-training static quantization (ONNX Runtime QDQ), calibrated on DATA")
    p.add_argument("model")
    p.add_argument("--checkpoint", help="a cnnzoo run's checkpoint.pt or model.safetensors")
    p.add_argument("--pretrained", metavar="WEIGHTS", help="or: published weights, torchvision, timm, keras, or a file")
    p.add_argument("--calibrate", required=True, metavar="DATA", help="images to calibrate on: the run's data (its training "
                   "split is used, unaugmented) or a folder of labelled images / ImageNet")
    p.add_argument("--images", type=int, default=512, help="calibration images (default 512)")
    p.add_argument("--out", help="the file to write (default: beside the checkpoint, NAME.int8.onnx)")
    p.set_defaults(func=cmd_quantize)
    p = sub.add_parser("train", help="train a model on a dataset with a paper's recipe (or a short modern one)")
    p.add_argument("model")
    p.add_argument("--data", required=True, help="a dataset folder, a cifar-10-batches-py folder, 'digits' or 'synthetic'")
    p.add_argument("--recipe", help=f"one of {', '.join(RECIPES)} (default: the model's paper's)")
    p.add_argument("overrides", nargs="*", metavar="FIELD=VALUE", help="recipe fields to change, e.g. lr=0.05 epochs=30")
    p.add_argument("--out", help="run folder (default runs/MODEL-DATA-RECIPE)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--restart", action="store_true",
                   help="a run already in --out (on data that changed since, say): set its files aside in --out/replaced-TIME/ and start anew")
    p.add_argument("--auto-resume", action="store_true",
                   help="continue the run in --out if it has a checkpoint, else start it (for torchrun --max-restarts, SLURM requeue)")
    p.add_argument("--init", metavar="WEIGHTS", help="start from pretrained weights: torchvision, timm, keras, a file of theirs, or a cnnzoo run's model.safetensors")
    p.add_argument("--num-classes", type=int, help="with --init: the new classifier's classes (must match the data's)")
    p.add_argument("--dry-run", action="store_true", help="check the model, recipe, data and run folder, print the plan, train nothing")
    p.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE", help="a model option, e.g. se=true")
    p.add_argument("--fp32", action="store_true", help="plain fp32, whatever the fastest path here")
    p.add_argument("--strict", action="store_true", help="an undecodable image is an error instead of skipped")
    p.add_argument("--limit", type=int, help="train on this many images only (a stratified subset)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("eval", help="top-1/top-5 error of a checkpoint, or of an ensemble of several")
    p.add_argument("--checkpoint", nargs="+", help="checkpoint.pt or model.safetensors of `cnnzoo train`, or .onnx (onnxruntime) / .pt2 (torch.export) of `cnnzoo export`")
    p.add_argument("--model", nargs="+", help="or: models to evaluate with published weights (see --pretrained)")
    p.add_argument("--pretrained", nargs="+", metavar="WEIGHTS",
                   help="with --model: torchvision, timm, keras, torchvision:IMAGENET1K_V1, keras:0.5_160 or a file (default: the model's peer library)")
    p.add_argument("--data", help="dataset (default: the one the first checkpoint was trained on: its validation split), or a "
                   "folder of <class>/ image folders (labelled images alone); with --model: an ImageNet folder holding val/, "
                   "or a folder of <wnid> class folders")
    p.add_argument("--batch", type=int, help="images per batch (default: the run's recipe's; 50 with --model)")
    p.add_argument("--workers", type=int, help="decoding processes (default: the run's recipe's; 2 with --model)")
    p.add_argument("--limit", type=int, help="a stratified subset of this many images of evaluation-only data (ImageNet val, "
                   "a labelled folder), for a quick check")
    p.add_argument("--precision", choices=(*PRECISIONS, "auto"), default="fp32",
                   help="fp32 (default: machine-independent, faithful to published numbers), or auto: the fastest safe path here")
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
    p = sub.add_parser("predict", help="the top classes of images, with probabilities")
    p.add_argument("images", nargs="+")
    p.add_argument("--checkpoint", help="a cnnzoo run's checkpoint.pt / model.safetensors, or an exported .onnx / .pt2")
    p.add_argument("--model", help="or: a model with published weights (see --pretrained)")
    p.add_argument("--pretrained", metavar="WEIGHTS", help="with --model: torchvision, timm, keras, torchvision:IMAGENET1K_V1, keras:0.5_160 or a file")
    p.add_argument("--runtime", choices=("torch", "onnx"), help="onnx: run an exported file with onnxruntime (default for .onnx)")
    p.add_argument("--top", type=int, default=5)
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("export", help="ONNX or TorchScript for deployment, BatchNorm folded, checked against PyTorch")
    p.add_argument("model")
    p.add_argument("--checkpoint", help="a cnnzoo run's checkpoint.pt or model.safetensors")
    p.add_argument("--pretrained", metavar="WEIGHTS", help="or: published weights, torchvision, timm, keras, torchvision:IMAGENET1K_V1 or a file")
    p.add_argument("--format", choices=tuple(FORMATS), default="onnx")
    p.add_argument("--dynamic-batch", action="store_true", help="any batch size at run time (default: the export batch only)")
    p.add_argument("--batch", type=int, default=1, help="the batch size to export at (default 1)")
    p.add_argument("--out", help="the file to write (default: beside the checkpoint, or MODEL.onnx / .pt2 / .pt here)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("reproduce", help="one of the lecture's experiments: its runs trained, beside the papers' numbers")
    p.add_argument("experiment", nargs="?", help=f"one of {', '.join(EXPERIMENTS)} (none: the list)")
    p.add_argument("--list", action="store_true", help="the experiments, their runs and their measured cost here")
    p.add_argument("--data", help="CIFAR-10: a folder of train/<class>/ images or cifar-10-batches-py (default $CNNZOO_CIFAR10)")
    p.add_argument("--out", help="the sweep's folder (default experiments/NAME)")
    p.add_argument("--epochs", type=float, help="train every run this many epochs (converged: 30; paper/budget: the paper's "
                   "recipe with its milestones scaled)")
    p.add_argument("--schedule", choices=SWEEP_SCHEDULES, help="converged (default): the short recipe for 30 epochs in every run (a "
                   "deviation from the papers that converges on 2 cores); paper: each paper's recipe and length; budget: the "
                   "paper's recipe scaled to --budget minutes")  # fmt: skip
    p.add_argument("--budget", type=float, default=120, help="minutes for the whole sweep with --schedule budget (default 120)")
    p.add_argument("--runs", nargs="+", help="only these runs (optional ones, such as resnet1202, only when named)")
    p.add_argument("--limit", type=int, help="train on this many images only (a quick check)")
    p.add_argument("overrides", nargs="*", metavar="FIELD=VALUE", help="recipe fields to change in every run, e.g. val_size=0.1")
    p.set_defaults(func=cmd_reproduce)
    p = sub.add_parser("info", help="a model's paper, reference numbers, deviations and options")
    p.add_argument("model")
    p.set_defaults(func=cmd_info)
    return parser


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt():
    """A `kill` (SIGTERM) stops a command as Ctrl-C does, so its `finally` blocks run (a sweep's minutes)."""
    if threading.current_thread() is not threading.main_thread():  # handlers can only be set there
        yield
        return
    before = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # recipe overrides may follow the options: `train resnet20 --data digits lr=0.05`
        if getattr(args, "command", None) not in ("train", "reproduce") or not all("=" in e and not e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    try:
        with sigterm_as_interrupt():
            args.func(args)
    except KeyboardInterrupt:  # training keeps its last checkpoint: `--resume` (reproduce: the same command) goes on
        print("cnnzoo: stopped", file=sys.stderr)
        return 130
    except CnnzooError as e:
        print(f"cnnzoo: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `cnnzoo list | head`
        sys.stderr.close()
    except OSError as e:  # the environment, not the input: a file that vanished, a device that failed
        print(f"cnnzoo: error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}", file=sys.stderr)
        return 1
    finally:
        leave()
    return 0


if __name__ == "__main__":
    sys.exit(main())
