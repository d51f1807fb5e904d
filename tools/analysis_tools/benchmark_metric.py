#!/usr/bin/env python
# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Time the per-image update of FCNIoUMetric against mmseg's IoUMetric on the same predictions.

Both metrics get identical data samples, shaped as the Evaluator passes them (dicts with
``pred_sem_seg`` / ``gt_sem_seg`` ``(1, H, W)`` int64 tensors, ground truth with a 255 void band);
``process`` is timed image by image over several rounds and the median per-image times and their
ratio are printed. The final scores are compared too (aAcc/mAcc/mIoU within 0.01).

    python tools/analysis_tools/benchmark_metric.py                 # 512x512, 40 images, 5 rounds
    python tools/analysis_tools/benchmark_metric.py --min-ratio 3   # exit 1 if FCNIoUMetric is not >= 3x faster
"""
import argparse
import json
import statistics
import sys
import time

import torch


def make_samples(num_images: int, height: int, width: int, num_classes: int, seed: int) -> list:
    """Random predictions and ground truths: blocky class maps, ~70% agreement, 255 borders."""
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(num_images):
        coarse = torch.randint(0, num_classes, (1, 1, height // 32 + 1, width // 32 + 1),
                               generator=generator)
        gt = torch.nn.functional.interpolate(coarse.float(), scale_factor=32, mode='nearest')
        gt = gt[0, :, :height, :width].long()
        noise = torch.randint(0, num_classes, gt.shape, generator=generator)
        keep = torch.rand(gt.shape, generator=generator) < 0.7
        pred = torch.where(keep, gt, noise)
        border = torch.zeros_like(gt, dtype=torch.bool)
        border[:, ::32, :] = True
        border[:, :, ::32] = True
        gt = gt.masked_fill(border, 255)
        samples.append(dict(pred_sem_seg=dict(data=pred), gt_sem_seg=dict(data=gt)))
    return samples


def time_process(metrics: list, samples: list, rounds: int) -> list:
    """Median seconds per image of each metric's ``process`` over ``rounds`` passes.

    The metrics take turns within every round, so background load affects them alike.
    """
    per_image = [[] for _ in metrics]
    for _ in range(rounds):
        for metric, times in zip(metrics, per_image):
            metric.results.clear()
            start = time.perf_counter()
            for sample in samples:
                metric.process({}, [sample])
            times.append((time.perf_counter() - start) / len(samples))
    return [statistics.median(times) for times in per_image]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=int, nargs=2, default=(512, 512), metavar=('H', 'W'))
    parser.add_argument('--num-images', type=int, default=40)
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--num-classes', type=int, default=21)
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: as is)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--min-ratio', type=float, default=None,
                        help='exit with status 1 if the speed-up is below this')
    parser.add_argument('--json', help='also write the numbers to this JSON file')
    args = parser.parse_args(argv)

    from mmengine.logging import MMLogger
    from mmseg.evaluation import IoUMetric

    from mmseg_fcn_voc.evaluation import FCNIoUMetric

    if args.threads:
        torch.set_num_threads(args.threads)
    MMLogger.get_instance('benchmark_metric', log_level='WARNING')  # keep the tables quiet
    meta = dict(classes=tuple(f'class_{i}' for i in range(args.num_classes)))
    samples = make_samples(args.num_images, *args.size, args.num_classes, args.seed)
    ours, theirs = FCNIoUMetric(prefix='fcn'), IoUMetric(prefix='mmseg')
    ours.dataset_meta = theirs.dataset_meta = meta
    for metric in (ours, theirs):  # warm-up
        metric.process({}, samples[:2])
        metric.results.clear()

    t_ours, t_theirs = time_process([ours, theirs], samples, args.rounds)
    ratio = t_theirs / t_ours

    ours.results.clear()
    theirs.results.clear()
    ours.process({}, samples)
    theirs.process({}, samples)
    ours_scores = ours.evaluate(len(samples))
    theirs_scores = theirs.evaluate(len(samples))
    diffs = {k: abs(ours_scores[f'fcn/{k}'] - theirs_scores[f'mmseg/{k}'])
             for k in ('aAcc', 'mAcc', 'mIoU')}

    h, w = args.size
    from mmseg_fcn_voc.utils.machine import machine_summary
    print(machine_summary())
    print(f'{args.num_images} images of {h}x{w}, {args.num_classes} classes, '
          f'{torch.get_num_threads()} torch threads, median of {args.rounds} interleaved rounds')
    print(f'  mmseg IoUMetric.process   {1e3 * t_theirs:8.3f} ms/image')
    print(f'  FCNIoUMetric.process      {1e3 * t_ours:8.3f} ms/image')
    print(f'  speed-up                  {ratio:8.2f}x')
    print('  |difference| aAcc/mAcc/mIoU (rounded by IoUMetric): ' +
          ', '.join(f'{k} {v:.4f}' for k, v in diffs.items()))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(dict(size=[h, w], num_images=args.num_images, ms_fcn=1e3 * t_ours,
                           ms_mmseg=1e3 * t_theirs, ratio=ratio, diffs=diffs), f, indent=2)
    if max(diffs.values()) > 0.01:
        print('ERROR: the two metrics disagree by more than 0.01', file=sys.stderr)
        return 1
    if args.min_ratio is not None and ratio < args.min_ratio:
        print(f'ERROR: speed-up {ratio:.2f}x is below {args.min_ratio}x', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
