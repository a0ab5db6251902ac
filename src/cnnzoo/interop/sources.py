"""Where a set of published weights lives and what comes with it: the record every importer
(torchvision, timm, Keras) returns, and the refusal to download."""
from dataclasses import dataclass
from pathlib import Path

from ..data.preprocessing import Preprocessing
from ..errors import CnnzooError
from ..registry import Peer


class WeightsNotFoundError(CnnzooError):
    """A peer's weight file that is not on this machine."""


@dataclass(frozen=True)
class WeightSource:
    library: str
    peer: Peer
    files: tuple[Path, ...]  # where the peer library keeps its download, most likely first
    url: str
    preprocessing: Preprocessing
    top1: float | None = None  # published ImageNet-1k accuracy of these weights, %
    top5: float | None = None
    name: str = ""  # the weights' own name: ResNet50_Weights.IMAGENET1K_V2, legacy_seresnet50.in1k
    published_by: str = ""  # where top1/top5 come from

    @property
    def available(self) -> Path | None:
        return next((f for f in self.files if f.is_file()), None)

    def published(self) -> str:
        if self.top1 is None:
            return "no published accuracy known to cnnzoo"
        top5 = f", top-5 {self.top5:.3f}%" if self.top5 is not None else ""
        return f"top-1 {self.top1:.3f}%{top5} ({self.published_by})"


def find_weights(src: WeightSource) -> Path:
    for f in src.files:
        if f.is_file():
            return f
    where = "\n  ".join(str(f) for f in src.files[:3])
    raise WeightsNotFoundError(
        f"{src.library}'s weights for {src.peer.name} are not on this machine (cnnzoo never downloads): "
        f"fetch {src.url} where you are online and put it at {src.files[0]} "
        f"(or pass weights=PATH). Looked in: {where}"
    )
