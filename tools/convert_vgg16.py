# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Alias of ``tools/model_converters/vgg2mmseg.py``, the path earlier releases documented; same arguments."""
import os.path as osp
import runpy

HERE = osp.dirname(osp.abspath(__file__))
runpy.run_path(osp.join(HERE, 'model_converters/vgg2mmseg.py'), run_name='__main__')
