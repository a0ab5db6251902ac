"""Evaluation-only data: labelled images alone (no train folder), fed as the classifier wants them,
with labels in the classifier's own index order.

  <root>               an ImageNet root in any layout of folder.py: its val split is used
  <root>/val           or any folder of class folders, e.g. the val images sorted by valprep.sh,
                       or a test split of a user's own classes
  a subset             class folders map to their class by name (an ImageNet classifier's by
                       WordNet id, n01440764, ...; a cnnzoo run's by its class folder names), so
                       10 classes of ImageNet are scored against all 1000 outputs
"""
from functools import cache
from importlib import resources
from pathlib import Path

import torch

from .bundle import DataBundle
from .decoding import DecodeStats
from .folder import DataError, ImageList, imagenet_split, scan_class_folders
from .loaders import StreamLoader
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


def _to_outputs(images: ImageList, outputs: list[str], aliases: list[str] | None, by_order: bool) -> list[int]:
    """Each image's label as an index into the classifier's outputs, by the name of its class folder
    (an output's name, or its alias: a human-readable class name)."""
    unique = [] if by_order or not aliases else [c for c in aliases if aliases.count(c) == 1]  # "crane" names two classes
    index = {c: aliases.index(c) for c in unique} | {c: i for i, c in enumerate(outputs)}
    if all(c in index for c in images.classes):
        return [index[images.classes[label]] for label in images.labels]
    if by_order and len(images.classes) == len(outputs):  # same number of classes, other names: sorted order, as ImageFolder
        return list(images.labels)
    unknown = next(c for c in images.classes if c not in index)
    if by_order:
        raise DataError(
            f"class folder {unknown!r} is not an ImageNet class and the data have {len(images.classes)} classes, "
            f"not the classifier's {len(outputs)}: name the class folders by WordNet id (n01440764, ...)"
        )
    known = ", ".join(outputs[:12]) + (", ..." if len(outputs) > 12 else "")
    raise DataError(f"class folder {unknown!r} is not one of the model's {len(outputs)} classes ({known}): rename or remove it")


def load_eval_data(spec: str | Path, transform, outputs: list[str], class_names: list[str], batch_size: int = 50,
                   workers: int = 2, strict: bool = False, limit: int | None = None, by_order: bool = True) -> DataBundle:  # fmt: skip
    """The validation images of `spec` through `transform` (PIL image -> tensor), labelled by the index of
    their class in `outputs` (or in `class_names`, their readable names); a bundle with no train loader.
    `by_order`: class folders named otherwise, as many as the outputs, are taken in sorted order (as
    ImageFolder does); without it, a folder is matched by an output's name or its (unique) readable
    name, and a folder no class is named after is an error."""
    root = Path(spec).expanduser()
    if not root.exists():
        raise DataError(f"no data at {root}: give an ImageNet folder (holding val/) or a folder of class folders")
    images, where = _val_images(root)
    labels = _to_outputs(images, outputs, class_names, by_order)
    if limit is not None and limit < len(labels):  # a stratified subset: every class keeps its share
        _, keep = stratified_split(torch.tensor(labels), limit, seed=0)
        keep = keep.tolist()
        images = ImageList([images.paths[i] for i in keep], [images.labels[i] for i in keep], images.classes, images.class_names)
        labels = [labels[i] for i in keep]
    items = ImageList(images.paths, labels, list(outputs), list(class_names))
    stats = DecodeStats()
    loader = StreamLoader(items, transform, batch_size, shuffle=False, drop_last=False, workers=workers, strict=strict, stats=stats)
    subset = f" ({len(images.classes)} of its {len(outputs)} classes)" if len(images.classes) != len(outputs) else ""
    return DataBundle(None, loader, list(outputs), list(class_names), stats, f"{where}: {len(items):,} images{subset}")
