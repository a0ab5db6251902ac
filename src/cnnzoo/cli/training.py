"""`cnnzoo train | reproduce`: a run with a paper's recipe, and the lecture's experiments."""
import argparse
import os
from pathlib import Path

from ..analysis.layer_table import (
    columns,
)
from ..errors import CnnzooError
from ..experiments import EXPERIMENTS, get_experiment, reproduce, rewrite_results
from ..experiments.budget import DEFAULT_BUDGET_MINUTES
from ..experiments.plan import CONVERGED_EPOCHS, SWEEP_SCHEDULES
from ..experiments.runner import experiment_costs
from ..recipes import RECIPES, get_recipe
from ..registry import model_info
from ..runtime.machine import machine
from ..train import RunConfig, train
from .common import add_model_option, add_out, model_options


def cmd_train(args: argparse.Namespace) -> None:
    info = model_info(args.model)
    recipe_name = args.recipe or info.recipe
    recipe = get_recipe(recipe_name).parse_overrides(args.overrides)
    options = model_options(args.model_option, info)
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


def cmd_reproduce(args: argparse.Namespace) -> None:
    if args.list or not args.experiment:
        _list_experiments(args.experiment)
        return
    get_experiment(args.experiment)  # an unknown name fails before anything else
    if args.results_only:
        _rewrite(args)
        return
    data = args.data or os.environ.get("CNNZOO_CIFAR10")
    if not data:
        raise CnnzooError("give --data: a CIFAR-10 folder (train/<class>/ JPEGs, or cifar-10-batches-py), or set CNNZOO_CIFAR10")
    result = reproduce(args.experiment, data, args.out, args.epochs, args.schedule, args.runs, args.budget, args.limit,
                       args.overrides, reuse=not args.no_reuse)  # fmt: skip
    if result:
        print(f"results: {Path(args.out or f'experiments/{args.experiment}') / 'results.md'}")


def _rewrite(args: argparse.Namespace) -> None:
    """--results-only: the tables and plots again from the runs there; what would change the training is refused."""
    given = [flag for flag, value in (("--data", args.data), ("--epochs", args.epochs), ("--schedule", args.schedule),
                                      ("--runs", args.runs), ("--limit", args.limit), ("FIELD=VALUE", args.overrides))
             if value]  # fmt: skip
    if given:
        raise CnnzooError(f"--results-only trains nothing and reads the plan's data and recipes (plan.json): drop {', '.join(given)}")
    rewrite_results(args.experiment, args.out)
    print(f"results: {Path(args.out or f'experiments/{args.experiment}') / 'results.md'}")


def _list_experiments(name: str | None) -> None:
    """Each experiment, its runs, and what they cost here: measured minutes per epoch (CIFAR-10's 45k images)."""
    for e in [get_experiment(name)] if name else list(EXPERIMENTS.values()):
        costs = experiment_costs(e)
        print(f"{e.name}: {e.title}\n  {e.paper.cite()}, {e.where}\n  claim: {e.claim}")
        rows = [("run", "model", "paper", "min/epoch", "paper schedule")]
        for s in e.runs:
            minutes, epochs = costs.per_run[s.name]
            rows.append((s.name + (" (optional)" if s.optional else ""), s.model, f"{s.paper.value:.2f}%" if s.paper else "-",
                         f"{minutes:.2f}", f"{epochs:.0f} epochs, {minutes * epochs / 60:.1f} h"))  # fmt: skip
        print("\n".join("  " + line for line in columns(rows, "llrrr").splitlines()))
        print(f"  all default runs: {costs.minutes_per_epoch:.1f} min per epoch here; the converged schedule ({CONVERGED_EPOCHS} "
              f"epochs) {costs.converged_hours:.1f} h; the paper's {costs.paper_hours:.1f} h\n")  # fmt: skip
    print(f"measured on {machine()} (a training step of each run, cached); run one: cnnzoo reproduce NAME --data CIFAR10")


def add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model on a dataset with a paper's recipe (or a short modern one)")
    p.add_argument("model")
    p.add_argument("--data", required=True, help="a dataset folder, a cifar-10-batches-py folder, 'digits' or 'synthetic'")
    p.add_argument("--recipe", help=f"one of {', '.join(RECIPES)} (default: the model's paper's)")
    p.add_argument("overrides", nargs="*", metavar="FIELD=VALUE", help="recipe fields to change, e.g. lr=0.05 epochs=30")
    add_out(p, "the run folder runs/MODEL-DATA-RECIPE")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--restart", action="store_true",
                   help="a run already in --out (on data that changed since, say): set its files aside in --out/replaced-TIME/ and start anew")
    p.add_argument("--auto-resume", action="store_true",
                   help="continue the run in --out if it has a checkpoint, else start it (for torchrun --max-restarts, SLURM requeue)")
    p.add_argument("--init", metavar="WEIGHTS", help="start from pretrained weights: torchvision, timm, keras, a file of theirs, or a cnnzoo run's model.safetensors")
    p.add_argument("--num-classes", type=int, help="with --init: the new classifier's classes (must match the data's)")
    p.add_argument("--dry-run", action="store_true", help="check the model, recipe, data and run folder, print the plan, train nothing")
    add_model_option(p)
    p.add_argument("--fp32", action="store_true", help="plain fp32, whatever the fastest path here")
    p.add_argument("--strict", action="store_true", help="an undecodable image is an error instead of skipped")
    p.add_argument("--limit", type=int, help="train on this many images only (a stratified subset)")
    p.set_defaults(func=cmd_train)

def add_reproduce(sub) -> None:
    p = sub.add_parser("reproduce", help="one of the lecture's experiments: its runs trained, beside the papers' numbers")
    p.add_argument("experiment", nargs="?", help=f"one of {', '.join(EXPERIMENTS)} (none: the list)")
    p.add_argument("--list", action="store_true", help="the experiments, their runs and their measured cost here")
    p.add_argument("--data", help="CIFAR-10: a folder of train/<class>/ images or cifar-10-batches-py (default $CNNZOO_CIFAR10)")
    add_out(p, "the sweep's folder experiments/NAME")
    p.add_argument("--epochs", type=float, help="train every run this many epochs (converged: 30; paper/budget: the paper's "
                   "recipe with its milestones scaled)")
    p.add_argument("--schedule", choices=SWEEP_SCHEDULES, help="converged (default): the short recipe for 30 epochs in every run (a "
                   "deviation from the papers that converges on 2 cores); paper: each paper's recipe and length; budget: the "
                   "paper's recipe scaled to --budget minutes")  # fmt: skip
    p.add_argument("--budget", type=float, default=DEFAULT_BUDGET_MINUTES,
                   help=f"minutes for the whole sweep with --schedule budget (default {DEFAULT_BUDGET_MINUTES:g})")
    p.add_argument("--runs", nargs="+", help="only these runs (optional ones, such as resnet1202, only when named)")
    p.add_argument("--limit", type=int, help="train on this many images only (a quick check)")
    p.add_argument("--no-reuse", action="store_true", help="train every run here, even one another experiment has finished with "
                   "the same model, recipe and data (by default it is taken over: se-cifar's resnet20 is resnet-cifar's)")
    p.add_argument("--results-only", action="store_true", help="write results.md, results.json and the plots again from the "
                   "runs in the sweep's folder (trained here or elsewhere), training nothing")
    p.add_argument("overrides", nargs="*", metavar="FIELD=VALUE", help="recipe fields to change in every run, e.g. val_size=0.1")
    p.set_defaults(func=cmd_reproduce)


COMMANDS = (add_train, add_reproduce)
