"""What several subcommands share: model options, and the argument groups for weights and output."""
import ast

from ..deploy.engines import ENGINES
from ..errors import CnnzooError


def model_options(items: list[str], info) -> dict:
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep:
            raise CnnzooError(f"--model-option {item!r} is not key=value (e.g. se=true)")
        try:
            value = ast.literal_eval({"true": "True", "false": "False", "none": "None"}.get(text.lower(), text))
        except (ValueError, SyntaxError):
            value = text
        options[key] = value
    unknown = set(options) - set(info.options())
    if unknown:
        raise CnnzooError(f"{info.name} has no option {', '.join(sorted(unknown))}; see `cnnzoo info {info.name}`")
    return options


PUBLISHED = "torchvision, timm, keras, torchvision:IMAGENET1K_V1, keras:0.5_160 or a file of theirs"


def add_weights(p, many: bool = False, exported: bool = False, model: bool = False) -> None:
    """--checkpoint (a cnnzoo run's, or an exported file) and --pretrained (published weights); with `model`, also
    --model (registered models with published weights, where the model is not a positional argument)."""
    nargs = {"nargs": "+"} if many else {}
    files = "a cnnzoo run's checkpoint.pt or model.safetensors" + (", or an exported .onnx / .pt2 of `cnnzoo export`" if exported else "")
    p.add_argument("--checkpoint", **nargs, help=files + (" (several: an ensemble)" if many else ""))
    if model:
        p.add_argument("--model", **nargs, help="or: models with published weights (see --pretrained)")
    p.add_argument("--pretrained", **nargs, metavar="WEIGHTS", help=f"or: published weights, {PUBLISHED} (default: the model's peer library)")


def add_out(p, default: str) -> None:
    p.add_argument("--out", help=f"where to write (default: {default})")


def add_model_option(p, example: str = "se=true") -> None:
    p.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE", help=f"a model option, e.g. {example}")


ENGINE_HELP = ("what runs the model on the CPU (default auto: the fastest here that --precision allows, measured once per "
               "machine and model, checked against fp32 eager)")


def add_engine(p, help: str = ENGINE_HELP) -> None:
    p.add_argument("--engine", choices=("auto", *ENGINES), default="auto", help=help)
