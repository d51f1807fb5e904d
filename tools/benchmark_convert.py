# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Time the FCN-8s checkpoint -> MindSpore .ckpt conversion, and the parity check beside it.

    python tools/benchmark_convert.py [--config configs/fcn8s_vgg16_voc.py] [--parity-size H W]

Writes an mmseg checkpoint of the config's model (random weights, untimed), then times, in one run:
the conversion to ``.ckpt`` exactly as ``converters/to_mindspore.py`` does it (strict load of the
.pth, mapping, loading every tensor into the MindSpore cell with the exactness checks, writing the
.ckpt and reading it back bit for bit; target < 30 s for FCN-8s's 134M parameters), and the parity
check's own time (torch and MindSpore forwards on a seeded input, compared).
"""
import argparse
import os.path as osp
import tempfile
import time

import torch

from mmseg_fcn_voc.conversion.checkpoint_io import save_checkpoint
from mmseg_fcn_voc.conversion.images import preprocess_image, random_image
from mmseg_fcn_voc.conversion.mindspore_io import run_cell
from mmseg_fcn_voc.conversion.model_io import (build_and_load, build_model_from_config,
                                               fcn_logits)
from mmseg_fcn_voc.conversion.parity import ParityAccumulator, ParityThresholds
from mmseg_fcn_voc.conversion.to_mindspore import convert_checkpoint

TARGET_S = 30.0


def random_checkpoint(config: str, path: str, seed: int = 0) -> int:
    """Save the config's model with random (non-zero) weights; returns its number of values."""
    torch.manual_seed(seed)
    model = build_model_from_config(config)  # torch's default init: every score layer non-zero
    state = model.state_dict()
    save_checkpoint(state, path)
    return sum(v.numel() for v in state.values() if v.is_floating_point())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default='configs/fcn8s_vgg16_voc.py')
    parser.add_argument('--parity-size', type=int, nargs=2, default=(32, 32), metavar=('H', 'W'),
                        help="seeded parity input (default 32 32; the Caffe geometry's pad 100 "
                        'makes any input ~200 px inside)')
    parser.add_argument('--work-dir', help='where to write the files (default: a temp folder)')
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work_dir or tmp
        pth, ckpt = osp.join(work, 'bench.pth'), osp.join(work, 'bench.ckpt')
        values = random_checkpoint(args.config, pth)

        t0 = time.perf_counter()
        model = build_and_load(args.config, pth)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = convert_checkpoint(model, ckpt, 'auto', args.config)
        t_convert = time.perf_counter() - t0
        total = t_load + t_convert

        h, w = args.parity_size
        t0 = time.perf_counter()
        inputs = preprocess_image(model, random_image(h, w, 0))
        ref = fcn_logits(model, inputs).numpy()
        t_torch = time.perf_counter() - t0
        out = run_cell(result['cell'], inputs.numpy())
        acc = ParityAccumulator(ref.shape[1])
        acc.add(ref, out)
        parity = acc.summary(ParityThresholds())
        t_parity = time.perf_counter() - t0

    print(f'{args.config}: {values:,} values, {len(result["arrays"])} tensors, '
          f'layout {result["layout"]!r}')
    print(f'  load .pth (strict)                      : {t_load:6.1f} s')
    print(f'  map + load into cell + write/verify .ckpt: {t_convert:6.1f} s')
    print(f'  conversion total (parity excluded)       : {total:6.1f} s   '
          f'(target < {TARGET_S:.0f} s: {"met" if total < TARGET_S else "MISSED"})')
    print(f'  parity check, {h}x{w} input               : {t_parity:6.1f} s   '
          f'(torch {t_torch:.1f} s, MindSpore {t_parity - t_torch:.1f} s; max rel error '
          f'{parity["max_rel_error"]:.2g}, argmax agreement '
          f'{100 * parity["argmax_agreement"]:.2f}%, {"passed" if parity["passed"] else "FAILED"})')


if __name__ == '__main__':
    main()
