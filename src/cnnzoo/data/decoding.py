"""Decoding real-world image files: CMYK and greyscale JPEGs, PNGs named .JPEG, EXIF rotation, and
high bit depths (16-bit PNGs and TIFFs, 32-bit integer and float images), scaled to 8 bits, never clipped.

A file that cannot be decoded (truncated, empty, not an image, absurdly large) is skipped with a
warning and counted, so that one bad file never kills a long run; `strict=True` makes it an error.
"""
import os
import stat
import threading
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from ..errors import CnnzooError

MAX_PIXELS = 178_956_970  # Pillow's own decompression-bomb limit: larger images are refused


class BadImageError(CnnzooError):
    """An image file that cannot be decoded (only raised in strict mode)."""


class DecodeStats:
    """Files skipped, by reason; shared by the datasets of one run (thread-safe)."""

    def __init__(self):
        self.skipped: Counter = Counter()
        self.examples: dict[str, str] = {}
        self.resized = 0  # images decoded at another size than the rest, resized to it (in-memory data)
        self._lock = threading.Lock()

    def add(self, path: str, reason: str) -> None:
        with self._lock:
            self.skipped[reason] += 1
            self.examples.setdefault(reason, path)

    @property
    def total(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        resized = f"; {self.resized} images of another size resized to the most common one" if self.resized else ""
        if not self.total:
            return "no image was skipped" + resized
        parts = [f"{n} {reason} (e.g. {self.examples[reason]})" for reason, n in self.skipped.most_common()]
        return f"{self.total} images skipped: " + "; ".join(parts) + resized


def decode(path: str | Path) -> Image.Image:
    """The image as 8-bit RGB, upright per its EXIF orientation; BadImageError(reason) if it cannot be.
    A FIFO, device or socket is refused before it is opened (reading one may block or never end)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise BadImageError("not a regular file (a FIFO, device, socket or folder)")
        with Image.open(path) as img:  # Pillow reads the content, not the extension: a PNG named .JPEG decodes
            if img.width * img.height > MAX_PIXELS:
                raise BadImageError(f"too large ({img.width}x{img.height} pixels)")
            img = ImageOps.exif_transpose(img)
            if img.mode in HIGH_DEPTH:
                img = _to_8_bits(img)
            return img.convert("RGB")  # CMYK, greyscale, palette, alpha: all become RGB
    except BadImageError:
        raise
    except Exception as e:  # Pillow's decoders fail on malformed files in many ways (OSError, struct.error, EOFError, ...)
        raise BadImageError(_reason(e)) from None


# single-channel modes of more than 8 bits, which Pillow's convert("RGB") would clip at 255
HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _to_8_bits(img: Image.Image) -> Image.Image:
    """A high bit-depth greyscale image scaled to 0..255: 16-bit modes by 65535; 32-bit integer and float
    images by the first of 1, 255, 65535 that holds all their values (a float image in 0..1, an 8-bit
    or a 16-bit range stored wide), else by their own maximum."""
    pixels = np.asarray(img, dtype=np.float64)
    if not np.isfinite(pixels).all():
        raise BadImageError("non-finite pixel values")
    low, high = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 0.0)
    if img.mode.startswith("I;16"):
        top = 65535.0
    else:
        top = next((t for t in (1.0, 255.0, 65535.0) if high <= t), high)
    if low < 0:  # signed data: shift to start at 0
        pixels, top = pixels - low, max(top - low, high - low)
    scaled = np.rint(pixels * (255.0 / top)) if top > 0 else pixels
    return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8))  # 2-D uint8: mode L


def load_rgb(path: str | Path, strict: bool = False, stats: DecodeStats | None = None) -> Image.Image | None:
    """decode(path), or None (counted in `stats`, with a warning) when it cannot be and not `strict`."""
    try:
        return decode(path)
    except BadImageError as e:
        return skip_or_raise(str(path), str(e), strict, stats)


def skip_or_raise(path: str, reason: str, strict: bool, stats: DecodeStats | None) -> None:
    if strict:
        raise BadImageError(f"cannot decode {path}: {reason}; fix or remove the file, or run without `strict`")
    warnings.warn(f"skipping {path}: {reason}", stacklevel=3)
    if stats is not None:
        stats.add(path, reason)
    return None


def _reason(e: Exception) -> str:
    text = str(e)
    if "cannot identify image file" in text:
        return "not an image"
    if "truncated" in text or "image file is truncated" in text:
        return "truncated"
    if isinstance(e, Image.DecompressionBombError):
        return "too large"
    return text.split("\n")[0][:80] or type(e).__name__
