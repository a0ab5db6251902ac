"""Verdicts from statistics (issue 29): the paired bootstrap, the widening by the seeds' spread, the three
words, and the claims of a sweep judged from its runs' saved per-image predictions. On synthetic
predictions: no training here."""
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from cnnzoo.errors import CnnzooError
from cnnzoo.experiments import EXPERIMENTS
from cnnzoo.experiments.results import judge_claims, markdown
from cnnzoo.experiments.verdicts import Verdict, judge, paired_bootstrap, plot_verdicts, seed_spread, widened, word
from cnnzoo.train.predictions import FILE, read_predictions


def _plan(recipes):
    return SimpleNamespace(recipes=recipes, data="synthetic", limit=None)


def _mistakes(n, rate, rng):
    return rng.random(n) < rate


@pytest.mark.parametrize("related", [False, True])
def test_the_bootstrap_interval_matches_the_paired_normal_approximation(related):
    """A - B's interval has the width the discordant pairs give: SE = sqrt((b + c - (b - c)^2 / n) / n^2).
    Where the two nets err on mostly the same images (`related`), pairing makes it several times narrower
    than two independent samples' would be."""
    rng = np.random.default_rng(1)
    a = _mistakes(5000, 0.10, rng)
    b = a ^ _mistakes(5000, 0.02, rng) if related else _mistakes(5000, 0.12, rng)
    difference, low, high = paired_bootstrap(a, b)
    d = a.astype(int) - b.astype(int)
    se = 100 * d.std() / math.sqrt(len(d))
    assert difference == pytest.approx(100 * d.mean())
    assert (high - low) == pytest.approx(2 * 1.96 * se, rel=0.03)
    assert low < difference < high
    unpaired = 100 * math.sqrt((a.var() + b.var()) / len(a))
    assert (high - low < 2 * 1.96 * unpaired / 2) == related


def test_the_same_answers_differ_by_nothing_and_the_interval_is_a_point():
    a = _mistakes(1000, 0.2, np.random.default_rng(0))
    assert paired_bootstrap(a, a) == (0.0, 0.0, 0.0)


@pytest.mark.parametrize("relation, low, high, expected", [
    ("<", -2.0, -0.5, "shown"), ("<", -1.0, 0.5, "not shown"), ("<", 0.2, 1.0, "contradicted"),
    (">", 0.2, 1.0, "shown"), (">", -1.0, 0.5, "not shown"), (">", -2.0, -0.5, "contradicted"),
])  # fmt: skip
def test_the_three_words(relation, low, high, expected):
    assert word(relation, low, high) == expected


def test_a_difference_one_seed_cannot_tell_is_not_shown_however_it_points():
    """5 images of 5,000 apart (0.1 points), as two differently trained nets are: each wrong where the other is
    right on hundreds of images. The sign says "better", the interval says nothing."""
    rng = np.random.default_rng(2)
    b = _mistakes(5000, 0.18, rng)
    a = b.copy()
    a[rng.permutation(np.flatnonzero(b))[:305]] = False
    a[rng.permutation(np.flatnonzero(~b))[:300]] = True
    v = judge("se < plain in val_top1_error", "<", a, b)
    assert v.difference == pytest.approx(-0.1) and v.verdict == "not shown"
    big = a.copy()
    big[np.flatnonzero(big)[:200]] = False  # 4 points better
    assert judge("x < y", "<", big, b).verdict == "shown" and judge("x > y", ">", big, b).verdict == "contradicted"


def test_the_seed_spread_widens_the_interval_and_can_turn_shown_into_not_shown():
    rng = np.random.default_rng(3)
    b = _mistakes(5000, 0.2, rng)
    a = b.copy()
    a[rng.permutation(np.flatnonzero(b))[:140]] = False  # 0.8 points better, 240 discordant images
    a[rng.permutation(np.flatnonzero(~b))[:100]] = True
    assert judge("a < b", "<", a, b).verdict == "shown"
    wide = judge("a < b", "<", a, b, seed_sd=0.4)
    assert wide.verdict == "not shown" and wide.seed_sd == 0.4
    low, high = widened(-0.8, -1.0, -0.6, 0.4)
    assert high - low == pytest.approx(2 * math.sqrt(0.2**2 + (1.959964 * math.sqrt(2) * 0.4) ** 2))


def test_seed_spread_is_the_pooled_standard_deviation():
    groups = {"a": [10.0, 11.0, 12.0], "b": [20.0, 22.0], "c": [5.0]}
    pooled = math.sqrt(((1 + 0 + 1) + (1 + 1)) / (2 + 1))
    assert seed_spread(groups) == pytest.approx(pooled)
    assert seed_spread({"a": [1.0]}) is None


def test_runs_without_predictions_are_pending_a_rerun_never_held():
    assert judge("a < b", "<", None, None).verdict == "pending a re-run"
    assert judge("a < b", "<", None, None, finished=False).verdict == "not judged yet"


def _run(folder, labels, predicted, train=None):
    folder.mkdir(parents=True)
    arrays = {"val_labels": labels, "val_predicted": predicted}
    if train is not None:
        arrays |= {"train_labels": train[0], "train_predicted": train[1]}
    np.savez_compressed(folder / FILE, **arrays)


def test_a_sweeps_claims_are_judged_from_the_saved_predictions(tmp_path):
    """resnet-cifar's claims on synthetic answers: plain56 clearly worse than plain20 in training and
    validation error (shown), resnet56 a hair better than resnet20 (not shown), one run of before (pending a
    re-run); results.md says so in these words only."""
    rng = np.random.default_rng(4)
    labels, train_labels = rng.integers(0, 10, 5000).astype(np.int32), rng.integers(0, 10, 45000).astype(np.int32)

    def answers(n_labels, rate):
        wrong = rng.random(len(n_labels)) < rate
        return np.where(wrong, (n_labels + 1) % 10, n_labels).astype(np.int32)

    _run(tmp_path / "runs" / "plain20", labels, answers(labels, 0.10), (train_labels, answers(train_labels, 0.05)))
    _run(tmp_path / "runs" / "plain56", labels, answers(labels, 0.20), (train_labels, answers(train_labels, 0.15)))
    r20 = answers(labels, 0.10)
    r56 = answers(labels, 0.099)  # another net: a hair better, wrong on other images
    _run(tmp_path / "runs" / "resnet20", labels, r20)
    _run(tmp_path / "runs" / "resnet56", labels, r56)
    (tmp_path / "runs" / "old").mkdir()  # finished before predictions were saved: no file, no weights
    e = EXPERIMENTS["resnet-cifar"]
    rows = {name: {"status": "done", "model": name, "options": {}, "val_top1_error": 10.0}
            for name in ("plain20", "plain56", "resnet20", "resnet56")}  # fmt: skip
    recipes = {name: {"seed": 0, "epochs": 30} for name in rows}
    verdicts = {v.claim: v for v in judge_claims(e, rows, _plan(recipes), tmp_path)}
    assert verdicts["plain56 > plain20 in train_top1_error"].verdict == "shown"
    assert verdicts["plain56 > plain20 in train_top1_error"].images == 45000
    assert verdicts["plain56 > plain20 in val_top1_error"].verdict == "shown"
    assert verdicts["resnet56 < resnet20 in val_top1_error"].verdict == "not shown"
    assert verdicts["resnet56 < plain56 in train_top1_error"].verdict == "pending a re-run"  # resnet56 saved no training answers
    rows["resnet56"]["status"] = "running: 3 epochs"
    assert {v.claim: v for v in judge_claims(e, rows, _plan(recipes), tmp_path)}["resnet56 < resnet20 in val_top1_error"].verdict == "not judged yet"
    text = markdown({"title": "t", "paper": "p", "where": "w", "claim": "c", "schedule": "s", "data": "d", "machine": "m", "commit": None,
                     "runs": [], "note": "", "checks": [v.as_dict() for v in verdicts.values()]})  # fmt: skip
    assert "held" not in text and text.count("**shown**") == 2 and "95% CI" in text
    plot_verdicts(list(verdicts.values()), tmp_path / "v.png", "t")
    assert (tmp_path / "v.png").stat().st_size > 5000


def test_runs_validated_on_other_images_cannot_be_paired(tmp_path):
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 10, 100).astype(np.int32), rng.integers(0, 10, 100).astype(np.int32)
    _run(tmp_path / "runs" / "resnet20", a, a)
    _run(tmp_path / "runs" / "resnet56", b, b)
    rows = {n: {"status": "done", "model": n, "options": {}, "val_top1_error": 0.0} for n in ("resnet20", "resnet56")}
    recipes = {n: {"seed": 0} for n in rows}
    with pytest.raises(Exception, match="different validation images"):
        judge_claims(EXPERIMENTS["resnet-cifar"], rows, _plan(recipes), tmp_path)


def test_training_predictions_in_another_order_cannot_be_paired(tmp_path):
    rng = np.random.default_rng(6)
    labels, train = rng.integers(0, 10, 100).astype(np.int32), rng.integers(0, 10, 400).astype(np.int32)
    _run(tmp_path / "runs" / "plain20", labels, labels, (train, train))
    _run(tmp_path / "runs" / "plain56", labels, labels, (train[::-1].copy(), train[::-1].copy()))
    rows = {n: {"status": "done", "model": n, "options": {}, "val_top1_error": 0.0} for n in ("plain20", "plain56")}
    with pytest.raises(Exception, match="different training images"):
        judge_claims(EXPERIMENTS["resnet-cifar"], rows, _plan({n: {"seed": 0} for n in rows}), tmp_path)


def test_only_runs_that_differ_in_nothing_but_the_seed_widen_the_intervals(tmp_path):
    """mobilenet-multipliers' res20/24/28 share model and options and differ in input size: three settings,
    not three seeds, and they leave alpha1.0 < res20's interval as the images give it. Two seeds of
    alpha1.0 do widen it, by the spread of their errors on the claim's images."""
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 10, 5000).astype(np.int32)

    def answers(rate):
        return np.where(rng.random(5000) < rate, (labels + 1) % 10, labels).astype(np.int32)

    wrong = {"alpha1.0": answers(0.13), "res20": answers(0.16), "res24": answers(0.15), "res28": answers(0.14),
             "conv": answers(0.11), "alpha0.25": answers(0.19), "again": answers(0.135)}  # fmt: skip
    for name, predicted in wrong.items():
        _run(tmp_path / "runs" / name, labels, predicted)
    model = {"again": ("mobilenet_v1", {"stem_stride": 1}), "conv": ("mobilenet_v1_conv", {}), "alpha0.25": ("mobilenet_v1", {"width_mult": 0.25})}
    rows = {n: {"status": "done", "model": model.get(n, ("mobilenet_v1", {"stem_stride": 1}))[0],
                "options": model.get(n, ("mobilenet_v1", {"stem_stride": 1}))[1], "val_top1_error": 0.0} for n in wrong}  # fmt: skip
    recipes = {n: {"seed": 0, "input_size": None} for n in wrong} | {f"res{r}": {"seed": 0, "input_size": r} for r in (20, 24, 28)}
    e = EXPERIMENTS["mobilenet-multipliers"]
    claim = "alpha1.0 < res20 in val_top1_error"
    apart = {v.claim: v for v in judge_claims(e, {n: r for n, r in rows.items() if n != "again"}, _plan(recipes), tmp_path)}
    assert apart[claim].seed_sd is None
    recipes["again"] = {"seed": 1, "input_size": None}  # alpha1.0 again, another seed
    together = {v.claim: v for v in judge_claims(e, rows, _plan(recipes), tmp_path)}
    errors = [100 * float(np.mean(wrong[n] != labels)) for n in ("alpha1.0", "again")]
    assert together[claim].seed_sd == pytest.approx(float(np.std(errors, ddof=1)), abs=1e-3)
    assert together[claim].high - together[claim].low > apart[claim].high - apart[claim].low
    recipes["again"]["seed"] = 0  # the same seed twice is one replicate, not two
    assert {v.claim: v for v in judge_claims(e, rows, _plan(recipes), tmp_path)}[claim].seed_sd is None


def test_a_predictions_file_that_would_fill_the_memory_is_refused(tmp_path, monkeypatch):
    """An array header declaring 40 TB over 16 bytes, and a file declaring more than predictions take."""
    import io
    import zipfile

    from cnnzoo.train import predictions

    lie = io.BytesIO()
    np.lib.format.write_array_header_2_0(lie, {"descr": "<i4", "fortran_order": False, "shape": (10**13,)})
    with zipfile.ZipFile(tmp_path / FILE, "w") as z:
        for key in ("val_labels", "val_predicted"):
            z.writestr(f"{key}.npy", lie.getvalue() + bytes(16))
    with pytest.raises(CnnzooError, match="cannot read"):
        read_predictions(tmp_path)
    np.savez(tmp_path / FILE, val_labels=np.zeros(100, np.int32), val_predicted=np.zeros(100, np.int32))
    assert len(read_predictions(tmp_path)["val_labels"]) == 100
    monkeypatch.setattr(predictions, "MAX_BYTES", 500)
    with pytest.raises(CnnzooError, match="over the 0 MiB a file of per-image predictions can hold"):
        read_predictions(tmp_path)


def test_a_predictions_file_holding_objects_is_refused(tmp_path):
    np.savez(tmp_path / FILE, val_labels=np.array([json.dumps({})], dtype=object), val_predicted=np.zeros(1))
    with pytest.raises(Exception, match="cannot read|not a file of cnnzoo's"):
        read_predictions(tmp_path)
    assert Verdict("c", "shown", -1.0, -2.0, -0.5, 10, None, (1.0, 2.0)).line().startswith("c: **shown**")


@pytest.mark.parametrize("arrays, message", [
    (dict(val_labels=np.arange(8), val_predicted=np.zeros(1, np.int64)), r"shape \(8,\) and shape \(1,\)"),  # would broadcast
    (dict(val_labels=np.zeros((2, 4), np.int64), val_predicted=np.zeros((2, 4), np.int64)), r"shape \(2, 4\)"),
    (dict(val_labels=np.zeros(0, np.int64), val_predicted=np.zeros(0, np.int64)), r"val_labels and val_predicted"),
    (dict(val_labels=np.arange(8), val_predicted=np.arange(8), train_labels=np.arange(8)), r"shape \(8,\) and missing"),
])  # fmt: skip
def test_predictions_out_of_shape_are_refused_not_broadcast(tmp_path, arrays, message):
    np.savez(tmp_path / FILE, **arrays)
    with pytest.raises(CnnzooError, match=message):
        read_predictions(tmp_path)


def test_a_picture_of_verdicts_goes_when_nothing_is_judged_any_more(tmp_path):
    file = tmp_path / "verdicts.png"
    plot_verdicts([judge("a < b", "<", np.arange(100) < 10, np.arange(100) < 30)], file, "t")
    assert file.is_file()
    plot_verdicts([judge("a < b", "<", None, None, finished=False)], file, "t")  # the runs reset: no old picture beside the results
    assert not file.exists()
