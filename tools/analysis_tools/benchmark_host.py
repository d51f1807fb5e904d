# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The deployment host's own cost, in one run: does the runtime keep the model busy, how many
images per second could it feed a fast NPU, and how many bytes cross to and from the device.

    python tools/analysis_tools/benchmark_host.py [--config configs/fcn8s_vgg16_voc.py]
        [--num-images 12] [--size 375 500] [--stand-in-images 256] [--host-python PYTHON]
        [--gears voc|HxW[,HxW...]] [--workers 2] [--repeats 2] [--skip-backends]

Everything host-side runs in ``--host-python`` (default: this interpreter; e.g. the torch-free
host environment), as ``python -m fcn_voc_runtime`` would, over generated VOC-size JPEGs with
label PNGs (``--size``, each image a little different, alternately landscape and portrait):

(a) **end-to-end over model-only**, for onnxruntime float32 (``to_onnx --dynamic``), onnxruntime
    int8 (``--int8``, calibrated on other generated images: random weights, so a speed figure
    only) and MindSpore (``to_mindspore``), each from the same random-weight checkpoint of
    ``--config``: the seconds of the model calls alone (each image decoded and preprocessed
    beforehand, then ``model(x, valid)`` one after another) over the seconds of a whole folder
    run on the same images with the same loaded model (checking every input, the overlapped host
    pipeline, predictions written, scored against the labels, the reports), the two alternated
    ``--repeats`` times and the best of each kept. Target >= 0.95.
(b) **host capacity with a stand-in for a fast NPU**: the folder run over ``--stand-in-images``
    images with the model replaced by a stand-in of the same inputs and outputs that returns a
    prepared output at once (its own cost is printed; under 1 ms), on the VOC gears
    (``to_onnx --gears voc``, or ``--gears``: each image padded to the smallest gear that holds it, as on
    Ascend). Images per second with predictions written and scored, without and with overlays
    (target >= 64 images/s: one four-chip Atlas card running an FCN-8s), in the four shapes of
    deployment: float32 or AIPP's uint8 pixels in, logits or the device's class map out.
(c) **bytes to and from the device per image** in those four shapes, as the stand-in received
    and returned them (what ais_bench copies for an ``.om``: uint8 NHWC pixels plus the int32
    ``valid_size`` with AIPP, float32 NCHW without; int32 class map with argmax, float32 logits
    without), averaged over the images.

Prints the CPU model beside the figures. The stand-in measures the host, not a device: no NPU ran.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: (name, uint8 pixels in (AIPP), class map out (argmax on the device))
SHAPES = (('float32 in, logits out', False, False), ('AIPP uint8 in, logits out', True, False),
          ('float32 in, class map out', False, True),
          ('AIPP uint8 in, class map out (Ascend)', True, True))


# ---- host side (runs in --host-python: numpy, the runtime and one backend) -------------------

def object_map(h, w, num_classes, rng, void=False):
    """An (h, w) uint8 class map as VOC's look: background with a few rectangular objects of
    random classes (with ``void``, each outlined by 255, as VOC marks object boundaries)."""
    label = np.zeros((h, w), np.uint8)
    for _ in range(3):
        y0, x0 = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        y1, x1 = y0 + int(rng.integers(h // 8, h // 2)), x0 + int(rng.integers(w // 8, w // 2))
        if void:
            label[max(y0 - 2, 0):y1 + 2, max(x0 - 2, 0):x1 + 2] = 255
        label[y0:y1, x0:x1] = rng.integers(1, num_classes)
    return label


class StandInGear:
    """One static gear of a fast NPU: takes the gear's input (float32 NCHW or, with ``uint8``,
    AIPP's uint8 NHWC) and returns a prepared output of the gear's size at once (an int32
    class map of a few objects with ``argmax``, else float32 logits whose argmax is that map),
    recording bytes in and out and its own seconds."""

    def __init__(self, size, num_classes, uint8, argmax, meter):
        rng = np.random.default_rng(0)
        classes = object_map(*size, num_classes, rng)[None].astype(np.int32)
        if argmax:
            self.out = classes
        else:
            self.out = rng.standard_normal((1, num_classes, *size), dtype=np.float32)
            np.put_along_axis(self.out, classes[:, None], 10.0, axis=1)
        self.takes_uint8, self.meter = uint8, meter
        self.backend, self.device, self.precision, self.notes = 'stand-in', 'host', 'none', []

    def __call__(self, x, valid=None):
        start = time.perf_counter()
        assert x.dtype == (np.uint8 if self.takes_uint8 else np.float32), x.dtype
        sent = x.nbytes + (np.asarray(valid, np.int32).nbytes if self.takes_uint8 else 0)
        self.meter.append((sent, self.out.nbytes, time.perf_counter() - start))
        return self.out


def folder_run(predictor, images, labels, out_dir, workers, overlays=False):
    """Seconds of a whole folder run (check, pipeline, reports) with an already loaded model."""
    from fcn_voc_runtime.folder_inference import FolderInference, InferenceOptions

    class Preloaded(FolderInference):
        def load(self):
            return predictor

    options = InferenceOptions(predictor.deploy.folder, images, out_dir, labels=labels,
                               overlays=overlays, workers=workers)
    start = time.perf_counter()
    result = Preloaded(options).run()
    assert result['predicted'] == len(os.listdir(images)), result
    return time.perf_counter() - start


def model_only(predictor, images):
    """Seconds of the model calls alone over ``images`` (decoded and preprocessed beforehand)."""
    from fcn_voc_core.imageio import decode_color
    from fcn_voc_runtime.preprocess import preprocess
    uint8 = getattr(predictor.model, 'takes_uint8', False)
    inputs = [preprocess(decode_color(osp.join(images, name)), predictor.deploy, uint8)
              for name in sorted(os.listdir(images))]
    predictor.model(*inputs[0])  # warm-up (and MindSpore's compile)
    start = time.perf_counter()
    for x, valid in inputs:
        predictor.model(x, valid)
    return time.perf_counter() - start


def host_backends(spec):
    """(a): model-only and end-to-end seconds per deploy folder."""
    from fcn_voc_runtime.predictor import Predictor
    results = []
    for name, folder, backend in spec['backends']:
        predictor = Predictor(folder, backend)
        t_model = t_run = float('inf')
        for repeat in range(spec['repeats']):  # alternated; the best of each
            t_model = min(t_model, model_only(predictor, spec['images']))
            t_run = min(t_run, folder_run(predictor, spec['images'], spec['labels'], osp.join(
                spec['work'], f'out_{len(results)}_{repeat}'), spec['workers']))
        results.append(dict(name=name, model=t_model, run=t_run, precision=predictor.model.precision,
                            backend=predictor.model.backend))
    return results


def host_stand_in(spec):
    """(b) and (c): folder runs with stand-in models on the VOC gears, per deployment shape."""
    from fcn_voc_runtime.geared_model import GearedModel
    from fcn_voc_runtime.predictor import Predictor
    predictor = Predictor(spec['stand_in_folder'], 'onnxruntime')
    results = []
    for (name, uint8, argmax), overlays in [(s, False) for s in SHAPES] + [(SHAPES[-1], True)]:
        meter = []
        predictor.model = GearedModel(predictor.deploy, lambda d: StandInGear(
            d.input_shape[2:], d.num_classes, uint8, argmax, meter))
        out_dir = osp.join(spec['work'], f'stand_in_{len(results)}')
        seconds = folder_run(predictor, spec['stand_in_images'], spec['stand_in_labels'], out_dir,
                             spec['workers'], overlays)
        sent, received, own = (float(np.mean(v)) for v in zip(*meter))
        results.append(dict(name=name, overlays=overlays, seconds=seconds, images=len(meter),
                            sent=sent, received=received, own_ms=1000 * own))
    return results


def host_main(spec_file):
    with open(spec_file) as f:
        spec = json.load(f)
    versions = {}
    for module in ('numpy', 'cv2', 'onnxruntime', 'mindspore'):
        try:
            versions[module] = __import__(module).__version__
        except ImportError:
            versions[module] = 'absent'
    result = dict(python=sys.executable, versions=versions,
                  backends=host_backends(spec) if spec['backends'] else [],
                  stand_in=host_stand_in(spec))
    print(json.dumps(result))
    return 0


# ---- benchmark side (torch, mmseg, the converters) -------------------------------------------

def write_images(folder, n, size, num_classes, seed):
    """``n`` generated JPEGs in ``folder``/images and label PNGs of their sizes in
    ``folder``/labels (a few objects outlined by void, as VOC's); returns both folders."""
    from fcn_voc_core.imageio import read_image, write_label_png
    from mmseg_fcn_voc.testing.bench_images import write_bench_images
    images, labels = osp.join(folder, 'images'), osp.join(folder, 'labels')
    os.makedirs(images)
    os.makedirs(labels)
    rng = np.random.default_rng(seed)
    palette = [v for c in range(256) for v in (c, c, c)]
    for path in write_bench_images(images, n, size, seed=seed):
        h, w = read_image(path).shape[:2]
        label = object_map(h, w, num_classes, rng, void=True)
        write_label_png(osp.join(labels, osp.splitext(osp.basename(path))[0] + '.png'), label,
                        palette)
    return images, labels


def export_folders(config, work, size, gear_sizes, skip_backends):
    """The deploy folders of one random-weight checkpoint: ``[(name, folder, backend)]`` for (a)
    and the VOC-gears folder the stand-in runs on."""
    from mmseg_fcn_voc.conversion.checkpoint import random_checkpoint
    from mmseg_fcn_voc.conversion.mindspore.backend import MindSporeBackend
    from mmseg_fcn_voc.conversion.onnx.backend import OnnxBackend
    from mmseg_fcn_voc.conversion.options import MindSporeExportOptions, OnnxExportOptions
    from mmseg_fcn_voc.conversion.pipeline import run_export
    from mmseg_fcn_voc.testing.bench_images import write_bench_images
    ckpt = random_checkpoint(config, osp.join(work, 'random.pth'))
    gears = osp.join(work, 'gears')
    run_export(OnnxBackend(OnnxExportOptions(config, ckpt, gears, gears=gear_sizes)))
    if skip_backends:
        return [], gears
    cal, check = osp.join(work, 'calibration'), osp.join(work, 'check')
    for folder, n, seed in ((cal, 8, 1), (check, 4, 2)):
        os.makedirs(folder)
        write_bench_images(folder, n, size, seed=seed, prefix=osp.basename(folder))
    folders = {name: osp.join(work, name) for name in ('float32', 'int8', 'mindspore')}
    run_export(OnnxBackend(OnnxExportOptions(config, ckpt, folders['float32'], dynamic_shape=True,
                                             parity_size=(64, 64))))
    run_export(OnnxBackend(OnnxExportOptions(  # random weights: a speed figure only
        config, ckpt, folders['int8'], dynamic_shape=True, parity_size=(64, 64), int8=True,
        calibration_images=cal, check_images=check, int8_min_agreement_mean=0.0,
        int8_min_agreement_worst=0.0, int8_max_miou_drop=100.0, calibration_method='MinMax')))
    run_export(MindSporeBackend(MindSporeExportOptions(config, ckpt, folders['mindspore'],
                                                       parity_size=(64, 64))))
    return [('onnxruntime float32', folders['float32'], 'onnxruntime'),
            ('onnxruntime int8', folders['int8'], 'onnxruntime'),
            ('MindSpore', folders['mindspore'], 'mindspore')], gears


def gears_of(text):
    """``--gears`` as the exporter takes it: 'voc' when not given."""
    if text is None:
        return 'voc'
    from mmseg_fcn_voc.conversion.gear_sizes import parse_gears
    return parse_gears(text)


def run_host(python, spec, work):
    spec_file = osp.join(work, 'spec.json')
    with open(spec_file, 'w') as f:
        json.dump(spec, f)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (REPO_ROOT, env.get('PYTHONPATH')) if p)
    proc = subprocess.run([python, osp.abspath(__file__), '--host-spec', spec_file], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f'the host side failed in {python}:\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(result, args):
    n = args.num_images
    for r in result['backends']:
        ratio = r['model'] / r['run']
        print(f'  (a) {r["name"]:20}: model only {n / r["model"]:6.3f} images/s, end to end '
              f'{n / r["run"]:6.3f} images/s; ratio end-to-end / model-only = {ratio:.3f}  '
              '(target >= 0.95)')
    plain = result['stand_in'][0]
    for r in result['stand_in']:
        rate = r['images'] / r['seconds']
        print(f'  (b) stand-in NPU, {r["name"]:37}{" + overlays" if r["overlays"] else "":11}: '
              f'{rate:6.1f} images/s with predictions written and scored; ratio to 64 images/s '
              f'= {rate / 64:.2f}  (stand-in call {r["own_ms"]:.3f} ms)')
    for r in result['stand_in'][:len(SHAPES)]:
        total = r['sent'] + r['received']
        print(f'  (c) {r["name"]:37}: to the device {r["sent"]:,.0f} bytes, back '
              f'{r["received"]:,.0f} bytes per image; total = '
              f'{total / (plain["sent"] + plain["received"]):.3f} x float32/logits')
    without, with_overlays = result['stand_in'][len(SHAPES) - 1:]
    cost = with_overlays['seconds'] / with_overlays['images'] - without['seconds'] / without[
        'images']
    print(f'  overlays cost {1000 * cost:.1f} ms of host time per image (wall, 2 stages in '
          f'parallel); ratio with / without overlays = '
          f'{without["seconds"] / with_overlays["seconds"]:.2f}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default='configs/fcn8s_vgg16_voc.py')
    parser.add_argument('--num-images', type=int, default=12, help='images for (a)')
    parser.add_argument('--stand-in-images', type=int, default=256, help='images for (b), (c)')
    parser.add_argument('--size', type=int, nargs=2, default=(375, 500), metavar=('H', 'W'))
    parser.add_argument('--host-python', default=sys.executable,
                        help='interpreter that runs the host side (default: this one)')
    parser.add_argument('--gears', metavar='HxW[,HxW...]',
                        help="the stand-in's static gears (default: the VOC gears)")
    parser.add_argument('--workers', type=int, default=2, help="the runtime's --workers")
    parser.add_argument('--repeats', type=int, default=2, help='(a) alternated this many times')
    parser.add_argument('--skip-backends', action='store_true',
                        help='only (b) and (c): no float32, int8 and MindSpore exports')
    parser.add_argument('--host-spec', help=argparse.SUPPRESS)  # the host side's own entry
    args = parser.parse_args(argv)
    if args.host_spec:
        return host_main(args.host_spec)
    from mmseg_fcn_voc.utils.machine import machine_summary
    print(f'{args.config}, images of about {args.size[1]}x{args.size[0]}: {args.num_images} for '
          f'(a), {args.stand_in_images} for (b) and (c); --workers {args.workers}; '
          f'{machine_summary()}')
    with tempfile.TemporaryDirectory() as work:
        backends, gears = export_folders(args.config, work, tuple(args.size), gears_of(args.gears),
                                        args.skip_backends)
        with open(osp.join(gears, 'deploy.json')) as f:
            num_classes = len(json.load(f)['classes'])
        images, labels = write_images(osp.join(work, 'a'), args.num_images, tuple(args.size),
                                      num_classes, 0)
        stand_in, stand_in_labels = write_images(osp.join(work, 'b'), args.stand_in_images,
                                                 tuple(args.size), num_classes, 1)
        spec = dict(backends=backends, images=images, labels=labels, stand_in_folder=gears,
                    stand_in_images=stand_in, stand_in_labels=stand_in_labels, work=work,
                    workers=args.workers, repeats=args.repeats)
        result = run_host(args.host_python, spec, work)
    versions = ', '.join(f'{k} {v}' for k, v in result['versions'].items())
    print(f'  host side in {result["python"]} ({versions})')
    report(result, args)
    print('  a stand-in measures the host only: no NPU ran here')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
