"""Many processes with PyTorch's own engine: torchrun starts them, DistributedDataParallel averages
the gradients (NCCL on CUDA, gloo on the CPU).

    torchrun --nproc_per_node=N -m cnnzoo train MODEL --data D ...

`batch_size` is the global batch: each of the N processes takes every N-th image of it, as
DistributedSampler deals an epoch's permutation. So the batches, their augmentation and the
learning rate are those of a one-process run with the same batch. Rank 0 alone logs, draws the
progress bar and writes checkpoints; every rank resumes from the same checkpoint file (the run
folder must be on a file system all nodes see).
"""
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import CnnzooError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def shard(self, n: int) -> slice:
        """This rank's rows of a batch of `n`: every size-th, from its rank (a DistributedSampler's deal)."""
        return slice(self.rank, n, self.size)

    def sum(self, *values: float) -> list[float]:
        """Each value summed over the ranks (float64: counts stay exact)."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t)
        return t.tolist()

    def sum_tensor(self, t: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            dist.all_reduce(t)
        return t

    def gather(self, obj) -> list:
        """One picklable object from each rank, on every rank (rank order)."""
        if not self.distributed:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()


SINGLE = World()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def join(device: str, timeout_minutes: float = 30) -> tuple[World, str]:
    """Join the process group torchrun set up (a no-op for one process); returns the world and this
    rank's device (`cuda:LOCAL_RANK` on GPUs)."""
    if not launched_by_torchrun():
        return SINGLE, device
    world = World(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")))
    if device.startswith("cuda"):
        if world.local_rank >= torch.cuda.device_count():
            raise CnnzooError(
                f"local rank {world.local_rank} has no GPU ({torch.cuda.device_count()} here): "
                "start at most one process per GPU (--nproc_per_node)"
            )
        device = f"cuda:{world.local_rank}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        timeout = datetime.timedelta(minutes=timeout_minutes)
        store = _store_of_this_attempt(world, timeout)
        dist.init_process_group(backend, store=store, rank=world.rank, world_size=world.size, timeout=timeout)
    return world, device


def _store_of_this_attempt(world: World, timeout: datetime.timedelta) -> dist.Store:
    """torchrun's key-value store outlives a restart of the workers (--max-restarts), and so do the
    keys the last attempt's process group left in it: a restarted rank can read a dead peer's address
    and wait for it forever. So each attempt gets keys of its own. Every rank counts itself in once;
    the count says which attempt this is, the same on every node (torchrun's restart counter is
    per node, and a healthy node's does not move)."""
    store, _, _ = next(dist.rendezvous("env://", rank=world.rank, world_size=world.size, timeout=timeout))
    attempt = (store.add("cnnzoo/joined", 1) - 1) // world.size
    return dist.PrefixStore(f"cnnzoo/attempt-{attempt}", store)


def leave() -> bool:
    """Destroy the process group this process joined; whether there was one."""
    if not dist.is_initialized():
        return False
    dist.destroy_process_group()
    return True
