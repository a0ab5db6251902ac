"""How a network wants its images at evaluation: resize the shorter side, centre-crop, scale to 0..1,
normalise. Pretrained weights come with their authors' values (torchvision's `weights.transforms()`,
timm's `pretrained_cfg`); a model trained by cnnzoo carries its own in its metadata (`meta_transform`)."""
import importlib
from dataclasses import asdict, dataclass

import torch

from ..errors import CnnzooError

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


class _OnFirstUse:
    """A module imported when one of its names is first used. torchvision costs a second to import (it
    pulls in torch._dynamo), and neither training on in-memory data nor `cnnzoo list` needs it."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


T = _OnFirstUse("torchvision.transforms")


@dataclass(frozen=True)
class Preprocessing:
    """The evaluation pipeline of one set of weights."""

    input_size: int  # the centre crop
    resize: int  # the shorter side is resized to this before the crop
    mean: tuple[float, ...]
    std: tuple[float, ...]
    interpolation: str = "bilinear"  # bilinear | bicubic | nearest
    channel_order: str = "RGB"

    def __post_init__(self):
        if self.interpolation not in INTERPOLATIONS:
            raise CnnzooError(f"interpolation {self.interpolation!r}: use one of {', '.join(INTERPOLATIONS)}")
        if self.channel_order != "RGB":  # every weight file cnnzoo reads was trained on RGB
            raise CnnzooError(f"channel order {self.channel_order!r}: cnnzoo feeds RGB images")

    @property
    def crop_fraction(self) -> float:
        return self.input_size / self.resize

    def describe(self) -> str:
        return (f"resize the shorter side to {self.resize} ({self.interpolation}), centre crop {self.input_size}, "
                f"{self.channel_order} in 0..1, mean {self.mean}, std {self.std}")  # fmt: skip

    def transform(self, crops: int = 1):
        """PIL image -> C x H x W (1 crop), 2 x C x H x W (the centre crop and its mirror), 10 x C x H x W
        (the centre, the corners and their mirrors) or
        144 x C x H x W (GoogLeNet's protocol: `googlenet_views`)."""
        resize = T.Resize(self.resize, interpolation=T.InterpolationMode[self.interpolation.upper()], antialias=True)
        finish = T.Compose([T.ToTensor(), T.Normalize(self.mean, self.std)])
        if crops == 144:
            return lambda img: torch.stack([finish(v) for v in googlenet_views(img, self.input_size, self.interpolation)])
        if crops == 1:
            return T.Compose([resize, T.CenterCrop(self.input_size), finish])
        if crops == 2:
            centre = T.Compose([resize, T.CenterCrop(self.input_size)])
            return lambda img: torch.stack([finish(v) for v in (centre(img), T.functional.hflip(centre(img)))])
        return T.Compose([resize, T.TenCrop(self.input_size), T.Lambda(lambda views: torch.stack([finish(v) for v in views]))])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        return cls(int(d["input_size"]), int(d["resize"]), tuple(d["mean"]), tuple(d["std"]), d.get("interpolation", "bilinear"),
                   d.get("channel_order", "RGB"))  # fmt: skip


EVAL_CROPS = (1, 2, 10, 144)
GOOGLENET_SCALES = (256, 288, 320, 352)  # GoogLeNet Sec. 7: the shorter side, for a 224 crop


def googlenet_views(img, size: int = 224, interpolation: str = "bilinear") -> list:
    """GoogLeNet's 144 crops (Sec. 7): the shorter side resized to 4 scales (256, 288, 320, 352 for a 224
    input; in proportion for others); at each, the left, centre and right squares (top, centre and bottom
    for a portrait image); from each square the four corner and the centre `size` crops and the square
    resized to `size`; and the mirror image of each of those. 4 x 3 x 6 x 2 = 144 PIL images, in that
    order (scale, square, view; the 72 mirrors after the 72)."""
    mode = T.InterpolationMode[interpolation.upper()]
    views = []
    for scale in GOOGLENET_SCALES:
        side = round(scale * size / 224)
        resized = T.Resize(side, interpolation=mode, antialias=True)(img)
        w, h = resized.size
        along = w - side if w >= h else h - side  # where the squares can sit along the longer side
        for start in (0, along // 2, along):
            box = (start, 0, start + side, side) if w >= h else (0, start, side, start + side)
            square = resized.crop(box)
            corners = [(0, 0), (side - size, 0), (0, side - size), (side - size, side - size), ((side - size) // 2, (side - size) // 2)]
            views += [square.crop((x, y, x + size, y + size)) for x, y in corners]
            views.append(T.Resize((size, size), interpolation=mode, antialias=True)(square))
    return views + [T.functional.hflip(v) for v in views]


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
