# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The main job: build the FCN models from their configs and print a summary.

    python tools/demo.py [--work-dir demo_run]
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import model_summary  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='demo_run')
    args = parser.parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    return model_summary.main([])


if __name__ == '__main__':
    raise SystemExit(main())
