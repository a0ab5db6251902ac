"""`cnnzoo ...`: a thin command line over the library. Each subcommand's parser sits beside its handler (`models`,
`training`, `evaluation`, `deploy`); this module assembles them and maps errors to exit codes. Bad input: one line on
stderr, exit 2."""
import argparse
import contextlib
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
        with sigterm_as_interrupt():
            args.func(args)
    except KeyboardInterrupt:  # training keeps its last checkpoint: `--resume` (reproduce: the same command) goes on
        print("cnnzoo: stopped", file=sys.stderr)
        return 130
    except CnnzooError as e:
        print(f"cnnzoo: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `cnnzoo list | head`
        sys.stderr.close()
    except OSError as e:  # the environment, not the input: a file that vanished, a device that failed
        print(f"cnnzoo: error: {e.strerror or e}{': ' + str(e.filename) if e.filename else ''}", file=sys.stderr)
        return 1
    finally:
        leave()
    return 0


if __name__ == "__main__":
    sys.exit(main())
