"""Evaluating weights people already have on ImageNet's validation images, fed as the weights' authors
fed them, beside the accuracy they published:

    cnnzoo eval --model resnet50 --pretrained torchvision --data /data/imagenet

Several models are scored one by one and, when their preprocessing agrees, as an ensemble too.
"""
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from ..data.bundle import DataBundle
from ..data.evalset import imagenet_wnids, load_eval_data
from ..distributed import SINGLE, World
from ..errors import CnnzooError
from ..evaluate import Metrics, evaluate
from ..execution import ExecPath, prepare
from ..registry import model_info
from .pretrained import WeightSource, imagenet_categories, pretrained_model


@dataclass
class Scored:
    name: str
    source: WeightSource | None
    weights_file: str
    metrics: Metrics

    def lines(self) -> list[str]:
        what = self.source.name if self.source else "weights"
        top = [f"{self.name} ({what}, {self.weights_file}): {self.metrics.line()}"]
        acc1, acc5 = 100 - self.metrics.top1_error, 100 - self.metrics.top5_error
        measured = f"  accuracy top-1 {acc1:.3f}%, top-5 {acc5:.3f}%"
        if self.source is None or self.source.top1 is None:
            return top + [measured]
        diff = f"; difference {acc1 - self.source.top1:+.3f} points top-1"
        return top + [f"{measured}; published {self.source.published()}{diff}"]


def load_pretrained(names: list[str], weights: list[str]) -> list[nn.Module]:
    if len(weights) not in (0, 1, len(names)):
        raise CnnzooError(f"--pretrained takes one source for all models or one per model ({len(names)}), got {len(weights)}")
    models = []
    for i, name in enumerate(names):
        source = weights[i] if len(weights) == len(names) else weights[0] if weights else None
        info = model_info(name)
        if info.peer is None and source is None:
            raise CnnzooError(f"{name} has no torchvision/timm weights: give --pretrained FILE, or evaluate a --checkpoint of cnnzoo's")
        model = pretrained_model(name, source or info.peer.library)
        if model.preprocessing is None:
            raise CnnzooError(f"{model.weights_file}: cnnzoo does not know how these weights want their images (pip install timm)")
        models.append(model)
    return models


def evaluate_pretrained(names: list[str], weights: list[str], data: str | Path, path: ExecPath, crops: int = 1,
                        batch_size: int = 50, workers: int = 2, limit: int | None = None, strict: bool = False,
                        world: World = SINGLE) -> tuple[DataBundle, list[Scored], Metrics | None]:  # fmt: skip
    """Each model's top-1/top-5 on the validation images of `data` (and their ensemble's, for several)."""
    models = load_pretrained(names, weights)
    preps = {m.preprocessing for m in models}
    if len(preps) > 1:
        raise CnnzooError(
            "these weights want their images differently (" + "; ".join(f"{n}: {m.preprocessing.describe()}" for n, m in zip(names, models))
            + "): evaluate them one at a time"
        )
    prep = models[0].preprocessing
    evaldata = load_eval_data(data, prep, list(imagenet_wnids()), imagenet_categories(), crops, batch_size, workers, strict, limit)
    runnable = [prepare(m, path) for m in models]
    members, ensemble = evaluate(runnable, evaldata.val.batches(world=world), evaldata.num_classes, path, world=world)
    scored = [Scored(n, m.weight_source, m.weights_file, s) for n, m, s in zip(names, models, members)]
    return evaldata, scored, ensemble
