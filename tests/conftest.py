import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

from cnnzoo.deploy.engines import ENGINES_ENV
from cnnzoo.runtime.execution import BF16_ENV

# The suite runs the same on every CPU: the default execution path is pinned to fp32 (as on an AVX2
# CPU) unless a test asks for the bf16 one (`cpu_path`), or the developer sets CNNZOO_CPU_BF16=1 to
# run everything on the bf16 path. Subprocesses (CLI, torchrun) inherit the pin.
os.environ.setdefault(BF16_ENV, "0")
# Likewise inference runs on PyTorch's engines (no ONNX export nor measurement before every evaluation) unless a
# test asks for the choice among all of them (tests/test_engines.py).
os.environ.setdefault(ENGINES_ENV, "torch-fp32,torch-bf16")

# Under pytest-xdist (`make test` runs a worker per core) each worker computes on one thread: two workers
# of two threads each fight over the cores (measured: the suite 35% slower). Subprocesses inherit it.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)

import cnnzoo  # noqa: E402
from cnnzoo.analysis.costs import Costs, compute_costs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CIFAR10 = ROOT.parent / "shared" / "data" / "cifar10"


def made_once(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder that `make` fills once per test session, whichever xdist worker asks first (the others
    wait for it and read it): an expensive fixture is not computed again in every worker."""
    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root  # the base all workers share
    folder = root / f"made-once-{name}"
    with FileLock(f"{folder}.lock"):
        if not (folder / ".done").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            make(folder)
            (folder / ".done").touch()
    return folder


@pytest.fixture(scope="session")
def computed_costs(tmp_path_factory) -> dict:
    """Parameters and MACs of every registered model, counted once per test session on meta tensors."""

    def count(folder: Path) -> None:
        costs = {name: compute_costs(name) for name in cnnzoo.list_models()}
        (folder / "costs.json").write_text(json.dumps({n: [c.params, c.macs] for n, c in costs.items()}))

    stored = json.loads((made_once(tmp_path_factory, "costs", count) / "costs.json").read_text())
    return {name: Costs(params, macs) for name, (params, macs) in stored.items()}


# the shared learned run's recipe: the demo's at batch 64 (4 epochs of 25 steps) on the digits at 16x16 (helpers.QUICK_SIZE:
# the 8x8 scans lose nothing), which test_distributed also runs in two processes to compare with this one
LEARNED_DIGITS = {"epochs": 4, "lr": 0.1, "batch_size": 64, "input_size": 16}


@pytest.fixture(scope="session")
def learned_digits(tmp_path_factory) -> Path:
    """A run folder of the tiny ResNet (helpers.TINY, a ResNet-8) trained on the digits with `make demo`'s recipe
    (under 10% validation error asserted; chance is 90%), made once per session and shared: tests that compare two ways
    of scoring a model (int8 and fp32, bf16 and fp32, crops) compare a model that has learned its task, never two
    chance-level ones."""

    def make(folder: Path) -> None:
        from cnnzoo.train import get_recipe
        from helpers import train_tiny

        result = train_tiny(folder / "run", get_recipe("demo").override(**LEARNED_DIGITS))
        assert result.final["val_top1_error"] < 10, f"the shared fixture did not learn: {result.final['val_top1_error']}%"

    return made_once(tmp_path_factory, "learned-digits", make) / "run"


@pytest.fixture(scope="session")
def two_step_weights(tmp_path_factory) -> Path:
    """The final weights of a 2-step run (the tiny ResNet, 512 digits, batch 256), made once per session: a teacher to
    distil from, weights to start a run from."""

    def make(folder: Path) -> None:
        from cnnzoo.train import get_recipe
        from helpers import quick_run

        quick_run(folder / "run", get_recipe("short").override(epochs=1, batch_size=256))

    return made_once(tmp_path_factory, "two-step", make) / "run" / "model.safetensors"


@pytest.fixture(scope="session")
def cifar10_root() -> Path:
    if not (CIFAR10 / "train").is_dir():
        pytest.skip(f"CIFAR-10 not found at {CIFAR10} (the shared data folder); these tests need it")
    return CIFAR10


@pytest.fixture
def fp32_path(monkeypatch) -> str:
    """The fp32 default path, whatever the CPU or CNNZOO_CPU_BF16: for tests that compare numbers with
    an fp32 reference (a peer library's own pipeline) at fp32 tolerances."""
    monkeypatch.setenv(BF16_ENV, "0")
    return "fp32"


def pytest_configure(config):
    config.addinivalue_line("markers", "heavy(seconds): a long test (seconds measured on one thread); run first")


def pytest_collection_modifyitems(items):
    """The long tests first, longest first: two xdist workers then finish together instead of one
    idling while the other runs a long test that was collected last."""
    seconds = {id(item): (item.get_closest_marker("heavy").args[0] if item.get_closest_marker("heavy") else 0) for item in items}
    items.sort(key=lambda item: -seconds[id(item)])


@pytest.fixture(params=["fp32", "bf16"])
def cpu_path(request, monkeypatch) -> str:
    """Each CPU default path in turn: fp32 + channels_last (AVX2 CPUs) and bf16 autocast + channels_last
    (AVX-512 BF16 / AMX CPUs), forced, so that every machine runs both paths' code."""
    monkeypatch.setenv(BF16_ENV, "1" if request.param == "bf16" else "0")
    return request.param
