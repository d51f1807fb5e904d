# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Run a converted FCN on the deployment host and score it: numpy, Pillow, OpenCV and one backend.

    python -m fcn_voc_runtime DIR IMAGES --out-dir OUT [--labels LABELS]
        [--backend mindspore|onnxruntime|om] [--device-target CPU|GPU|Ascend] [--device-id N]
        [--max-images N] [--shard I/N] [--resume] [--overlays] [--workers N]
    python -m fcn_voc_runtime --merge SHARD_OUT [SHARD_OUT ...] --out-dir OUT

(also ``converters/infer_deployed.py`` and the console script ``fcn-infer-deployed``). DIR is what
``converters/to_mindspore.py`` (MINDIR) or ``converters/to_onnx.py`` (ONNX) wrote: the model file
and deploy.json. Writes OUT/<image id>.png (palette PNGs of the predicted classes), with
--overlays OUT/overlays/,
OUT/run.json, and with --labels OUT/metrics.json (aAcc, mAcc, mIoU, fwIoU, per-class IoU/Acc, and
the backend, device and precision that ran), OUT/confusion_matrix.{npy,csv,png} and a printed
per-class table. Every input is checked before anything is written. --shard I/N scores slice I
(0..N-1) of the sorted image list, e.g. one per host or NPU; --merge sums the shards' confusion
matrices into the metrics of a single run. --resume skips images whose outputs are complete.
Exit status: 0 success, 2 usage error, 3 bad input (all problems listed, naming the files; also a
model that would not run on the device asked for), 4 internal error.
"""
import argparse
import os.path as osp
import sys

from fcn_voc_core.cli import run_cli
from fcn_voc_core.dependencies import require_all

from .choices import DEVICE_TARGETS, METRICS_FILE, RUN_BACKENDS

PROG = 'infer_deployed.py'


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('deploy_dir', nargs='?',
                        help='folder with deploy.json and the model file')
    parser.add_argument('images', nargs='?', help='image folder (or one image)')
    parser.add_argument('--out-dir', required=True, help='where predictions and reports go')
    parser.add_argument('--labels', help='label PNGs named like the images: score the model')
    parser.add_argument('--backend', choices=RUN_BACKENDS,
                        help="default: the deploy folder's; om: the offline models its atc.sh made")
    parser.add_argument('--device-target', choices=DEVICE_TARGETS, default='CPU')
    parser.add_argument('--device-id', type=int, default=0, help='which NPU/GPU (default 0)')
    parser.add_argument('--max-images', type=int, help='the first N images only')
    parser.add_argument('--shard', metavar='I/N', help='score slice I (0..N-1) of N of the '
                        'sorted image list')
    parser.add_argument('--resume', action='store_true',
                        help='skip images whose prediction (and overlay) are complete in OUT')
    parser.add_argument('--merge', nargs='+', metavar='SHARD_OUT',
                        help="sum these shard outputs' confusion matrices into OUT/metrics.json")
    parser.add_argument('--overlays', action='store_true',
                        help='also write OUT/overlays/<id>.png: the image with the prediction '
                        '(ground truth | prediction with --labels)')
    parser.add_argument('--opacity', type=float, default=0.6, help='overlay colour opacity')
    parser.add_argument('--workers', type=int, default=2,
                        help='threads that decode and write around the model (default 2)')
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.merge and (args.deploy_dir or args.images):
        parser.error('--merge takes shard output folders only, no DIR IMAGES')
    if not args.merge and not (args.deploy_dir and args.images):
        parser.error('DIR and IMAGES are required (or --merge SHARD_OUT ...)')

    def run():
        require_all()  # numpy, Pillow, OpenCV: one line saying what to install if one is missing
        from .folder_inference import InferenceOptions, infer_folder, merge_shards, parse_shard
        if args.merge:
            m = merge_shards(args.merge, args.out_dir)
            print(f'aAcc {m["aAcc"]:.2f}  mAcc {m["mAcc"]:.2f}  mIoU {m["mIoU"]:.2f}  '
                  f'fwIoU {m["fwIoU"]:.2f}  ({osp.join(args.out_dir, METRICS_FILE)})')
            return
        options = InferenceOptions(
            args.deploy_dir, args.images, args.out_dir, labels=args.labels, backend=args.backend,
            device_target=args.device_target, device_id=args.device_id,
            max_images=args.max_images, shard=parse_shard(args.shard) if args.shard else None,
            resume=args.resume, overlays=args.overlays, opacity=args.opacity,
            workers=args.workers)
        result = infer_folder(options)
        m = result['metrics']
        if m is not None:
            print(f'aAcc {m["aAcc"]:.2f}  mAcc {m["mAcc"]:.2f}  mIoU {m["mIoU"]:.2f}  '
                  f'fwIoU {m["fwIoU"]:.2f}  ({result["backend"]} on {result["device"]}, '
                  f'{result["precision"]}; {osp.join(args.out_dir, METRICS_FILE)})')

    return run_cli(run, PROG)


if __name__ == '__main__':
    sys.exit(main())
