"""Regenerate the README's model table and src/cnnzoo/costs.json from the registry.

    python scripts/update_model_table.py          # rewrite both
    python scripts/update_model_table.py --check  # exit 1 if either is out of date

tests/test_model_table.py runs the same comparison, so neither file can drift from the code.
"""
import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import cnnzoo
from cnnzoo.analysis.costs import Costs, compute_costs

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
COSTS = ROOT / "src" / "cnnzoo" / "costs.json"
START, END = "<!-- model-table:start -->", "<!-- model-table:end -->"


def costs_json(costs: dict[str, Costs]) -> str:
    return json.dumps({name: asdict(c) for name, c in costs.items()}, indent=1) + "\n"


def markdown_table(costs: dict[str, Costs]) -> str:
    lines = [
        "| model | paper | follows | params | GMACs | input | checked against |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for name, c in costs.items():
        info = cnnzoo.model_info(name)
        checks = []
        if info.params is not None:
            checks.append("params")
        if info.macs is not None:
            checks.append("MACs")
        ref = f"{' + '.join(checks)}: {info.reference}" if checks else ""
        peer = f"outputs: {info.peer}" if info.peer else ""
        checked = "; ".join(x for x in (ref, peer) if x) or "paper tables (tests)"
        lines.append(
            f"| `{name}` | {info.paper.cite()} | {info.follows} | {c.params:,} | {c.macs / 1e9:.3f} "
            f"| {info.input_size} | {checked} |"
        )
    return "\n".join(lines)


def readme_with_table(readme: str, table: str) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only report whether the files are up to date")
    args = parser.parse_args()
    costs = {name: compute_costs(name) for name in cnnzoo.list_models()}
    wanted = {COSTS: costs_json(costs), README: readme_with_table(README.read_text(), markdown_table(costs))}
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
