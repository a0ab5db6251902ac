"""Decoding real-world image files: CMYK and greyscale JPEGs, PNGs named .JPEG, EXIF rotation.

A file that cannot be decoded (truncated, empty, not an image, absurdly large) is skipped with a
warning and counted, so that one bad file never kills a long run; `strict=True` makes it an error.
"""
import threading
import warnings
from collections import Counter
from pathlib import Path

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
        self._lock = threading.Lock()

    def add(self, path: str, reason: str) -> None:
        with self._lock:
            self.skipped[reason] += 1
            self.examples.setdefault(reason, path)

    @property
    def total(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        if not self.total:
            return "no image was skipped"
        parts = [f"{n} {reason} (e.g. {self.examples[reason]})" for reason, n in self.skipped.most_common()]
        return f"{self.total} images skipped: " + "; ".join(parts)


def decode(path: str | Path) -> Image.Image:
    """The image as 8-bit RGB, upright per its EXIF orientation; BadImageError(reason) if it cannot be."""
    try:
        with Image.open(path) as img:  # Pillow reads the content, not the extension: a PNG named .JPEG decodes
            if img.width * img.height > MAX_PIXELS:
                raise BadImageError(f"too large ({img.width}x{img.height} pixels)")
            img = ImageOps.exif_transpose(img)
            return img.convert("RGB")  # CMYK, greyscale, palette, alpha: all become RGB
    except BadImageError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise BadImageError(_reason(e)) from None


def load_rgb(path: str | Path, strict: bool = False, stats: DecodeStats | None = None) -> Image.Image | None:
    """decode(path), or None (counted in `stats`, with a warning) when it cannot be and not `strict`."""
    try:
        return decode(path)
    except BadImageError as e:
        return skip_or_raise(str(path), str(e), strict, stats)


def skip_or_raise(path: str, reason: str, strict: bool, stats: DecodeStats | None) -> None:
    if strict:
        raise BadImageError(f"cannot decode {path}: {reason}; fix or remove the file, or run without --strict")
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
