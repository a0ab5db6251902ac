"""A sweep's plan: what `cnnzoo reproduce` trains, fixed at its first invocation in `out/plan.json` so that a
resumed sweep (or another experiment taking over one of its runs) reads the same runs and recipes."""

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CnnzooError
from ..files.atomic import read_json
from ..recipes import Recipe

SWEEP_SCHEDULES = ("converged", "paper", "budget")
# The sweeps' default: the `short` recipe (Nesterov SGD, a one-epoch warm-up, then a linear fall to zero; label
# smoothing) for 30 epochs, in every run of an experiment. A deviation from the papers, named in every results.md:
# the claims compare architectures under one recipe that converges on 2 cores, where the papers' 164-300 epochs
# do not fit. ResNet-20 reached 13.14% with it, the 183-epoch paper-recipe run 12.46% (docs/experiments.md).
CONVERGED_RECIPE, CONVERGED_EPOCHS = "short", 30
CONVERGED_KEEPS = ("augment", "normalize", "val_size", "split_seed", "input_size")  # the experiment's data, as the paper had it


@dataclass
class Plan:
    """What a sweep trains: fixed at its first invocation, so that a resumed sweep trains the same runs."""

    experiment: str
    data: str
    schedule: str  # "converged", "paper", "epochs" (the paper's recipe scaled), or "budget"
    epochs: float | None  # the runs' length; None: each recipe's own (the paper's)
    budget_minutes: float | None
    runs: list[str]
    recipes: dict[str, dict]  # run -> the recipe it trains with
    limit: int | None
    machine: str
    overrides: list[str] = field(default_factory=list)  # the user's FIELD=VALUE changes to every run's recipe

    def describe(self) -> str:
        if self.schedule == "paper":
            return "the paper's schedule"
        what = f"{self.epochs:g} epoch{'' if self.epochs == 1 else 's'} each"
        if self.schedule == "converged":
            return f"the {CONVERGED_RECIPE} recipe for {what}, in every run (not the papers' schedule)"
        return f"{what}, a budget of {self.budget_minutes:g} minutes here" if self.schedule == "budget" else what


def load_plan(out: Path) -> Plan | None:
    file = out / "plan.json"
    if not file.is_file():
        return None
    try:
        plan = Plan(**read_json(file, "a sweep's plan"))
    except TypeError as e:
        raise CnnzooError(f"{file} is not a plan of `cnnzoo reproduce` ({e}): remove it, or choose another `out`") from None
    typed = {"experiment": str, "data": str, "schedule": str, "runs": list, "recipes": dict, "machine": str, "overrides": list}
    for name, kind in typed.items():
        if not isinstance(getattr(plan, name), kind):
            raise CnnzooError(f"{file}: {name} must be a JSON {kind.__name__}, not {getattr(plan, name)!r}: fix it, or remove the plan")
    optional = {"epochs": (int, float), "budget_minutes": (int, float), "limit": int}
    for name, kind in optional.items():
        value = getattr(plan, name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool) or value <= 0):
            raise CnnzooError(f"{file}: {name} must be a positive number or null, not {value!r}: fix it, or remove the plan")
    needs = {"converged": "epochs", "epochs": "epochs", "budget": "budget_minutes", "paper": None}
    if plan.schedule not in needs:
        raise CnnzooError(f"{file}: schedule must be one of {', '.join(needs)}, not {plan.schedule!r}: fix it, or remove the plan")
    if needs[plan.schedule] and getattr(plan, needs[plan.schedule]) is None or plan.schedule == "budget" and plan.epochs is None:
        raise CnnzooError(f"{file}: a {plan.schedule} plan needs its {needs[plan.schedule]} and epochs: fix it, or remove the plan")
    missing = [run for run in plan.runs if not isinstance(run, str) or run not in plan.recipes]
    if missing:
        raise CnnzooError(f"{file}: run {missing[0]!r} has no recipe in the plan: fix it, or remove the plan")
    for run, recipe in plan.recipes.items():
        try:
            Recipe.from_dict(recipe).validated()
        except (CnnzooError, TypeError, AttributeError) as e:
            raise CnnzooError(f"{file}: the recipe of run {run!r} is not valid ({e}): fix it, or remove the plan") from None
    return plan
