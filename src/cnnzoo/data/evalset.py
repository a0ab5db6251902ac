"""Evaluation-only data for an ImageNet classifier: the validation images alone (no train folder),
fed as the weights' authors fed them, with labels in the classifier's 1000-class index order.

  <root>               an ImageNet root in any layout of folder.py: its val split is used
  <root>/val           or any folder of class folders, e.g. the val images sorted by valprep.sh
  a subset             class folders named by WordNet id (n01440764, ...) map to their ImageNet
                       index, so 10 classes of ImageNet are scored against all 1000 outputs
"""
from functools import cache
from importlib import resources
from pathlib import Path

import torch

from .bundle import DataBundle
from .decoding import DecodeStats
from .folder import DataError, ImageList, imagenet_split, scan_class_folders
from .loaders import StreamLoader
from .preprocessing import Preprocessing
from .split import stratified_split


@cache
def imagenet_wnids() -> tuple[str, ...]:
    text = resources.files("cnnzoo.data").joinpath("imagenet_wnids.txt").read_text()
    return tuple(line for line in text.splitlines() if line and not line.startswith("#"))


def _val_images(root: Path) -> tuple[ImageList, str]:
    layouts = (root / "val", root / "ILSVRC" / "Data" / "CLS-LOC" / "val")
    if any(p.is_dir() for p in layouts):
        return imagenet_split(root, "val"), f"the val split of {root}"
    if root.is_dir() and any(p.is_dir() for p in root.iterdir()):
        return scan_class_folders(root), f"class folders at {root}"
    raise DataError(
        f"{root} is neither an ImageNet root (with val/) nor a folder of class folders: give the folder "
        f"holding val/, or the val folder itself sorted into <wnid>/ folders"
    )


def _to_outputs(images: ImageList, outputs: list[str]) -> list[int]:
    """Each image's label as an index into the classifier's outputs."""
    index = {c: i for i, c in enumerate(outputs)}
    if all(c in index for c in images.classes):
        return [index[images.classes[label]] for label in images.labels]
    if len(images.classes) == len(outputs):  # same number of classes, other names: sorted order, as ImageFolder
        return list(images.labels)
    unknown = next(c for c in images.classes if c not in index)
    raise DataError(
        f"class folder {unknown!r} is not an ImageNet class and the data have {len(images.classes)} classes, "
        f"not the classifier's {len(outputs)}: name the class folders by WordNet id (n01440764, ...)"
    )


def load_eval_data(spec: str | Path, prep: Preprocessing, outputs: list[str], class_names: list[str], crops: int = 1,
                   batch_size: int = 50, workers: int = 2, strict: bool = False, limit: int | None = None) -> DataBundle:  # fmt: skip
    """The validation images of `spec` through `prep`, labelled by the index of their class in `outputs`
    (a bundle with no train loader)."""
    root = Path(spec).expanduser()
    if not root.exists():
        raise DataError(f"no data at {root}: give an ImageNet folder (holding val/) or a folder of class folders")
    images, where = _val_images(root)
    labels = _to_outputs(images, outputs)
    if limit is not None and limit < len(labels):  # a stratified subset: every class keeps its share
        _, keep = stratified_split(torch.tensor(labels), limit, seed=0)
        keep = keep.tolist()
        images = ImageList([images.paths[i] for i in keep], [images.labels[i] for i in keep], images.classes, images.class_names)
        labels = [labels[i] for i in keep]
    items = ImageList(images.paths, labels, list(outputs), list(class_names))
    stats = DecodeStats()
    loader = StreamLoader(items, prep.transform(crops), batch_size, shuffle=False, drop_last=False, workers=workers,
                          strict=strict, stats=stats)  # fmt: skip
    subset = f" ({len(images.classes)} of its {len(outputs)} classes)" if len(images.classes) != len(outputs) else ""
    return DataBundle(None, loader, list(outputs), list(class_names), stats, f"{where}: {len(items):,} images{subset}")
