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
        """PIL image -> C x H x W (1 crop) or 10 x C x H x W (the centre, the corners and their mirrors)."""
        resize = T.Resize(self.resize, interpolation=T.InterpolationMode[self.interpolation.upper()], antialias=True)
        finish = T.Compose([T.ToTensor(), T.Normalize(self.mean, self.std)])
        if crops == 1:
            return T.Compose([resize, T.CenterCrop(self.input_size), finish])
        return T.Compose([resize, T.TenCrop(self.input_size), T.Lambda(lambda views: torch.stack([finish(v) for v in views]))])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        return cls(int(d["input_size"]), int(d["resize"]), tuple(d["mean"]), tuple(d["std"]), d.get("interpolation", "bilinear"),
                   d.get("channel_order", "RGB"))  # fmt: skip


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
