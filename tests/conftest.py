from pathlib import Path

import pytest

import cnnzoo
from cnnzoo.analysis.costs import compute_costs

ROOT = Path(__file__).resolve().parents[1]
CIFAR10 = ROOT.parent / "shared" / "data" / "cifar10"


@pytest.fixture(scope="session")
def computed_costs() -> dict:
    """Parameters and MACs of every registered model, counted once per test session on meta tensors."""
    return {name: compute_costs(name) for name in cnnzoo.list_models()}


@pytest.fixture(scope="session")
def cifar10_root() -> Path:
    if not (CIFAR10 / "train").is_dir():
        pytest.skip(f"CIFAR-10 not found at {CIFAR10} (the shared data folder); these tests need it")
    return CIFAR10
