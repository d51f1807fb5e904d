# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Alias of ``tools/dataset_converters/prepare_voc.py``, the path earlier releases documented; same arguments."""
import os.path as osp
import runpy

HERE = osp.dirname(osp.abspath(__file__))
runpy.run_path(osp.join(HERE, 'dataset_converters/prepare_voc.py'), run_name='__main__')
