"""What a run trained on, file by file: each data file's path, size and modification time, kept in the
run's checkpoints so that a resume can tell whether the data changed under it (an added image moves
the seeded validation split; a removed one shortens the epoch the checkpoint's position counts in).

Paths are kept as 64-bit hashes (8 bytes a file: 0.4 MB for CIFAR-10's 50,000 images)."""
import hashlib
import os
from dataclasses import dataclass

import torch


def _hash(path: str) -> int:
    return int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "little", signed=True)


@dataclass
class DataFiles:
    """The files of a data spec, sorted by path hash: hash, size, modification time (ns)."""

    paths: torch.Tensor  # int64
    sizes: torch.Tensor
    mtimes: torch.Tensor

    @classmethod
    def of(cls, paths: list[str], root: str | os.PathLike) -> "DataFiles":
        """The files `paths`, named relative to the data's `root` (the same data under another path, or on
        another machine, is the same data)."""
        rows = []
        for p in paths:
            st = os.stat(p)
            rows.append((_hash(os.path.relpath(p, root)), st.st_size, st.st_mtime_ns))
        rows.sort()
        t = torch.tensor(rows, dtype=torch.int64).reshape(-1, 3)
        return cls(t[:, 0].contiguous(), t[:, 1].contiguous(), t[:, 2].contiguous())

    def state(self) -> dict:
        return {"paths": self.paths, "sizes": self.sizes, "mtimes": self.mtimes}

    @classmethod
    def from_state(cls, state: dict) -> "DataFiles":
        return cls(state["paths"], state["sizes"], state["mtimes"])

    def changes(self, now: "DataFiles") -> dict[str, int]:
        """Counts of files added, removed, modified (another size) and touched (same size, another mtime)
        in `now` against these."""
        before = dict(zip(self.paths.tolist(), zip(self.sizes.tolist(), self.mtimes.tolist())))
        after = dict(zip(now.paths.tolist(), zip(now.sizes.tolist(), now.mtimes.tolist())))
        common = before.keys() & after.keys()
        modified = sum(before[k][0] != after[k][0] for k in common)
        touched = sum(before[k][0] == after[k][0] and before[k][1] != after[k][1] for k in common)
        return {"added": len(after.keys() - before.keys()), "removed": len(before.keys() - after.keys()), "modified": modified,
                "touched": touched}  # fmt: skip
