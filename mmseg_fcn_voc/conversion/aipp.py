# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Preprocessing on the chip: Ascend's AIPP (``--aipp``), configured from the model's own
normalisation.

With an AIPP configuration, ATC (``--insert_op_conf``) and MindSpore Lite
(``[ascend_context] insert_op_config_file_path``) put the normalisation in front of the network on
the NPU: the offline model takes the image as uint8 RGB pixels, (1, H, W, 3), a quarter of the
bytes of the float32 input, and computes per channel ``out = (in - mean_chn - min_chn) *
var_reci_chn`` after an optional R/B swap (``rbuv_swap_switch``). Here ``mean_chn`` is 0,
``min_chn`` the config's mean and ``var_reci_chn`` 1 / std, in the network's channel order, so the
result is the data preprocessor's ``(pixel - mean) / std``.

**Padding.** The 'same' geometry pads the normalised image to a multiple of 32 with the
preprocessor's pad value (0), and a static model or gear pads it to its size. AIPP normalises every
pixel it gets, so padding the uint8 image would give ``(0 - mean) / std`` there instead. An AIPP
export therefore takes a second input, ``valid_size`` (int32 ``[h, w]``: the image's own size), and
its first step sets every pixel outside the top-left ``h x w`` to the pad value
(:func:`~.onnx.graph_edits.mask_padding`): what the host pads with does not matter, and the result
is mmseg's. The MindSpore Lite configuration is written for a static MINDIR, which has one input:
with it, images must have the static size to be exact.
"""
import os.path as osp
from typing import Dict, List, Sequence, Tuple

from fcn_voc_core.fileio import atomic_output

Size = Tuple[int, int]
#: The second input of an AIPP export: the (h, w) of the image inside the padded input.
VALID_SIZE_NAME = 'valid_size'


def aipp_config(size: Size, channel_order: str, mean: Sequence[float],
                std: Sequence[float]) -> str:
    """The static AIPP configuration for an RGB uint8 image of ``size`` (H, W) and a network that
    takes ``(pixel - mean) / std`` in ``channel_order`` (``'RGB'`` or ``'BGR'``)."""
    h, w = size
    lines = ['aipp_op {', '    aipp_mode: static', '    related_input_rank: 0',
             '    input_format: RGB888_U8', f'    src_image_size_w: {w}',
             f'    src_image_size_h: {h}', '    csc_switch: false',
             f'    rbuv_swap_switch: {"true" if channel_order == "BGR" else "false"}']
    for c in range(3):
        lines += [f'    mean_chn_{c}: 0', f'    min_chn_{c}: {float(mean[c])!r}',
                  f'    var_reci_chn_{c}: {1.0 / float(std[c])!r}']
    return '\n'.join(lines + ['}']) + '\n'


def aipp_file(size: Size) -> str:
    return f'aipp_{size[0]}x{size[1]}.cfg'


def write_aipp_configs(out_dir: str, sizes: Sequence[Size], channel_order: str,
                       mean: Sequence[float], std: Sequence[float]) -> Dict[str, str]:
    """One ``aipp_<H>x<W>.cfg`` per static size; returns ``{role: path}``."""
    written = {}
    for size in sizes:
        path = osp.join(out_dir, aipp_file(size))
        with atomic_output(path) as tmp, open(tmp, 'w', encoding='utf-8') as f:
            f.write('# Ascend AIPP: uint8 RGB pixels in, the network\'s normalised input out\n'
                    '# (out = (in - mean_chn - min_chn) * var_reci_chn, after the R/B swap)\n'
                    + aipp_config(size, channel_order, mean, std))
        written[f'aipp_{size[0]}x{size[1]}'] = path
    return written


def aipp_description(sizes: Sequence[Size], channel_order: str, mean: Sequence[float],
                     std: Sequence[float]) -> Dict:
    """``deploy.json``'s ``aipp`` entry: what the offline model takes once AIPP is in front."""
    files: List[str] = [aipp_file(s) for s in sizes]
    return {'configs': files, 'input': {'layout': 'NHWC', 'dtype': 'uint8',
                                        'channel_order': 'RGB'},
            'valid_size_input': VALID_SIZE_NAME, 'rbuv_swap': channel_order == 'BGR',
            'min_chn': [float(m) for m in mean], 'var_reci_chn': [1.0 / float(s) for s in std],
            'note': 'ATC (--insert_op_conf) and MindSpore Lite put this normalisation on the '
                    'NPU; the folder\'s ONNX takes the float32 input and valid_size'}
