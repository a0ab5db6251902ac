"""A run another experiment has already trained the same way is taken over, not trained again.

se-cifar's ResNet-20 and ResNet-56, and the ensembles' seed 0, are resnet-cifar's ResNet-20 and ResNet-56 on the
converged schedule: the same model, options, recipe (seed included), data and image limit. Their finished folder
(weights, log, curves, per-image predictions, summary) is copied, with `reused.json` saying from where, and the
results table says so. Only other experiments' sweeps beside this one (`out`'s parent: experiments/) are looked
at, and only finished runs; a second folder of the same experiment is a deliberate re-run and trains its own."""
import json
import os
import shutil
from pathlib import Path

from ..errors import CnnzooError
from ..files.atomic import atomic_write_text
from ..recipes import Recipe
from .definitions import EXPERIMENTS, RunSpec
from .plan import Plan, load_plan

REUSED = "reused.json"
_NOT_COPIED = {"checkpoint.pt", ".lock", REUSED}


def same_run(spec: RunSpec, recipe: dict, plan: Plan, out: Path) -> Path | None:
    """The folder of a finished run of another experiment beside `out` trained exactly as `spec` would be
    under `plan` (model, options, recipe, data, limit), if there is one."""
    recipe = _normal(recipe)
    for other_out in sorted(Path(out).resolve().parent.iterdir()):
        if other_out == Path(out).resolve() or not (other_out / "plan.json").is_file():
            continue
        try:
            other = load_plan(other_out)
        except CnnzooError:
            continue  # a broken plan: nothing to take from it
        if other is None or other.experiment == plan.experiment or other.experiment not in EXPERIMENTS or other.limit != plan.limit:
            continue
        if Path(other.data).expanduser().resolve() != Path(plan.data).expanduser().resolve():
            continue
        for run in EXPERIMENTS[other.experiment].runs:
            folder = other_out / "runs" / run.name
            if ((run.model, run.options) == (spec.model, spec.options) and run.name in other.recipes and _normal(other.recipes[run.name]) == recipe
                    and (folder / "summary.json").is_file() and (folder / "model.safetensors").is_file()):  # fmt: skip
                return folder
    return None


def _normal(recipe: dict) -> dict:
    """A recipe as a plan of today writes it: fields added since then at their defaults, tuples as lists."""
    return json.loads(json.dumps(Recipe.from_dict(recipe).as_dict()))


def take_over(source: Path, folder: Path, experiment: str) -> None:
    """`source`'s files copied into the run folder `folder` (which holds no training of its own yet), all at once."""
    staging = folder.with_name(f".{folder.name}.reuse.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for file in source.iterdir():
        if file.is_file() and not file.is_symlink() and file.name not in _NOT_COPIED and not file.name.endswith(".tmp"):
            shutil.copy2(file, staging / file.name)
            with open(staging / file.name, "rb+") as f:  # on disk before the folder appears: a crash leaves no half-copied run
                os.fsync(f.fileno())
    origin = {"from": f"{source.parent.parent.name}/runs/{source.name}", "experiment": experiment,
              "why": "the same model, options, recipe (seed included), data and image limit"}  # fmt: skip
    atomic_write_text(staging / REUSED, json.dumps(origin, indent=1))
    if folder.exists():
        shutil.rmtree(folder)  # only a recipe.json or a lock of a run that never trained
    staging.rename(folder)


def reused_from(folder: Path) -> str | None:
    """Where a run's folder was taken over from ("resnet-cifar/runs/resnet20"), if it was."""
    file = folder / REUSED
    if not file.is_file():
        return None
    try:
        return str(json.loads(file.read_text())["from"])
    except (ValueError, KeyError, TypeError):
        raise CnnzooError(f"{file} is damaged: remove the run's folder to train it again") from None
