"""The model registry: every architecture is a small builder registered with everything known about
it (paper, table, reference counts, peer, training recipe, published accuracy), in one place.

Data only: building a model with pretrained weights is `cnnzoo.factory.create_model`, above both
this registry and `interop`. Tests, the CLI and the analyzer all iterate over this registry, so a
model is covered the moment it is registered.
"""
import difflib
import fnmatch
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from torch import nn

from .errors import InvalidOptionError, UnknownModelError
from .reference.accuracy import Accuracy


@dataclass(frozen=True)
class Paper:
    title: str
    authors: str
    year: int
    arxiv: str | None = None

    def cite(self) -> str:
        first = self.authors.split(",")[0].split()[-1]  # surname of the first author
        etal = " et al." if "," in self.authors else ""
        where = f", arXiv:{self.arxiv}" if self.arxiv else ""
        return f"{first}{etal} {self.year}{where}"


@dataclass(frozen=True)
class Peer:
    """The same architecture in another library, and the options that make both sides match."""

    library: str  # "torchvision" or "timm"
    name: str
    kwargs: dict = field(default_factory=dict)  # passed to the peer's builder
    ours: dict = field(default_factory=dict)  # passed to create_model for the comparison
    aux_prefixes: tuple[str, ...] = ()  # the peer's auxiliary-head keys (cnnzoo registers aux heads last)

    def __str__(self) -> str:
        return f"{self.library}.{self.name}"


@dataclass(frozen=True)
class ModelInfo:
    """What cnnzoo knows about a registered model, beyond its code."""

    name: str
    family: str
    summary: str  # first line of the builder's docstring
    paper: Paper
    follows: str  # the table or figure of the paper the code mirrors
    input_size: int  # native square input resolution
    num_classes: int
    params: int | None  # reference parameter count, where a source gives one
    macs: int | None  # reference multiply-accumulates at `input_size`, conv + linear only
    reference: str | None  # where `params` and `macs` come from
    reference_options: dict  # options under which the reference counts hold (e.g. no aux heads)
    deviations: tuple[str, ...]  # documented differences from the paper
    peer: Peer | None
    recipe: str | None  # the training recipe of its paper (a name in cnnzoo.train.RECIPES)
    published: Accuracy | None  # published ImageNet accuracy: of the peer's weights, or the paper's
    builder: Callable[..., nn.Module] = field(repr=False, compare=False)

    def options(self) -> dict[str, inspect.Parameter]:
        """The keyword options `create_model` accepts for this model."""
        return _options_of(self.builder)

    def build(self, num_classes: int | None = None, **options) -> nn.Module:
        """The model with random weights; `num_classes` defaults to the model's (1000 for ImageNet).
        Unknown options are refused with the list of known ones."""
        allowed = self.options()
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise InvalidOptionError(
                f"{self.name} has no option {', '.join(map(repr, unknown))}; "
                f"its options are: {', '.join(o for o in allowed if o != 'num_classes')}"
            )
        num_classes = self.num_classes if num_classes is None else num_classes
        if not isinstance(num_classes, int) or num_classes < 0:
            raise InvalidOptionError(f"num_classes must be a whole number >= 0, got {num_classes!r}")
        return self.builder(num_classes=num_classes, **options)


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    *,
    paper: Paper,
    follows: str,
    input_size: int = 224,
    num_classes: int = 1000,
    params: int | None = None,
    macs: float | None = None,
    reference: str | None = None,
    reference_options: dict | None = None,
    deviations: tuple[str, ...] = (),
    peer: Peer | None = None,
    recipe: str | None = None,
    published: Accuracy | None = None,
):
    """Decorator: register a builder under its function name."""

    def decorator(builder: Callable[..., nn.Module]):
        name = builder.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelInfo(
            name=name,
            family=builder.__module__.rsplit(".", 1)[-1],
            summary=(inspect.getdoc(builder) or "").split("\n")[0],
            paper=paper,
            follows=follows,
            input_size=input_size,
            num_classes=num_classes,
            params=params,
            macs=None if macs is None else round(macs),
            reference=reference,
            reference_options=dict(reference_options or {}),
            deviations=tuple(deviations),
            peer=peer,
            recipe=recipe,
            published=published,
            builder=builder,
        )
        return builder

    return decorator


def _natural_key(name: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, in natural order. A pattern without wildcards matches as a substring."""
    names = sorted(_REGISTRY, key=_natural_key)
    if pattern:
        if not any(c in pattern for c in "*?["):
            pattern = f"*{pattern}*"
        names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
    return names


def model_info(name: str) -> ModelInfo:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=5, cutoff=0.6)
        close += [n for n in list_models(name) if n not in close][: 5 - len(close)] if name else []
        hint = f"; did you mean {', '.join(close)}?" if close else "; `cnnzoo list` shows them all"
        raise UnknownModelError(f"unknown model {name!r}{hint}") from None


def _options_of(builder: Callable) -> dict[str, inspect.Parameter]:
    return {
        name: p
        for name, p in inspect.signature(builder).parameters.items()
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
