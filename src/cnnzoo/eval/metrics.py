"""Evaluation as the papers report it: top-1 and top-5 error, single or 10-crop, and ensembles
(softmax averages, optionally weighted: AlexNet's 7-CNN and ResNeXt's ensembles).

Under torchrun each rank evaluates its share of the images (no padding: a DistributedSampler pads
the split to a multiple of the world size and counts the repeated images twice) and the counts are
summed, so every image is counted exactly once, whatever the number of processes."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.folder import readable
from ..errors import CnnzooError
from ..files.atomic import atomic_path
from ..runtime.distributed import SINGLE, World
from ..runtime.execution import ExecPath

CHUNK = 256  # views per forward pass


class NonFiniteOutput(CnnzooError):
    """A model whose outputs are NaN or infinite: no number computed from them would mean anything."""


@dataclass
class Metrics:
    count: int
    loss: float  # mean negative log-likelihood of the true class
    top1_error: float  # %
    top5_error: float  # %
    per_class_accuracy: list[float]  # %, by class index; NaN for a class without images
    confusion: torch.Tensor  # true class x predicted class counts

    def line(self) -> str:
        return f"top-1 error {self.top1_error:.2f}%, top-5 error {self.top5_error:.2f}%, loss {self.loss:.4f} ({self.count:,} images)"


class _Accumulator:
    def __init__(self, num_classes: int):
        self.n = 0
        self.nll = 0.0
        self.correct1 = self.correct5 = 0
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)

    def add(self, probs: torch.Tensor, labels: torch.Tensor) -> None:
        k = min(5, probs.shape[1])
        top = probs.topk(k, dim=1).indices
        hit = top == labels.view(-1, 1)
        self.correct1 += hit[:, 0].sum().item()
        self.correct5 += hit.any(1).sum().item()
        self.nll += -torch.log(probs.gather(1, labels.view(-1, 1)).clamp_min(1e-12)).sum().item()
        self.n += len(labels)
        self.confusion.index_put_((labels, top[:, 0]), torch.ones_like(labels), accumulate=True)

    def reduce(self, world: World) -> "_Accumulator":
        self.n, self.nll, self.correct1, self.correct5 = world.sum(self.n, self.nll, self.correct1, self.correct5)
        self.n, self.correct1, self.correct5 = int(self.n), int(self.correct1), int(self.correct5)
        self.confusion = world.sum_tensor(self.confusion)
        return self

    def metrics(self) -> Metrics:
        n = max(self.n, 1)
        counts = self.confusion.sum(1).float()  # a class without images has no accuracy (NaN), not 0%
        per_class = torch.where(counts > 0, self.confusion.diag().float() / counts.clamp_min(1) * 100, torch.nan).tolist()
        return Metrics(self.n, self.nll / n, 100 * (1 - self.correct1 / n), 100 * (1 - self.correct5 / n), per_class, self.confusion)


def probabilities(model: nn.Module, images: torch.Tensor, path: ExecPath) -> torch.Tensor:
    """Softmax outputs; for N x crops x C x H x W input, averaged over the crops."""
    crops = images.shape[1] if images.dim() == 5 else 1
    x = images.flatten(0, 1) if crops > 1 else images
    x = path.to_device(x)
    with path.autocast():  # many views (144 crops of a batch): the model sees them CHUNK at a time
        logits = model(x) if len(x) <= CHUNK else torch.cat([model(part) for part in x.split(CHUNK)])
    if not torch.isfinite(logits).all():  # finite weights can still overflow: a NaN must never be averaged into a score
        raise NonFiniteOutput(f"{type(model).__name__} computes NaN or infinite logits ({path.describe()}): its weights are broken"
                              f" (or overflow {path.precision}); evaluate an earlier checkpoint, or in fp32")  # fmt: skip
    probs = F.softmax(logits.float(), dim=1).cpu()
    return probs.view(-1, crops, probs.shape[1]).mean(1) if crops > 1 else probs


@torch.no_grad()
def evaluate(models: list[nn.Module], batches, num_classes: int, path: ExecPath, weights: list[float] | None = None,
             world: World = SINGLE):  # fmt: skip
    """Metrics of each model and, for several, of their ensemble (weighted softmax average). Under
    torchrun, `batches` are this rank's shares (`loader.batches(world=world)`)."""
    weights = weights or [1.0] * len(models)
    for m in models:
        m.eval()
    members = [_Accumulator(num_classes) for _ in models]
    ensemble = _Accumulator(num_classes) if len(models) > 1 else None
    for batch in batches:
        probs = [probabilities(m, batch.images, path) for m in models]
        for acc, p in zip(members, probs):
            acc.add(p, batch.labels)
        if ensemble is not None:
            ensemble.add(sum(w * p for w, p in zip(weights, probs)) / sum(weights), batch.labels)
    members = [a.reduce(world) for a in members]
    ensemble = ensemble.reduce(world) if ensemble else None
    return [a.metrics() for a in members], ensemble.metrics() if ensemble else None


DENSE_SCALES = (256, 384, 512)  # VGG Sec. 4.1: Q, the shorter side, for a 224 model


@torch.no_grad()
def evaluate_dense(models: list[nn.Module], paths: list[str], labels: list[int], num_classes: int, prep, scales=DENSE_SCALES,
                   stats=None, strict: bool = False):  # fmt: skip
    """VGG's dense evaluation (Sec. 3.2): each whole image, its shorter side resized to every Q in `scales`
    (in proportion for models not of 224 input), and its mirror image, through the network with its
    fully connected layers as convolutions; the class score map averaged over space, the softmax averaged
    over the scales and the mirrors. One image at a time (their sizes differ), in fp32. Metrics of each
    model and, for several, of their ensemble."""
    from ..data.decoding import BadImageError, decode, skip_or_raise
    from ..data.preprocessing import T
    from ..models.dense import dense_scores

    for m in models:
        m.eval()
    members = [_Accumulator(num_classes) for _ in models]
    ensemble = _Accumulator(num_classes) if len(models) > 1 else None
    mode = T.InterpolationMode[prep.interpolation.upper()]
    finish = T.Compose([T.ToTensor(), T.Normalize(prep.mean, prep.std)])
    for path, label in zip(paths, labels):
        try:
            img = decode(path)
        except BadImageError as e:
            skip_or_raise(path, str(e), strict, stats)
            continue
        views = [finish(T.Resize(round(q * prep.input_size / 224), interpolation=mode, antialias=True)(img)) for q in scales]
        views += [v.flip(-1) for v in views]
        y = torch.tensor([label])
        probs = [torch.stack([F.softmax(dense_scores(m, v[None]).float(), 1)[0] for v in views]).mean(0, keepdim=True) for m in models]
        for acc, p in zip(members, probs):
            acc.add(p, y)
        if ensemble is not None:
            ensemble.add(sum(probs) / len(probs), y)
    return [a.metrics() for a in members], ensemble.metrics() if ensemble else None


def plot_confusion(confusion: torch.Tensor, class_names: list[str], file, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    class_names = [readable(c) for c in class_names]  # a folder name of non-UTF-8 bytes: drawable
    n = confusion.shape[0]
    rates = (confusion.float() / confusion.sum(1, keepdim=True).clamp_min(1)).numpy()
    size = min(4 + 0.35 * n, 30)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    if n <= 40:
        ax.set_xticks(range(n), class_names, rotation=90, fontsize=8)
        ax.set_yticks(range(n), class_names, fontsize=8)
        if n <= 20:
            for i in range(n):
                for j in range(n):
                    if confusion[i, j]:
                        ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=7,
                                color="white" if rates[i, j] > 0.5 else "black")  # fmt: skip
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title or "confusion matrix (rows: true class, normalised)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    with atomic_path(file) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
