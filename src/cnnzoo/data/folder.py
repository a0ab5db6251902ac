"""Image folders: the ImageNet layout, the official ILSVRC-2012 release, and Kaggle's copy of it.

  folder   root/train/<class>/*.JPEG, root/val/<class>/*.JPEG (also CIFAR-10 as JPEGs)
  official root/train/<wnid>/..., root/val/ILSVRC2012_val_*.JPEG flat, with the devkit
           (ILSVRC2012_devkit_t12/data/meta.mat and ILSVRC2012_validation_ground_truth.txt)
  kaggle   root/ILSVRC/Data/CLS-LOC/{train/<wnid>/, val/}, root/LOC_val_solution.csv,
           root/LOC_synset_mapping.txt

Class indices are always the sorted class (wnid) folder names of the training split, as torchvision's
ImageFolder and every pretrained ImageNet model use; a val split is labelled by those names
(`ImageList.labelled_by`), never by its own folder list; human-readable names come from the devkit or
Kaggle's mapping where present (a folder name that is not valid UTF-8 is shown with U+FFFD in its
readable name, and matched by its bytes).
"""
import csv
from dataclasses import dataclass
from pathlib import Path

from ..errors import CnnzooError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff"}


class DataError(CnnzooError):
    """A dataset that is missing, empty or not in a layout cnnzoo reads."""


@dataclass
class ImageList:
    paths: list[str]
    labels: list[int]
    classes: list[str]  # class folder names (wnids for ImageNet), sorted: index = label
    class_names: list[str]  # human-readable where known, else the folder names

    def __len__(self) -> int:
        return len(self.paths)

    def labelled_by(self, classes: list[str], class_names: list[str], what: str) -> "ImageList":
        """These images labelled by their class's index in `classes` (the training split's), matched by
        name; a class that `classes` does not hold is an error naming it."""
        index = {c: i for i, c in enumerate(classes)}
        unknown = [c for c in self.classes if c not in index]
        if unknown:
            known = ", ".join(classes[:8]) + (", ..." if len(classes) > 8 else "")
            raise DataError(f"{what} has class {readable(unknown[0])!r}, which the training data do not have ({known}): "
                            f"remove it, or add it to train/")  # fmt: skip
        labels = [index[self.classes[label]] for label in self.labels]
        return ImageList(self.paths, labels, list(classes), list(class_names))


def readable(name: str) -> str:
    """A folder name fit to print and draw: bytes that are not UTF-8 (kept by Python as lone surrogates)
    become U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def scan_class_folders(root: Path, names: dict[str, str] | None = None) -> ImageList:
    """root/<class>/<image>: every sub-folder a class, in sorted order."""
    if not root.is_dir():
        raise DataError(f"no folder at {root}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"{root} has no class folders: expected {root}/<class>/<image>")
    paths, labels = [], []
    for label, cls in enumerate(classes):
        files = _images_in(root / cls)
        if not files:
            raise DataError(f"class folder {root / cls} holds no images: add some, or remove the folder")
        paths += [str(f) for f in files]
        labels += [label] * len(files)
    names = names or {}
    return ImageList(paths, labels, classes, [names.get(c, readable(c)) for c in classes])


def _devkit(root: Path) -> Path | None:
    for candidate in (root / "ILSVRC2012_devkit_t12", root / "devkit" / "ILSVRC2012_devkit_t12", root / "devkit"):
        if (candidate / "data" / "meta.mat").is_file():
            return candidate
    return None


def _devkit_synsets(devkit: Path) -> tuple[dict[int, str], dict[str, str]]:
    """ILSVRC2012_ID -> wnid, and wnid -> words, for the 1000 classification classes."""
    from scipy.io import loadmat  # plain MATLAB data: no code runs on load

    synsets = loadmat(devkit / "data" / "meta.mat", squeeze_me=True)["synsets"]
    ids, words = {}, {}
    for s in synsets:
        if int(s["num_children"]) == 0:  # the leaves are the 1000 classes
            ids[int(s["ILSVRC2012_ID"])] = str(s["WNID"])
            words[str(s["WNID"])] = str(s["words"])
    return ids, words


def _kaggle_names(root: Path) -> dict[str, str]:
    mapping = root / "LOC_synset_mapping.txt"
    if not mapping.is_file():
        return {}
    pairs = (line.split(" ", 1) for line in mapping.read_text().splitlines() if line.strip())
    return {wnid: words.strip() for wnid, words in pairs}


def imagenet_split(root: str | Path, split: str) -> ImageList:
    """The `train` or `val` split of an ImageNet-style dataset, in any of the three layouts."""
    root = Path(root)
    kaggle = root / "ILSVRC" / "Data" / "CLS-LOC"
    if kaggle.is_dir():
        names = _kaggle_names(root)
        if split == "train" or (kaggle / split).is_dir() and any(p.is_dir() for p in (kaggle / split).iterdir()):
            return scan_class_folders(kaggle / split, names)
        return _kaggle_val(root, kaggle / split, names)
    folder = root / split
    if not folder.is_dir():
        raise DataError(f"{root} has no '{split}' folder: expected {root}/{split}/<class>/<image>")
    devkit = _devkit(root)
    words = _devkit_synsets(devkit)[1] if devkit else {}
    if any(p.is_dir() for p in folder.iterdir()):
        return scan_class_folders(folder, words)
    return _official_val(root, folder, devkit)


def _official_val(root: Path, folder: Path, devkit: Path | None) -> ImageList:
    if devkit is None:
        raise DataError(
            f"{folder} holds images but no class folders, and no devkit was found: put the extracted "
            f"ILSVRC2012_devkit_t12 folder in {root}, or sort the images into {folder}/<wnid>/"
        )
    ids, words = _devkit_synsets(devkit)
    truth = [int(v) for v in (devkit / "data" / "ILSVRC2012_validation_ground_truth.txt").read_text().split()]
    files = _images_in(folder)  # ILSVRC2012_val_00000001.JPEG ...: the ground truth is in this order
    if len(files) != len(truth):
        raise DataError(f"{folder} has {len(files)} images but the devkit's ground truth lists {len(truth)}")
    classes = sorted(ids.values())
    index = {wnid: i for i, wnid in enumerate(classes)}
    labels = [index[ids[t]] for t in truth]
    return ImageList([str(f) for f in files], labels, classes, [words[c] for c in classes])


def _kaggle_val(root: Path, folder: Path, names: dict[str, str]) -> ImageList:
    solution = root / "LOC_val_solution.csv"
    if not solution.is_file():
        raise DataError(f"{folder} is flat but {solution} is missing: it holds the validation labels")
    with open(solution, newline="") as f:
        wnid_of = {row["ImageId"]: row["PredictionString"].split()[0] for row in csv.DictReader(f)}
    classes = sorted(names) if names else sorted(set(wnid_of.values()))
    index = {wnid: i for i, wnid in enumerate(classes)}
    files = [f for f in _images_in(folder) if f.stem in wnid_of]
    labels = [index[wnid_of[f.stem]] for f in files]
    return ImageList([str(f) for f in files], labels, classes, [names.get(c, c) for c in classes])
