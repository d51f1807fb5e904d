# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""FCN-8s forward through the mmseg segmentor vs the same network in plain PyTorch, in one run.

    python tools/analysis_tools/benchmark_forward.py [--size 375 500] [--repeats 7] [--threads N]

Both get identical weights; runs alternate so machine noise hits both alike; the medians and their
ratio are printed (target: the segmentor within 5% of plain PyTorch).
"""
import argparse
import statistics
import time

import torch

from mmseg_fcn_voc.testing import PlainFCN8s
from mmseg_fcn_voc.utils.machine import machine_summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default='configs/fcn8s_vgg16_voc.py')
    parser.add_argument('--size', type=int, nargs=2, default=(375, 500), metavar=('H', 'W'))
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from mmseg_fcn_voc.conversion.checkpoint import build_model
    model = build_model(args.config)
    plain = PlainFCN8s().load_from_segmentor(model).eval()
    h, w = args.size
    x = torch.randn(1, 3, h, w) * 50
    metas = [dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w))]

    def segmentor():
        return model.inference(x, metas)

    def baseline():
        return plain(x)

    with torch.inference_mode():
        assert torch.allclose(segmentor(), baseline(), atol=1e-3)
        for fn in (segmentor, baseline):  # warm-up
            fn()
        times = {'segmentor': [], 'plain': []}
        for _ in range(args.repeats):
            for name, fn in (('segmentor', segmentor), ('plain', baseline)):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    seg, ref = statistics.median(times['segmentor']), statistics.median(times['plain'])
    print(f'FCN-8s forward, Caffe geometry, {h}x{w}, batch 1, fp32, {machine_summary()}, '
          f'median of {args.repeats}:')
    print(f'  mmseg segmentor : {seg * 1000:8.1f} ms')
    print(f'  plain PyTorch   : {ref * 1000:8.1f} ms')
    print(f'  ratio segmentor / plain = {seg / ref:.3f}  (target <= 1.05)')


if __name__ == '__main__':
    main()
