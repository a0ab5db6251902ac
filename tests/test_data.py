"""Datasets in every layout, built as small fixtures here; bad images; splits; augmentations; loaders."""
import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from cnnzoo.data import (
    BadImageError,
    DataError,
    DataOptions,
    DecodeStats,
    decode,
    imagenet_split,
    load_data,
    load_rgb,
    stratified_split,
)
from cnnzoo.data.cifar import load_cifar_batches
from cnnzoo.data.loaders import MemoryLoader
from cnnzoo.data.transforms import (
    AUGMENTATIONS,
    augment_batch,
    meta_transform,
    stream_eval_transform,
    stream_train_transform,
    tensor_crops,
)
from cnnzoo.errors import CnnzooError

WNIDS = ["n01440764", "n01443537", "n01484850"]
WORDS = ["tench, Tinca tinca", "goldfish, Carassius auratus", "great white shark"]


def image(path, size=(40, 30), colour=(200, 30, 30), mode="RGB", fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == "RGB" else 128).save(path, format=fmt)
    return path


@pytest.fixture
def folder_dataset(tmp_path):
    for split, n in (("train", 4), ("val", 2)):
        for i, wnid in enumerate(WNIDS):
            for k in range(n):
                image(tmp_path / split / wnid / f"{wnid}_{k}.JPEG", colour=(60 * i, 20 * k, 90))
    return tmp_path


def test_folder_layout(folder_dataset):
    train = imagenet_split(folder_dataset, "train")
    assert train.classes == WNIDS and len(train) == 12 and train.labels == [0] * 4 + [1] * 4 + [2] * 4
    assert len(imagenet_split(folder_dataset, "val")) == 6


def _devkit(root, truth):
    """The official devkit: meta.mat (synsets, with non-leaf entries too) and the val ground truth."""
    from scipy.io import savemat

    data = root / "ILSVRC2012_devkit_t12" / "data"
    data.mkdir(parents=True)
    dtype = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")]
    # ILSVRC2012_IDs are not in sorted-wnid order: the loader must map them
    order = [2, 0, 1]
    synsets = np.array([(i + 1, WNIDS[w], WORDS[w], 0) for i, w in enumerate(order)] + [(4, "n00000001", "entity", 3)], dtype=dtype)
    savemat(data / "meta.mat", {"synsets": synsets})
    ids = {WNIDS[w]: i + 1 for i, w in enumerate(order)}
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text("\n".join(str(ids[WNIDS[t]]) for t in truth) + "\n")


def test_official_ilsvrc_layout(tmp_path):
    truth = [2, 0, 1, 1, 2]
    for k in range(5):
        image(tmp_path / "val" / f"ILSVRC2012_val_{k + 1:08d}.JPEG")
    for wnid in WNIDS:
        image(tmp_path / "train" / wnid / "a.JPEG")
    _devkit(tmp_path, truth)
    val = imagenet_split(tmp_path, "val")
    assert val.classes == WNIDS and val.labels == truth  # sorted-wnid indices, whatever the devkit's IDs
    assert val.class_names == WORDS
    assert imagenet_split(tmp_path, "train").class_names == WORDS  # names from the devkit for train too


def test_official_val_without_devkit_is_a_clear_error(tmp_path):
    image(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(DataError, match="devkit"):
        imagenet_split(tmp_path, "val")


def test_kaggle_layout(tmp_path):
    base = tmp_path / "ILSVRC" / "Data" / "CLS-LOC"
    for wnid in WNIDS:
        image(base / "train" / wnid / f"{wnid}_1.JPEG")
    rows = ["ImageId,PredictionString"]
    for k, w in enumerate([1, 2, 0]):
        image(base / "val" / f"ILSVRC2012_val_{k + 1:08d}.JPEG")
        rows.append(f"ILSVRC2012_val_{k + 1:08d},{WNIDS[w]} 1 2 30 40 {WNIDS[w]} 3 4 10 10")
    (tmp_path / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "LOC_synset_mapping.txt").write_text("".join(f"{w} {n}\n" for w, n in zip(WNIDS, WORDS)))
    val = imagenet_split(tmp_path, "val")
    assert val.labels == [1, 2, 0] and val.class_names == WORDS
    assert imagenet_split(tmp_path, "train").classes == WNIDS


def _cifar_batches(root, per_batch=6):
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), b"labels": list(rng.integers(0, 10, per_batch))}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))
    (root / "batches.meta").write_bytes(pickle.dumps({b"label_names": [f"c{i}".encode() for i in range(10)]}, protocol=2))


def test_cifar_python_batches(tmp_path):
    _cifar_batches(tmp_path / "cifar-10-batches-py")
    images, labels, names = load_cifar_batches(tmp_path / "cifar-10-batches-py", "train")
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8 and len(labels) == 30 and names[3] == "c3"
    bundle = load_data(str(tmp_path), DataOptions(batch_size=4, val_size=10))  # the parent folder works too
    assert bundle.num_classes == 10 and "python batches" in bundle.description


def test_cifar_batches_never_run_code(tmp_path):
    class Boom:
        def __reduce__(self):
            return (print, ("this must never run",))

    root = tmp_path / "cifar-10-batches-py"
    _cifar_batches(root)
    (root / "data_batch_1").write_bytes(pickle.dumps({b"data": Boom(), b"labels": []}))
    with pytest.raises(Exception, match="refusing to load builtins.print"):
        load_cifar_batches(root, "train")


@pytest.mark.parametrize("damage, message", [(b"\x80\x02}q", "not a readable CIFAR-10 batch"),
                                             (pickle.dumps({b"labels": [1]}, protocol=2), "without its data")])  # fmt: skip
def test_a_damaged_cifar_batch_is_one_line(tmp_path, damage, message):
    root = tmp_path / "cifar-10-batches-py"
    _cifar_batches(root)
    (root / "data_batch_3").write_bytes(damage)
    with pytest.raises(CnnzooError, match=message):
        load_cifar_batches(root, "train")


def test_whatever_a_decoder_raises_is_a_bad_image(tmp_path, monkeypatch):
    """Pillow's decoders fail on malformed files with struct.error, EOFError, IndexError... not only OSError."""
    import struct

    from cnnzoo.data import decoding

    path = image(tmp_path / "a.png", fmt="PNG")

    def broken(*args, **kwargs):
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr(decoding.Image, "open", broken)
    with pytest.raises(BadImageError):
        decode(path)


def test_embedded_digits():
    bundle = load_data("digits", DataOptions(batch_size=32))
    batch = next(bundle.train.batches())
    assert batch.images.shape == (32, 3, 32, 32) and bundle.num_classes == 10
    assert len(bundle.val.labels) + len(bundle.train.labels) == 1797


def test_digits_read_directly_are_scikit_learns_digits(monkeypatch):
    """The bundled file read without importing scikit-learn gives what its own loader gives (the fallback)."""
    from sklearn.datasets import load_digits as sklearn_digits

    from cnnzoo.data import embedded

    digits = sklearn_digits()
    pixels, labels = embedded._digits_table()
    assert np.array_equal(pixels, digits.images) and np.array_equal(labels, digits.target)
    direct = embedded.load_digits()
    monkeypatch.setattr(embedded.importlib.util, "find_spec", lambda name: None)  # no file to read: scikit-learn's loader
    fallback = embedded.load_digits()
    assert all(torch.equal(a, b) for a, b in zip(direct[:2], fallback[:2]))


def test_stratified_split_is_seeded_and_balanced():
    labels = torch.arange(10).repeat_interleave(5000)
    train, val = stratified_split(labels, 5000, seed=0)
    assert len(train) == 45_000 and len(val) == 5000
    assert torch.bincount(labels[val]).tolist() == [500] * 10  # the ResNet paper's 45k/5k, 500 per class
    assert torch.equal(val, stratified_split(labels, 5000, seed=0)[1])
    assert not torch.equal(val, stratified_split(labels, 5000, seed=1)[1])
    assert not set(train.tolist()) & set(val.tolist())


def test_training_seed_does_not_move_the_validation_split():
    """Ensemble members (seeds 0..4) must validate on the same held-out images, none of which any trained on."""
    from cnnzoo.recipes import Recipe, get_recipe

    def val_images(recipe):
        return load_data("digits", recipe.data_options(None)).val.images

    base = get_recipe("short").override(val_size=200)
    assert torch.equal(val_images(base), val_images(base.override(seed=3)))
    assert not torch.equal(val_images(base), val_images(base.override(split_seed=3)))
    # a recipe saved before split_seed existed validated on its seed's split, and still does
    saved = {k: v for k, v in base.override(seed=3).as_dict().items() if k != "split_seed"}
    assert Recipe.from_dict(saved).split_seed == 3


# -- real-world image files -------------------------------------------------------------------------


def test_awkward_but_valid_images_decode(tmp_path):
    cmyk = image(tmp_path / "cmyk.jpg", mode="CMYK", fmt="JPEG")
    grey = image(tmp_path / "grey.JPEG", mode="L", fmt="JPEG")
    png_named_jpeg = image(tmp_path / "really_a_png.JPEG", fmt="PNG")
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    Image.new("RGB", (40, 20), (255, 0, 0)).save(rotated, exif=exif)
    for path in (cmyk, grey, png_named_jpeg):
        assert decode(path).mode == "RGB"
    assert decode(rotated).size == (20, 40)  # upright


@pytest.mark.parametrize("kind", ["truncated", "zero-byte", "not an image"])
def test_bad_images_are_skipped_and_counted(tmp_path, kind):
    path = tmp_path / "bad.JPEG"
    if kind == "truncated":
        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, format="JPEG")
        path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    elif kind == "zero-byte":
        path.write_bytes(b"")
    else:
        path.write_text("hello, I am a text file")
    stats = DecodeStats()
    with pytest.warns(UserWarning, match="skipping"):
        assert load_rgb(path, stats=stats) is None
    assert stats.total == 1 and "1 images skipped" in stats.summary()
    with pytest.raises(BadImageError, match="`strict`"):
        load_rgb(path, strict=True)


def test_huge_images_are_refused(tmp_path, monkeypatch):
    import cnnzoo.data.decoding as d

    monkeypatch.setattr(d, "MAX_PIXELS", 100)
    path = image(tmp_path / "big.png", size=(20, 20))
    with pytest.raises(BadImageError, match="too large"):
        decode(path)


def test_a_bad_file_in_a_folder_dataset_does_not_stop_loading(folder_dataset):
    (folder_dataset / "train" / WNIDS[0] / "broken.JPEG").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.warns(UserWarning, match="broken.JPEG"):
        bundle = load_data(str(folder_dataset), DataOptions(batch_size=2, augment="flip"))
    assert bundle.stats.total == 1 and len(bundle.train.labels) == 12


def test_empty_class_folder_is_a_clear_error(folder_dataset):
    (folder_dataset / "train" / "n09999999").mkdir()
    with pytest.raises(DataError, match="n09999999 holds no images"):
        load_data(str(folder_dataset))


# -- augmentations and loaders ------------------------------------------------------------------------


@pytest.mark.parametrize("name", AUGMENTATIONS)
def test_every_stream_recipe_gives_a_normalised_crop(name):
    img = Image.new("RGB", (300, 260), (120, 60, 30))
    x = stream_train_transform(name, 224)(img)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32


def test_ten_and_two_crops():
    img = Image.new("RGB", (300, 260))
    assert stream_eval_transform(224, crops=10)(img).shape == (10, 3, 224, 224)
    two = stream_eval_transform(224, crops=2)(Image.fromarray(np.random.default_rng(0).integers(0, 255, (260, 300, 3), np.uint8)))
    assert two.shape == (2, 3, 224, 224) and torch.equal(two[1], two[0].flip(-1))
    batch = torch.randn(2, 3, 40, 40)
    crops = tensor_crops(batch, 32, 10)
    assert crops.shape == (2, 10, 3, 32, 32)
    assert torch.equal(crops[:, 5], crops[:, 0].flip(-1))  # the mirrored centre crop
    assert torch.equal(tensor_crops(batch, 32, 2), crops[:, [0, 5]])


def test_whole_small_images_are_cropped_as_the_cifar_augmentation_pads():
    """A 32-pixel image for a 32-pixel model is not resized: its centre crop is itself, its corner
    crops are shifted by the augmentation's 4 pixels into zero padding (not a 37-pixel resize)."""
    x = torch.rand(1, 3, 32, 32) + 1  # no zeros of its own
    crops = tensor_crops(x, 32, 10)
    assert torch.equal(crops[:, 0], x)
    top_left = crops[0, 1]
    assert (top_left[:, :4] == 0).all() and (top_left[:, :, :4] == 0).all()
    assert torch.equal(top_left[:, 4:, 4:], x[0, :, :28, :28])
    assert torch.equal(crops[0, 4][:, :28, :28], x[0, :, 4:, 4:])  # bottom right


def test_small_image_crops_pad_black_before_normalising():
    """The streamed and in-memory paths agree, and padding is black (0) before normalisation, as the
    training augmentation pads uint8 images."""
    images = torch.randint(1, 256, (2, 3, 8, 8), dtype=torch.uint8)
    mean, std = torch.full((3, 8, 8), 0.5), torch.full((3, 8, 8), 0.25)
    loader = MemoryLoader(images, torch.arange(2), 2, augment="none", mean=mean, std=std, crops=10)
    batch = next(iter(loader.batches())).images
    assert batch.shape == (2, 10, 3, 8, 8)
    assert torch.allclose(batch[0, 1, :, 0, 0], torch.tensor(-2.0))  # (0 - 0.5) / 0.25: black, normalised
    meta = {"input_size": 8, "normalization": {"mean": mean.tolist(), "std": std.tolist()}}
    streamed = meta_transform(meta, 10)(Image.fromarray(images[0].permute(1, 2, 0).numpy()))
    assert torch.allclose(streamed, batch[0], atol=1e-6)


def test_batch_augmentation_pads_crops_and_flips():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.uint8).view(2, 3, 8, 8).repeat(64, 1, 1, 1)
    out = augment_batch(x, "cifar", torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8
    assert (out == 0).any()  # some crops reach into the zero padding
    assert not torch.equal(out, x)
    same = augment_batch(x, "cifar", torch.Generator().manual_seed(0))
    assert torch.equal(out, same)


def test_cutout_sets_a_square_to_the_mean_after_the_cifar_crop():
    """DeVries & Taylor's Cutout on CIFAR: a 16x16 square (cut by the border near it) of the normalised
    image is 0, the data's mean; the rest is the cifar augmentation's crop, the same randomness resumed."""
    images = torch.randint(1, 256, (64, 3, 32, 32), dtype=torch.uint8)
    mean, std = images.float().div(255).mean((0, 2, 3)), torch.full((3,), 0.25)
    loader = MemoryLoader(images, torch.arange(64) % 10, 64, augment="cutout", mean=mean, std=std, seed=1)
    x = next(iter(loader.batches())).images
    zero = (x == 0).all(1)  # N x H x W: erased pixels, in every channel
    sides = [(z.any(1).sum().item(), z.any(0).sum().item()) for z in zero]
    assert all(1 <= h <= 16 and 1 <= w <= 16 for h, w in sides)
    assert sum(h == 16 and w == 16 for h, w in sides) > 10  # most squares lie wholly inside the image
    assert 0.05 < zero.float().mean() < 0.25  # about (16/32)^2 of the image, less where cut by the border
    again = next(iter(MemoryLoader(images, torch.arange(64) % 10, 64, augment="cutout", mean=mean, std=std, seed=1).batches()))
    assert torch.equal(again.images, x)
    streamed = stream_train_transform("cutout", 32)(Image.fromarray(images[0].permute(1, 2, 0).numpy()))
    assert (streamed == 0).all(0).sum() >= 1


def test_memory_loader_resumes_at_any_batch():
    images = torch.randint(0, 256, (100, 3, 8, 8), dtype=torch.uint8)
    loader = MemoryLoader(images, torch.arange(100) % 10, 16, augment="cifar", seed=3)
    full = list(loader.batches(epoch=2))
    resumed = list(loader.batches(epoch=2, start=4))
    assert len(full) == 6 and len(resumed) == 2
    assert all(torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels) for a, b in zip(full[4:], resumed))
    assert not torch.equal(full[0].labels, next(loader.batches(epoch=3)).labels)  # a new order every epoch


def test_large_images_stream_and_bad_ones_are_counted(tmp_path):
    for i, wnid in enumerate(WNIDS):
        for k in range(3):
            image(tmp_path / "train" / wnid / f"{k}.JPEG", size=(120, 100), colour=(80 * i, 40, 40))
    (tmp_path / "train" / WNIDS[1] / "9.JPEG").write_bytes(b"")  # a zero-byte file in the middle
    bundle = load_data(str(tmp_path), DataOptions(batch_size=1, eval_batch_size=4, input_size=64, augment="resnet", workers=0, val_size=3))
    assert "streamed" in bundle.description
    with pytest.warns(UserWarning, match="9.JPEG"):
        batches = list(bundle.train.batches(0)) + list(bundle.val.batches(0))
    assert bundle.stats.total == 1 and sum(len(b.labels) for b in batches) == 9  # ten files, one skipped
    assert batches[0].images.shape[1:] == (3, 64, 64)
    again = list(bundle.train.batches(0))  # the same epoch again: the same crops
    assert torch.equal(batches[0].images, again[0].images)
