"""Property-based: any recipe override and any `cnnzoo train` command line either runs or is refused
with one clear line, never a traceback from deep inside."""
import dataclasses

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cnnzoo import CnnzooError
from cnnzoo.cli import main
from cnnzoo.train import RECIPES, Recipe, RunConfig, StopRequested, get_recipe, train

FIELDS = [f.name for f in dataclasses.fields(Recipe) if f.name != "name"]
FUZZ = settings(derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))

values = st.one_of(
    st.integers(-3, 300).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["true", "false", "none", "", "0", "1e-3", "1,2", "-1", "sgd", "rmsprop", "adamw", "cosine", "onecycle",
                     "step", "multistep", "plateau", "constant", "rollback", "cifar", "flip", "pixel", "bf16", "fp16", "fp32"]),
    st.text(max_size=8),
)  # fmt: skip
WORDS = ["sgd", "rmsprop", "adamw", "cosine", "onecycle", "step", "multistep", "plateau", "constant", "rollback", "stop", "cifar",
         "flip", "none", "pixel", "channel", "imagenet", "auto", "fp32", "bf16", "fp16"]  # fmt: skip


def _plausible(field: dataclasses.Field) -> list[str]:
    """Values of the field's type, right and wrong ones: what a user might type."""
    kind, none = str(field.type), ["none"] if "None" in str(field.type) else []
    if "bool" in kind:
        return ["true", "false", *none]
    if "tuple" in kind:
        return ["1,2", "0.5", ""]
    if "int" in kind and "float" not in kind:
        return ["0", "1", "2", "7", *none]
    if "float" in kind:
        return ["0", "0.001", "0.3", "2", "-1", *none]
    return WORDS


PLAUSIBLE = {f.name: _plausible(f) for f in dataclasses.fields(Recipe) if f.name not in ("name", "compile")}  # compile: minutes each
plausible_overrides = st.lists(st.sampled_from(sorted(PLAUSIBLE)).flatmap(lambda k: st.sampled_from(PLAUSIBLE[k]).map(lambda v: f"{k}={v}")),
                               max_size=3)  # fmt: skip
overrides = st.lists(st.tuples(st.sampled_from([*FIELDS, "nmae", "lr ", ""]), values).map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=4)


@FUZZ
@given(name=st.sampled_from(list(RECIPES)), items=st.one_of(overrides, st.lists(st.text(max_size=10), max_size=2)))
def test_any_recipe_override_is_typed_or_refused(name, items):
    try:
        recipe = get_recipe(name).parse_overrides(items)
    except CnnzooError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert recipe.validated() is recipe


@settings(FUZZ, max_examples=25)
@given(items=plausible_overrides)
def test_an_accepted_recipe_trains(tmp_path_factory, items):
    """Two steps of ResNet-20 on the digits with whatever the overrides made of the short recipe."""
    try:
        recipe = get_recipe("short").override(batch_size=32, epochs=1).parse_overrides(items)
    except CnnzooError:
        return
    out = tmp_path_factory.mktemp("run")
    config = RunConfig("resnet20", "digits", recipe, out, show_progress=False, log=lambda *_: None, limit=256, max_steps=2)
    try:
        train(config)
        event("trained")
    except (StopRequested, CnnzooError) as e:
        event(type(e).__name__)
        assert not isinstance(e, CnnzooError) or "\n" not in str(e)


flags = st.lists(
    st.one_of(
        st.sampled_from(["--resume", "--auto-resume", "--fp32", "--strict"]).map(lambda f: [f]),
        st.tuples(st.just("--limit"), st.integers(-5, 5000).map(str)).map(list),
        st.tuples(st.just("--recipe"), st.sampled_from([*RECIPES, "fast", ""])).map(list),
        st.tuples(st.just("--model-option"), st.sampled_from(["se=true", "depth=21", "width=3", "x", "zero_init_residual=1"])).map(list),
        st.tuples(st.just("--data"), st.sampled_from(["digits", "synthetic", "/no/such/data", ""])).map(list),
        overrides.map(list),
    ),
    max_size=4,
)


@settings(FUZZ, max_examples=40)
@given(model=st.sampled_from(["resnet20", "resnet56", "resnet21", "mobilenet_v2", ""]), extra=flags)
def test_any_train_command_line_runs_or_is_refused_in_one_line(tmp_path_factory, capsys, model, extra):
    out = tmp_path_factory.mktemp("cli") / "run"
    argv = ["train", model, "--data", "digits", "--recipe", "short", *[a for group in extra for a in group], "--out", str(out), "--dry-run"]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse: a usage line and the error, exit 2
        code = e.code
        assert code == 2 and "error:" in capsys.readouterr().err
        return
    err = capsys.readouterr().err
    event(f"exit code {code}")
    assert code in (0, 2), err
    if code == 2:
        assert err.startswith("cnnzoo: error: ") and len(err.strip().splitlines()) == 1, err
    assert not (out / "checkpoint.pt").exists()  # a dry run writes nothing


@pytest.mark.parametrize("argv, message", [
    (["--limit", "0"], "--limit must be a positive"),
    (["--resume", "--auto-resume"], "exclude each other"),
    (["epochs=inf"], "epochs must be a finite number"),
    (["lr=nan"], "lr must be a finite number"),
    (["batch_size=60000"], "smaller than one batch"),
    (["on_nan=retry"], "on_nan must be stop or rollback"),
    (["warmup=400"], "warmup=400 is longer than the run (10 epochs; warmup counts in the same unit)"),
    (["--num-classes", "10"], "--num-classes goes with --init"),
    (["--init", "/no/such.pth"], "resnet20 has no counterpart in torchvision or timm"),
])  # fmt: skip
def test_refusals_name_the_problem(tmp_path, capsys, argv, message):
    code = main(["train", "resnet20", "--data", "digits", "--recipe", "short", "--out", str(tmp_path / "r"), "--dry-run", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err


def test_a_dry_run_checks_everything_and_writes_nothing(tmp_path, capsys):
    assert main(["train", "resnet20", "--data", "digits", "--recipe", "short", "--out", str(tmp_path / "r"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "steps of 128" in out and "nothing trained or written" in out and not (tmp_path / "r").exists()
