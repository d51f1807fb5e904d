# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The deployed model's throughput against mmseg's, on the same images, in one run.

    python tools/analysis_tools/benchmark_deploy.py [--config configs/fcn8s_vgg16_voc.py]
        [--num-images 20] [--backend mindspore|onnxruntime] [--host-python PYTHON]
        [--gears HxW[,HxW...]|voc]

Converts a random-weight checkpoint of the config (``to_mindspore`` / ``to_onnx --dynamic``, one
model for every size), writes ``--num-images`` JPEGs of VOC-like sizes (about 500x375, each a little
different), then times, over the same images: mmseg's ``inference_model`` (what ``tools/infer.py``
runs) and the runtime's ``Predictor`` (what ``converters/infer_deployed.py`` runs: decoding,
preprocessing, the backend, argmax) in a child process, as on a deployment host: by default this
interpreter, or ``--host-python``, another one (e.g. a virtual environment with only numpy, Pillow
and another MindSpore version, as on the host; the repository's ``fcn_voc_runtime`` is put on its
path). Prints images per second of both and their ratio (target:
deployed >= 0.8x mmseg), with the CPU model and ISA, and the pixel agreement of the predictions.

Both rates are also shown as arithmetic throughput (GFLOP/s, counting the network's
multiply-adds at ``--size`` with mmengine's ``FlopAnalyzer`` as 2 FLOP each): compare them with the
CPU's peak to see whether a backend is limited by its kernels' vector width. MindSpore 2.10's CPU
convolutions run at AVX2 on every x86 CPU (its oneDNN's AVX-512 path is a reference kernel, see
``fcn_voc_core.mindspore_cpu``), torch's at AVX-512 where the CPU has it.

With ``--gears`` (onnxruntime) the same checkpoint is also exported with static gears
(``to_onnx --gears``) and timed over the same images: images per second of the geared folder
against the dynamic one (each image padded to its gear, as on Ascend) and both folders' pixel
agreement with mmseg.

The cost of decoding images exactly as mmcv does (OpenCV, after a whole-file Pillow check) is shown
against Pillow decoding (what the runtime did before), per image and on the deployed rate.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
from typing import Tuple

import numpy as np
import torch

from mmseg_fcn_voc.testing.bench_images import write_bench_images
from mmseg_fcn_voc.utils.machine import machine_summary

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Run in the host's interpreter: argv = deploy dir, backend, output .npz, image paths. Imports
#: only numpy, the runtime and the backend; prints one JSON line (seconds, versions).
HOST_SNIPPET = r"""
import importlib, importlib.util, json, sys, time
import numpy as np
from fcn_voc_core.imageio import read_image
from fcn_voc_runtime.predictor import Predictor
deploy, backend, out, *images = sys.argv[1:]
from PIL import Image


def pillow_rgb(path):  # the runtime's decoding before it decoded as mmcv does (the baseline)
    with Image.open(path) as img:
        return np.array(img.convert('RGB'))


predictor = Predictor(deploy, backend)
predictor.predict(read_image(images[0]))  # warm-up
decode = {}
for name, fn in (('exact', read_image), ('pillow', pillow_rgb)):
    t0 = time.perf_counter()
    for p in images:
        fn(p)
    decode[name] = (time.perf_counter() - t0) / len(images)
t0 = time.perf_counter()
preds = [predictor.predict(read_image(p)) for p in images]
seconds = time.perf_counter() - t0
t0 = time.perf_counter()
for p in images:
    predictor.predict(pillow_rgb(p))
seconds_pillow = time.perf_counter() - t0
np.savez(out, *preds)
module = importlib.import_module(backend)
print(json.dumps(dict(seconds=seconds, seconds_pillow=seconds_pillow, decode=decode,
                      backend_version=module.__version__, python=sys.executable,
                      torch_installed=bool(importlib.util.find_spec('torch')))))
"""


def time_deployed(python, deploy, backend, images, out):
    """Run the runtime's ``Predictor`` over ``images`` in ``python`` (a child process); returns
    (seconds, predictions, info)."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in (REPO_ROOT, env.get('PYTHONPATH')) if p)
    proc = subprocess.run([python, '-c', HOST_SNIPPET, deploy, backend, out, *images], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f'the deployed model failed in {python}:\n{proc.stderr[-3000:]}')
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    with np.load(out) as data:
        preds = [data[f'arr_{i}'] for i in range(len(images))]
    return info['seconds'], preds, info


def gflop_per_image(model, size, deploy) -> Tuple[float, Tuple[int, int]]:
    """FLOP (2 per multiply-add) of one forward of ``model`` on an image of ``size`` (H, W), in
    GFLOP, and that input's size: the network input as the runtime resizes (a config whose test
    pipeline resizes) and pads it for the ``deploy`` folder."""
    from mmengine.analysis import FlopAnalyzer

    from fcn_voc_runtime.deploy import load_deploy_dir
    from fcn_voc_runtime.preprocess import input_sizes
    _, size = input_sizes(*size, load_deploy_dir(deploy, verify_hash=False))
    with torch.no_grad():
        analyzer = FlopAnalyzer(model, (torch.zeros(1, 3, *size), ))
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        return 2 * analyzer.total() / 1e9, tuple(size)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default='configs/fcn8s_vgg16_voc.py')
    parser.add_argument('--num-images', type=int, default=20)
    parser.add_argument('--backend', choices=('mindspore', 'onnxruntime'), default='mindspore')
    parser.add_argument('--size', type=int, nargs=2, default=(375, 500), metavar=('H', 'W'),
                        help='image size, each image a little smaller (default 375 500)')
    parser.add_argument('--host-python', default=sys.executable,
                        help='interpreter that runs the deployed model (default: this one)')
    parser.add_argument('--gears', default=None, metavar='HxW[,HxW...]|voc',
                        help='also time a static-gears export (onnxruntime) against the dynamic one')
    args = parser.parse_args(argv)
    if args.gears and args.backend != 'onnxruntime':
        parser.error('--gears exports ONNX: use it with --backend onnxruntime')
    from mmseg.apis import inference_model, init_model

    from mmseg_fcn_voc.conversion.checkpoint import random_checkpoint
    print(f'{args.config}, {args.num_images} images of about {args.size[1]}x{args.size[0]}, '
          f'backend {args.backend}; '
          f'{machine_summary()}')
    with tempfile.TemporaryDirectory() as work:
        ckpt = random_checkpoint(args.config, osp.join(work, 'model.pth'))
        deploy = osp.join(work, 'deploy')
        from mmseg_fcn_voc.conversion.pipeline import run_export
        if args.backend == 'mindspore':
            from mmseg_fcn_voc.conversion.mindspore.backend import MindSporeBackend as Backend
        else:
            from mmseg_fcn_voc.conversion.onnx.backend import OnnxBackend as Backend
        run_export(Backend(Backend.options_class(args.config, ckpt, deploy, parity_size=(64, 64))))
        geared = osp.join(work, 'geared')
        if args.gears:
            run_export(Backend(Backend.options_class(args.config, ckpt, geared, gears=args.gears)))
        images = write_bench_images(work, args.num_images, tuple(args.size))

        model = init_model(args.config, ckpt, device='cpu')
        gflop, net_size = gflop_per_image(model, tuple(args.size), deploy)
        inference_model(model, images[0])  # warm-up
        t0 = time.perf_counter()
        reference = [inference_model(model, p).pred_sem_seg.data[0].numpy() for p in images]
        t_mmseg = time.perf_counter() - t0

        t_deploy, deployed, host = time_deployed(args.host_python, deploy, args.backend, images,
                                                 osp.join(work, 'deployed.npz'))
        if args.gears:
            with open(osp.join(geared, 'deploy.json')) as f:
                gear_sizes = [tuple(g['size']) for g in json.load(f)['gears']]
            t_geared, geared_preds, _ = time_deployed(args.host_python, geared, args.backend,
                                                      images, osp.join(work, 'geared.npz'))

    def agreement(preds):
        return 100 * sum(int((a == b).sum()) for a, b in zip(preds, reference)) / total

    total = sum(a.size for a in reference)
    mmseg_rate, deploy_rate = len(images) / t_mmseg, len(images) / t_deploy
    print(f'  network: {gflop:.0f} GFLOP per {args.size[1]}x{args.size[0]} image (network input '
          f'{net_size[1]}x{net_size[0]})')
    print(f'  mmseg inference_model : {mmseg_rate:6.3f} images/s ({t_mmseg:.1f} s), '
          f'~{gflop * mmseg_rate:.0f} GFLOP/s')
    print(f'  deployed {args.backend:13}: {deploy_rate:6.3f} images/s ({t_deploy:.1f} s), '
          f'~{gflop * deploy_rate:.0f} GFLOP/s; {args.backend} {host["backend_version"]} in '
          f'{host["python"]} (torch {"installed" if host["torch_installed"] else "absent"})')
    print(f'  ratio deployed / mmseg = {deploy_rate / mmseg_rate:.2f}  (target >= 0.8); '
          f'pixel agreement {agreement(deployed):.4f}%')
    if args.gears:
        geared_rate = len(images) / t_geared
        print(f'  static gears {gear_sizes}: {geared_rate:6.3f} images/s ({t_geared:.1f} s); '
              f'ratio geared / dynamic = {geared_rate / deploy_rate:.2f}; pixel agreement with '
              f'mmseg {agreement(geared_preds):.4f}%')
    pillow_rate = len(images) / host['seconds_pillow']
    print(f'  decoding per image: exact (OpenCV, as mmcv) {1000 * host["decode"]["exact"]:.1f} ms, '
          f'Pillow (the former runtime) {1000 * host["decode"]["pillow"]:.1f} ms; deployed with '
          f'Pillow decoding {pillow_rate:6.3f} images/s; ratio exact / Pillow = '
          f'{deploy_rate / pillow_rate:.3f}  (target >= 0.95)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
