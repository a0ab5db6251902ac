"""Activation checkpointing: the memory one training step takes, with and without it, measured, beside
the analyzer's estimate (saved activations, gradients and SGD momentum: what the step adds to the
weights), and timm's own
checkpointing of the same ResNet-50 as the peer.

    python benchmarks/grad_checkpointing.py [--batch 16] [--models resnet50 vgg16 mobilenet_v2 inception_v3]

Each configuration runs in a fresh process (peak resident memory cannot be reset within one): the model
and a batch are built, then one SGD step (forward, backward, update) runs; the step's cost is the
process's peak resident memory minus what it held before the step. fp32, eval-free training mode.
"""
import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import torch


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def child(library: str, name: str, batch: int, checkpointing: bool) -> dict:
    """One training step in this process: its peak memory above the memory held before it, and its time."""
    torch.manual_seed(0)
    if library == "timm":
        import timm

        model = timm.create_model(name, pretrained=False)
    else:
        import cnnzoo

        model = cnnzoo.create_model(name)
    model.train()
    if checkpointing:
        model.set_grad_checkpointing(True)
    size = getattr(model, "input_size", None) or model.pretrained_cfg["input_size"][-1]
    x, y = torch.randn(batch, 3, size, size), torch.randint(0, 1000, (batch,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    before = _rss_bytes()
    start = time.perf_counter()
    out = model(x)
    logits = out.logits if hasattr(out, "logits") else out
    torch.nn.functional.cross_entropy(logits, y).backward()
    optimizer.step()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"step_bytes": peak - before, "seconds": seconds, "size": size}


def run(library: str, name: str, batch: int, checkpointing: bool) -> dict:
    cmd = [sys.executable, __file__, "--child", library, name, str(batch), str(int(checkpointing))]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--models", nargs="+", default=["resnet50", "vgg16", "mobilenet_v2", "inception_v3"])
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        library, name, batch, ckpt = args.child
        print(json.dumps(child(library, name, int(batch), bool(int(ckpt)))))
        return
    from cnnzoo import analyze

    gib = 2**30
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"batch {args.batch}, fp32, one SGD-momentum step per fresh process")  # fmt: skip
    print(f"{'model':<16} {'analyzer est.':>13} {'measured':>9} {'checkpointed':>13} {'saved':>6} {'time x':>7}")
    rows = [("cnnzoo", m) for m in args.models] + [("timm", "resnet50")]
    for library, name in rows:
        try:
            plain, ckpt = run(library, name, args.batch, False), run(library, name, args.batch, True)
        except subprocess.CalledProcessError as e:
            print(f"{library}.{name}: failed ({e.stderr.strip().splitlines()[-1] if e.stderr.strip() else e})")
            continue
        if library == "cnnzoo":
            a = analyze(name, plain["size"], batch_size=args.batch)  # the step adds all but the weights, held before it
            estimate = f"{(a.training_bytes(optimizer_states=1) - a.param_bytes) / gib:.2f} GiB"
        else:
            estimate = "-"
        saved = 1 - ckpt["step_bytes"] / plain["step_bytes"]
        print(f"{library + '.' + name:<16} {estimate:>13} {plain['step_bytes'] / gib:>5.2f} GiB {ckpt['step_bytes'] / gib:>9.2f} GiB "
              f"{saved:>6.0%} {ckpt['seconds'] / plain['seconds']:>6.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
