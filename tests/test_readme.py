"""The README and the pages of docs/ say what the code does: every ```python block runs as written, every
concrete `cnnzoo ...` line of a ```sh block is accepted by the CLI's parser, every `cnnzoo` import in any
block resolves, and every relative link (and its #anchor) points at something that exists."""
import importlib
import json
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^[ \t]*```(\w*)\n(.*?)^[ \t]*```", re.S | re.M)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)\)")


def blocks(page: Path, language: str | None = None) -> list[str]:
    return [body for lang, body in FENCE.findall(page.read_text()) if language is None or lang == language]


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings (code blocks are not headings)."""
    seen: dict[str, int] = {}
    found = set()
    for line in FENCE.sub("", page.read_text()).splitlines():
        m = re.match(r"#{1,6} +(.*)", line)
        if not m:
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        found.add(slug if n == 0 else f"{slug}-{n}")
    return found


PYTHON_BLOCKS = [(page, i) for page in PAGES for i, _ in enumerate(blocks(page, "python"))]


def test_every_page_is_checked():
    assert (ROOT / "README.md") in PAGES and len(PAGES) > 10
    assert len(PYTHON_BLOCKS) >= 3


@pytest.mark.parametrize("page, index", PYTHON_BLOCKS, ids=[f"{page_id(p)}-{i}" for p, i in PYTHON_BLOCKS])
def test_python_examples_run(page, index, monkeypatch):
    """Each ```python block runs as written, from the repository root (the examples use its paths).
    Examples that train or need data are ```text blocks: their imports are checked below."""
    monkeypatch.chdir(ROOT)
    exec(compile(blocks(page, "python")[index], f"{page_id(page)} (python block {index})", "exec"), {})


def test_imports_in_examples_resolve():
    """Every `from cnnzoo... import ...` / `import cnnzoo...` line of any block, run or not, names what exists."""
    lines = [(page, line.strip()) for page in PAGES for block in blocks(page) for line in block.splitlines()]
    imports = [(p, s) for p, s in lines if re.match(r"(from cnnzoo[\w.]* import |import cnnzoo)", s)]
    assert len(imports) >= 8
    for page, statement in imports:
        m = re.match(r"from (\S+) import (.+)", statement)
        module = importlib.import_module(m.group(1) if m else statement.split()[1].split(",")[0])
        for name in (m.group(2).split("#")[0].strip("() ").split(",") if m else []):
            name = name.split(" as ")[0].strip()
            assert name and hasattr(module, name), f"{page_id(page)}: {statement}: no {name!r} in {module.__name__}"


def test_shell_commands_parse():
    """Every concrete `cnnzoo ...` line of the pages' ```sh blocks is accepted by the CLI's parser
    (synopsis lines with [optional] parts or alternatives are skipped)."""
    from cnnzoo.cli import build_parser

    parser = build_parser()
    commands = []
    for page in PAGES:
        lines = [line.split(" #")[0].strip() for block in blocks(page, "sh") for line in block.splitlines()]
        commands += [(page, c) for c in lines if c.startswith("cnnzoo ") and not any(ch in c for ch in "[|…")]
    assert len(commands) > 40
    for page, command in commands:
        try:
            args, extra = parser.parse_known_args(shlex.split(command)[1:])
        except SystemExit:
            pytest.fail(f"{page_id(page)}: the parser refuses {command!r}")
        # as `main`: recipe overrides may follow the options of `train` and `reproduce`
        ok = not extra or (args.command in ("train", "reproduce") and all("=" in e for e in extra))
        assert ok, f"{page_id(page)}: {command}"


def test_the_readmes_synopsis_names_every_option_of_every_subcommand():
    """The README's "Every subcommand" block against the parser: each subcommand has a line, and each of its
    long options appears on that subcommand's lines (`--[no-]X` names --X and --no-X)."""
    import argparse

    from cnnzoo.cli import build_parser

    readme = (ROOT / "README.md").read_text()
    block = next(b for b in blocks(ROOT / "README.md", "sh") if b.startswith("cnnzoo list [PATTERN]"))
    assert "Every subcommand:" in readme
    lines: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        if line.startswith("cnnzoo "):
            current = line.split()[1]
        lines[current] = lines.get(current, "") + " " + re.sub(r"--\[no-\](\S+?)\]", r"--\1] [--no-\1]", line.split(" # ")[0])
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, parser in sub.choices.items():
        if name not in lines:
            missing.append(f"cnnzoo {name} (no line)")
            continue
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help" and not re.search(re.escape(flag) + r"(?![\w-])", lines[name]):
                    missing.append(f"cnnzoo {name} {flag}")
    assert not missing, "the README's synopsis lacks: " + ", ".join(missing)


def test_relative_links_exist():
    """Every relative link and image of the README and docs/ names a file (or folder) that exists, and a
    #fragment names a heading of the page it points at."""
    broken = []
    for page in PAGES:
        for target in LINK.findall(FENCE.sub("", page.read_text())):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            path, _, fragment = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            if not file.exists():
                broken.append(f"{page_id(page)}: {target} (no such file)")
            elif fragment and file.suffix == ".md" and fragment not in anchors(file):
                broken.append(f"{page_id(page)}: {target} (no heading #{fragment})")
    assert not broken, "\n".join(broken)


def test_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 300
    docs = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    missing = [name for name in docs if f"(docs/{name})" not in readme]
    assert not missing, f"the README's Documentation list lacks {missing}"


def verdict_rows() -> list[tuple[str, list[str]]]:
    """The README's verdicts table: (experiment, cells) for each claim; a row with no experiment continues the last."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| experiment | claim |"):].split("\n\n", 1)[0].splitlines()[2:]  # past header and rule
    rows, experiment = [], None
    for line in table:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 6, f"a row of the verdicts table with {len(cells)} cells: {line}"
        experiment = re.match(r"\[?([\w-]+)", cells[0]).group(1) if cells[0] else experiment
        rows.append((experiment, cells))
    return rows


def test_the_readme_verdicts_are_the_results_files():
    """Each claim the README judges is a check of its experiment's results.json, with the same two errors,
    difference, interval and verdict: the table cannot drift from what the sweeps wrote."""
    judged = 0
    for experiment, (_, _, _, ours, difference, verdict) in verdict_rows():
        m = re.fullmatch(r"([+-]\d+\.\d\d) \[([+-]\d+\.\d\d), ([+-]\d+\.\d\d)\]", difference)
        if not m:
            assert verdict == "not judged yet" and not difference, f"{experiment}: a verdict without its interval: {difference!r} {verdict!r}"
            continue
        checks = json.loads((ROOT / "experiments" / experiment / "results.json").read_text())["checks"]
        judged_checks = [c for c in checks if c["difference"] is not None]  # a claim not judged yet has no interval
        same = [c for c in judged_checks if [f"{c[k]:+.2f}" for k in ("difference", "low", "high")] == list(m.groups())]
        assert same, f"{experiment}: no check of results.json has {difference}"
        (check,) = same
        assert verdict.strip("*") == check["verdict"], f"{experiment}, {check['claim']}: README {verdict}, results.json {check['verdict']}"
        assert ours == "{:.2f} vs {:.2f}%".format(*check["values"]), f"{experiment}, {check['claim']}: README {ours}, values {check['values']}"
        judged += 1
    assert judged >= 10, f"only {judged} judged claims found in the README's table: is the table still parsed?"
