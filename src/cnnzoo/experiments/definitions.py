"""The lecture's experiments as data: which paper and table each reproduces, its runs (a registered
model, its options, a recipe with overrides, a seed), what is measured, and the paper's own number
beside every run. `cnnzoo reproduce NAME` trains the runs through the ordinary training engine."""
from dataclasses import dataclass, field

from ..models.mobilenet_v1 import MOBILENET_PAPER
from ..models.resnet import RESNET_PAPER
from ..models.resnext import RESNEXT_PAPER
from ..models.senet import SENET_PAPER
from ..registry import Paper


@dataclass(frozen=True)
class PaperNumber:
    """A number a paper prints for a run (an error in %), and where."""

    value: float
    where: str  # "Table 6"
    what: str = "CIFAR-10 test error %"  # what the number measures (ImageNet numbers are shown as a trend)


@dataclass(frozen=True)
class RunSpec:
    name: str  # the run's folder and row: "plain20", "32x4d", "alpha0.5"
    model: str
    options: dict = field(default_factory=dict)  # model options
    overrides: dict = field(default_factory=dict)  # recipe fields, over the experiment's recipe
    seed: int = 0
    paper: PaperNumber | None = None
    group: str = ""  # for plots and tables: "plain" / "residual", "SE" / "no SE", ...
    optional: bool = False  # defined, run only when named in --runs (ResNet-1202)


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    paper: Paper
    where: str  # the table or figure reproduced
    claim: str  # the qualitative claim the results are checked against
    recipe: str  # the base recipe of every run
    runs: tuple[RunSpec, ...]
    plot: str  # "curves" (Fig. 6: error against iterations), "cost" (error against MACs), "trend" (ours and the paper's, run by run), "bars"
    checks: tuple[tuple[str, str, str, str], ...] = ()  # claims as (run, "<" or ">", other run, measure)
    reference: tuple[tuple[str, PaperNumber], ...] = ()  # the paper's numbers that belong to no single run
    ensemble: bool = False  # also evaluate the runs' averaged softmax, and flip test-time augmentation
    note: str = ""
    first: tuple[str, ...] = ()  # the runs that decide the claims: trained before the others

    def in_order(self, specs: list[RunSpec]) -> list[RunSpec]:
        """`specs` in training order: the deciding runs first (in `first`'s order), then the rest as listed."""
        rank = {name: i for i, name in enumerate(self.first)}
        return sorted(specs, key=lambda s: rank.get(s.name, len(rank)))

    def run(self, name: str) -> RunSpec:
        for r in self.runs:
            if r.name == name:
                return r
        raise KeyError(name)

    def default_runs(self) -> tuple[RunSpec, ...]:
        return tuple(r for r in self.runs if not r.optional)


# -- ResNet, Sec. 4.2: plain against residual nets on CIFAR-10 (Table 6, Fig. 6) --------------------------

_TABLE6 = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43, 1202: 7.93}
RESNET_CIFAR = Experiment(
    "resnet-cifar",
    "Plain against residual nets of growing depth on CIFAR-10",
    RESNET_PAPER,
    "Sec. 4.2, Table 6 and Fig. 6",
    "plain nets get worse with depth in training AND validation error (plain-56 above plain-20: an optimisation "
    "problem, not overfitting); residual nets get better (ResNet-56 below ResNet-20)",
    "resnet_cifar",
    (
        *(RunSpec(f"plain{d}", f"plain{d}", group="plain") for d in (20, 32, 44, 56)),
        *(RunSpec(f"resnet{d}", f"resnet{d}", paper=PaperNumber(_TABLE6[d], "Table 6"), group="residual")
          for d in (20, 32, 44, 56)),  # fmt: skip
        # Sec. 4.2: "we use 0.01 to warm up the training until the training error is below 80% (about 400 iterations),
        # and then go back to 0.1": here a linear warm-up from 0.01 to 0.1 over those 400 iterations (the recipe's
        # warm-up field), not a constant 0.01 then a jump
        RunSpec("resnet110", "resnet110", overrides={"warmup": 400, "warmup_factor": 0.1},
                paper=PaperNumber(_TABLE6[110], "Table 6 (best of 5; mean 6.61)"), group="residual"),  # fmt: skip
        RunSpec("resnet1202", "resnet1202", overrides={"warmup": 400, "warmup_factor": 0.1},
                paper=PaperNumber(_TABLE6[1202], "Table 6"), group="residual", optional=True),  # fmt: skip
    ),
    "curves",
    checks=(("plain56", ">", "plain20", "train_top1_error"), ("plain56", ">", "plain20", "val_top1_error"),
            ("resnet56", "<", "resnet20", "val_top1_error"), ("resnet110", "<", "resnet56", "val_top1_error"),
            ("resnet56", "<", "plain56", "train_top1_error")),
    first=("plain20", "plain56", "resnet20", "resnet56", "resnet110"),  # Fig. 6's degradation, then Table 6's depth gain
    note="The paper's plain nets appear in Fig. 6 only (no table): their rows carry no paper number.",
)

# -- SENet: SE blocks on the CIFAR ResNets -------------------------------------------------------------------

SE_CIFAR = Experiment(
    "se-cifar",
    "Squeeze-and-excitation on and off, CIFAR ResNets",
    SENET_PAPER,
    "Sec. 6.1 (CIFAR-10 results table): ResNet-110 6.37 -> 5.21, ResNet-164 5.46 -> 4.39",
    "SE lowers the error at little extra cost (parameters and MACs from the analyzer)",
    "resnet_cifar",
    (
        RunSpec("resnet20", "resnet20", paper=PaperNumber(_TABLE6[20], "ResNet paper, Table 6"), group="no SE"),
        RunSpec("se-resnet20", "resnet20", {"se": 16}, group="SE"),
        RunSpec("resnet56", "resnet56", paper=PaperNumber(_TABLE6[56], "ResNet paper, Table 6"), group="no SE"),
        RunSpec("se-resnet56", "resnet56", {"se": 16}, group="SE"),
        RunSpec("resnet110", "resnet110", overrides={"warmup": 400, "warmup_factor": 0.1},
                paper=PaperNumber(6.37, "SENet paper, CIFAR-10 table"), group="no SE", optional=True),  # fmt: skip
        RunSpec("se-resnet110", "resnet110", {"se": 16}, overrides={"warmup": 400, "warmup_factor": 0.1},
                paper=PaperNumber(5.21, "SENet paper, CIFAR-10 table"), group="SE", optional=True),  # fmt: skip
    ),
    "bars",
    checks=(("se-resnet20", "<", "resnet20", "val_top1_error"), ("se-resnet56", "<", "resnet56", "val_top1_error")),
    first=("resnet56", "se-resnet56"),  # SE at depth 56 (the SENet paper's nets are deeper still) decides first
    note="The SENet paper gives CIFAR-10 numbers for ResNet-110 and -164 only; ResNet-20/56 rows show the ResNet paper's "
         "error without SE.",  # fmt: skip
)

# -- ResNeXt, Table 3: cardinality against width at preserved complexity -------------------------------------

_TABLE3 = {(1, 64): 23.9, (2, 40): 23.0, (4, 24): 22.6, (8, 14): 22.3, (32, 4): 22.2}
RESNEXT_CARDINALITY = Experiment(
    "resnext-cardinality",
    "Cardinality against width at preserved complexity (ResNeXt-29, CIFAR-10)",
    RESNEXT_PAPER,
    "Table 3 (ResNet-50 row: 1x64d 23.9% to 32x4d 22.2% ImageNet top-1 error); Sec. 5.1 and Fig. 5 (training error)",
    "at equal parameters and MACs, more groups (cardinality) lower the error more than width does: 32x4d below 1x64d, "
    "in validation error and, the paper adds, in training error",
    "resnext_cifar",
    tuple(
        RunSpec(f"{c}x{d}d", "resnext29_cifar", {"groups": c, "base_width": d},
                paper=PaperNumber(err, "Table 3, ResNeXt-50", "ImageNet top-1 error % (the trend to compare)"),
                group="cardinality")  # fmt: skip
        for (c, d), err in _TABLE3.items()
    ),
    "trend",  # the runs' MACs are equal by design: error against cardinality, the paper's beside it
    # Sec. 5.1: 32x4d's training error is "noticeably lower" than 1x64d's (Fig. 5), "suggesting that the gains are
    # not from regularization but from stronger representations". (This check was added once both runs had finished.)
    checks=(("32x4d", "<", "1x64d", "val_top1_error"), ("32x4d", "<", "1x64d", "train_top1_error")),
    note="The paper's numbers are ImageNet top-1 errors of ResNeXt-50: the trend to compare, not the values.",
    first=("32x4d", "1x64d"),  # the two ends of the trade decide the claim
)

# -- MobileNet, Tables 4, 6 and 7: separable against full convolutions, width and resolution -----------------

_CIFAR_MOBILENET = {"stem_stride": 1}
MOBILENET_MULTIPLIERS = Experiment(
    "mobilenet-multipliers",
    "Depthwise separable against full convolutions, width multiplier and resolution (CIFAR-10)",
    MOBILENET_PAPER,
    "Tables 4, 6 and 7; Fig. 4-5 (accuracy against mult-adds)",
    "separable convolutions cost ~8x fewer MACs for ~1 point; accuracy falls smoothly with alpha and resolution",
    "mobilenet_cifar",
    (
        RunSpec("conv", "mobilenet_v1_conv", _CIFAR_MOBILENET, paper=PaperNumber(100 - 71.7, "Table 4", "ImageNet top-1 error %"),
                group="full conv"),  # fmt: skip
        *(RunSpec(f"alpha{a}", "mobilenet_v1", {**_CIFAR_MOBILENET, "width_mult": a},
                  paper=PaperNumber(100 - acc, "Table 6", "ImageNet top-1 error %"), group="width")
          for a, acc in ((1.0, 70.6), (0.75, 68.4), (0.5, 63.7), (0.25, 50.6))),  # fmt: skip
        # Table 7's resolutions 224/192/160/128 are 1, 6/7, 5/7 and 4/7 of 224: 32, 28, 24 and 20 pixels here
        *(RunSpec(f"res{px}", "mobilenet_v1", _CIFAR_MOBILENET, {"input_size": px},
                  paper=PaperNumber(100 - acc, f"Table 7 ({paper_px})", "ImageNet top-1 error %"), group="resolution")
          for px, paper_px, acc in ((28, 192, 69.1), (24, 160, 67.2), (20, 128, 64.4))),  # fmt: skip
    ),
    "cost",
    checks=(("conv", "<", "alpha1.0", "val_top1_error"), ("alpha1.0", "<", "alpha0.25", "val_top1_error"),
            ("alpha1.0", "<", "res20", "val_top1_error")),
    note="CIFAR-sized MobileNets: stem_stride=1 (a named option) keeps 32-pixel inputs at 2x2 in the last layers. "
         "The paper's numbers are ImageNet top-1 errors: the trend to compare.",  # fmt: skip
    # the runs the claims compare, conv last of them: its checkpoint (29M parameters and their momentum, 234 MB) is too
    # big to carry from one session to the next in git, so it must train from start to end in one (2.5 h on 2 cores)
    first=("alpha1.0", "alpha0.25", "res20", "conv"),
)

# -- Ensembles: several ResNet-20 runs, their averaged softmax, flip test-time augmentation -----------------

ENSEMBLES = Experiment(
    "ensembles",
    "An ensemble of ResNet-20s against its members, and flip test-time augmentation",
    Paper("ImageNet Classification with Deep Convolutional Neural Networks", "Alex Krizhevsky, Ilya Sutskever, Geoffrey E. Hinton",
          2012, None),  # fmt: skip
    "Sec. 6 (ILSVRC-2012 top-5: 1 CNN 18.2%, 5 CNNs 16.4%, 7 CNNs 15.4%)",
    "averaging the softmax of independently trained nets lowers the error below every member's",
    "resnet_cifar",
    tuple(RunSpec(f"seed{s}", "resnet20", seed=s, group="member") for s in range(5)),
    "bars",
    reference=tuple((what, PaperNumber(v, "AlexNet Sec. 6", "ILSVRC-2012 top-5 error %")) for what, v in
                    (("1 CNN", 18.2), ("5 CNNs", 16.4), ("7 CNNs (with pre-training)", 15.4))),  # fmt: skip
    ensemble=True,
    note="AlexNet's numbers are ImageNet top-5 errors of 1, 5 and 7 CNNs: the trend to compare.",
)

EXPERIMENTS: dict[str, Experiment] = {
    e.name: e for e in (RESNET_CIFAR, SE_CIFAR, RESNEXT_CARDINALITY, MOBILENET_MULTIPLIERS, ENSEMBLES)
}
