# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Run a converted FCN on the deployment host and score it: numpy, Pillow and one backend only.

    python converters/infer_deployed.py DIR IMAGES --out-dir OUT [--labels LABELS]
        [--backend mindspore|onnxruntime] [--device-target CPU|GPU|Ascend] [--max-images N]

DIR is what converters/to_mindspore.py (MINDIR) or converters/to_onnx.py (ONNX) wrote: the model
file and deploy.json. Writes OUT/<image id>.png (palette PNGs of the predicted classes),
OUT/overlays/, and with --labels OUT/metrics.json (aAcc, mAcc, mIoU, fwIoU, per-class IoU/Acc),
OUT/confusion_matrix.{npy,csv,png} and a printed per-class table. Needs neither torch nor mmseg:
on the host, copy (or clone) this repository's fcn_voc_runtime/ and converters/ folders.
Exit status: 0 success, 2 usage error, 3 bad input (the message names the file), 4 internal error.
"""
import argparse
import os.path as osp
import sys

PROG = 'infer_deployed.py'

try:
    import fcn_voc_runtime  # noqa: F401  (installed, or on PYTHONPATH)
except ImportError:  # run from a clone or a copy of the repository without installing it
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    parser.add_argument('deploy_dir', help='folder with deploy.json and the model file')
    parser.add_argument('images', help='image folder (or one image)')
    parser.add_argument('--out-dir', required=True, help='where predictions and reports go')
    parser.add_argument('--labels', help='label PNGs named like the images: score the model')
    parser.add_argument('--backend', choices=('mindspore', 'onnxruntime'),
                        help="default: the deploy folder's")
    parser.add_argument('--device-target', choices=('CPU', 'GPU', 'Ascend'), default='CPU')
    parser.add_argument('--max-images', type=int, help='the first N images only')
    parser.add_argument('--opacity', type=float, default=0.6, help='overlay colour opacity')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from fcn_voc_runtime.cli import run_cli
    from fcn_voc_runtime.infer import infer_folder

    def run():
        result = infer_folder(args.deploy_dir, args.images, args.out_dir, labels=args.labels,
                              backend=args.backend, device_target=args.device_target,
                              max_images=args.max_images, opacity=args.opacity)
        if result['metrics'] is not None:
            m = result['metrics']
            print(f'aAcc {m["aAcc"]:.2f}  mAcc {m["mAcc"]:.2f}  mIoU {m["mIoU"]:.2f}  '
                  f'fwIoU {m["fwIoU"]:.2f}  ({osp.join(args.out_dir, "metrics.json")})')

    return run_cli(run, PROG)


if __name__ == '__main__':
    sys.exit(main())
