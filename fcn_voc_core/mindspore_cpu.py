# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""MindSpore's fast CPU set-up, used by the converters and by the deployment runtime alike.

Call :func:`configure_cpu` before the first MindSpore operation of a process. MindSpore is
imported only inside the functions, so importing this module costs nothing on a host without it.
"""
import ctypes
import os
import os.path as osp
import platform
from typing import Optional

#: oneDNN's ``dnnl_cpu_isa_avx2``.
DNNL_CPU_ISA_AVX2 = 0x7
_configured = None


def configure_cpu() -> dict:
    """Make MindSpore's CPU kernels fast (idempotent).

    * MindSpore 2.9/2.10's bundled oneDNN picks a *reference* convolution
      (``jit_uni_ncsp:conv+ref``) for NCHW float32 convolutions on CPUs with AVX-512, at any
      AVX-512 level. The AVX2 kernels are ordinary JIT GEMMs, so the set-up caps MindSpore's own
      ``libdnnl`` at AVX2 with ``dnnl_set_max_cpu_isa``; torch's oneDNN in the same process keeps
      its ISA. A cap the user set in ``ONEDNN_MAX_CPU_ISA`` is left alone, and so are CPUs without
      x86 oneDNN. MindSpore 2.7.x (oneDNN 2.2) has no such fallback and runs the convolutions at
      AVX-512: :func:`avx2_cap_hint` tells users so (the README's benchmarks give the figures).
    * ``mindspore.runtime.launch_blocking()``: PyNative kernels run on the calling thread instead
      of a launch thread that the Python thread busy-waits on (half of a 2-core machine).

    Returns:
        What was done: ``{'isa_cap': 'AVX2' | None, 'launch_blocking': bool, 'avx512_cpu': bool}``.
    """
    global _configured
    if _configured is not None:
        return _configured
    import mindspore as ms
    done = {'isa_cap': cap_onednn_isa(), 'launch_blocking': False, 'avx512_cpu': cpu_has_avx512()}
    runtime = getattr(ms, 'runtime', None)
    if runtime is not None and hasattr(runtime, 'launch_blocking'):
        runtime.launch_blocking()
        done['launch_blocking'] = True
    _configured = done
    return done


def cap_onednn_isa() -> Optional[str]:
    """Cap MindSpore's own oneDNN at AVX2 (see :func:`configure_cpu`); returns ``'AVX2'`` when
    capped, None when left alone (a user's ``ONEDNN_MAX_CPU_ISA``, not x86, another build, or
    MindSpore already ran a kernel)."""
    import mindspore as ms
    lib = osp.join(osp.dirname(ms.__file__), 'lib', 'libdnnl.so.3')
    if 'ONEDNN_MAX_CPU_ISA' in os.environ or platform.machine() not in ('x86_64', 'AMD64') \
            or not osp.isfile(lib):
        return None
    try:
        return 'AVX2' if ctypes.CDLL(lib).dnnl_set_max_cpu_isa(DNNL_CPU_ISA_AVX2) == 0 else None
    except (OSError, AttributeError):
        return None  # another oneDNN build: keep its defaults


def cpu_has_avx512() -> bool:
    """Whether the CPU reports AVX-512 (``avx512f`` in ``/proc/cpuinfo``; False elsewhere)."""
    try:
        with open('/proc/cpuinfo') as f:
            return any(line.startswith('flags') and ' avx512f' in line for line in f)
    except OSError:
        return False


def avx2_cap_hint(done: dict) -> Optional[str]:
    """A line for the user when :func:`configure_cpu` capped MindSpore at AVX2 on an AVX-512 CPU."""
    if done.get('isa_cap') != 'AVX2' or not done.get('avx512_cpu'):
        return None
    import mindspore as ms
    return (f'MindSpore {ms.__version__}: CPU convolutions capped at AVX2 (this version\'s AVX-512 '
            'convolution is a reference kernel); MindSpore 2.7.x runs them at AVX-512, faster on '
            'this kind of CPU (see the README\'s deployment benchmark)')
