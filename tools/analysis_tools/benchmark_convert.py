# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""MindSpore conversion and inference speed against torch, in one run on this machine.

    python tools/analysis_tools/benchmark_convert.py [--config configs/fcn8s_vgg16_voc.py]
        [--size 512 512] [--repeats 3] [--skip-full]

Writes an mmseg checkpoint of the config's model (random weights, untimed), then times:

1. the checkpoint conversion to ``.ckpt`` exactly as ``converters/to_mindspore.py`` does it (strict
   load of the .pth, mapping, loading every tensor into the MindSpore cell with the exactness
   checks, writing the .ckpt with its sha256 and reading it back bit for bit); target < 30 s;
2. one forward pass at ``--size`` (default 512x512): torch, MindSpore PyNative in its default launch
   mode (kernels launched from a second thread that the Python thread busy-waits on), MindSpore
   PyNative with ``launch_blocking()`` (what the converters and the runtime use), and the dynamic
   MINDIR in a ``GraphCell``; each MindSpore time is printed as a ratio to torch's (target 1.5).
   MindSpore's oneDNN is capped at AVX2 first, as the converters do; one 256->256 3x3 convolution
   at 64x64 is also timed in a child process without the cap, to show the AVX-512 reference
   kernel it avoids;
3. unless ``--skip-full``: the whole ``to_mindspore`` run at its defaults (load, convert, dynamic
   MINDIR, parity at 512x512 and at a second size); target < 60 s.

The CPU model, ISA and thread counts are printed beside the figures.
"""
import argparse
import os.path as osp
import subprocess
import sys
import tempfile
import time

import mindspore as ms
import torch

from fcn_voc_core.mindspore_cpu import cap_onednn_isa
from mmseg_fcn_voc.conversion.checkpoint import build_and_load, build_model, save_checkpoint
from mmseg_fcn_voc.conversion.images import preprocess_image, random_image
from mmseg_fcn_voc.conversion.mindspore.backend import MindSporeBackend, convert_checkpoint
from mmseg_fcn_voc.conversion.mindspore.io import export_mindir, load_mindir, run_cell
from mmseg_fcn_voc.conversion.network import fcn_logits, trace_network
from mmseg_fcn_voc.conversion.options import MindSporeExportOptions
from mmseg_fcn_voc.conversion.pipeline import run_export
from mmseg_fcn_voc.utils.machine import machine_summary, median_seconds


def random_checkpoint(config: str, path: str, seed: int = 0) -> int:
    """Save the config's model with random (non-zero) weights; returns its number of values."""
    torch.manual_seed(seed)
    model = build_model(config)  # torch's default init: every score layer non-zero
    state = model.state_dict()
    save_checkpoint(state, path)
    return sum(v.numel() for v in state.values() if v.is_floating_point())


CONV_SNIPPET = """
import time, numpy as np, mindspore as ms
from mindspore import nn, Tensor
if {cap}:
    from fcn_voc_core.mindspore_cpu import cap_onednn_isa
    cap_onednn_isa()
net = nn.Conv2d(256, 256, 3, pad_mode='pad', padding=1, has_bias=True)
x = Tensor(np.random.rand(1, 256, 64, 64).astype(np.float32))
net(x).asnumpy()
t0 = time.perf_counter(); net(x).asnumpy(); print(time.perf_counter() - t0)
"""


def conv_seconds(cap: bool) -> str:
    """One MindSpore 3x3 convolution in a fresh process (the ISA cap is per process)."""
    proc = subprocess.run([sys.executable, '-c', CONV_SNIPPET.format(cap=cap)],
                          capture_output=True, text=True, timeout=600)
    return proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 else 'failed'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default='configs/fcn8s_vgg16_voc.py')
    parser.add_argument('--size', type=int, nargs=2, default=(512, 512), metavar=('H', 'W'))
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--skip-full', action='store_true',
                        help='skip timing the whole to_mindspore run')
    args = parser.parse_args(argv)
    cap = cap_onednn_isa()  # before any MindSpore kernel, as the converters do
    print(f'{args.config}; {machine_summary()}; MindSpore {ms.__version__}, its oneDNN capped at '
          f'{cap or "nothing (left as is)"}')
    print(f'MindSpore 256->256 3x3 conv at 64x64: {conv_seconds(False)} s with its default ISA, '
          f'{conv_seconds(True)} s capped at AVX2')

    with tempfile.TemporaryDirectory() as work:
        pth, ckpt = osp.join(work, 'bench.pth'), osp.join(work, 'bench.ckpt')
        values = random_checkpoint(args.config, pth)
        t0 = time.perf_counter()
        model = build_and_load(args.config, pth)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        conv = convert_checkpoint(model, trace_network(model, args.config), ckpt, 'auto',
                                  args.config)
        t_convert = time.perf_counter() - t0
        print(f'\n{values:,} values, {len(conv.arrays)} tensors, layout {conv.layout!r}')
        print(f'  load .pth (strict, sha256, CRC)           : {t_load:6.1f} s')
        print(f'  map + load into cell + write/verify .ckpt : {t_convert:6.1f} s')
        total = t_load + t_convert
        print(f'  conversion total                          : {total:6.1f} s  (target < 30 s: '
              f'{"met" if total < 30 else "MISSED"})')

        h, w = args.size
        x = preprocess_image(model, random_image(h, w, 0))
        xn = x.numpy()
        with torch.no_grad():
            t_torch = median_seconds(lambda: fcn_logits(model, x), args.repeats, warmup=True)
        t_default = median_seconds(lambda: run_cell(conv.cell, xn), args.repeats, warmup=True)
        ms.runtime.launch_blocking()
        t_blocking = median_seconds(lambda: run_cell(conv.cell, xn), args.repeats, warmup=True)
        graph = load_mindir(export_mindir(conv.cell, [1, 3, None, None],
                                          osp.join(work, 'bench.mindir')))
        t_graph = median_seconds(lambda: run_cell(graph, xn), args.repeats, warmup=True)
        print(f'\nforward at {h}x{w}, median of {args.repeats} (after a warm-up):')
        print(f'  torch                                     : {t_torch:6.2f} s')
        for name, t in [('MindSpore PyNative, default launch', t_default),
                        ('MindSpore PyNative, launch_blocking', t_blocking),
                        ('MindSpore dynamic MINDIR (GraphCell)', t_graph)]:
            print(f'  {name:42}: {t:6.2f} s  ratio to torch {t / t_torch:5.2f}  (target <= 1.5)')

        if not args.skip_full:
            t0 = time.perf_counter()
            report = run_export(MindSporeBackend(MindSporeExportOptions(
                args.config, pth, osp.join(work, 'out'))))
            t_full = time.perf_counter() - t0
            steps = ', '.join(f'{k} {v:.1f} s' for k, v in report['timings_s'].items())
            print(f'\nto_mindspore at its defaults (dynamic MINDIR, parity at '
                  f'{report["parity_sizes"]}): {t_full:.1f} s  (target < 60 s; '
                  f'{"passed" if report["passed"] else "FAILED"} parity): {steps}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
