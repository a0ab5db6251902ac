"""The README's model table and costs.json are generated; they must equal what the code computes."""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import update_model_table as table  # noqa: E402


def test_costs_json_is_current(computed_costs):
    stored = json.loads(table.COSTS.read_text())
    assert stored == json.loads(table.costs_json(computed_costs)), "run `make table`"


def test_readme_table_is_current(computed_costs):
    readme = table.README.read_text()
    assert readme == table.readme_with_table(readme, table.markdown_table(computed_costs)), "run `make table`"
