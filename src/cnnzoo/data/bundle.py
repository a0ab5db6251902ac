"""`load_data(spec, options)`: a data spec (a path, `digits`, `synthetic`) to train and val loaders.

  digits              scikit-learn's bundled digits, upscaled to 32x32 (no download)
  synthetic           random images, for benchmarks and plumbing
  <cifar-10-batches-py folder, or a folder holding one>   CIFAR-10's python batches
  <folder>            the ImageNet layouts of folder.py; CIFAR-10 as JPEG folders included

Small images (64x64 or less) are decoded once into memory, at one size (the most common; others are
resized to it, never dropped), and cached on disk under $CNNZOO_CACHE (default ~/.cache/cnnzoo), keyed
by every file's path, size and modification time; larger ones stream through DataLoader workers. Without a
val split (the shared CIFAR-10 has only train), validation is a seeded stratified split of train:
5,000 images for CIFAR-10 as in the ResNet paper, 10% otherwise.
"""
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..files.atomic import atomic_path
from ..runtime.progress import Progress
from .cifar import is_cifar_batches, load_cifar_batches
from .decoding import BadImageError, DecodeStats, decode, skip_or_raise
from .embedded import load_digits, synthetic
from .folder import DataError, ImageList, imagenet_split
from .loaders import MemoryLoader, StreamLoader
from .split import stratified_split
from .transforms import IMAGENET_MEAN, IMAGENET_STD, stream_eval_transform, stream_train_transform

SMALL = 64  # images up to this size are held in memory
MIN_STD = 1 / 255  # the smallest standard deviation images are normalised by: one grey level


@dataclass(frozen=True)
class DataOptions:
    batch_size: int = 128
    eval_batch_size: int = 256
    augment: str = "cifar"
    input_size: int | None = None  # the model's; None: the data's own size
    seed: int = 0  # shuffling and augmentation
    split_seed: int = 0  # the validation split (and the images `limit` keeps): the same whatever `seed`
    val_size: int | float | None = None  # held out of train when there is no val split
    normalize: str = "channel"  # "channel": per-channel mean/std of train; "pixel": per-pixel mean; "imagenet"
    strict: bool = False  # an undecodable image is an error instead of skipped-and-counted
    workers: int = 2
    crops: int = 1  # evaluation crops: 1 or 10
    limit: int | None = None  # keep only this many training images (a stratified subset), for quick runs


@dataclass
class DataBundle:
    train: MemoryLoader | StreamLoader | None  # None: evaluation-only data
    val: MemoryLoader | StreamLoader
    classes: list[str]
    class_names: list[str]
    stats: DecodeStats
    description: str

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def cache_dir() -> Path:
    return Path(os.environ.get("CNNZOO_CACHE", Path.home() / ".cache" / "cnnzoo"))


def cache_key(items: ImageList) -> str:
    """What the decoded pixels depend on: every file's path, size and modification time (ns), and its
    label. A file changed, emptied, added or removed gives another key (one stat per file: 0.16 s for
    CIFAR-10's 50,000 JPEGs on 2 EPYC cores, the folder's scan itself 0.6 s)."""
    digest = hashlib.sha1(f"decoded v2\n{len(items)}\n".encode())
    for path, label in zip(items.paths, items.labels):
        st = os.stat(path)
        digest.update(f"{path}\t{st.st_size}\t{st.st_mtime_ns}\t{label}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _small(items: ImageList) -> bool:
    """Whether the images are small enough to hold in memory, as the first that decodes says."""
    for path in items.paths[:50]:
        try:
            return max(decode(path).size) <= SMALL
        except BadImageError:
            continue
    return False


def decode_all(items: ImageList, strict: bool, stats: DecodeStats) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Every image of a list as one uint8 tensor if they are small (else None: they stream). Images of
    another size than the most common one are resized to it (bilinear, antialiased: the whole image, as
    the in-memory loader scales images for a model) and counted in `stats`, never dropped."""
    if not _small(items):
        return None
    cached = cache_dir() / "decoded" / f"{cache_key(items)}.pt"
    if cached.is_file():
        data = torch.load(cached, weights_only=True)  # tensors only: nothing in the file can run
        stats.resized += int(data.get("resized", 0))
        return data["images"], data["labels"]
    images, labels = [], []
    with Progress(len(items), "decoding", "images") as bar:
        for path, label in zip(items.paths, items.labels):
            try:
                img = decode(path)
            except BadImageError as e:
                skip_or_raise(path, str(e), strict, stats)
            else:
                images.append(torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).view(img.height, img.width, 3))
                labels.append(label)
            bar.update()
    if not images:
        raise DataError(f"none of the {len(items):,} images could be decoded ({stats.summary()})")
    images, resized = _one_size(images)
    stats.resized += resized
    result = torch.stack(images).permute(0, 3, 1, 2).contiguous(), torch.tensor(labels)
    if not stats.total:  # cache only complete decodes: a skipped file might be fixed later
        with atomic_path(cached) as tmp:
            torch.save({"images": result[0], "labels": result[1], "resized": torch.tensor(resized)}, tmp)
    return result


def _one_size(images: list[torch.Tensor]) -> tuple[list[torch.Tensor], int]:
    """H x W x 3 uint8 images all at the most common size; and how many were resized to it."""
    target = Counter(tuple(x.shape[:2]) for x in images).most_common(1)[0][0]
    resized = 0
    for i, x in enumerate(images):
        if tuple(x.shape[:2]) != target:
            scaled = F.interpolate(x.permute(2, 0, 1)[None].float(), size=target, mode="bilinear", antialias=True, align_corners=False)
            images[i] = scaled[0].round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0)
            resized += 1
    return images, resized


def _subset(images, labels, keep: int, seed: int):
    _, idx = stratified_split(labels, keep, seed)
    return images[idx], labels[idx]


@dataclass
class DataSource:
    """Data found and read, before any loader is built: small images decoded into memory (`images`),
    larger ones listed to stream (`files`). A run looks at it (`image_size`) to decide its input size,
    then builds the loaders at that size (`bundle`)."""

    classes: list[str]
    class_names: list[str]
    stats: DecodeStats
    where: str
    images: tuple[torch.Tensor, torch.Tensor] | None = None  # train: uint8 N x C x H x W, labels
    val_images: tuple[torch.Tensor, torch.Tensor] | None = None  # the val split where the data have one
    files: tuple[ImageList, ImageList | None] | None = None  # streamed: train and val (or None)
    paths: list[str] = field(default_factory=list)  # every file the data were read from (none for built-in data)
    root: str = ""  # the folder `paths` are under

    @property
    def image_size(self) -> int | None:
        """The side of the images held in memory; None for streamed data (any size, resized as loaded)."""
        return self.images[0].shape[-1] if self.images is not None else None

    def bundle(self, opts: DataOptions = DataOptions()) -> DataBundle:
        """Training and validation loaders with `opts` (the input size included)."""
        if self.images is not None:
            return _memory_bundle(*self.images, self.val_images, self.classes, self.class_names, self.stats, opts, self.where)
        return _stream_bundle(*self.files, self.stats, opts, self.where)


def open_data(spec: str, strict: bool = False) -> DataSource:
    """Find the data of a spec (a folder, `digits`, `synthetic`) and read what is held in memory."""
    stats = DecodeStats()
    if spec in ("digits", "synthetic"):
        images, labels, names = load_digits() if spec == "digits" else synthetic()
        where = "scikit-learn's digits (1,797 8x8 scans, upscaled)" if spec == "digits" else "synthetic images"
        return DataSource(names, names, stats, where, (images, labels))
    root = Path(spec).expanduser()
    if not root.exists():
        raise DataError(f"no data at {root}: give a dataset folder, 'digits' or 'synthetic'")
    batches = root if is_cifar_batches(root) else root / "cifar-10-batches-py"
    if is_cifar_batches(batches):
        images, labels, names = load_cifar_batches(batches, "train")
        return DataSource(names, names, stats, f"CIFAR-10 python batches at {batches}", (images, labels),
                          paths=[str(batches / f"data_batch_{i}") for i in range(1, 6)], root=str(batches))  # fmt: skip
    train = imagenet_split(root, "train")
    has_val = (root / "val").is_dir() or (root / "ILSVRC" / "Data" / "CLS-LOC" / "val").is_dir()
    val = imagenet_split(root, "val").labelled_by(train.classes, train.class_names, f"the val split of {root}") if has_val else None
    where = f"image folders at {root}"
    paths = train.paths + (val.paths if val is not None else [])
    decoded = decode_all(train, strict, stats)
    if decoded is not None:
        val_decoded = decode_all(val, strict, stats) if val is not None else None
        return DataSource(train.classes, train.class_names, stats, where, decoded, val_decoded, paths=paths, root=str(root))
    return DataSource(train.classes, train.class_names, stats, where, files=(train, val), paths=paths, root=str(root))


def load_data(spec: str, opts: DataOptions = DataOptions()) -> DataBundle:
    """`open_data(spec).bundle(opts)`: the loaders of a data spec in one call."""
    return open_data(spec, opts.strict).bundle(opts)


BUILT_IN = ("digits", "synthetic")  # data that are a name, not a folder


def is_training_data(spec: str | Path) -> bool:
    """Whether `spec` is data a run trains on (it has a training split: `digits`, `synthetic`, CIFAR-10's
    batches, an ImageNet-layout folder with train/), rather than labelled images to evaluate on alone."""
    if str(spec) in BUILT_IN:
        return True
    root = Path(spec).expanduser()
    return (
        is_cifar_batches(root) or is_cifar_batches(root / "cifar-10-batches-py") or (root / "train").is_dir()
        or (root / "ILSVRC" / "Data" / "CLS-LOC" / "train").is_dir()
    )  # fmt: skip


def _split(labels: torch.Tensor, val_size: float, seed: int, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The seeded stratified split, refused where it leaves validation (or training) empty: each class's share
    of a fraction is rounded, so a small fraction of a small folder gives none."""
    train_idx, val_idx = stratified_split(labels, val_size, seed)
    if not len(val_idx) or not len(train_idx):
        empty = "validation" if not len(val_idx) else "training"
        raise DataError(f"val_size {val_size:g} leaves the {empty} split empty ({where} has {len(labels):,} images in "
                        f"{len(torch.unique(labels))} classes, each class's share rounded): give val_size as a count, such as 10")
    return train_idx, val_idx


def _memory_bundle(images, labels, val, classes, names, stats, opts: DataOptions, where: str) -> DataBundle:
    if val is None:
        val_size = opts.val_size or (5000 if len(labels) == 50_000 else 0.1)
        if val_size >= len(labels) or val_size <= 0:
            raise DataError(f"val_size {val_size} leaves no images to train on ({where} has {len(labels):,}); use a fraction such as 0.1")
        train_idx, val_idx = _split(labels, val_size, opts.split_seed, where)
        val = images[val_idx], labels[val_idx]
        images, labels = images[train_idx], labels[train_idx]
        how = f"seeded stratified split of train (seed {opts.split_seed})"
    else:
        how = "the val split"
    if opts.limit and opts.limit < len(labels):
        images, labels = _subset(images, labels, opts.limit, opts.split_seed)
    pixels = images.float() / 255
    if opts.normalize == "imagenet":
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    elif opts.normalize == "pixel":  # the ResNet paper's CIFAR preprocessing: the per-pixel mean subtracted
        mean = pixels.mean(0)
        std = torch.full_like(mean, pixels.std().item())
    else:
        mean, std = pixels.mean((0, 2, 3)), pixels.std((0, 2, 3))
    std = std.clamp_min(MIN_STD)  # a channel that never changes (a flat test set, greyscale as RGB): no division by 0
    common = dict(mean=mean, std=std, size=opts.input_size, seed=opts.seed)
    train = MemoryLoader(images, labels, opts.batch_size, opts.augment, shuffle=True, drop_last=True, **common)
    val_loader = MemoryLoader(*val, opts.eval_batch_size, "none", shuffle=False, drop_last=False, crops=opts.crops, **common)
    description = f"{where}: {len(labels):,} train / {len(val[1]):,} val ({how}), in memory, {len(classes)} classes"
    return DataBundle(train, val_loader, list(classes), list(names), stats, description)


def _stream_bundle(train: ImageList, val: ImageList | None, stats, opts: DataOptions, where: str) -> DataBundle:
    if val is None:
        train_idx, val_idx = _split(torch.tensor(train.labels), opts.val_size or 0.1, opts.split_seed, where)
        pick = lambda idx: ImageList([train.paths[i] for i in idx], [train.labels[i] for i in idx], train.classes, train.class_names)  # noqa: E731
        train, val = pick(train_idx.tolist()), pick(val_idx.tolist())
    size = opts.input_size or 224
    common = dict(seed=opts.seed, workers=opts.workers, strict=opts.strict, stats=stats)
    train_loader = StreamLoader(train, stream_train_transform(opts.augment, size), opts.batch_size, True, True, **common)
    val_loader = StreamLoader(val, stream_eval_transform(size, crops=opts.crops), opts.eval_batch_size, False, False, **common)
    description = f"{where}: {len(train):,} train / {len(val):,} val, streamed by {opts.workers} workers, {len(train.classes)} classes"
    return DataBundle(train_loader, val_loader, train.classes, train.class_names, stats, description)
