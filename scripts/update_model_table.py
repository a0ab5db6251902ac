"""Regenerate docs/models.md (the models, family by family) and src/cnnzoo/costs.json from the registry.

    python scripts/update_model_table.py          # rewrite both
    python scripts/update_model_table.py --check  # exit 1 if either is out of date

tests/test_model_table.py runs the same comparison, so neither file can drift from the code. The page
itself is written by scripts/models_doc.py.
"""
import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import cnnzoo
from cnnzoo.analysis.costs import Costs, compute_costs
from models_doc import models_page

ROOT = Path(__file__).resolve().parents[1]
MODELS_PAGE = ROOT / "docs" / "models.md"
COSTS = ROOT / "src" / "cnnzoo" / "costs.json"


def costs_json(costs: dict[str, Costs]) -> str:
    return json.dumps({name: asdict(c) for name, c in costs.items()}, indent=1) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report whether the files are up to date")
    args = parser.parse_args()
    costs = {name: compute_costs(name) for name in cnnzoo.list_models()}
    wanted = {COSTS: costs_json(costs), MODELS_PAGE: models_page(costs)}
    stale = [path for path, text in wanted.items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date: run `make table`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(wanted[path])
        tmp.replace(path)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
