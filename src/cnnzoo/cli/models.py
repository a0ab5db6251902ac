"""`cnnzoo list | info | summary | compare | bench`: the registry, what each model costs, and how fast it runs here."""
import argparse
import tempfile
from pathlib import Path

import torch

from ..analysis import Conventions, analyze
from ..analysis.bench import benchmark
from ..analysis.compare import compare, paper_costs, plot
from ..analysis.costs import model_costs
from ..analysis.layer_table import (
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
from ..analysis.rules import CATEGORIES
from ..artifacts.exported import ExportedModel, is_exported
from ..deploy.engines import candidates, store_rates, timing_engines
from ..errors import CnnzooError
from ..interop.keras_layouts import KERAS_APPS
from ..interop.pretrained import weight_source, weight_sources
from ..reference.tables import TABLES
from ..registry import list_models, model_info
from ..runtime.execution import PRECISIONS, default_path, resolve_path
from .common import add_engine, add_model_option, model_options


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
    options = model_options(args.model_option, info)
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
    info = model_info(args.model)  # an unknown name fails here, before any work
    if args.batch < 1 or args.repeats < 1 or (args.input is not None and args.input < 1):
        raise CnnzooError("--batch, --repeats and --input must be positive")
    for f in args.file or []:
        if not is_exported(f):
            raise CnnzooError(f"--file {f}: give an exported .onnx or .pt2 (of `cnnzoo export` or `cnnzoo quantize`)")
    files = {f"{f} ({ExportedModel(f).runtime})": ExportedModel(f) for f in args.file or []}
    args.input = _files_input(args.file or [], files.values(), args.input)
    explicit = args.precision or args.channels_last is not None or args.fold_bn is not None or args.compile or args.train
    if explicit or (args.device or default_path().device) != "cpu":
        if args.engine != "auto":
            raise CnnzooError("--engine times the CPU inference engines: it goes without --precision, --channels-last, "
                              "--fold-bn, --compile, --train and a GPU")  # fmt: skip
        path = resolve_path(args.precision, args.channels_last, args.fold_bn, args.compile or None, args.device, args.train)
        return _print_bench(args, path, benchmark(args.model, path, args.batch, args.input, args.train, args.vs, args.warmup,
                                                  args.repeats, files))  # fmt: skip
    size = args.input or info.input_size
    names, excluded = candidates("auto", can_quantize=True) if args.engine == "auto" else ([args.engine], {})
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = info.build().eval()
        meta = {"model": args.model, "num_classes": info.num_classes, "model_options": {}, "input_size": size,
                "class_names": [str(i) for i in range(info.num_classes)], "normalization": {"mean": [0.0] * 3, "std": [1.0] * 3}}
        x = torch.randn(args.batch, 3, size, size)
        engines, failed = timing_engines(model, meta, x[:8], [n for n in names if n != "torch-fp32"], Path(tmp))
        path = resolve_path("fp32", device="cpu")
        timings = benchmark(args.model, path, args.batch, args.input, False, args.vs, args.warmup, args.repeats,
                            {f"{args.model} on {n}": e for n, e in engines.items()} | files)  # fmt: skip
    if "torch-fp32" not in names:
        timings = timings[1:]
    _print_bench(args, path, timings, "torch-fp32: ")
    rates = {n: t.median for n, t in zip(["torch-fp32"] * ("torch-fp32" in names) + list(engines), timings)}
    for name, why in (excluded | failed).items():
        print(f"{name} left out: {why}")
    if len(rates) > 1:
        best = max(rates, key=rates.get)
        print(f"fastest engine here: {best} ({rates[best] / rates.get('torch-fp32', rates[best]):.2f}x torch-fp32); remembered: "
              f"`cnnzoo eval` and `predict` of a {args.model} at batch {args.batch} choose by it")  # fmt: skip
        store_rates(meta, x, rates | {name: 0.0 for name in failed})


def _files_input(names: list[str], files, asked: int | None) -> int | None:
    """The input size to time at: an exported file runs at the size it was exported for (its metadata's), so --input
    must agree with it, and without --input the files' size is the bench's."""
    sizes = {name: f.meta.get("input_size") for name, f in zip(names, files) if isinstance(f.meta.get("input_size"), int)}
    for name, size in sizes.items():
        if asked is not None and asked != size:
            raise CnnzooError(f"--file {name} was exported for {size}x{size} images, not --input {asked}: leave out --input, "
                              f"or give --input {size}")  # fmt: skip
    if asked is None and len(set(sizes.values())) > 1:
        raise CnnzooError(f"the --file files were exported for different input sizes ({', '.join(f'{n}: {s}' for n, s in sizes.items())}): "
                          "time them one size at a time")  # fmt: skip
    return asked if asked is not None else next(iter(sizes.values()), None)


def _print_bench(args: argparse.Namespace, path, timings, prefix: str = "") -> None:
    note = "" if (prefix or args.precision or args.channels_last is not None) else " (the default path on this machine)"
    print(f"{prefix}{path.describe()}{note}")
    for t in timings:
        print(t.line())
    for t in timings[1:]:
        if args.vs and t.label.endswith(f"({args.vs})"):
            print(f"ratio cnnzoo / {args.vs}: {timings[0].median / t.median:.2f}x images/s")
        else:
            print(f"ratio {t.label.split(' (')[0]} / {timings[0].label}: {t.median / timings[0].median:.2f}x images/s")


def _short(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"({len(value)} rows)" if isinstance(value, (tuple, list)) else text[:limit] + "..."

def add_list(sub) -> None:
    p = sub.add_parser("list", help="registered models with their parameters, MACs and paper")
    p.add_argument("pattern", nargs="?", help="substring or wildcard pattern, e.g. resnet or 'vgg*_bn'")
    p.set_defaults(func=cmd_list)

def add_summary(sub) -> None:
    p = sub.add_parser("summary", help="per-layer shapes, parameters, MACs and memory of one model")
    p.add_argument("model")
    p.add_argument("--input", type=int, help="square input size in pixels (default: the model's native size)")
    p.add_argument("--batch", type=int, default=1, help="batch size for the memory figures (default 1)")
    p.add_argument("--depth", type=int, help="sum the layers by the first D parts of their names (2: one row per block)")
    p.add_argument("--by-type", action="store_true", help="one row per layer type (MobileNet's Table 2 view)")
    p.add_argument("--format", choices=("text", "markdown", "csv", "json"), default="text")
    p.add_argument("--nchw", action="store_true", help="shapes as N x C x H x W instead of the lecture's H x W x C")
    p.add_argument("--count", help="also count these as MACs: bias,norm,lrn,act,pool,add,scale or all")
    add_model_option(p, "naive=true (GoogLeNet's naive Inception modules), width_mult=0.5")
    p.set_defaults(func=cmd_summary)

def add_info(sub) -> None:
    p = sub.add_parser("info", help="a model's paper, reference numbers, deviations and options")
    p.add_argument("model")
    p.set_defaults(func=cmd_info)

def add_compare(sub) -> None:
    p = sub.add_parser("compare", help="models side by side: cost, memory, published accuracy, measured speed")
    p.add_argument("models", nargs="*")
    p.add_argument("--all", action="store_true", help="every registered model")
    p.add_argument("--measure", action="store_true", help="also time each model here: latency (batch 1), throughput")
    p.add_argument("--batch", type=int, default=8, help="batch for the throughput column (default 8)")
    p.add_argument("--plot", help="write the Comparing Complexity chart here (PNG), and the ILSVRC timeline beside it")
    p.add_argument("--paper", help="instead: a paper's published tables beside our computed costs (mobilenet, resnext, resnet, "
                   "senet, ilsvrc)")
    p.set_defaults(func=cmd_compare)

def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="time a model on this machine (images/s, GFLOP/s), optionally against its peer")
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--input", type=int, help="square input size (default: the model's native size)")
    p.add_argument("--precision", choices=PRECISIONS, help="default: the fastest safe one here")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--fold-bn", action=argparse.BooleanOptionalAction, default=None, help="fold BatchNorm (inference)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow to start)")
    p.add_argument("--train", action="store_true", help="time a training step (forward, backward, SGD) instead")
    p.add_argument("--vs", choices=("torchvision", "timm"), help="also time the peer's model, interleaved")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--file", nargs="+", help="also time exported files (.onnx, .pt2; an int8 .onnx of `cnnzoo quantize`), interleaved")
    add_engine(p, "engines to time (default auto: every engine this CPU has, side by side; the fastest is remembered "
               "for eval and predict)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.set_defaults(func=cmd_bench)


COMMANDS = (add_list, add_summary, add_info, add_compare, add_bench)
