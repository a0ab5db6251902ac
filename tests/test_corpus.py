"""Generated corpora of malformed input (issue 13): images in every format Pillow writes, in odd modes,
bit depths, sizes and metadata, whole and damaged; and checkpoints mutated at random (truncated,
bytes flipped, tensors reshaped or retyped, metadata replaced). Each must end in a correct result or
one clear error: never a traceback from deep inside, a hang or a wrong number."""
import io
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from cnnzoo.data.decoding import BadImageError, decode
from cnnzoo.errors import CnnzooError
from cnnzoo.eval.metrics import probabilities
from cnnzoo.runtime.execution import ExecPath
from cnnzoo.train import load_trained
from conftest import ROOT

FORMATS = {"PNG": ".png", "JPEG": ".jpg", "BMP": ".bmp", "GIF": ".gif", "TIFF": ".tif", "WEBP": ".webp", "PPM": ".ppm",
           "TGA": ".tga", "ICO": ".ico", "JPEG2000": ".jp2"}  # fmt: skip
LOSSY = {"JPEG", "WEBP", "JPEG2000", "GIF"}  # GIF: a 256-colour palette
MODES = ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I;16", "I", "F")
SIZES = ((1, 1), (5, 3), (64, 64), (3, 200))
HIGH_DEPTH = ("I;16", "I", "F")


def _gradient(size: tuple[int, int]) -> Image.Image:
    w, h = size
    x, y = np.meshgrid(np.linspace(0, 255, w), np.linspace(0, 255, h))
    return Image.fromarray(np.stack([x, y, 255 - x], -1).astype(np.uint8))


def _in_mode(img: Image.Image, mode: str) -> tuple[Image.Image, np.ndarray]:
    """The gradient in `mode`, and the 8-bit RGB pixels a correct decoder must give back for it."""
    if mode in ("I;16", "I", "F"):
        grey = np.asarray(img.convert("L"), dtype=np.float64)
        stored, top = {"I;16": (grey * 257, 65535), "I": (grey * 257, 65535), "F": (grey / 255, 1.0)}[mode]
        dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
        out = Image.fromarray(stored.astype(dtype)) if mode != "I" else Image.fromarray(stored.astype(dtype)).convert("I")
        expected = np.rint(stored.astype(dtype).astype(np.float64) * 255 / top)
        return out, np.repeat(expected[..., None], 3, -1)
    converted = img.convert(mode)
    return converted, np.asarray(converted.convert("RGB"), dtype=np.float64)


def _image_corpus() -> list[tuple[str, bytes, np.ndarray | None]]:
    """(name, file bytes, the RGB pixels it holds) for every format x mode x size Pillow can write."""
    corpus = []
    for fmt in FORMATS:
        for mode in MODES:
            if mode in HIGH_DEPTH and fmt not in ("PNG", "TIFF"):
                continue  # other formats would store Pillow's own 8-bit conversion, not the high-depth pixels
            for size in SIZES:
                img, expected = _in_mode(_gradient(size), mode)
                buf = io.BytesIO()
                try:
                    img.save(buf, format=fmt, **({"quality": 90} if fmt in ("JPEG", "WEBP") else {}))
                except (OSError, ValueError, KeyError, TypeError):
                    continue  # this format cannot hold this mode (or size)
                corpus.append((f"{fmt}-{mode}-{size[0]}x{size[1]}", buf.getvalue(), expected))
    # metadata: EXIF orientations (valid and not), a garbage ICC profile, PNG text
    for orientation in (0, 3, 6, 8, 9, 65535):
        exif = Image.Exif()
        exif[0x0112] = orientation
        buf = io.BytesIO()
        _gradient((5, 3)).save(buf, format="JPEG", exif=exif)
        corpus.append((f"exif-orientation-{orientation}", buf.getvalue(), None))
    buf = io.BytesIO()
    _gradient((5, 3)).save(buf, format="PNG", icc_profile=b"not an ICC profile at all")
    corpus.append(("bad-icc", buf.getvalue(), None))
    return corpus


def _damaged(corpus, rng: random.Random):
    """Truncations and flipped bytes of some of the corpus's files."""
    for name, data, _ in rng.sample(corpus, 40):
        yield f"{name}-cut", data[: rng.randrange(len(data))]
        flipped = bytearray(data)
        for _ in range(rng.choice((1, 4, 32))):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        yield f"{name}-flipped", bytes(flipped)


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's own notes on the damaged files ("Corrupt EXIF data")
def test_every_format_mode_size_and_damage_decodes_correctly_or_is_a_bad_image(tmp_path):
    corpus = _image_corpus()
    assert len({name.split("-")[0] for name, _, _ in corpus}) >= 8 and len(corpus) > 150
    checked, failures = 0, []
    for name, data, expected in corpus:
        file = tmp_path / name
        file.write_bytes(data)
        try:
            got = np.asarray(decode(file), dtype=np.float64)
        except BadImageError:
            failures += [] if expected is None else [f"{name}: a valid image refused"]
            continue
        assert got.ndim == 3 and got.shape[2] == 3, name
        if expected is not None:
            assert got.shape == expected.shape, name
            error = np.abs(got - expected).mean()
            if name.split("-")[0] not in LOSSY:
                failures += [f"{name}: mean |error| {error:.1f} grey levels"] if error > 0.5 else []
            elif min(expected.shape[:2]) >= 64:  # tiny lossy images: chroma subsampling dominates, nothing to check
                failures += [f"{name}: mean |error| {error:.1f} grey levels"] if error > 16 else []
            checked += 1
    assert not failures, "\n".join(failures)
    assert checked > 150
    for name, data in _damaged(corpus, random.Random(0)):
        (tmp_path / name).write_bytes(data)
        try:
            got = decode(tmp_path / name)
        except BadImageError:
            continue
        assert got.mode == "RGB" and got.width >= 1 and got.height >= 1, name


# -- checkpoints ---------------------------------------------------------------------------------------------

COMMITTED = ROOT / "weights" / "cifar10-resnet20" / "model.safetensors"
HOSTILE = (None, -1, 0, 10**9, 2**70, "x", [], {}, [1, "a"], 1e308, math.nan, True)


def _outcome(file: Path) -> str:
    """'ok' (a model whose outputs are finite), or 'refused' (one clear error); anything else propagates."""
    try:
        model, meta = load_trained(file)
        x = torch.randn(2, 3, meta["input_size"], meta["input_size"], generator=torch.Generator().manual_seed(0))
        probs = probabilities(model, x, ExecPath("cpu", "fp32"))
    except CnnzooError as e:
        assert "\n" not in str(e) and len(str(e)) < 600, str(e)
        return "refused"
    assert torch.isfinite(probs).all() and torch.allclose(probs.sum(1), torch.ones(2), atol=1e-4)
    return "ok"


@pytest.mark.skipif(not COMMITTED.is_file(), reason="the committed CIFAR-10 weights are not in this checkout")
def test_mutated_checkpoints_load_correctly_or_are_refused(tmp_path):
    rng = random.Random(0)
    model, meta = load_trained(COMMITTED)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save({"meta": meta, "model": state}, tmp_path / "valid.pt")
    files = {".pt": (tmp_path / "valid.pt").read_bytes(), ".safetensors": COMMITTED.read_bytes()}
    outcomes = []
    for suffix, data in files.items():
        for i in range(25):
            cut = tmp_path / f"cut{i}{suffix}"
            cut.write_bytes(data[: rng.randrange(len(data))])
            outcomes.append(("cut", _outcome(cut)))
            flipped = bytearray(data)
            for _ in range(rng.choice((1, 8, 64))):
                flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            (tmp_path / f"flip{i}{suffix}").write_bytes(bytes(flipped))
            outcomes.append(("flip", _outcome(tmp_path / f"flip{i}{suffix}")))
    keys = sorted(state)
    for _ in range(30):  # a tensor reshaped, retyped, or emptied
        changed = dict(state)
        key = rng.choice(keys)
        changed[key] = rng.choice([state[key].flatten(), state[key].double(), state[key].half(), state[key].to(torch.int64),
                                   state[key].bool(), state[key].flatten()[:0], torch.zeros(3, 3)])  # fmt: skip
        save_file({k: v.contiguous() for k, v in changed.items()}, str(tmp_path / "t.safetensors"), {"cnnzoo": json.dumps(meta)})
        outcomes.append(("tensor", _outcome(tmp_path / "t.safetensors")))
    for field in [*meta, "preprocessing"]:  # every metadata field replaced by hostile values
        for value in HOSTILE:
            try:
                text = json.dumps(dict(meta, **{field: value}))
            except ValueError:
                continue
            save_file(load_file(str(COMMITTED)), str(tmp_path / "m.safetensors"), {"cnnzoo": text})
            outcomes.append(("meta", _outcome(tmp_path / "m.safetensors")))
    kinds = {kind for kind, _ in outcomes}
    assert kinds == {"cut", "flip", "tensor", "meta"} and len(outcomes) >= 250
    assert ("cut", "refused") in outcomes and ("meta", "refused") in outcomes and ("meta", "ok") in outcomes
