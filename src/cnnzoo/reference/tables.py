"""The lecture's published result tables, as data: each row as its paper prints it, and the registered
model (with options and input size) that computes the row here, so that `cnnzoo compare --paper NAME`
can print a paper's table with cnnzoo's computed cost beside the printed one (and the tests can hold
every row to it). Values are the papers' own, with their units; rows without a model are results
of entries that are not networks of this zoo (ILSVRC teams)."""
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TableRow:
    label: str
    values: tuple  # the printed cells, in the table's column order
    model: str | None = None  # the registered model computing this row, if any
    options: dict = field(default_factory=dict)
    input_size: int | None = None  # None: the model's native size


@dataclass(frozen=True)
class PaperTable:
    paper: str  # short citation
    title: str  # "Table 6. MobileNet Width Multiplier"
    columns: tuple[str, ...]
    rows: tuple[TableRow, ...]
    macs_column: str | None = None  # the column printing multiply-adds ("Million Mult-Adds": millions)
    params_column: str | None = None  # the column printing parameters (millions)
    note: str = ""
    macs_unit: float = 1e6  # what one printed unit of `macs_column` is (SENet prints GFLOPs: 1e9)


MOBILENET = "Howard et al. 2017, MobileNets"
_MN = ("ImageNet Accuracy %", "Million Mult-Adds", "Million Parameters")


def _mn(title: str, rows: tuple[TableRow, ...], note: str = "") -> PaperTable:
    return PaperTable(MOBILENET, title, _MN, rows, "Million Mult-Adds", "Million Parameters", note)


def _mobilenet(label: str, acc: float, macs: float, params: float, alpha: float = 1.0, size: int = 224) -> TableRow:
    return TableRow(label, (acc, macs, params), "mobilenet_v1", {"width_mult": alpha} if alpha != 1.0 else {}, size)


def _senet_rows():
    """SENet Table 2's residual rows: the original paper's error, the SENet authors' re-implementation
    (the baseline of the comparison) and the same net with SE blocks (r = 16)."""
    nets = (  # name, original (top-1, top-5), re-implementation (top-1, top-5, GFLOPs), SE (top-1, top-5, GFLOPs), ours
        ("ResNet-50", (24.7, 7.8), (24.80, 7.48, 3.86), (23.29, 6.62, 3.87), "resnet50", "se_resnet50"),
        ("ResNet-101", (23.6, 7.1), (23.17, 6.52, 7.58), (22.38, 6.07, 7.60), "resnet101", "se_resnet101"),
        ("ResNet-152", (23.0, 6.7), (22.42, 6.34, 11.30), (21.57, 5.73, 11.32), "resnet152", "se_resnet152"),
        ("ResNeXt-50", (22.2, "-"), (22.11, 5.90, 4.24), (21.10, 5.49, 4.25), "resnext50_32x4d", "se_resnext50_32x4d"),
        ("ResNeXt-101", (21.2, 5.6), (21.18, 5.57, 7.99), (20.70, 5.01, 8.00), "resnext101_32x4d", "se_resnext101_32x4d"),
    )
    for name, original, reimpl, se, plain, with_se in nets:
        # The SENet authors' ResNets stride the first 1x1 (Caffe's layout, as their released SE nets); their ResNeXts the 3x3.
        options = {"stride_in_1x1": True} if name.startswith("ResNet") else {}
        yield TableRow(f"{name} (original)", (f"{name} (original)", *original, "-"))
        yield TableRow(f"{name} (re-impl.)", (f"{name} (re-impl.)", *reimpl), plain, options)
        yield TableRow(f"SE-{name}", (f"SE-{name}", *se), with_se)


TABLES: dict[str, tuple[PaperTable, ...]] = {
    "mobilenet": (
        _mn("Table 4. Depthwise Separable vs Full Convolution MobileNet", (
            TableRow("Conv MobileNet", (71.7, 4866, 29.3), "mobilenet_v1_conv"),
            _mobilenet("MobileNet", 70.6, 569, 4.2),
        )),  # fmt: skip
        _mn("Table 5. Narrow vs Shallow MobileNet", (
            _mobilenet("0.75 MobileNet", 68.4, 325, 2.6, alpha=0.75),
            TableRow("Shallow MobileNet", (65.3, 307, 2.9), "mobilenet_v1_shallow"),
        )),  # fmt: skip
        _mn("Table 6. MobileNet Width Multiplier", tuple(
            _mobilenet(f"{a} MobileNet-224", acc, m, p, alpha=a)
            for a, acc, m, p in ((1.0, 70.6, 569, 4.2), (0.75, 68.4, 325, 2.6), (0.5, 63.7, 149, 1.3), (0.25, 50.6, 41, 0.5))
        )),  # fmt: skip
        _mn("Table 7. MobileNet Resolution", tuple(
            _mobilenet(f"1.0 MobileNet-{s}", acc, m, 4.2, size=s)
            for s, acc, m in ((224, 70.6, 569), (192, 69.1, 418), (160, 67.2, 290), (128, 64.4, 186))
        )),  # fmt: skip
        _mn("Table 8. MobileNet Comparison to Popular Models", (
            _mobilenet("1.0 MobileNet-224", 70.6, 569, 4.2),
            TableRow("GoogleNet", (69.8, 1550, 6.8), "googlenet", {"aux_logits": False}),
            TableRow("VGG 16", (71.5, 15300, 138), "vgg16"),
        ), "GoogLeNet's 1550 is the paper's own count (ours: the BVLC network of Table 1, without auxiliary heads)"),
    ),
    "resnext": (
        PaperTable("Xie et al. 2016, ResNeXt", "Table 3. Cardinality vs width, at preserved complexity (~4.1 / ~7.8 GFLOPs)",
                   ("setting", "top-1 error %"), (
            *(TableRow(f"{'ResNet' if c == 1 else 'ResNeXt'}-50 {c} x {d}d", (f"{c} x {d}d", err),
                       "resnet50" if c == 1 else "resnext50_32x4d", {} if c == 1 else {"groups": c, "base_width": d})
              for c, d, err in ((1, 64, 23.9), (2, 40, 23.0), (4, 24, 22.6), (8, 14, 22.3), (32, 4, 22.2))),
            *(TableRow(f"{'ResNet' if c == 1 else 'ResNeXt'}-101 {c} x {d}d", (f"{c} x {d}d", err),
                       "resnet101" if c == 1 else "resnext101_32x4d", {} if c == 1 else {"groups": c, "base_width": d})
              for c, d, err in ((1, 64, 22.0), (2, 40, 21.7), (4, 24, 21.4), (8, 14, 21.3), (32, 4, 21.2))),
        ), note="The table prints no cost: every setting keeps the complexity of its ResNet, about 4.1 (ResNet-50) and 7.8 "
                "(ResNet-101) billion multiply-adds, as the paper states."),  # fmt: skip
    ),
    "resnet": (
        PaperTable("He et al. 2015, ResNet", "Table 6. CIFAR-10 test error of the CIFAR ResNets",
                   ("# layers", "# params (millions)", "error %"), tuple(
            TableRow(f"ResNet-{d}", (d, p, err), f"resnet{d}")
            for d, p, err in ((20, 0.27, 8.75), (32, 0.46, 7.51), (44, 0.66, 7.17), (56, 0.85, 6.97), (110, 1.7, 6.43),
                              (1202, 19.4, 7.93))
        ), params_column="# params (millions)", note="ResNet-110: best of 5 runs (mean 6.61 +- 0.16)"),  # fmt: skip
    ),
    "senet": (
        PaperTable("Hu et al. 2017, SENet", "CIFAR-10 test error %, without and with SE",
                   ("network", "original", "SENet"), (
            TableRow("ResNet-110", ("ResNet-110", 6.37, 5.21), "resnet110"),
            TableRow("ResNet-164", ("ResNet-164", 5.46, 4.39)),
        )),  # fmt: skip
        PaperTable("Hu et al. 2017, SENet", "Table 2. ImageNet validation error % (single 224 crop), without and with SE",
                   ("network", "top-1 err.", "top-5 err.", "GFLOPs"), tuple(_senet_rows()), macs_column="GFLOPs", macs_unit=1e9,
                   note="transcribed from the paper (arXiv:1709.01507, Table 2); the lecture shows this comparison as training "
                        "curves (Fig. 5 a-c). 'original': the error the ResNet/ResNeXt papers report; 're-impl.': the SENet "
                        "authors' own training, the fair baseline. The paper's GFLOPs are 0.05-0.4% above the convolutions' "
                        "and FC layers' multiply-adds counted here, in every row; it does not say what else it counts."),
    ),
    "ilsvrc": (
        PaperTable("ILSVRC 2016 results (the lecture's slide)", "ImageNet 2016: classification and localisation error",
                   ("team", "entry", "classification error", "localization error"), tuple(
            TableRow(team, (team, entry, cls, loc)) for team, entry, cls, loc in (
                ("Trimps-Soushen", "Ensemble 2", 0.02991, 0.077668), ("Trimps-Soushen", "Ensemble 3", 0.02991, 0.077087),
                ("Trimps-Soushen", "Ensemble 4", 0.02991, 0.077429),
                ("ResNeXt", "Ensemble C, weighted average, tuned on val. [No bounding box results]", 0.03031, 0.737308),
                ("CU-DeepLink", "GrandUnion + Fused-scale EnsembleNet", 0.03042, 0.098892),
                ("CU-DeepLink", "GrandUnion + Multi-scale EnsembleNet", 0.03046, 0.099006),
                ("CU-DeepLink", "GrandUnion + Basic Ensemble", 0.03049, 0.098954),
                ("ResNeXt", "Ensemble B, weighted average, tuned on val. [No bounding box results]", 0.03092, 0.737484),
                ("CU-DeepLink", "GrandUnion + Class-reweighted Ensemble", 0.03096, 0.099369),
                ("CU-DeepLink", "GrandUnion + Class-reweighted Ensemble with Per-instance Normalization", 0.03103, 0.099349),
                ("ResNeXt", "Ensemble C, weighted average. [No bounding box results]", 0.03124, 0.737526),
                ("Trimps-Soushen", "Ensemble 1", 0.03144, 0.079068),
                ("ResNeXt", "Ensemble A, simple average. [No bounding box results]", 0.0315, 0.737505),
                ("SamExynos", "3 model only for classification", 0.03171, 0.236561),
                ("ResNeXt", "Ensemble B, weighted average. [No bounding box results]", 0.03203, 0.737681),
                ("KAISTNIA_ETRI", "Ensembles A", 0.03256, 0.102015), ("KAISTNIA_ETRI", "Ensembles C", 0.03256, 0.102056),
                ("KAISTNIA_ETRI", "Ensembles B", 0.03256, 0.100676),
            ))),  # fmt: skip
        PaperTable("ILSVRC 2017 results (the lecture's slide)", "ImageNet 2017: classification and localisation error",
                   ("team", "entry", "classification error", "localization error"), tuple(
            TableRow(team, (team, entry, cls, loc)) for team, entry, cls, loc in (
                ("WMW", "Ensemble C [No bounding box results]", 0.02251, 0.590987),
                ("WMW", "Ensemble E [No bounding box results]", 0.02258, 0.591018),
                ("WMW", "Ensemble A [No bounding box results]", 0.0227, 0.591153),
                ("WMW", "Ensemble D [No bounding box results]", 0.0227, 0.591039),
                ("WMW", "Ensemble B [No bounding box results]", 0.0227, 0.59106),
                *(("Trimps-Soushen", f"Result-{i}", 0.02481, loc) for i, loc in
                  enumerate((0.067698, 0.06525, 0.064991, 0.065261, 0.065302), 1)),
                ("NUS-Qihoo_DPNs (CLS-LOC)", "[E2] CLS:: Dual Path Networks + Basic Ensemble", 0.0274, 0.088093),
                ("NUS-Qihoo_DPNs (CLS-LOC)", "[E1] CLS:: Dual Path Networks + Basic Ensemble", 0.02744, 0.088269),
                ("BDAT", "provide_class", 0.02962, 0.086942), ("BDAT", "provide_box", 0.03158, 0.081392),
                ("MIL_UT", "Ensemble of 9 models (classification-only)", 0.03205, 0.596164),
                ("SIIT_KAIST-SKT", "ensemble 2", 0.03226, 0.128924),
                ("MIL_UT", "Ensemble of 10 models (classification-only)", 0.03228, 0.596174),
            )), note="The slide spells the 2017 runner-up 'Trmps-Soushen'."),  # fmt: skip
    ),
}
