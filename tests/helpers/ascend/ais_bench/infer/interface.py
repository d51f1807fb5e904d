"""A stand-in for msit's ``ais_bench.infer.interface.InferSession``, for tests: see
../../README.md. It follows the documented interface and computes with onnxruntime."""
import json
import re
import zipfile
from dataclasses import dataclass
from typing import List

import numpy as np

SESSIONS = []  # every session made, for tests to inspect


@dataclass
class TensorDesc:
    name: str
    shape: List[int]
    datatype: str


def parse_aipp(text):
    """The ``key: value`` pairs of an ``aipp_op { ... }`` block."""
    return {k: v.strip() for k, v in re.findall(r'^\s*(\w+)\s*:\s*(\S+)\s*$', text, re.M)}


class InferSession:
    def __init__(self, device_id: int, model_path: str, acl_json_path: str = None,
                 debug: bool = False, loop: int = 1):
        import onnxruntime as ort
        self.device_id, self.model_path, self.loop = device_id, model_path, loop
        with zipfile.ZipFile(model_path) as om:
            names = om.namelist()
            self.onnx = om.read('model.onnx')
            self.aipp = parse_aipp(om.read('aipp.cfg').decode()) if 'aipp.cfg' in names else None
            self.atc_args = json.loads(om.read('atc.json'))
        self.ort = ort.InferenceSession(self.onnx, providers=['CPUExecutionProvider'])
        self.calls = 0
        SESSIONS.append(self)

    def get_inputs(self):
        inputs = [TensorDesc(i.name, list(i.shape), i.type) for i in self.ort.get_inputs()]
        if self.aipp is not None:  # AIPP: the related input becomes uint8 NHWC pixels
            h, w = int(self.aipp['src_image_size_h']), int(self.aipp['src_image_size_w'])
            inputs[0] = TensorDesc(inputs[0].name, [1, h, w, 3], 'uint8')
        return inputs

    def get_outputs(self):
        return [TensorDesc(o.name, list(o.shape), o.type) for o in self.ort.get_outputs()]

    def _apply_aipp(self, x):
        """out = (in - mean_chn - min_chn) * var_reci_chn per channel, after the R/B swap."""
        a = self.aipp
        if x.dtype != np.uint8 or a['input_format'] != 'RGB888_U8':
            raise ValueError(f'AIPP RGB888_U8 takes uint8 pixels, got {x.dtype}')
        x = x.astype(np.float32)
        if a.get('rbuv_swap_switch') == 'true':
            x = x[..., ::-1]
        out = np.empty_like(x)
        for c in range(3):
            out[..., c] = (x[..., c] - np.float32(a[f'mean_chn_{c}'])
                           - np.float32(a[f'min_chn_{c}'])) * np.float32(a[f'var_reci_chn_{c}'])
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    def infer(self, feeds, mode='static', custom_sizes=None, out_array=True):
        if mode != 'static':
            raise ValueError(f'stand-in: only mode="static", got {mode!r}')
        descs = self.get_inputs()
        if len(feeds) != len(descs):
            raise ValueError(f'{len(descs)} inputs expected, {len(feeds)} given')
        for feed, desc in zip(feeds, descs):
            if list(feed.shape) != list(desc.shape):
                raise ValueError(f'input {desc.name}: shape {list(feed.shape)}, the model takes '
                                 f'{desc.shape}')
        feeds = list(feeds)
        if self.aipp is not None:
            feeds[0] = self._apply_aipp(feeds[0])
        outputs = self.ort.run(None, {d.name: f for d, f in zip(self.ort.get_inputs(), feeds)})
        self.calls += 1
        # an offline model returns ATC's int32 where ONNX's ArgMax returns int64
        return [o.astype(np.int32) if o.dtype == np.int64 else o for o in outputs]

    def summary(self):
        return {'calls': self.calls}

    def free_resource(self):
        pass
