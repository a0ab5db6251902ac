"""Files that matter are written whole or not at all: to a temporary file beside the target,
flushed to disk, then renamed over it (a rename is atomic on POSIX)."""
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import CnnzooError


class WriteError(CnnzooError):
    """A file could not be written (disk full, no permission); whatever was there before is intact."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path to write; on success it replaces `path` (with the permissions a new file
    gets here: 0666 less the umask), on failure it is removed."""
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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would leave run outputs unreadable to the group
        os.replace(tmp, path)
    except BaseException as e:
        reason = write_failure(e, path.parent)  # before the partial file is removed: a full disk is still full
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if reason is None:
            raise
        kept = "the previous file there is unchanged" if path.exists() else "nothing was written"
        raise WriteError(f"cannot write {path}: {reason}; {kept}. Free some space (or fix permissions) and retry") from None


# what the writers cnnzoo uses say when the disk fills: torch.save's zip writer, safetensors (Rust), Python
_FULL = ("no space left", "disk quota", "file too large", "failed writing", "unexpected pos", "write failed", "os error 28")
LOW_SPACE = 4 * 2**20  # bytes: a folder with less free is full for any file cnnzoo writes


def write_failure(e: BaseException, folder: Path) -> str | None:
    """Why a write failed, if the environment failed it (a full disk, a quota, no permission), as one
    line; None for anything else (a bug, an interrupt), which must propagate as it is. A full disk is
    recognised by the folder's free space as well as by the errors the writers raise, whatever their type."""
    if isinstance(e, OSError):
        return e.strerror or (str(e).strip().splitlines() or [type(e).__name__])[0]
    if not isinstance(e, Exception) or isinstance(e, CnnzooError):  # an interrupt, or a refusal of cnnzoo's own
        return None
    text = str(e).lower()
    if any(marker in text for marker in _FULL) or _free_bytes(folder) < LOW_SPACE:
        return f"No space left on device ({_free_bytes(folder) / 2**20:.1f} MiB free in {folder})"
    return None


def _free_bytes(folder: Path) -> float:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return float("inf")


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it: set, then put it back
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def read_json(path: str | os.PathLike, what: str, kind: type = dict):
    """A JSON file cnnzoo wrote and a person may have edited, as `kind`; one clear error if it cannot be read."""
    import json

    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CnnzooError(f"cannot read {path} ({what}): {str(e).splitlines()[0][:120] if str(e) else type(e).__name__}; "
                          f"fix or remove it") from None  # fmt: skip
    if not isinstance(value, kind):
        raise CnnzooError(f"{path} ({what}) holds a JSON {type(value).__name__}, not the {kind.__name__} cnnzoo wrote: fix or remove it")
    return value
