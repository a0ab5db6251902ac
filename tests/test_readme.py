"""The README's Python example runs as written."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})


def test_shell_commands_parse():
    """Every concrete `cnnzoo ...` line of the README's shell blocks is accepted by the CLI's parser
    (synopsis lines with [optional] parts or alternatives are skipped)."""
    import shlex

    from cnnzoo.cli import build_parser

    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    lines = [line.split(" #")[0].strip() for block in blocks for line in block.splitlines()]
    commands = [line for line in lines if line.startswith("cnnzoo ") and not any(c in line for c in "[|…")]
    assert len(commands) > 20
    parser = build_parser()
    for command in commands:
        args, extra = parser.parse_known_args(shlex.split(command)[1:])
        # as `main`: recipe overrides may follow the options of `train` and `reproduce`
        assert not extra or (args.command in ("train", "reproduce") and all("=" in e for e in extra)), command
