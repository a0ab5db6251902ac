"""Parameters and MACs of every registered model, as docs/models.md and `cnnzoo list` show them.

Counting all models on meta tensors takes half a minute, so the numbers are stored in
costs.json by `make table` (scripts/update_model_table.py); a test recomputes them, so the
file cannot drift from the code. A model missing from the file is counted on the spot.
"""
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..factory import meta_model
from ..registry import model_info
from .counting import count_macs, count_params


@dataclass(frozen=True)
class Costs:
    params: int  # without auxiliary heads (they only run in training)
    macs: int  # conv + linear, one image at the native input size


def compute_costs(name: str) -> Costs:
    info = model_info(name)
    model = meta_model(name, **info.reference_options)
    return Costs(count_params(model), count_macs(model, info.input_size))


@cache
def _stored() -> dict[str, dict[str, int]]:
    try:
        return json.loads(resources.files(__package__.rsplit(".", 1)[0]).joinpath("costs.json").read_text())
    except FileNotFoundError:
        return {}


def model_costs(name: str) -> Costs:
    stored = _stored().get(name)
    return Costs(**stored) if stored else compute_costs(name)
