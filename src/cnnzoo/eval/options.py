"""What an evaluation is asked for (`EvalOptions`), checked."""
from dataclasses import dataclass
from pathlib import Path

from ..data.preprocessing import EVAL_CROPS
from ..errors import CnnzooError
from .metrics import DENSE_SCALES

# Evaluation runs in fp32 unless asked otherwise: a published accuracy is a number to reproduce, and a
# run's error is compared across machines, so neither may depend on which CPU evaluates it. bf16 (the
# fast path on AVX-512 BF16 / AMX CPUs and GPUs) is `precision="auto"` or "bf16"; see docs/training.md for
# what it costs in accuracy on the committed CIFAR-10 weights.
DEFAULT_PRECISION = "fp32"


@dataclass(frozen=True)
class EvalOptions:
    data: str | Path | None = None  # checkpoints: None is the run's own data where it is built in (digits, synthetic)
    crops: int = 1  # 1 (centre), 2 (centre and mirror), 10 (AlexNet's: centre and corners, mirrored) or 144 (GoogLeNet's, Sec. 7)
    batch_size: int | None = None  # None: the run's recipe's evaluation batch; 50 for published weights
    workers: int | None = None  # decoding processes; None: the run's recipe's, 2 for published weights
    limit: int | None = None  # a stratified subset of this many images (labelled folders and ImageNet val)
    strict: bool = False  # an undecodable image is an error instead of skipped
    precision: str = DEFAULT_PRECISION  # fp32 | bf16 | int8 | fp16 | auto: the numerics the engines may use
    engine: str = "auto"  # on the CPU: the fastest engine `precision` allows (deploy.engines), or one by name
    weights: tuple[float, ...] | None = None  # ensemble weights, one per checkpoint
    dense: bool = False  # VGG's dense evaluation (published weights): whole images at `scales`, FC layers as convolutions
    scales: tuple[int, ...] = DENSE_SCALES  # with dense: the shorter sides Q, for a 224 model


DEFAULT_OPTIONS = EvalOptions()


def check_options(options: EvalOptions) -> None:
    from ..deploy.engines import ENGINES

    if options.engine not in ("auto", *ENGINES):
        raise CnnzooError(f"engine {options.engine!r}: choose auto, {', '.join(ENGINES)}")
    if options.crops not in EVAL_CROPS:
        raise CnnzooError(f"crops must be 1, 2 (flip), 10 (AlexNet's) or 144 (GoogLeNet's), got {options.crops}")
    for name in ("batch_size", "workers", "limit"):
        value = getattr(options, name)
        if value is not None and value < (0 if name == "workers" else 1):
            raise CnnzooError(f"{name} must be a positive number, got {value}")


def default_batch(crops: int) -> int:
    """Images per batch by default: 50, or 2 with 144 crops (288 views of 224 x 224: 170 MB of input)."""
    return 2 if crops == 144 else 50
