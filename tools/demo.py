# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The main job: the whole workflow on a generated VOC-format dataset, on CPU, in minutes.

    python tools/demo.py [--work-dir demo_run] [--num-images 100] [--seed 0] [--max-iters N]
        [--skip-convert] [--config CONFIG]

Each stage runs the command a user would type, and prints it first:

1. ``tools/analysis_tools/model_summary.py``: every FCN config builds, with the published counts;
2. ``tools/dataset_converters/make_demo_voc.py``: a small dataset in the raw VOC 2012 / SBD /
   VOC 2011 layouts;
3. ``tools/dataset_converters/prepare_voc.py``: into mmseg's layout (train_aug, val, seg11valid);
4. ``mim train mmseg``: FCN-8s (the BN variant, trainable from scratch) on train_aug; the final
   checkpoint gets a ``.sha256`` sidecar (verified when the tools load it);
5. ``mim test mmseg``: the four FCN metrics, the per-class table and the confusion-matrix picture;
6. ``tools/infer.py``: prediction overlays over the val images in the VOC palette;
7. ``converters/to_mindspore.py``: MindSpore checkpoint + dynamic-shape MINDIR + deploy.json, with
   the parity report (seeded 512x512 input, a second size, and the val images);
8. ``converters/infer_deployed.py``: the deployed MINDIR over the val images, its mean IU printed
   beside mim test's; run in the torch-free host environment that ``tools/setup_env.sh`` makes
   (``.venv-host``: numpy, Pillow, MindSpore 2.7.2), or ``--host-python``.

Re-running reuses the generated data (prepare_voc is idempotent) and retrains. Exit status 0, or 1
when a parity check failed or the deployed model does not score what mim test scored.
"""
import argparse
import glob
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import time

from rich.console import Console
from rich.table import Table

from fcn_voc_core.fileio import write_sha256_sidecar

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py'
console = Console(width=120)


def run(args, **kwargs) -> None:
    console.rule(f'[bold]$ {" ".join(shlex.quote(str(a)) for a in args)}', align='left')
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    subprocess.run([str(a) for a in args], cwd=REPO, env=env, check=True, **kwargs)


def data_options(data_root: str):
    return [f'{k}.dataset.data_root={data_root}'
            for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')]


def latest_json(work_dir: str) -> dict:
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.json')), key=osp.getmtime)
    with open(logs[-1]) as f:
        return json.loads(f.read().strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='demo_run')
    parser.add_argument('--num-images', type=int, default=100)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--max-iters', type=int, default=None,
                        help='override the config\'s 300 training iterations')
    parser.add_argument('--skip-convert', action='store_true')
    parser.add_argument('--config', default=CONFIG,
                        help='the config trained, tested and deployed (default %(default)s); one '
                        'that trains on the demo data (its data_root is set to the generated set)')
    parser.add_argument('--host-python', default=None,
                        help='interpreter of the deployment step (default: .venv-host/bin/python '
                        'when it exists, else this one)')
    parser.add_argument('--parity-size', type=int, nargs=2, default=(512, 512), metavar=('H', 'W'),
                        help='seeded input of the MindSpore parity check (default 512 512)')
    args = parser.parse_args(argv)
    work = osp.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    py, mim = sys.executable, osp.join(osp.dirname(sys.executable), 'mim')
    start = time.time()

    run([py, 'tools/analysis_tools/model_summary.py'])

    raw, data_root = osp.join(work, 'raw'), osp.join(work, 'VOCdevkit')
    run([py, 'tools/dataset_converters/make_demo_voc.py', '--out-dir', raw, '--num-images',
         args.num_images, '--seed', args.seed])
    run([py, 'tools/dataset_converters/prepare_voc.py', '--voc', osp.join(raw, 'VOCdevkit'),
         '--sbd', osp.join(raw, 'benchmark_RELEASE'), '--voc2011', osp.join(raw, 'TrainVal'),
         '--out-dir', data_root])

    train_dir = osp.join(work, 'train')
    train_opts = data_options(data_root)
    if args.max_iters:
        warmup = max(1, min(30, args.max_iters // 10))  # the config warms up for 30 of 300
        train_opts += [f'train_cfg.max_iters={args.max_iters}',
                       f'train_cfg.val_interval={args.max_iters}',
                       f'default_hooks.checkpoint.interval={args.max_iters}',
                       f'param_scheduler.0.end={warmup}', f'param_scheduler.1.begin={warmup}',
                       f'param_scheduler.1.end={max(args.max_iters, warmup + 1)}']
    run([mim, 'train', 'mmseg', args.config, '--work-dir', train_dir, '--cfg-options', *train_opts])
    with open(osp.join(train_dir, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    write_sha256_sidecar(checkpoint)  # as mmseg's publish_model would: verified on every load

    test_dir, figures = osp.join(work, 'test'), osp.join(work, 'figures')
    run([mim, 'test', 'mmseg', args.config, '--checkpoint', checkpoint, '--work-dir', test_dir,
         '--cfg-options', *data_options(data_root), f'test_evaluator.output_dir={figures}'])
    metrics = latest_json(test_dir)

    val_ids = osp.join(data_root, 'VOC2012', 'ImageSets', 'Segmentation', 'val.txt')
    val_images = osp.join(work, 'val_images')
    os.makedirs(val_images, exist_ok=True)
    with open(val_ids) as f:
        for image_id in f.read().split():
            dst = osp.join(val_images, f'{image_id}.jpg')
            if not osp.exists(dst):
                os.link(osp.join(data_root, 'VOC2012', 'JPEGImages', f'{image_id}.jpg'), dst)
    overlays = osp.join(work, 'overlays')
    run([py, 'tools/infer.py', args.config, checkpoint, val_images, '--out-dir', overlays, '--gt-dir',
         osp.join(data_root, 'VOC2012', 'SegmentationClass')])

    parity = deployed = None
    labels = osp.join(data_root, 'VOC2012', 'SegmentationClass')
    if not args.skip_convert:
        ms_dir = osp.join(work, 'mindspore')
        run([py, 'converters/to_mindspore.py', args.config, checkpoint, '--out-dir', ms_dir,
             '--parity-size', *args.parity_size, '--images', val_images, '--labels', labels])
        with open(osp.join(ms_dir, 'parity.json')) as f:
            parity = json.load(f)
        deployed_dir = osp.join(work, 'deployed')
        host_py = args.host_python
        if host_py is None:  # the torch-free host environment, when set up
            host_venv = osp.join(REPO, '.venv-host', 'bin', 'python')
            host_py = host_venv if osp.isfile(host_venv) else py
        run([host_py, '-m', 'fcn_voc_runtime', ms_dir, val_images, '--out-dir',
             deployed_dir, '--labels', labels, '--backend', 'mindspore'])
        with open(osp.join(deployed_dir, 'metrics.json')) as f:
            deployed = json.load(f)

    table = Table(title=f'Demo finished in {(time.time() - start) / 60:.1f} min')
    table.add_column('result')
    table.add_column('value')
    for key in ('aAcc', 'mAcc', 'mIoU', 'fwIoU'):
        table.add_row(f'val {key} (%), mim test' + (' | deployed MINDIR' if deployed else ''),
                      f'{metrics[key]:.2f}' + (f' | {deployed[key]:.2f}' if deployed else ''))
    table.add_row('checkpoint', osp.relpath(checkpoint, REPO))
    table.add_row('confusion matrix', osp.relpath(osp.join(figures, 'confusion_matrix.png'), REPO))
    table.add_row('overlays (GT | prediction)', osp.relpath(overlays, REPO) + '/')
    ok = True
    if parity is not None:
        table.add_row('MindSpore parity', 'PASS' if parity['passed'] else 'FAIL')
        table.add_row('MindSpore files (.ckpt, .mindir, _network.py, deploy.json)',
                      osp.relpath(osp.join(work, 'mindspore'), REPO) + '/')
        same = all(abs(deployed[k] - metrics[k]) <= 0.01 for k in ('aAcc', 'mAcc', 'mIoU', 'fwIoU'))
        table.add_row('deployed = mim test (0.01 points)', 'yes' if same else 'NO')
        table.add_row('deployed predictions', osp.relpath(osp.join(work, 'deployed'), REPO) + '/')
        ok = parity['passed'] and same
    console.print(table)
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
