"""`python tests/fault_harness.py ARGS...` runs `cnnzoo ARGS...` with faults the tests inject by
environment variable, in a process of its own (so SIGKILL kills only it); torchrun can start it too.

  FAULT_KILL_AT_STEP=N         SIGKILL this process as step N begins
  FAULT_KILL_SAVE=K            SIGKILL it in the middle of writing the K-th checkpoint (half a file on disk)
  FAULT_KILL_RENAME=K          SIGKILL it after the K-th checkpoint is written, before it replaces the old one
  FAULT_RANK=R                 only in the process of this rank (torchrun)
  FAULT_FIRST_ATTEMPT_ONLY=1   only before torchrun's first restart
"""
import io
import os
import signal
import sys

import torch

import cnnzoo.artifacts.checkpoint
import cnnzoo.files.atomic
import cnnzoo.train.loop
from cnnzoo.cli import main


def _armed() -> bool:
    if "FAULT_RANK" in os.environ and os.environ.get("RANK", "0") != os.environ["FAULT_RANK"]:
        return False
    return not (os.environ.get("FAULT_FIRST_ATTEMPT_ONLY") and os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") != "0")


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _install() -> None:
    if not _armed():
        return
    if "FAULT_KILL_AT_STEP" in os.environ:
        at, lr_factor = int(os.environ["FAULT_KILL_AT_STEP"]), cnnzoo.train.loop.lr_factor

        def dying_lr_factor(recipe, step, *args):
            if step == at:
                _die()
            return lr_factor(recipe, step, *args)

        cnnzoo.train.loop.lr_factor = dying_lr_factor
    saves = {"n": 0}
    if "FAULT_KILL_SAVE" in os.environ:
        k, save = int(os.environ["FAULT_KILL_SAVE"]), torch.save

        def dying_save(obj, f, *args, **kwargs):
            saves["n"] += 1
            if saves["n"] != k:
                return save(obj, f, *args, **kwargs)
            buffer = io.BytesIO()
            save(obj, buffer)
            with open(f, "wb") as out:
                out.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
                out.flush()
                os.fsync(out.fileno())
            _die()

        cnnzoo.artifacts.checkpoint.torch.save = dying_save
    if "FAULT_KILL_RENAME" in os.environ:
        k, replace = int(os.environ["FAULT_KILL_RENAME"]), os.replace

        def dying_replace(src, dst):
            if str(dst).endswith("checkpoint.pt"):
                saves["n"] += 1
                if saves["n"] == k:
                    _die()
            return replace(src, dst)

        cnnzoo.files.atomic.os.replace = dying_replace


if __name__ == "__main__":
    _install()
    sys.exit(main(sys.argv[1:]))
