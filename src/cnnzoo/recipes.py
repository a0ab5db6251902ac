"""Training recipes as data: each paper's, and a modern short one. Every field can be overridden
(`cnnzoo train ... lr=0.05 epochs=30`), and the recipe is printed and saved with every run."""
import dataclasses
import math
from dataclasses import dataclass, fields

from .data import DataOptions
from .data.transforms import AUGMENTATIONS
from .errors import InvalidOptionError
from .registry import model_info


@dataclass(frozen=True)
class Recipe:
    name: str
    # optimisation
    optimizer: str = "sgd"  # sgd | rmsprop | adamw
    lr: float = 0.1  # at the recipe's batch size
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    decay_norm_and_bias: bool = True  # False: no weight decay on BatchNorm parameters and biases
    batch_size: int = 256
    # schedule: a length in epochs, or in iterations when `iterations` is set
    epochs: float = 90
    iterations: int | None = None
    schedule: str = "plateau"  # constant | step | multistep | plateau | cosine | onecycle
    step_size: float = 30  # step: every this many epochs (or iterations)
    milestones: tuple[float, ...] = ()  # multistep: at these epochs (or iterations)
    gamma: float = 0.1  # step / multistep / plateau factor
    patience: int = 5  # plateau: epochs without a better validation error before the lr drops
    warmup: float = 0  # linear warm-up, in epochs (or iterations)
    warmup_factor: float = 0.1  # lr multiplier at the start of the warm-up
    # regularisation
    label_smoothing: float = 0.0
    aux_weight: float = 0.3  # weight of auxiliary classifiers' losses (GoogLeNet 0.3, Inception-v3 0.4)
    clip_grad: float | None = None  # max global gradient norm
    ema_decay: float | None = None  # exponential moving average of the weights, evaluated instead of them
    # BatchNorm's statistics recomputed with the current weights over this many training batches before each
    # validation ("precise BN", Wu & Johnson 2021); 0: its running averages, which lag a net changing fast
    bn_recalibrate: int = 0
    # knowledge distillation (train/distill.py): a trained run's weights file as the teacher
    teacher: str | None = None
    distill_weight: float = 0.5  # the soft targets' share of the loss (the labels' is 1 - this)
    distill_temperature: float = 4.0  # T, softening both softmaxes
    drop_path_rate: float = 0.0  # stochastic depth (residual nets): the last block's drop probability, rising linearly to it
    # fine-tuning from pretrained weights (--init): the classifier is new, the rest pretrained
    freeze_backbone: bool = False  # train the classifier alone (the backbone in eval mode: BatchNorm statistics kept)
    backbone_lr: float = 1.0  # the pretrained layers' learning rate, as a multiple of lr
    # data
    augment: str = "resnet"  # a name of data/transforms.py
    normalize: str = "imagenet"  # channel | pixel | imagenet
    input_size: int | None = None  # None: the model's native size (in-memory data keeps its own when smaller nets allow)
    eval_crops: int = 1
    val_size: float | None = None  # held out of train when the data has no val split
    seed: int = 0  # initialisation, shuffling, augmentation
    split_seed: int = 0  # the validation split (held out of train): seeds of one experiment validate on the same images
    workers: int = 2
    # execution
    precision: str = "auto"  # auto (the fastest safe path here) | fp32 | bf16 | fp16
    channels_last: bool | None = None  # None: as the path decides
    compile: bool = False
    grad_checkpointing: bool = False  # recompute each stage's activations in the backward pass: less memory, ~1/3 more time
    checkpoint_every: int = 500  # steps between checkpoints (and one at every epoch end)
    sync_bn: bool = False  # under torchrun on GPUs: BatchNorm statistics over the global batch
    # a NaN or infinite loss: stop (the last good checkpoint stays), or roll back to the last
    # checkpoint and go on with the learning rate times nan_lr_factor (at most max_rollbacks times)
    on_nan: str = "stop"  # stop | rollback
    nan_lr_factor: float = 0.5
    max_rollbacks: int = 3

    def override(self, **values) -> "Recipe":
        return dataclasses.replace(self, **values)

    def parse_overrides(self, items: list[str]) -> "Recipe":
        """`key=value` strings, typed by the field they name."""
        types = {f.name: f.type for f in fields(self)}
        values = {}
        for item in items:
            key, sep, text = item.partition("=")
            if not sep or not key:
                raise InvalidOptionError(f"recipe override {item!r} is not key=value (e.g. lr=0.05)")
            if key not in types or key == "name":
                raise InvalidOptionError(f"unknown recipe field {key!r}; fields: {', '.join(n for n in types if n != 'name')}")
            if key in values:
                raise InvalidOptionError(f"recipe field {key} is given twice ({key}={values[key]!r} and {item}): give it once")
            values[key] = _parse(key, text, types[key])
        return self.override(**values).validated()

    def validated(self) -> "Recipe":
        for f in fields(self):  # a hand-edited recipe.json or plan.json: the types first, then the values
            kind = f.type.__name__ if isinstance(f.type, type) else str(f.type)
            if not _of_type(getattr(self, f.name), kind):
                raise InvalidOptionError(f"recipe {self.name}: {f.name} must be {_TYPE_WORDS.get(kind, kind)}, not {getattr(self, f.name)!r}")
        checks = [
            (self.augment in AUGMENTATIONS, f"augment must be one of {', '.join(AUGMENTATIONS)}"),
            (self.optimizer in ("sgd", "rmsprop", "adamw"), "optimizer must be sgd, rmsprop or adamw"),
            (self.schedule in LR_SCHEDULES, f"schedule must be one of {', '.join(LR_SCHEDULES)}"),
            (self.lr > 0, "lr must be > 0"),
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.batch_size <= 65536, "batch_size must be <= 65536 (the largest the papers used: 8,192 images on 256 GPUs)"),
            (self.epochs > 0 and (self.iterations is None or self.iterations > 0), "epochs and iterations must be > 0"),
            (0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
            (0 <= self.drop_path_rate < 1, "drop_path_rate must be in [0, 1)"),
            (self.eval_crops in (1, 2, 10), "eval_crops must be 1, 2 or 10"),
            (self.precision in ("auto", "fp32", "bf16", "fp16"), "precision must be auto, fp32, bf16 or fp16"),
            (self.normalize in ("channel", "pixel", "imagenet"), "normalize must be channel, pixel or imagenet"),
            (0 <= self.distill_weight <= 1 and self.distill_temperature > 0, "distill_weight must be in [0, 1], distill_temperature > 0"),
            (not (self.teacher and self.distill_weight == 0), "distill_weight=0 would run the teacher for nothing: drop teacher= or raise it"),
            (self.ema_decay is None or 0 < self.ema_decay < 1, "ema_decay must be in (0, 1)"),
            (self.checkpoint_every >= 1, "checkpoint_every must be >= 1"),
            (self.bn_recalibrate >= 0, "bn_recalibrate must be >= 0 (training batches)"),
            (self.on_nan in ("stop", "rollback"), "on_nan must be stop or rollback"),
            (0 < self.nan_lr_factor < 1, "nan_lr_factor must be in (0, 1)"),
            (self.max_rollbacks >= 0, "max_rollbacks must be >= 0"),
            (self.backbone_lr >= 0, "backbone_lr must be >= 0 (a multiple of lr)"),
            (0 <= self.workers <= 256, "workers must be in [0, 256] (decoding processes)"),
            (0 <= self.momentum < 1, f"momentum must be in [0, 1) (papers use 0.9), not {self.momentum}"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (isinstance(self.seed, int) and 0 <= self.seed < 2**63, "seed must be an integer in [0, 2**63)"),
            (isinstance(self.split_seed, int) and 0 <= self.split_seed < 2**63, "split_seed must be an integer in [0, 2**63)"),
            (self.warmup >= 0 and 0 < self.warmup_factor <= 1, "warmup must be >= 0 and warmup_factor in (0, 1]"),
            (self.warmup <= (self.iterations or self.epochs), f"warmup={self.warmup:g} is longer than the run ({self.iterations or self.epochs:g} "
             f"{'iterations' if self.iterations else 'epochs'}; warmup counts in the same unit): shorten it"),
            (self.gamma > 0 and self.step_size > 0 and self.patience >= 0, "gamma and step_size must be > 0, patience >= 0"),
            (self.clip_grad is None or self.clip_grad > 0, "clip_grad must be > 0 (or none)"),
            (self.input_size is None or self.input_size >= 1, "input_size must be >= 1 (or none)"),
            (self.val_size is None or self.val_size > 0, "val_size must be > 0 (a count, or a fraction below 1)"),
        ]
        for f in fields(self):
            values = getattr(self, f.name)
            for v in values if isinstance(values, tuple) else (values,):
                if isinstance(v, float) and not math.isfinite(v):
                    raise InvalidOptionError(f"recipe {self.name}: {f.name} must be a finite number, not {v}")
        for ok, message in checks:
            if not ok:
                raise InvalidOptionError(f"recipe {self.name}: {message}")
        return self

    def schedule_notes(self) -> list[str]:
        """What the schedule will not do at this length, said before a run starts: steps that lie past its end
        (the paper's milestones kept when `epochs` or `iterations` was cut) leave the learning rate where it is."""
        length, unit = (self.iterations, "iterations") if self.iterations else (self.epochs, "epochs")
        late = [m for m in self.milestones if m >= length] if self.schedule == "multistep" else []
        if self.schedule == "step" and self.step_size >= length:
            late = [self.step_size]
        if not late:
            return []
        what = f"milestones {', '.join(f'{m:g}' for m in late)}" if self.schedule == "multistep" else f"step_size {self.step_size:g}"
        return [f"recipe {self.name}: {what} at or past the run's end ({length:g} {unit}): the learning rate does not step down "
                f"there; give milestones= (or step_size=) within the run, or schedule=onecycle"]

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        """A recipe saved with a run (recipe.json, a checkpoint's metadata): lists back to tuples, fields
        this version does not know ignored, fields it added at their defaults."""
        known = {f.name for f in fields(cls)}
        if "split_seed" not in d:  # saved before the split had its own seed: it followed `seed`
            d = {**d, "split_seed": d.get("seed", 0)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known})

    def data_options(self, input_size: int | None, crops: int | None = None, strict: bool = False,
                     limit: int | None = None) -> DataOptions:  # fmt: skip
        """The data this recipe trains and validates on, at the model's `input_size`: the one mapping
        of a recipe to data options, used by training and by `eval` of its checkpoints alike."""
        crops = self.eval_crops if crops is None else crops
        return DataOptions(
            batch_size=self.batch_size, eval_batch_size=2 if crops == 144 else max(self.batch_size, 100), augment=self.augment,
            input_size=input_size,
            seed=self.seed, split_seed=self.split_seed, val_size=self.val_size, normalize=self.normalize, strict=strict, workers=self.workers,
            crops=crops, limit=limit,
        )  # fmt: skip


LR_SCHEDULES = ("constant", "step", "multistep", "plateau", "cosine", "onecycle")
_TYPE_WORDS = {"float": "a number", "int": "an integer", "bool": "true or false", "str": "a string", "float | None": "a number or none",
               "int | None": "an integer or none", "str | None": "a string or none", "bool | None": "true, false or none",
               "tuple[float, ...]": "a list of numbers"}  # fmt: skip


def _of_type(value, kind: str) -> bool:
    """Whether `value` is of the field type `kind` (as a dataclass field's annotation reads)."""
    if kind.endswith(" | None"):
        return value is None or _of_type(value, kind[: -len(" | None")])
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind.startswith("tuple"):
        return isinstance(value, tuple) and all(_of_type(v, "float") for v in value)
    return True


def _parse(key: str, text: str, kind) -> object:
    kind = getattr(kind, "__name__", None) if isinstance(kind, type) else str(kind)
    try:
        if text.lower() in ("none", "null") and "None" in kind:
            return None
        if "tuple" in kind:
            return tuple(float(v) for v in text.split(",") if v.strip())
        if "bool" in kind:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if "int" in kind and "float" not in kind:
            return int(text)
        if "float" in kind:
            return float(text)
        return text
    except ValueError:
        raise InvalidOptionError(f"recipe field {key} takes {kind}, not {text!r}") from None


RECIPES: dict[str, Recipe] = {
    # AlexNet Sec. 5: SGD, batch 128, momentum 0.9, weight decay 5e-4, lr 0.01 divided by 10 when the
    # validation error stopped improving (three times in ~90 epochs).
    "alexnet": Recipe("alexnet", lr=0.01, weight_decay=5e-4, batch_size=128, epochs=90, schedule="plateau", augment="alexnet"),
    # VGG Sec. 3.1: batch 256, momentum 0.9, weight decay 5e-4, lr 0.01 /10 on plateau, 74 epochs, scale jittering.
    "vgg": Recipe("vgg", lr=0.01, weight_decay=5e-4, batch_size=256, epochs=74, schedule="plateau", augment="vgg"),
    # GoogLeNet Sec. 6: momentum 0.9, lr decreased by 4% every 8 epochs; aux losses weighted 0.3.
    # The initial lr and the length are not in the paper: the BVLC release's 0.01, and 90 epochs.
    "googlenet": Recipe("googlenet", lr=0.01, weight_decay=2e-4, batch_size=128, epochs=90, schedule="step",
                        step_size=8, gamma=0.96, aux_weight=0.3, augment="googlenet"),  # fmt: skip
    # Inception-v3 Sec. 8: RMSProp (decay 0.9, eps 1.0), lr 0.045 x 0.94 every 2 epochs, gradient clipping
    # at 2.0, label smoothing 0.1 (Sec. 7), aux loss weight 0.4.
    "inception_v3": Recipe("inception_v3", optimizer="rmsprop", lr=0.045, momentum=0.9, weight_decay=4e-5, batch_size=32,
                           epochs=100, schedule="step", step_size=2, gamma=0.94, clip_grad=2.0, label_smoothing=0.1,
                           aux_weight=0.4, augment="googlenet"),  # fmt: skip
    # Inception-v4 paper Sec. 4 (Inception-ResNet v1/v2): RMSProp (decay 0.9, eps 1.0), lr 0.045 decayed
    # x0.94 every two epochs. The batch and the length are not in the paper: Inception-v3's 32 and 100 epochs.
    "inception_resnet": Recipe("inception_resnet", optimizer="rmsprop", lr=0.045, momentum=0.9, weight_decay=4e-5, batch_size=32,
                               epochs=100, schedule="step", step_size=2, gamma=0.94, augment="googlenet"),  # fmt: skip
    # Xception Sec. 4.3-4.4 (ImageNet): SGD momentum 0.9, lr 0.045 decayed x0.94 every 2 epochs, weight decay
    # 1e-5 (Inception-v3's 4e-5 was too much). The batch and the length are not in the paper: 32, 100 epochs.
    "xception": Recipe("xception", lr=0.045, momentum=0.9, weight_decay=1e-5, batch_size=32, epochs=100, schedule="step",
                       step_size=2, gamma=0.94, augment="googlenet"),  # fmt: skip
    # ResNet Sec. 3.4: SGD momentum 0.9, lr 0.1 /10 when the error plateaus, weight decay 1e-4 (the
    # lecture's slide says 1e-5; the paper says 0.0001), batch 256, up to 60e4 iterations (~120 epochs).
    "resnet": Recipe("resnet", lr=0.1, weight_decay=1e-4, batch_size=256, epochs=120, schedule="plateau", augment="resnet"),
    # ResNet Sec. 4.2 (CIFAR-10): lr 0.1, /10 at 32k and 48k iterations, stop at 64k, batch 128, weight decay
    # 1e-4, 45k/5k split, pad-crop-flip, per-pixel mean subtracted. (ResNet-110 warms up at lr 0.01 for
    # 400 iterations: warmup=400 warmup_factor=0.1.)
    "resnet_cifar": Recipe("resnet_cifar", lr=0.1, weight_decay=1e-4, batch_size=128, iterations=64_000, schedule="multistep",
                           milestones=(32_000, 48_000), augment="cifar", normalize="pixel", val_size=5000),  # fmt: skip
    # ResNeXt Sec. 5.3 (CIFAR): batch 128, weight decay 5e-4, lr 0.1 for 300 epochs, /10 at epochs 150 and 225;
    # the augmentation and the split of the ResNet paper's CIFAR experiments (its Sec. 4.2), which it follows.
    "resnext_cifar": Recipe("resnext_cifar", lr=0.1, weight_decay=5e-4, batch_size=128, epochs=300, schedule="multistep",
                            milestones=(150, 225), augment="cifar", normalize="pixel", val_size=5000),  # fmt: skip
    # SENet Sec. 5 (SE-ResNet, SE-ResNeXt, SENet-154): synchronous SGD, momentum 0.9, batch 1024, lr 0.6
    # divided by 10 every 30 epochs, 100 epochs from scratch; random-size crops and mirroring (the release's
    # augmentation). Weight decay is not stated: the ResNet recipe's 1e-4.
    "senet": Recipe("senet", lr=0.6, weight_decay=1e-4, batch_size=1024, epochs=100, schedule="step", step_size=30,
                    augment="googlenet"),  # fmt: skip
    # MobileNet Sec. 4: "RMSprop with asynchronous gradient descent similar to Inception V3", less
    # regularisation: little weight decay, lighter augmentation.
    "mobilenet": Recipe("mobilenet", optimizer="rmsprop", lr=0.045, momentum=0.9, weight_decay=4e-5, batch_size=96, epochs=100,
                        schedule="step", step_size=2, gamma=0.94, augment="mobilenet"),  # fmt: skip
    # MobileNets on CIFAR-10 (the mobilenet-multipliers experiment). The paper's recipe is ImageNet's (RMSProp,
    # asynchronous SGD, x0.94 every 2 epochs) and has no CIFAR counterpart: the ResNet paper's CIFAR schedule
    # and split instead, with MobileNet Sec. 4's light regularisation (weight decay 4e-5, no decay on the
    # BatchNorm parameters and biases, which include the depthwise filters' companions).
    "mobilenet_cifar": Recipe("mobilenet_cifar", lr=0.1, weight_decay=4e-5, decay_norm_and_bias=False, batch_size=128,
                              iterations=64_000, schedule="multistep", milestones=(32_000, 48_000), augment="cifar",
                              normalize="pixel", val_size=5000),  # fmt: skip
    # A modern short schedule for small budgets: Nesterov SGD, linear warm-up then one cycle down,
    # label smoothing, no weight decay on norms and biases.
    "short": Recipe("short", lr=0.2, nesterov=True, weight_decay=5e-4, decay_norm_and_bias=False, batch_size=128, epochs=10,
                    schedule="onecycle", warmup=1, label_smoothing=0.1, augment="cifar", normalize="channel"),  # fmt: skip
    # `make demo`: the short recipe on scikit-learn's digits for 8 epochs (12 steps each). No flips or crops: a
    # mirrored 2 is no digit, and the scans are centred. BatchNorm's statistics recomputed over 4 training batches
    # before each validation: at lr 0.2 with 12 steps an epoch, the running averages lag the weights and the
    # validation loss spiked to 19-24 in the first epochs although the training loss fell.
    "demo": Recipe("demo", lr=0.2, nesterov=True, weight_decay=5e-4, decay_norm_and_bias=False, batch_size=128, epochs=8,
                   schedule="onecycle", warmup=1, label_smoothing=0.1, augment="none", normalize="channel", bn_recalibrate=4),  # fmt: skip
}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise InvalidOptionError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}") from None


def recipe_for(model_name: str) -> Recipe:
    """The training recipe a registered model's paper used (its `ModelInfo.recipe`)."""
    return get_recipe(model_info(model_name).recipe)
