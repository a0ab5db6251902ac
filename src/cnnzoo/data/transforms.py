"""Each paper's augmentation as a named recipe, and the evaluation crops.

Streaming (PIL images, per sample):
  alexnet    random 224 crops of images resized to 256, flips, PCA colour noise (AlexNet Sec. 4.1)
  vgg        scale jittering: shorter side S in [256, 512], random 224 crops, flips, colour noise (VGG Sec. 3.1)
  googlenet  random crops of 8-100% of the area, aspect 3/4-4/3, resized to 224, flips (GoogLeNet Sec. 6)
  resnet     shorter side in [256, 480], random 224 crops, flips, colour noise (ResNet Sec. 3.4)
  mobilenet  lighter: random crops of 25-100% of the area, flips (MobileNet Sec. 4: less augmentation
             for small models)
In memory (uint8 batches, whole batches at once):
  cifar      4-pixel zero pad, random 32x32 crop, flip (ResNet Sec. 4.2)
  cutout     cifar, then a square of half the image's side set to the mean, its centre anywhere in
             the image (16x16 on CIFAR-10: Cutout, DeVries & Taylor 2017, Sec. 4.1); not a paper's recipe
             in the lecture: offered for short schedules
  flip       flips only;  none: nothing
Evaluation: resize to size / 0.875 and centre-crop (1 crop), with its mirror (2 crops: flip
test-time augmentation), or the centre and four corners and their mirrors (10 crops, AlexNet Sec. 4.1);
whole small images are not resized: their corners are those of the cifar augmentation's padding.
"""
import random

import torch
import torch.nn.functional as F

from ..errors import CnnzooError
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, T  # T: torchvision.transforms, on first use

# AlexNet's "PCA on the set of RGB pixel values": eigenvalues and eigenvectors of ImageNet's RGB
# covariance, as published with fb.resnet.torch (the values everyone has used since).
EIGVAL = torch.tensor([0.2175, 0.0188, 0.0045])
EIGVEC = torch.tensor([[-0.5675, 0.7192, 0.4009], [-0.5808, -0.0045, -0.8140], [-0.5836, -0.6948, 0.4203]])


class Lighting:
    """Add multiples of the RGB principal components, with N(0, alphastd) magnitudes (AlexNet Sec. 4.1)."""

    def __init__(self, alphastd: float = 0.1):
        self.alphastd = alphastd

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        alpha = torch.randn(3) * self.alphastd
        rgb = EIGVEC @ (alpha * EIGVAL)
        return img + rgb.view(3, 1, 1)


class RandomShorterSide:
    """Resize so the shorter side is a random S in [low, high]: VGG's scale jittering, ResNet's 256-480."""

    def __init__(self, low: int, high: int):
        self.low, self.high = low, high

    def __call__(self, img):
        return T.functional.resize(img, random.randint(self.low, self.high))


def _finish(size: int, lighting: bool) -> list:
    steps = [T.ToTensor()]
    steps += [Lighting()] if lighting else []
    return steps + [T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]


STREAM_RECIPES = {
    "alexnet": lambda s: T.Compose([T.Resize(256), T.RandomCrop(s), T.RandomHorizontalFlip(), *_finish(s, True)]),
    "vgg": lambda s: T.Compose([RandomShorterSide(256, 512), T.RandomCrop(s), T.RandomHorizontalFlip(), *_finish(s, True)]),
    "googlenet": lambda s: T.Compose([T.RandomResizedCrop(s, (0.08, 1.0), (3 / 4, 4 / 3)), T.RandomHorizontalFlip(), *_finish(s, False)]),
    "resnet": lambda s: T.Compose([RandomShorterSide(256, 480), T.RandomCrop(s), T.RandomHorizontalFlip(), *_finish(s, True)]),
    "mobilenet": lambda s: T.Compose([T.RandomResizedCrop(s, (0.25, 1.0)), T.RandomHorizontalFlip(), *_finish(s, False)]),
}
BATCH_RECIPES = ("cifar", "cutout", "flip", "none")
PAD = 4  # the cifar augmentation's zero padding, in pixels (ResNet Sec. 4.2)
AUGMENTATIONS = tuple(STREAM_RECIPES) + BATCH_RECIPES


def stream_train_transform(name: str, size: int):
    if name in STREAM_RECIPES:
        return STREAM_RECIPES[name](size)
    if name in BATCH_RECIPES:  # on a streamed dataset: the same idea per sample, after a resize to the size
        steps = [T.Resize(size), T.CenterCrop(size)]
        steps += [T.RandomCrop(size, padding=max(size // 8, 1))] if name in ("cifar", "cutout") else []
        steps += [T.RandomHorizontalFlip()] if name != "none" else []
        erase = [T.Lambda(lambda x: x.masked_fill(cutout_mask(1, size, size, None)[0], 0))] if name == "cutout" else []
        return T.Compose([*steps, *_finish(size, False), *erase])
    raise CnnzooError(f"unknown augmentation {name!r}; choose one of {', '.join(AUGMENTATIONS)}")


def stream_eval_transform(size: int, crop_ratio: float = 0.875, crops: int = 1):
    """The shorter side resized to size / crop_ratio, then the centre crop (or 10 crops), ImageNet-normalised."""
    return Preprocessing(size, int(round(size / crop_ratio)), IMAGENET_MEAN, IMAGENET_STD).transform(crops)


# -- whole batches of uint8 images in memory ------------------------------------------------------


def augment_batch(x: torch.Tensor, name: str, generator: torch.Generator) -> torch.Tensor:
    """uint8 N x C x H x W -> the same, augmented per image with `generator`'s randomness."""
    if name == "none":
        return x
    if name not in BATCH_RECIPES:
        raise CnnzooError(f"augmentation {name!r} works on streamed images; in-memory data takes {', '.join(BATCH_RECIPES)}")
    n, _, h, w = x.shape
    if name in ("cifar", "cutout"):  # cutout's square is cut after normalising: `cutout_mask`
        dy = torch.randint(0, 2 * PAD + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * PAD + 1, (n,), generator=generator)
        x = _crop(F.pad(x, (PAD, PAD, PAD, PAD)), dy, dx, h, w)
    flip = torch.rand(n, generator=generator) < 0.5
    return torch.where(flip.view(n, 1, 1, 1), x.flip(3), x)


def cutout_mask(n: int, h: int, w: int, generator: torch.Generator | None) -> torch.Tensor:
    """N x 1 x H x W, True inside each image's Cutout square: side half the image's (16 on 32x32), centre
    uniform over the image, so the square is cut by the border near it, as in DeVries & Taylor's code.
    Applied to normalised images (set to 0: the data's mean)."""
    half = max(min(h, w) // 4, 1)
    cy = torch.randint(0, h, (n, 1, 1, 1), generator=generator)
    cx = torch.randint(0, w, (n, 1, 1, 1), generator=generator)
    rows, cols = torch.arange(h).view(1, 1, h, 1), torch.arange(w).view(1, 1, 1, w)
    return (rows >= cy - half) & (rows < cy + half) & (cols >= cx - half) & (cols < cx + half)


def _crop(padded: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Per-image crops of a padded batch at offsets (dy, dx), gathered in one indexing operation."""
    n = padded.shape[0]
    rows = (dy.view(n, 1) + torch.arange(h)).view(n, 1, h, 1)
    cols = (dx.view(n, 1) + torch.arange(w)).view(n, 1, 1, w)
    batch = torch.arange(n).view(n, 1, 1, 1)
    channels = torch.arange(padded.shape[1]).view(1, -1, 1, 1)
    return padded[batch, channels, rows, cols]


def tensor_crops(x: torch.Tensor, size: int, crops: int, crop_ratio: float = 0.875) -> torch.Tensor:
    """Evaluation crops of a float batch: N x C x size x size (1 crop), or N x crops x C x size x size.

    2 crops are the centre crop and its mirror (flip test-time augmentation); 10 the centre, the four
    corners and their mirrors (AlexNet Sec. 4.1). Images already at `size` (CIFAR-sized models, trained
    on whole images) are their own centre crop, and their corners are taken from the image zero-padded by
    PAD pixels, the geometry of the `cifar` augmentation they were trained with (call this before
    normalising, so the padding is black as in training). Other images have their shorter side resized to
    size / crop_ratio first, as streamed images.
    """
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        if crops == 1:
            return x
        if crops == 10:
            x, h, w = F.pad(x, (PAD, PAD, PAD, PAD)), h + 2 * PAD, w + 2 * PAD
    else:
        scale = round(size / crop_ratio) / min(h, w)
        x = F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="bilinear", align_corners=False, antialias=scale < 1)
        h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    centre = x[..., top : top + size, left : left + size]
    if crops == 1:
        return centre
    views = [centre]
    if crops == 10:
        views += [x[..., :size, :size], x[..., :size, w - size :], x[..., h - size :, :size], x[..., h - size :, w - size :]]
    return torch.stack(views + [v.flip(-1) for v in views], 1)


# -- a trained model's own evaluation input ------------------------------------------------------

SMALL_INPUT = 64  # models of this input size or less are trained on whole small images (CIFAR-sized)


def meta_normalization(meta: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """A run's normalisation: ImageNet's mean/std, or the statistics of its training data (per channel,
    or per pixel as the ResNet paper's CIFAR preprocessing)."""
    norm = meta["normalization"]
    if norm == "imagenet":
        return torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    return torch.tensor(norm["mean"]), torch.tensor(norm["std"])


def meta_transform(meta: dict, crops: int = 1):
    """PIL image -> normalised C x H x W (or crops x C x H x W) as a model's metadata says. Published
    weights carry their `preprocessing`; a cnnzoo run its input size and normalisation, and is fed as its
    validation images were: small-image models (64 px or less) see the whole image resized to their
    input (2 or 10 crops: those of `tensor_crops`, as the in-memory loader takes them), larger ones the
    centre crop of the shorter side resized to size / 0.875 (or the crops of it)."""
    if meta.get("preprocessing"):
        return Preprocessing.from_dict(meta["preprocessing"]).transform(crops)
    size = meta["input_size"]
    if crops == 144 and size <= SMALL_INPUT:
        raise CnnzooError(f"144 crops is GoogLeNet's protocol for ImageNet-sized inputs (scales 256-352): this model takes "
                          f"{size}x{size} images; use --crops 1, 2 or 10")  # fmt: skip
    mean, std = meta_normalization(meta)
    mean, std = (mean.view(-1, 1, 1), std.view(-1, 1, 1)) if mean.dim() == 1 else (mean, std)
    if size > SMALL_INPUT:
        return Preprocessing(size, round(size / 0.875), tuple(mean.flatten().tolist()), tuple(std.flatten().tolist())).transform(crops)

    def crop_and_normalise(x: torch.Tensor) -> torch.Tensor:  # crops before normalising: black padding, as in training
        return (tensor_crops(x.unsqueeze(0), size, crops)[0] - mean) / std

    return T.Compose([T.Resize([size, size]), T.ToTensor(), T.Lambda(crop_and_normalise)])
