# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""What machine a figure was measured on: CPU model, vector ISA, threads (printed by benchmarks)."""
import os
import platform


def cpu_model() -> str:
    """The CPU's model name (``lscpu``'s "Model name"), or the platform's processor string."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> set:
    """The CPU's feature flags (``/proc/cpuinfo``'s "flags": ``avx2``, ``avx512_vnni``, ...);
    empty where that file is not available."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


def onednn_isa() -> str:
    """The ISA torch's CPU kernels use (``AVX512``, ``AVX2``, ...), with the ``ONEDNN_MAX_CPU_ISA``
    cap when one is set (oneDNN then uses at most that ISA)."""
    import torch
    capability = torch.backends.cpu.get_cpu_capability()
    cap = os.environ.get('ONEDNN_MAX_CPU_ISA')
    return f'{capability} (ONEDNN_MAX_CPU_ISA={cap})' if cap else capability


def machine_summary() -> str:
    """``'CPU <model>, ISA <isa>, <n> torch threads'``."""
    import torch
    return f'CPU {cpu_model()}, ISA {onednn_isa()}, {torch.get_num_threads()} torch threads'


def median_seconds(fn, repeats: int, warmup: bool = False) -> float:
    """The median wall time of ``repeats`` calls of ``fn()`` (after one untimed call if
    ``warmup``: allocators, graph compilation)."""
    import statistics
    import time
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
