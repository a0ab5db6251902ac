"""docs/models.md and costs.json are generated from the registry; they must equal what the code computes."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import update_model_table as table  # noqa: E402


def test_costs_json_is_current(computed_costs):
    stored = json.loads(table.COSTS.read_text())
    assert stored == json.loads(table.costs_json(computed_costs)), "run `make table`"


def test_models_page_is_current(computed_costs):
    pytest.importorskip("timm", reason="the page lists timm's published weights")  # part of the dev install
    assert table.MODELS_PAGE.read_text() == table.models_page(computed_costs), "run `make table`"
