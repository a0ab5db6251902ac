"""`cnnzoo ...`: a thin command line over the library. Each subcommand's parser sits beside its handler (`models`,
`training`, `evaluation`, `deploy`); this module assembles them and maps errors to exit codes. Bad input: one line on
stderr, exit 2."""
import argparse
import contextlib
import os
import re
import signal
import sys
import threading

from ..errors import CnnzooError
from ..runtime.distributed import leave
from . import deploy, evaluation, models, training


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnnzoo", description="The landmark ILSVRC-era CNNs, built as their papers describe them.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (models, training, evaluation, deploy):
        for add in module.COMMANDS:
            add(sub)
    return parser


# library parameters whose flag is named otherwise
ALIASES = {"files": "--file"}


def as_flags(message: str, parser: argparse.ArgumentParser, command: str | None) -> str:
    """A library error names its parameters in backticks (`out`, `num_classes`); on the command line they read as
    the subcommand's flags (--out, --num-classes). A backticked word that is no flag of the command stays as it is."""
    sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
    chosen = sub.choices.get(command) if sub and command else None
    flags = {a.dest: max(a.option_strings, key=len) for a in (chosen._actions if chosen else []) if a.option_strings}
    flags |= {k: v for k, v in ALIASES.items() if v in flags.values()}
    return re.sub(r"`(\w+)`", lambda m: flags.get(m.group(1), m.group(0)), message)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt():
    """A `kill` (SIGTERM) stops a command as Ctrl-C does, so its `finally` blocks run (a sweep's minutes)."""
    if threading.current_thread() is not threading.main_thread():  # handlers can only be set there
        yield
        return
    before = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # recipe overrides may follow the options: `train resnet20 --data digits lr=0.05`
        if getattr(args, "command", None) not in ("train", "reproduce") or not all("=" in e and not e.startswith("-") for e in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    try:
        code = _run(args, parser)
    finally:
        was_distributed = leave()
    if was_distributed:
        end_worker(code)
    return code


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """The subcommand; its exit code."""
    try:
        with sigterm_as_interrupt():
            args.func(args)
    except KeyboardInterrupt:  # training keeps its last checkpoint: `--resume` (reproduce: the same command) goes on
        print("cnnzoo: stopped", file=sys.stderr)
        return 130
    except CnnzooError as e:
        print(f"cnnzoo: error: {as_flags(str(e), parser, getattr(args, 'command', None))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `cnnzoo list | head`
        sys.stderr.close()
    except OSError as e:  # the environment, not the input: a file that vanished, a device that failed
        print(f"cnnzoo: error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}", file=sys.stderr)
        return 1
    return 0


def end_worker(code: int) -> None:
    """A torchrun worker ends here, its files written and its process group destroyed, without the interpreter's
    teardown: objects that outlive the command (DDP keeps its process group) are freed there while gloo's threads
    may still release tensors, which needs the interpreter, and the process aborts now and then ("terminate called
    without an active exception", SIGABRT; pytorch/pytorch#190489). torchrun then reports a finished run as failed."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(ValueError, OSError):  # closed (a broken pipe) or gone
            stream.flush()
    os._exit(code)

if __name__ == "__main__":
    sys.exit(main())
