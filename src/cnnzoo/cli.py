"""`cnnzoo ...`: a thin command line over the library. Bad input: one line on stderr, exit 2."""
import argparse
import sys

from .analysis import Conventions, analyze
from .analysis.costs import model_costs
from .analysis.report import columns, footer, human, layer_records, render, shape_text, totals, type_records
from .analysis.rules import CATEGORIES
from .errors import CnnzooError
from .registry import list_models, model_info


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
    analysis = analyze(args.model, size, args.batch, conventions=_conventions(args.count))
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
    if info.peer:
        lines.append(f"  peer        {info.peer} (outputs checked equal in the tests)")
    lines += [f"  deviation   {d}" for d in info.deviations]
    options = ", ".join(f"{k}={_short(v.default)}" for k, v in info.options().items() if k != "num_classes")
    lines.append(f"  options     {options}")
    print("\n".join(lines))


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
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("info", help="a model's paper, reference numbers, deviations and options")
    p.add_argument("model")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CnnzooError as e:
        print(f"cnnzoo: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `cnnzoo list | head`
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
