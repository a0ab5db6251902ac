"""Analyzer speed: every registered model analyzed, and VGG-16 against fvcore, in one process.

    python benchmarks/analyzer_speed.py

Targets (issue 4): all registered models in under 5 s in total on a 2-core machine; VGG-16 at least
20x faster than fvcore's FlopCountAnalysis on the same model and input.
"""
import platform
import statistics
import time

import torch

import cnnzoo
from cnnzoo.analysis import analyze, meta_model


def seconds(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    analyze("resnet20")  # one-time imports and kernel registration, paid once per process
    names = cnnzoo.list_models()

    start = time.perf_counter()
    for name in names:
        analyze(name)
    total = time.perf_counter() - start
    start = time.perf_counter()
    built = [meta_model(n) for n in names]
    build = time.perf_counter() - start
    start = time.perf_counter()
    for model in built:
        analyze(model)
    trace = time.perf_counter() - start
    del built
    print(f"all {len(names)} registered models, by name: {total:.2f} s "
          f"(of which building them on meta ~{build:.2f} s, analyzing them ~{trace:.2f} s)")  # fmt: skip

    from fvcore.nn import FlopCountAnalysis

    vgg = cnnzoo.create_model("vgg16").eval()
    x = torch.randn(1, 3, 224, 224)

    def fvcore_count():
        counter = FlopCountAnalysis(vgg, x)
        counter.unsupported_ops_warnings(False)
        counter.uncalled_modules_warnings(False)
        return counter.total()

    ours, theirs = seconds(lambda: analyze(vgg)), seconds(fvcore_count)
    assert analyze(vgg).macs == fvcore_count() - 25088  # fvcore adds the 7x7 adaptive pool; the convs and FCs agree
    print(f"VGG-16, same model and input: cnnzoo.analyze {1000 * ours:.1f} ms, fvcore FlopCountAnalysis "
          f"{1000 * theirs:.0f} ms: {theirs / ours:.0f}x faster")  # fmt: skip


if __name__ == "__main__":
    main()
