"""Loaders that can resume at any batch: the order and the augmentation of every batch are a pure
function of (seed, epoch, batch index), so a run restarted mid-epoch sees exactly the batches the
uninterrupted run would have.

  MemoryLoader  a uint8 tensor of the whole dataset, augmented a batch at a time (CIFAR-sized data:
                the two cores go to the model, not to re-decoding JPEGs)
  StreamLoader  image files decoded by DataLoader workers (ImageNet-sized data)

Under torchrun each process is handed its share of every batch (`world`): rank r takes every N-th
row, so the N shares together are exactly the one-process batch, augmentation included.
"""
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from ..runtime.distributed import SINGLE, World
from .decoding import BadImageError, DecodeStats, decode, skip_or_raise
from .folder import ImageList
from .transforms import augment_batch, cutout_mask, tensor_crops


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from integers (seed, epoch, batch...), stable across runs and processes."""
    digest = hashlib.blake2b(",".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass
class Batch:
    images: torch.Tensor  # float, normalised; N x C x H x W (or N x crops x C x H x W)
    labels: torch.Tensor
    skipped: int = 0  # samples of this batch that could not be decoded


class Loader(Protocol):
    """What training and evaluation ask of a loader, whichever kind it is."""

    batch_size: int

    def __len__(self) -> int: ...  # batches per epoch

    @property
    def num_samples(self) -> int: ...  # images per epoch

    @property
    def num_images(self) -> int: ...  # images it holds (an epoch may leave a last partial batch out)

    @property
    def normalization(self) -> dict | str: ...  # as a run records it: {"mean": ..., "std": ...} or "imagenet"

    def batches(self, epoch: int = 0, start: int = 0, world: World = SINGLE) -> Iterator[Batch]: ...

    def relabel(self, new_index: list[int]) -> None: ...  # label i becomes new_index[i]


class MemoryLoader:
    def __init__(
        self,
        images: torch.Tensor,  # uint8 N x C x H x W
        labels: torch.Tensor,
        batch_size: int,
        augment: str = "none",
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        size: int | None = None,  # the model's input: batches are resized when the data differ
        mean: torch.Tensor | None = None,  # C (per channel) or C x H x W (per pixel), in 0..1 units
        std: torch.Tensor | None = None,
        crops: int = 1,
    ):
        self.images, self.labels = images, labels
        self.batch_size, self.augment, self.shuffle, self.drop_last = batch_size, augment, shuffle, drop_last
        self.seed, self.size, self.crops = seed, size, crops
        self.mean = (mean if mean is not None else torch.full((images.shape[1],), 0.5)).float()
        self.std = (std if std is not None else torch.full((images.shape[1],), 0.25)).float()

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self) * self.batch_size if self.drop_last else len(self.labels)

    @property
    def num_images(self) -> int:
        return len(self.labels)

    def in_order(self, batch_size: int = 500) -> "MemoryLoader":
        """These images once each, in order, unaugmented (a clean pass over the training images)."""
        return MemoryLoader(self.images, self.labels, batch_size, "none", shuffle=False, drop_last=False, seed=self.seed,
                            size=self.size, mean=self.mean, std=self.std)  # fmt: skip

    @property
    def normalization(self) -> dict:
        """The training data's statistics the images are normalised with (per channel, or per pixel)."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean, self.std
        if mean.dim() == 1:
            mean, std = mean.view(-1, 1, 1), std.view(-1, 1, 1)
        x = x.float() / 255
        size = self.size or x.shape[-1]
        if self.crops > 1 and x.shape[-2:] == (size, size):  # whole small images: black padding, as in training
            return (tensor_crops(x, size, self.crops) - mean) / std
        x = (x - mean) / std  # before any resize: a per-pixel mean has the images' own size
        if self.crops > 1:
            return tensor_crops(x, size, self.crops)
        if x.shape[-1] != size or x.shape[-2] != size:  # small images for a bigger net: scale them up whole
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x

    def relabel(self, new_index: list[int]) -> None:
        """Label i becomes new_index[i] (a dataset's classes mapped to a model's)."""
        self.labels = torch.tensor(new_index, dtype=torch.long)[self.labels]

    def batches(self, epoch: int = 0, start: int = 0, world: World = SINGLE) -> Iterator[Batch]:
        n = len(self.labels)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(derived_seed(self.seed, epoch))) if self.shuffle else torch.arange(n)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            erase = None
            if self.augment == "none":
                idx = idx[world.shard(len(idx))]
                x = self.images[idx]
            else:  # the whole batch's augmentation, then this rank's rows: the same images as one process sees
                generator = torch.Generator().manual_seed(derived_seed(self.seed, epoch, b))
                x = augment_batch(self.images[idx], self.augment, generator)
                if self.augment == "cutout":  # on the model's input, once normalised (0: the data's mean)
                    erase = cutout_mask(len(idx), *((self.size, self.size) if self.size else x.shape[-2:]), generator)
                rows = world.shard(len(idx))
                x, idx = x[rows], idx[rows]
            if len(idx):
                x = self._normalise(x)
                if erase is not None:
                    x = x.masked_fill(erase[rows], 0)
                yield Batch(x, self.labels[idx])


class _Files(Dataset):
    """Image files through a transform; a file that cannot be decoded comes back as (None, path, reason)."""

    def __init__(self, items: ImageList, transform, seed: int, strict: bool):
        self.items, self.transform, self.seed, self.strict = items, transform, seed, strict
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        path = self.items.paths[i]
        try:
            img = decode(path)
        except BadImageError as e:
            if self.strict:
                raise BadImageError(f"cannot decode {path}: {e}; fix or remove the file, or run without `strict`") from None
            return None, path, str(e)
        # this sample's augmentation, whichever worker runs it and whenever the epoch was resumed
        torch.manual_seed(derived_seed(self.seed, self.epoch, i))
        random.seed(derived_seed(self.seed, self.epoch, i, 1))
        return self.transform(img), self.items.labels[i], None


def _collate(samples):
    good = [s for s in samples if s[0] is not None]
    skipped = [(s[1], s[2]) for s in samples if s[0] is None]
    if not good:
        return None, skipped
    return (torch.stack([s[0] for s in good]), torch.tensor([s[1] for s in good])), skipped


class StreamLoader:
    def __init__(
        self,
        items: ImageList,
        transform,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
        workers: int = 2,
        strict: bool = False,
        stats: DecodeStats | None = None,
    ):
        self.items, self.batch_size, self.shuffle, self.drop_last = items, batch_size, shuffle, drop_last
        self.seed, self.workers = seed, workers
        self.stats = stats if stats is not None else DecodeStats()
        self.dataset = _Files(items, transform, seed, strict)

    def __len__(self) -> int:
        n = len(self.items)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self) * self.batch_size if self.drop_last else len(self.items)

    @property
    def num_images(self) -> int:
        return len(self.items)

    @property
    def normalization(self) -> str:
        return "imagenet"  # streamed images are normalised by their transforms, with ImageNet's mean/std

    def relabel(self, new_index: list[int]) -> None:
        """Label i becomes new_index[i] (a dataset's classes mapped to a model's)."""
        labels = [new_index[label] for label in self.items.labels]
        self.items = self.dataset.items = ImageList(self.items.paths, labels, self.items.classes, self.items.class_names)

    def batches(self, epoch: int = 0, start: int = 0, world: World = SINGLE) -> Iterator[Batch]:
        n = len(self.items)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(derived_seed(self.seed, epoch))) if self.shuffle else torch.arange(n)
        self.dataset.epoch = epoch
        shares = (order[b * self.batch_size : (b + 1) * self.batch_size] for b in range(start, len(self)))
        shares = [share[world.shard(len(share))].tolist() for share in shares]
        loader = DataLoader(
            self.dataset,
            batch_sampler=[share for share in shares if share],
            num_workers=self.workers,
            collate_fn=_collate,
            persistent_workers=False,
        )
        for batch, skipped in loader:
            for path, reason in skipped:
                skip_or_raise(path, reason, False, self.stats)
            if batch is not None:
                yield Batch(batch[0], batch[1], len(skipped))
