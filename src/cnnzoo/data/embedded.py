"""Data that needs no download: scikit-learn's bundled handwritten digits, and synthetic images.

The digits (Alpaydin & Kaynak, UCI; 1,797 real 8x8 greyscale scans of 10 classes) ship inside
scikit-learn. They are upscaled to 32x32 RGB so that the CIFAR-sized networks take them as they
are: a real, tiny classification task for the demo and the quick tests.
"""
import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def _digits_table() -> tuple[np.ndarray, np.ndarray]:
    """(N x 8 x 8 pixel values 0..16, labels): scikit-learn's bundled digits.csv.gz, read directly when it is
    where scikit-learn keeps it (importing scikit-learn and SciPy costs about 1.5 s a process), else through
    scikit-learn's own loader."""
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    file = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if file is None or not file.is_file():
        from sklearn.datasets import load_digits as sklearn_digits

        digits = sklearn_digits()
        return digits.images, digits.target
    with gzip.open(file, "rt") as f:
        table = np.loadtxt(f, delimiter=",")
    return table[:, :-1].reshape(-1, 8, 8), table[:, -1].astype(np.int64)


def load_digits(size: int = 32) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images (N x 3 x size x size, uint8), labels, class names."""
    pixels, target = _digits_table()
    images = torch.tensor(pixels, dtype=torch.float32).unsqueeze(1) / 16.0  # values 0..16
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    return images, torch.as_tensor(target, dtype=torch.int64), [str(d) for d in range(10)]


def synthetic(n: int = 512, num_classes: int = 10, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Random images and labels (nothing to learn): for benchmarks and plumbing tests."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    return images, torch.randint(0, num_classes, (n,), generator=g), [f"class{i}" for i in range(num_classes)]
