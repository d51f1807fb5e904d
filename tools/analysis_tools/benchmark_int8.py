# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""int8 against float32 onnxruntime, on the same images, in one run: images per second and
agreement.

    python tools/analysis_tools/benchmark_int8.py [--config CFG [--checkpoint CKPT]] ...
        [--num-images 8] [--size 375 500] [--calibration-images DIR --check-images DIR]

For each ``--config`` (default: the Caffe FCN-8s and the demo's BN FCN-8s) this exports
``converters/to_onnx.py --dynamic --int8`` (:mod:`mmseg_fcn_voc.conversion.checks.int8`) from
``--checkpoint`` (one per config, in order) or from random weights, then times the float32 and the
int8 graph of that folder with onnxruntime's CPU provider over the same preprocessed images of
about ``--size`` (the network only: decoding and preprocessing are the same for both). Prints
images per second of both and their ratio (target: int8 >= 2.5x float32 on a CPU with VNNI), the
argmax agreement with float32 (mean and worst image) and, with labelled held-out images, both
mean IUs, with the CPU model and whether it has VNNI.

The timed images are ``--num-images`` generated JPEGs. Without ``--calibration-images`` the int8
model is calibrated on ``--calibration-count`` other generated JPEGs and checked on half as many;
random weights give no meaningful accuracy (their class scores are close everywhere), so the
export's accuracy targets are switched off for them and only the speed is a result. Accuracy
figures need a trained checkpoint and real images.
"""
import argparse
import os
import os.path as osp
import tempfile
import time

import numpy as np

from mmseg_fcn_voc.testing.bench_images import write_bench_images
from mmseg_fcn_voc.utils.machine import cpu_flags, machine_summary

DEFAULT_CONFIGS = ('configs/fcn8s_vgg16_voc.py',
                   'configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py')


def time_session(path, inputs, threads=None):
    """Seconds for one ``session.run`` per input (after one untimed run) and the outputs' class
    maps (top-left of each image)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    session.run(None, {name: inputs[0][0]})
    maps, start = [], time.perf_counter()
    for x, (h, w) in inputs:
        maps.append(session.run(None, {name: x})[0][0, :, :h, :w].argmax(0))
    return time.perf_counter() - start, maps


def time_folder(folder, args, work):
    """Time the float32 and int8 graphs of an existing ``to_onnx.py --int8`` output folder (its
    ``onnx_parity.json`` names both, the config and the checkpoint) on generated images."""
    import json
    with open(osp.join(folder, 'onnx_parity.json')) as f:
        report = json.load(f)
    return time_export(report, report['onnx'], report['int8']['model_file'], True, args, work)


def time_export(report, float_path, int8_path, trained, args, work):
    """Both graphs of one export over ``--num-images`` generated images of about ``--size``."""
    from mmseg_fcn_voc.conversion.checkpoint import build_and_load
    from mmseg_fcn_voc.conversion.images import find_image_pairs, load_image_set
    timing = osp.join(work, 'timing')
    os.makedirs(timing)
    write_bench_images(timing, args.num_images, tuple(args.size), seed=3, prefix='t')
    model = build_and_load(report['config'], report['checkpoint'])
    timed = load_image_set(model, find_image_pairs(timing), model.decode_head.num_classes)
    inputs = [(x.numpy(), size) for x, size in zip(timed.inputs, timed.sizes)]
    t_float, ref = time_session(float_path, inputs, args.threads)
    t_int8, maps = time_session(int8_path, inputs, args.threads)
    agree = [float((a == b).mean()) for a, b in zip(maps, ref)]
    int8 = report['int8']
    return dict(config=report['config'], trained=trained, images=len(inputs), t_float=t_float,
                t_int8=t_int8, agree_mean=float(np.mean(agree)), agree_worst=min(agree),
                held_out=int8['held_out'], method=int8['method'],
                float_nodes=int8['float_nodes'], deployed=report['passed'])


def benchmark(config, checkpoint, args, work):
    from mmseg_fcn_voc.conversion.checkpoint import random_checkpoint
    from mmseg_fcn_voc.conversion.onnx.backend import OnnxBackend
    from mmseg_fcn_voc.conversion.options import OnnxExportOptions
    from mmseg_fcn_voc.conversion.pipeline import run_export

    trained = checkpoint is not None
    if not trained:
        checkpoint = random_checkpoint(config, osp.join(work, 'random.pth'))
    if args.calibration_images:
        cal, cal_labels = args.calibration_images, args.calibration_labels
        check, check_labels = args.check_images, args.check_labels
    else:
        cal, check = osp.join(work, 'calibration'), osp.join(work, 'check')
        os.makedirs(cal)
        os.makedirs(check)
        write_bench_images(cal, args.calibration_count, tuple(args.size), seed=1, prefix='cal')
        write_bench_images(check, max(1, args.calibration_count // 2), tuple(args.size), seed=2,
                           prefix='chk')
        cal_labels = check_labels = None
    targets = {} if trained else dict(int8_min_agreement_mean=0.0, int8_min_agreement_worst=0.0,
                                      int8_max_miou_drop=100.0, calibration_method='MinMax')
    out = osp.join(work, 'int8')
    options = OnnxExportOptions(config, checkpoint, out, dynamic_shape=True,
                                parity_size=(64, 64), int8=True, calibration_images=cal,
                                calibration_labels=cal_labels, check_images=check,
                                check_labels=check_labels, **targets)
    report = run_export(OnnxBackend(options))
    stem = osp.join(out, options.name)
    return time_export(report, f'{stem}.onnx', f'{stem}_int8.onnx', trained, args, work)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', action='append', help='(repeatable; default: '
                        f'{", ".join(DEFAULT_CONFIGS)})')
    parser.add_argument('--checkpoint', action='append',
                        help='trained checkpoint of each --config, in order (default: random)')
    parser.add_argument('--num-images', type=int, default=8, help='timed images (generated, of '
                        'about --size)')
    parser.add_argument('--calibration-count', type=int, default=8,
                        help='generated calibration images without --calibration-images (and '
                        'half as many held-out ones)')
    parser.add_argument('--size', type=int, nargs=2, default=(375, 500), metavar=('H', 'W'))
    parser.add_argument('--calibration-images')
    parser.add_argument('--calibration-labels')
    parser.add_argument('--check-images')
    parser.add_argument('--check-labels')
    parser.add_argument('--threads', type=int, help="onnxruntime's intra-op threads (default: "
                        'its own, one per core)')
    parser.add_argument('--int8-dir', action='append',
                        help='time an existing to_onnx.py --int8 output folder instead of '
                        'exporting (repeatable; with it, --config defaults to none)')
    parser.add_argument('--verbose', action='store_true', help="print the exporter's log")
    args = parser.parse_args(argv)
    configs = args.config or ([] if args.int8_dir else list(DEFAULT_CONFIGS))
    checkpoints = list(args.checkpoint or [])
    if len(checkpoints) > len(configs):
        parser.error('more --checkpoint than --config')
    if bool(args.calibration_images) != bool(args.check_images):
        parser.error('--calibration-images and --check-images go together')
    checkpoints += [None] * (len(configs) - len(checkpoints))
    import onnxruntime
    flags = cpu_flags()
    vnni = sorted(f for f in flags if 'vnni' in f)
    print(f'{machine_summary()}; VNNI: {", ".join(vnni) if vnni else "none (AVX2 int8 path)"}; '
          f'onnxruntime {onnxruntime.__version__}')
    if args.verbose:
        from fcn_voc_core.console import configure_logging
        configure_logging()
    runs = [(benchmark, (config, checkpoint)) for config, checkpoint in zip(configs, checkpoints)]
    runs += [(time_folder, (folder, )) for folder in args.int8_dir or []]
    for fn, run_args in runs:
        with tempfile.TemporaryDirectory() as work:
            r = fn(*run_args, args, work)
        rate_f, rate_q = r['images'] / r['t_float'], r['images'] / r['t_int8']
        print(f'{r["config"]} ({"trained" if r["trained"] else "random weights"}), '
              f'{r["images"]} image(s) of about {args.size[1]}x{args.size[0]}:')
        print(f'  float32 onnxruntime: {rate_f:6.3f} images/s ({r["t_float"]:.1f} s)')
        print(f'  int8 onnxruntime   : {rate_q:6.3f} images/s ({r["t_int8"]:.1f} s); '
              f'{r["method"]} calibration, {len(r["float_nodes"])} layer(s) in float32')
        print(f'  ratio int8 / float32 = {rate_q / rate_f:.2f}  (target >= 2.5 with VNNI)')
        note = '' if r['trained'] else ' (random weights: not an accuracy figure)'
        print(f'  argmax agreement with float32 on these images: mean '
              f'{100 * r["agree_mean"]:.3f}%, worst {100 * r["agree_worst"]:.3f}%{note}')
        held = r['held_out']
        line = (f'  held-out images ({held["images"]}): agreement mean '
                f'{100 * held["argmax_agreement_mean"]:.3f}%, worst '
                f'{100 * held["argmax_agreement_worst"]:.3f}%')
        if held.get('mIoU') is not None:
            line += f', mean IU {held["mIoU"]:.2f} (float32 {held["mIoU_float32"]:.2f})'
        if r['trained']:
            line += f'; export {"deployed" if r["deployed"] else "REFUSED (targets missed)"}'
        print(line + note)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
