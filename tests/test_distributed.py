"""torchrun and DistributedDataParallel on the CPU (gloo): sharded batches, exact distributed
evaluation, and a two-process training run that behaves like one process with the same batch."""
import json
import subprocess
import sys
import textwrap

import pytest
import torch

from cnnzoo.data.loaders import MemoryLoader
from cnnzoo.runtime.distributed import World
from conftest import LEARNED_DIGITS
from helpers import TINY_CLI, torchrun

EVAL_SCRIPT = textwrap.dedent('''
    import json, sys
    import torch
    from cnnzoo.runtime.execution import ExecPath
    from cnnzoo.data.loaders import MemoryLoader
    from cnnzoo.runtime.distributed import join, leave
    from cnnzoo.eval.metrics import evaluate

    world, _ = join("cpu")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))  # its predictions vary image to image
    g = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (101, 3, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (101,), generator=g)
    loader = MemoryLoader(images, labels, 16, shuffle=False, drop_last=False)
    (m,), _ = evaluate([model], loader.batches(world=world), 10, ExecPath(), world=world)
    if world.main:
        json.dump({"count": m.count, "top1": m.top1_error, "top5": m.top5_error, "loss": m.loss,
                   "confusion": m.confusion.tolist()}, open(sys.argv[1], "w"))
    leave()
''')


def test_shards_of_a_batch_are_the_one_process_batch():
    images, labels = torch.randint(0, 256, (50, 3, 8, 8), dtype=torch.uint8), torch.arange(50)
    loader = MemoryLoader(images, labels, 12, augment="cifar", seed=3)
    whole = list(loader.batches(epoch=2, start=1))
    shards = [list(loader.batches(epoch=2, start=1, world=World(r, 3))) for r in range(3)]
    for b, batch in enumerate(whole):
        parts = [s[b] for s in shards]
        assert sorted(torch.cat([p.labels for p in parts]).tolist()) == sorted(batch.labels.tolist())
        for r, part in enumerate(parts):  # the same augmented pixels, rank r holding rows r, r+3, ...
            assert torch.equal(part.images, batch.images[r::3]) and torch.equal(part.labels, batch.labels[r::3])


@pytest.mark.heavy(10)
@pytest.mark.parametrize("nproc", [2, 3])
def test_distributed_evaluation_counts_every_image_once(tmp_path, nproc):
    """101 images over 2 and 3 processes: the metrics equal one process's, exactly (no padding)."""
    script = tmp_path / "evaluate.py"
    script.write_text(EVAL_SCRIPT)
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "one.json")], capture_output=True, text=True)
    assert single.returncode == 0, single.stderr[-2000:]
    many = torchrun(nproc, str(script), str(tmp_path / "many.json"))
    assert many.returncode == 0, many.stderr[-3000:]
    one, many = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "many.json").read_text())
    assert one["count"] == many["count"] == 101
    assert sum(any(row[j] for row in one["confusion"]) for j in range(10)) > 3  # a model whose predictions vary
    assert (many["top1"], many["top5"], many["confusion"]) == (one["top1"], one["top5"], one["confusion"])
    assert many["loss"] == pytest.approx(one["loss"], rel=1e-5)


@pytest.mark.heavy(30)
def test_two_processes_train_like_one_with_the_same_global_batch(tmp_path, learned_digits):
    """The tiny ResNet (helpers.TINY) on the digits with the demo's recipe at global batch 64 (4 epochs of 25 steps), in
    2 processes, against the shared learned run (conftest.learned_digits: the same recipe in 1 process). The batches are
    identical; BatchNorm normalises over each process's 32 images instead of 64 (SyncBatchNorm is CUDA-only), so the
    runs agree within a tolerance: 0.1 of training loss in each epoch, and both learn (under 10% validation error,
    chance 90%) to within 3 points (5 of the 179 images)."""
    overrides = [f"{k}={v}" for k, v in LEARNED_DIGITS.items()]
    args = ["-m", "cnnzoo", "train", "resnet20", *TINY_CLI, "--data", "digits", "--recipe", "demo", *overrides]
    two = torchrun(2, *args, "--out", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("\nepoch 1/") == 1  # rank 0 alone logs
    a, b = (json.loads((run / "summary.json").read_text()) for run in (learned_digits, tmp_path / "two"))
    la, lb = (json.loads((run / "log.json").read_text()) for run in (learned_digits, tmp_path / "two"))
    assert (a["processes"], b["processes"], a["steps"], b["steps"]) == (1, 2, 100, 100)
    assert all(abs(ea["train_loss"] - eb["train_loss"]) < 0.1 for ea, eb in zip(la, lb))
    assert a["val_top1_error"] < 10 and b["val_top1_error"] < 10  # both learned (chance: 90%)
    assert abs(a["val_top1_error"] - b["val_top1_error"]) < 3
