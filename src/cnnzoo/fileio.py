"""Files that matter are written whole or not at all: to a temporary file beside the target,
flushed to disk, then renamed over it (a rename is atomic on POSIX)."""
import contextlib
import os
import tempfile
from pathlib import Path

from .errors import CnnzooError


class WriteError(CnnzooError):
    """A file could not be written (disk full, no permission); whatever was there before is intact."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path to write; on success it replaces `path`, on failure it is removed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise WriteError(f"cannot write {path}: {e.strerror or e}; choose another folder or fix its permissions") from None
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) or _disk_full(e):
            kept = "the previous file there is unchanged" if path.exists() else "nothing was written"
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e).strip().splitlines()[0]
            raise WriteError(f"cannot write {path}: {reason}; {kept}. Free some space (or fix permissions) and retry") from None
        raise


def _disk_full(e: BaseException) -> bool:
    """torch.save reports a failed write as a RuntimeError from its zip writer."""
    return isinstance(e, RuntimeError) and ("failed writing" in str(e) or "No space left" in str(e))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
