"""Data that used to give a silently wrong result (issue 13): val labels by the val split's own folder
list, a stale decoded-image cache, images dropped for their size, 16-bit images clipped, one class,
folder names that are not UTF-8. Each now gives the right answer or one clear error."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnzoo.data import DataError, DataOptions, load_data
from cnnzoo.data.decoding import decode
from cnnzoo.data.folder import scan_class_folders
from cnnzoo.eval.inputs import checkpoint_data
from cnnzoo.eval.metrics import plot_confusion
from cnnzoo.eval.options import EvalOptions
from cnnzoo.train import RunConfig, get_recipe, load_trained, train
from conftest import ROOT

CLASSES = ["airplane", "automobile", "bird", "cat"]
COMMITTED = ROOT / "weights" / "cifar10-resnet20" / "model.safetensors"


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNZOO_CACHE", str(tmp_path / "cache"))


def image(folder: Path, name: str, value: int, size=(8, 8)) -> Path:
    """A flat image whose red channel says which it is."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, 100, 50)).save(folder / name)
    return folder / name


def folder_data(root: Path, train: dict[str, int], val: dict[str, int] = (), size=(8, 8)) -> Path:
    """root/train/<class>/ (and root/val/<class>/) with n images of each class, red = 20 x class index."""
    for split, counts in (("train", train), ("val", dict(val))):
        for cls, n in counts.items():
            for i in range(n):
                image(root / split / cls, f"{i}.png", 20 * CLASSES.index(cls) + i % 3, size)
    return root


def test_val_is_labelled_by_the_training_classes_names(tmp_path):
    root = folder_data(tmp_path / "d", dict.fromkeys(CLASSES, 4), {"bird": 3, "cat": 2})
    data = load_data(str(root), DataOptions(batch_size=4, augment="none"))
    assert data.classes == CLASSES
    labels = data.val.labels.tolist()
    assert sorted(labels) == [2, 2, 2, 3, 3]  # bird and cat, not airplane and automobile
    reds = (data.val.images[:, 0, 0, 0] // 20).tolist()  # the class each image was made as
    assert labels == reds
    image(root / "val" / "zebra", "0.png", 0)
    with pytest.raises(DataError, match="val split .* has class 'zebra', which the training data do not have"):
        load_data(str(root), DataOptions(batch_size=4))


def test_a_changed_file_is_never_served_from_the_cache(tmp_path):
    root = folder_data(tmp_path / "d", dict.fromkeys(CLASSES[:2], 6))
    first = load_data(str(root), DataOptions(batch_size=2, augment="none", val_size=2))
    assert list((tmp_path / "cache" / "decoded").iterdir())  # decoded once, cached
    (root / "train" / "airplane" / "0.png").write_bytes(b"")  # emptied
    (root / "train" / "airplane" / "1.png").write_bytes(b"garbage, not a PNG")  # overwritten
    image(root / "train" / "automobile", "2.png", 255)  # new pixels, same size and name
    with pytest.warns(UserWarning, match="skipping"):
        second = load_data(str(root), DataOptions(batch_size=2, augment="none", val_size=2))
    assert second.stats.total == 2 and first.stats.total == 0
    reds = torch.cat([second.train.images, second.val.images])[:, 0, 0, 0].tolist()
    assert 255 in reds and len(reds) == 10


def test_images_of_other_sizes_are_resized_not_dropped(tmp_path):
    root = folder_data(tmp_path / "d", dict.fromkeys(CLASSES[:3], 5), size=(8, 8))
    big = image(root / "train" / "airplane", "00-first.png", 7, (10, 10))  # sorted first: it used to set the size
    folder_data(root, dict.fromkeys(CLASSES[3:], 5), size=(10, 10))  # a whole class at another size
    data = load_data(str(root), DataOptions(batch_size=2, augment="none", val_size=4))
    assert data.train.num_images + data.val.num_images == 21 and data.classes == CLASSES
    assert data.train.images.shape[-2:] == (8, 8) and data.stats.resized == 6
    assert "6 images of another size resized" in data.stats.summary()
    flat = torch.cat([data.train.images, data.val.images])[:, 0]
    assert (flat[:, 0, 0] == 7).any() and big.is_file()  # the odd one is there, its colour kept by the resize


def test_16_bit_images_are_scaled_not_clipped(tmp_path):
    values = (np.arange(64 * 64).reshape(64, 64) * 16 + 35).astype(np.uint16)  # 35 .. 65523
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode == "I;16"
    got = np.asarray(decode(tmp_path / "g16.png"))
    assert got.shape == (64, 64, 3) and (got[..., 0] == got[..., 2]).all()
    assert np.abs(got[..., 0].astype(int) - np.rint(values / 257)).max() == 0
    assert (got == 255).mean() < 0.01  # clipping left 99.6% of the pixels at 255
    floats = (values / 65535).astype(np.float32)
    Image.fromarray(floats, mode="F").save(tmp_path / "f.tiff")
    assert np.abs(np.asarray(decode(tmp_path / "f.tiff"))[..., 0].astype(int) - np.rint(floats * 255)).max() <= 1


def test_one_class_is_an_error(tmp_path):
    root = folder_data(tmp_path / "d", {"cat": 20})
    config = RunConfig("resnet20", str(root), get_recipe("short").override(batch_size=4), tmp_path / "run", show_progress=False,
                       log=lambda *a: None)  # fmt: skip
    with pytest.raises(ValueError, match="1 class .*a classifier needs at least two"):
        train(config)


def test_a_split_that_leaves_validation_empty_is_refused(tmp_path):
    """5% of 4 images a class rounds to none: the run would validate on nothing (100% error) and fail at its end."""
    root = folder_data(tmp_path / "d", {"cat": 4, "bird": 4})
    with pytest.raises(DataError, match=r"val_size 0.05 leaves the validation split empty .*8 images in 2 classes.*give val_size as a count"):
        load_data(str(root), DataOptions(val_size=0.05))
    assert load_data(str(root), DataOptions(val_size=2)).val.num_images == 2


def test_limit_keeps_exactly_that_many_images_and_the_size_is_reported_as_it_is(tmp_path):
    for limit in (3, 7, 300):
        assert load_data("digits", DataOptions(limit=limit)).train.num_images == limit  # 3 used to keep 0 (per-class rounding)
    for limit, batch in ((3, 128), (270, 60_000)):
        config = RunConfig("resnet20", "digits", get_recipe("short").override(batch_size=batch), tmp_path / "run", limit=limit,
                           show_progress=False, log=lambda *a: None)  # fmt: skip
        with pytest.raises(ValueError, match=rf"training set \({limit} images\) is smaller than one batch of {batch}: lower batch_size"):
            train(config)


def test_non_utf8_folder_names_are_readable_and_drawable(tmp_path):
    name = os.fsdecode(b"caf\xe9")  # Latin-1 bytes: not UTF-8
    for cls in (name, "tea"):
        image(tmp_path / cls, "0.png", 0)
    items = scan_class_folders(tmp_path)
    assert items.classes[0] == name and items.class_names[0] == "caf\ufffd"
    plot_confusion(torch.eye(2, dtype=torch.long), [name, "tea"], tmp_path / "confusion.png")
    assert (tmp_path / "confusion.png").stat().st_size > 1000


@pytest.mark.skipif(not COMMITTED.is_file(), reason="the committed CIFAR-10 weights are not in this checkout")
def test_evaluating_a_checkpoint_on_other_training_data_labels_by_its_classes(tmp_path):
    _, meta = load_trained(COMMITTED)
    meta = {**meta, "recipe": {**meta["recipe"], "val_size": None}}  # the data's default split (the run's may hold 5,000)
    root = folder_data(tmp_path / "d", {"cat": 6, "bird": 6}, size=(32, 32))
    data = checkpoint_data(meta, EvalOptions(data=str(root)))
    assert data.num_classes == 10 and data.classes == meta["classes"]
    reds = data.val.images[:, 0, 0, 0] // 20  # 2: bird, 3: cat in CLASSES, the checkpoint's order too
    assert data.val.labels.tolist() == [meta["classes"].index(CLASSES[r]) for r in reds.tolist()]
    assert torch.allclose(data.val.mean, torch.tensor(meta["normalization"]["mean"]))  # the run's statistics (per channel or pixel), not these images'
    folder_data(tmp_path / "other", {"cat": 6}, size=(32, 32))
    image(tmp_path / "other" / "train" / "zebra", "0.png", 0, (32, 32))
    with pytest.raises(ValueError, match="class 'zebra', which resnet20 was not trained on"):
        checkpoint_data(meta, EvalOptions(data=str(tmp_path / "other")))
