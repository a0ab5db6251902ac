"""One process per output folder: a run (`cnnzoo train --out`) or a sweep (`cnnzoo reproduce --out`)
holds an exclusive lock on `FOLDER/.lock` for its whole life; a second process on the same folder is
refused with one line naming the holder.

The lock is the operating system's (flock): it dies with its process, however the process ends, so a
killed run never blocks the next one. The file records who held it; a lock found recorded but not held
is reported as recovered from a dead process."""
import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from ..errors import CnnzooError

LOCK_FILE = ".lock"


class FolderInUseError(CnnzooError):
    """Another live process holds the folder."""


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, what: str = "run", log=print):
    """Hold `folder`'s lock inside the block (creating the folder); FolderInUseError if another process holds it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise CnnzooError(f"cannot write to the {what} folder {folder}: {e.strerror or e}; choose another `out`") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderInUseError(f"{folder} is in use by another cnnzoo {what} ({_describe(_read(fd))}): wait for it to end, "
                                   f"or choose another `out`") from None  # fmt: skip
        previous = _read(fd)
        if previous:  # recorded, yet nobody held it: its process died without releasing (SIGKILL, a crash, a reboot)
            log(f"{folder}: recovered the lock of a {what} that ended without releasing it ({_describe(previous)})")
        _write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}))
        try:
            yield
        finally:
            _write(fd, "")  # released cleanly: nothing to recover (the file stays: removing it would race a waiting opener)
    finally:
        os.close(fd)  # closing releases the lock


def _read(fd: int) -> dict:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        value = json.loads(os.read(fd, 4096) or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}  # a lock file someone wrote over: its holder is unknown


def _write(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, text.encode())


def _describe(holder: dict) -> str:
    if not holder:
        return "process unknown"
    return f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, since {holder.get('since', '?')}"
