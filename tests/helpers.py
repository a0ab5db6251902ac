"""What many test files need, defined once: a silent logger, the small network the mechanics tests train,
a model with BatchNorm statistics worth folding, and torchrun over the command line."""
import os
import subprocess
import sys

import torch
from torch import nn

from cnnzoo.train import RunConfig, train

# ResNet-20's family at one block per stage (He et al.'s 6n+2 with n=1: a ResNet-8, 78k parameters, a third of
# ResNet-20's work). Tests of the training machinery (resume, faults, processes, checkpoints) train it: what they
# check does not depend on depth, and it learns the digits to a few percent in the demo's recipe.
TINY = {"layers": (1, 1, 1)}
TINY_CLI = ["--model-option", "layers=(1,1,1)"]


def quiet(*_, **__) -> None:
    """A `log` that prints nothing."""


def train_tiny(out, recipe, data: str = "digits", **config):
    """The tiny ResNet trained silently on `data` (the embedded digits by default) with `recipe`."""
    options = {**TINY, **config.pop("model_options", {})}
    return train(RunConfig("resnet20", data, recipe, out, options, show_progress=False, log=config.pop("log", quiet), **config))


# The machinery tests' input: the digits are 8x8 scans, so 16x16 keeps all they hold, at a quarter of 32x32's work.
QUICK_SIZE = 16


def quick_run(out, recipe, limit: int = 512, **config):
    """The tiny ResNet on `limit` of the embedded digits at 16x16 (8 steps an epoch at batch 64): the training
    machinery's tests (resume, faults, distillation, warm starts), whose checks do not depend on the input size."""
    recipe = recipe if recipe.input_size else recipe.override(input_size=QUICK_SIZE)
    return train_tiny(out, recipe, limit=limit, **config)


def randomize_batchnorm(model: nn.Module, var: tuple[float, float] = (0.5, 2.0), seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters (a fresh model's are 0/1, which any folding
    or layout bug would leave unchanged), as a trained model has them; returns the model in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.copy_(torch.empty_like(m.running_mean).uniform_(-0.2, 0.2, generator=gen))
                m.running_var.copy_(torch.empty_like(m.running_var).uniform_(*var, generator=gen))
                if m.affine:
                    m.weight.copy_(torch.empty_like(m.weight).uniform_(0.5, 1.5, generator=gen))
                    m.bias.copy_(torch.empty_like(m.bias).uniform_(-0.2, 0.2, generator=gen))
    return model.eval()


def torchrun(nproc: int, *args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """`torchrun --standalone --nproc_per_node=NPROC ARGS` (a script, or `-m cnnzoo ...`), on one thread a process."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    return subprocess.run([*launcher, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})})  # fmt: skip


def digit_images(folder, n: int = 1) -> list[str]:
    """The first `n` embedded digits as PNG files in `folder`: images to predict."""
    from PIL import Image

    from cnnzoo.data.embedded import load_digits

    images = load_digits()[0]
    for i in range(n):
        Image.fromarray(images[i].permute(1, 2, 0).numpy()).save(f"{folder}/digit{i}.png")
    return [f"{folder}/digit{i}.png" for i in range(n)]
