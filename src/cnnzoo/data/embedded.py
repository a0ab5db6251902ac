"""Data that needs no download: scikit-learn's bundled handwritten digits, and synthetic images.

The digits (Alpaydin & Kaynak, UCI; 1,797 real 8x8 greyscale scans of 10 classes) ship inside
scikit-learn. They are upscaled to 32x32 RGB so that the CIFAR-sized networks take them as they
are: a real, tiny classification task for the demo and the quick tests.
"""
import torch
import torch.nn.functional as F


def load_digits(size: int = 32) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images (N x 3 x size x size, uint8), labels, class names."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # values 0..16
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = (images.clamp(0, 1) * 255).round().to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    return images, torch.tensor(digits.target), [str(d) for d in range(10)]


def synthetic(n: int = 512, num_classes: int = 10, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Random images and labels (nothing to learn): for benchmarks and plumbing tests."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=g)
    return images, torch.randint(0, num_classes, (n,), generator=g), [f"class{i}" for i in range(num_classes)]
