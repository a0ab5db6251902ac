"""The JPEG-penalty script's second compression (scripts/jpeg_penalty.py): on a block grid shifted by
half a block it quantises afresh, where re-encoding on the first grid would give the same pixels back."""
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import jpeg_penalty  # noqa: E402


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = ((a.astype(float) - b.astype(float)) ** 2).mean()
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_a_second_compression_on_a_shifted_grid_loses_detail_afresh(tmp_path):
    g = torch.Generator().manual_seed(0)
    src = tmp_path / "src"
    for cls in ("cat", "dog"):
        (src / "train" / cls).mkdir(parents=True)
        for i in range(2):  # smooth colour fields with noise: photo-like, not flat
            base = F.interpolate(torch.rand(1, 3, 4, 4, generator=g), size=32, mode="bilinear", align_corners=False)
            pixels = (255 * (0.8 * base + 0.2 * torch.rand(1, 3, 32, 32, generator=g))).clamp(0, 255).byte()[0]
            Image.fromarray(pixels.permute(1, 2, 0).numpy()).save(src / "train" / cls / f"{i}.jpg", quality=75, subsampling=2)
    assert jpeg_penalty.recompress(src, tmp_path / "copy", 75) == 4
    for file in sorted((src / "train").rglob("*.jpg")):
        first = np.asarray(Image.open(file).convert("RGB"))
        copy = np.asarray(Image.open(tmp_path / "copy" / "train" / file.parent.name / (file.stem + ".png")))
        assert copy.shape == first.shape
        assert 20 < _psnr(first, copy) < 45  # a fresh q75 compression's loss, not a copy
        Image.fromarray(first).save(tmp_path / "same-grid.jpg", quality=75, subsampling=2)
        same = np.asarray(Image.open(tmp_path / "same-grid.jpg"))
        assert _psnr(first, same) > _psnr(first, copy) + 5  # the unshifted grid would have repeated the first rounding
