# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The ONNX backend of the export pipeline: mmseg FCN checkpoint -> ONNX (opset 11), run with
onnxruntime by the checks.

The library behind ``converters/to_onnx.py`` (:func:`~..pipeline.run_export` with
:class:`OnnxBackend`). The graph takes ``input`` (1, 3, H, W), the image as the model's
data preprocessor leaves it (channel order, mean/std), and returns ``output`` (1, K, H, W) logits.
It is exported with the TorchScript exporter (``dynamo=False``), the one that works here and that
Ascend's ATC reads:

* static (``input_size``): every shape fixed at export, no ``Shape`` nodes, the crops constant
  ``Slice``\\ s; what ATC needs (or one export per ``--dynamic_image_size`` gear);
* dynamic (``dynamic=True``): height and width are graph inputs' symbolic dimensions ``height`` and
  ``width``; the crops follow the input's shape. For onnxruntime (also CANN's execution provider).
"""
import logging
import warnings
from typing import Dict, List, Optional, Tuple

import numpy as np
import onnx
import onnxruntime
import torch

from fcn_voc_core.errors import InputError
from fcn_voc_core.fileio import atomic_output

from ..aipp import VALID_SIZE_NAME, aipp_description, write_aipp_configs
from ..context import (
    INPUT_NAME,
    OUTPUT_NAME,
    Converted,
    ExportBackend,
    ExportCheckError,
    ExportContext,
    Exported,
)
from ..deploy_info import normalization, size_policy
from ..gear_sizes import resolve_gears
from ..images import preprocess_image, random_image
from ..network.segmentor import SegmentorNetwork
from ..network.trace import TracedNetwork
from ..options import OnnxExportOptions
from ..precision_plan import onnx_node_names
from .atc import check_atc_compatibility, write_atc_script, write_keep_dtype
from .graph_edits import (
    append_argmax,
    int32_slice_indices,
    mask_padding,
    merge_consecutive_slices,
)

logger = logging.getLogger(__name__)
OPSET = 11


def io_shapes(onnx_model) -> Dict[str, list]:
    """``{name: shape}`` of the graph inputs and outputs; a symbolic dimension shows as its name."""
    shapes = {}
    for value in list(onnx_model.graph.input) + list(onnx_model.graph.output):
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField('dim_value') else d.dim_param or '?'
                              for d in dims]
    return shapes


def export_onnx(model: torch.nn.Module, inputs: torch.Tensor, path: str,
                dynamic: bool = False) -> str:
    """Export ``model``'s FCN (backbone + head, no preprocessing) for ``inputs`` (1, 3, H, W) to
    ``path`` (atomically) and run the ONNX checker on it; ``dynamic`` makes H and W symbolic."""
    wrapper = SegmentorNetwork(model).eval()
    axes = {2: 'height', 3: 'width'}
    with atomic_output(path, suffix='.onnx') as tmp:
        # The tracer warns that shape checks become constants: intended (they only raise errors).
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            torch.onnx.export(
                wrapper, (inputs, ),
                tmp,
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes} if dynamic else None,
                do_constant_folding=True)
        onnx.checker.check_model(tmp)
    return path


def onnxruntime_session(path: str, providers: Optional[List[str]] = None):
    return onnxruntime.InferenceSession(path, providers=providers or ['CPUExecutionProvider'])


def check_io_shapes(path: str, shapes: Dict[str, list], expected: Dict[str, list],
                    dynamic: bool) -> None:
    """Refuse an export whose graph inputs/outputs are not what was asked for: symbolic height and
    width for a dynamic export, exactly ``expected`` for a static one.

    Raises:
        ExportCheckError: naming the file, the shapes found and the ones asked for.
    """
    for name, want in expected.items():
        got = shapes.get(name)
        if got is None or len(got) != len(want):
            raise ExportCheckError(f'{path}: graph {name!r} has shape {got}, expected rank '
                                   f'{len(want)}')
        if dynamic:
            fixed = [d for d in got[2:] if isinstance(d, int) and d > 0]
            # batch and channels: the expected value, or left symbolic by the tracer
            other = [g for g, w in zip(got[:2], want[:2]) if g != w and not isinstance(g, str)]
            if fixed or other:
                raise ExportCheckError(f'{path}: asked for a dynamic height and width, but '
                                       f'{name!r} was exported as {got}')
        elif got != want:
            raise ExportCheckError(f'{path}: asked for static shapes, but {name!r} was exported '
                                   f'as {got} instead of {want}')


class OnnxBackend(ExportBackend):
    """``<name>.onnx`` (or one ``<name>_<H>x<W>.onnx`` per gear, with ``atc.sh``) for
    :class:`~..options.OnnxExportOptions`; no ``input_size`` exports a dynamic height and width
    (see the module docstring). Report: ``onnx_parity.json``."""

    name = 'onnxruntime'
    report_file = 'onnx_parity.json'
    options_class = OnnxExportOptions

    def __init__(self, options: OnnxExportOptions):
        super().__init__(options)
        self.gears: List[Tuple[int, int]] = []
        #: ``{report name: file}`` of the logits graphs kept beside argmax exports
        self.logits_files: Dict[str, str] = {}

    def versions(self) -> Dict[str, str]:
        return {**super().versions(), 'onnx': onnx.__version__,
                'onnxruntime': onnxruntime.__version__}

    def write_precision_plan(self, plan: Dict, exported: Exported) -> Dict[str, str]:
        """ATC's language: ``keep_dtype.cfg`` (one node name of the exported graph per line, for
        ``--keep_dtype``) and ``atc.sh`` (ATC with ``--precision_mode_v2=fp16``, the mode the
        plan was measured in, and the keep file)."""
        names = onnx_node_names(onnx.load(exported.model_file, load_external_data=False),
                                plan['keep_fp32'])
        missing = [k for k, v in names.items() if not v]
        if missing:
            raise ExportCheckError(f'{exported.model_file}: no node of the exported graph comes '
                                   f'from {missing}; cannot write the keep_dtype plan')
        plan['keep_dtype_nodes'] = [n for name in plan['keep_fp32'] for n in names[name]]
        keep = write_keep_dtype(self.options.out_dir, plan['keep_dtype_nodes'])
        script = write_atc_script(self.options.out_dir, self.options.name, self.atc_sizes(),
                                  bool(self.gears), plan['keep_dtype_nodes'], self.options.aipp)
        return {'keep_dtype': keep, 'atc': script}

    def parity_sizes(self, model: torch.nn.Module, net: TracedNetwork) -> List[Tuple[int, int]]:
        """With gears, each gear's size (:func:`~..gear_sizes.resolve_gears`); else the default.

        Raises:
            InputError: the VOC gears or a gear measurement (``images``) for a config whose test
                pipeline resizes images: its gears must hold the resized sizes, which the VOC set
                does not, and the measurement compares native sizes.
        """
        o = self.options
        if o.gears is None:
            return super().parity_sizes(model, net)
        policy = size_policy(model.cfg, o.config)
        if policy['policy'] == 'resize' and (o.gears == 'voc' or o.images):
            raise InputError(
                f'{o.config}: the test pipeline resizes images ({policy["resize"]}), so the '
                + ('VOC gears (sized for native VOC images) do not hold them: give --gears for '
                   'the resized sizes' if o.gears == 'voc' else
                   'the gear measurement (--images, at native size) does not apply'))
        self.gears = resolve_gears(o.gears, net.size_divisor)
        return list(self.gears)

    def atc_sizes(self) -> List[str]:
        """The ``HxW`` of each static model of the folder (``['HxW']`` placeholders: dynamic)."""
        o = self.options
        if self.gears:
            return [f'{h}x{w}' for h, w in self.gears]
        return [f'{o.input_size[0]}x{o.input_size[1]}' if o.input_size else 'HxW']

    def export(self, context: ExportContext) -> Exported:
        o = self.options
        if not self.gears:
            path, converted, facts = self.export_one(context, o.input_size, context.path('.onnx'))
            if o.input_size is not None:
                write_atc_script(o.out_dir, o.name, self.atc_sizes(), geared=False, aipp=o.aipp)
            return self.with_aipp(context, Exported(
                path, [1, 3, *(o.input_size or (None, None))], [converted], self.logits_roles(),
                facts))
        gears, converted, facts = [], [], {}
        for h, w in self.gears:
            path, conv, facts[f'{h}x{w}'] = self.export_one(context, (h, w),
                                                            context.path(f'_{h}x{w}.onnx'))
            gears.append(((h, w), path))
            converted.append(conv)
        write_atc_script(o.out_dir, o.name, self.atc_sizes(), geared=True, aipp=o.aipp)
        largest = gears[-1]
        return self.with_aipp(context, Exported(
            largest[1], [1, 3, *largest[0]], converted, self.logits_roles(),
            {'gears': facts, 'static_shapes': True}, gears=gears))

    def with_aipp(self, context: ExportContext, exported: Exported) -> Exported:
        """With ``aipp``: the AIPP configuration of each static size (:mod:`..aipp`), listed in
        ``deploy.json`` with what the offline model then takes."""
        if not self.options.aipp:
            return exported
        sizes = self.gears or [self.options.input_size]
        order, mean, std = normalization(context.model)
        exported.other_files.update(write_aipp_configs(self.options.out_dir, sizes, order, mean,
                                                       std))
        exported.deploy['aipp'] = aipp_description(sizes, order, mean, std)
        return exported

    def logits_roles(self) -> Dict[str, str]:
        """``deploy.json``'s ``files`` entries of the logits graphs kept beside argmax exports."""
        return {('logits_model' if name == 'onnxruntime' else
                 f'logits_model_{name.split("_")[-1]}'): path
                for name, path in self.logits_files.items()}

    def export_one(self, context: ExportContext, size: Optional[Tuple[int, int]],
                   path: str) -> Tuple[str, Converted, Dict]:
        """One ONNX at ``path``: static for ``size``, dynamic for None; its shapes and ATC's
        constraints checked; with ``with_argmax``, the logits graph is kept beside it
        (``<file>_logits.onnx``) and ``path`` ends with the argmax. Returns the path, the network
        to check and the report's facts."""
        o, model = self.options, context.model
        dynamic = size is None
        h, w = size or o.parity_size
        example = preprocess_image(model, random_image(h, w, o.seed))
        logits_path = path[:-len('.onnx')] + '_logits.onnx' if o.with_argmax else path
        export_onnx(model, example, logits_path, dynamic=dynamic)
        graph = onnx.load(logits_path, load_external_data=False)  # read once for both checks
        if not dynamic:  # the crops as Ascend's graph tools want them: one Slice, int32 indices
            graph = int32_slice_indices(merge_consecutive_slices(graph))
            if o.aipp:  # AIPP normalises the padding too: the graph resets it (see ..aipp)
                graph = mask_padding(graph, float(getattr(model.data_preprocessor, 'pad_val', 0)),
                                     VALID_SIZE_NAME)
            with atomic_output(logits_path, suffix='.onnx') as tmp:
                onnx.save(graph, tmp)
        expected = {INPUT_NAME: list(example.shape),
                    OUTPUT_NAME: [1, context.net.num_classes, *example.shape[-2:]]}
        check_io_shapes(logits_path, io_shapes(graph), expected, dynamic)
        if o.with_argmax:
            graph = append_argmax(graph)
            with atomic_output(path, suffix='.onnx') as tmp:
                onnx.save(graph, tmp)
            expected[OUTPUT_NAME] = [1, *example.shape[-2:]]
        shapes = io_shapes(graph)
        check_io_shapes(path, shapes, expected, dynamic)
        logger.info(f'wrote {path} ({"dynamic" if dynamic else f"{h}x{w}"}, opset {OPSET}'
                    f'{", ending with the argmax" if o.with_argmax else ""})')
        facts = {'onnx': path, 'opset': OPSET, 'io_shapes': shapes, 'static_shapes': not dynamic,
                 'atc_check': self.atc_findings(graph, path, dynamic)}
        name = 'onnxruntime' if not self.gears else f'onnxruntime_{h}x{w}'
        twin = session_runner(logits_path) if o.with_argmax else None
        if o.with_argmax:
            self.logits_files[name] = logits_path
        return path, Converted(name, session_runner(path), size, twin), facts

    def atc_findings(self, graph, path: str, dynamic: bool) -> Dict:
        """ATC's constraints on ``graph``: violations logged, fatal ones refused (unless
        ``--no-atc-check``)."""
        violations = check_atc_compatibility(graph, static=not dynamic)
        for v in violations:
            logger.info(f'ATC: {v}')
        fatal = [str(v) for v in violations if v.fatal]
        if fatal and self.options.atc_check:
            raise ExportCheckError(f'{path}: ATC would refuse {len(fatal)} node(s): '
                                   + '; '.join(fatal[:20]) + ' (--no-atc-check exports it anyway, '
                                   'for onnxruntime)')
        return {'checked': bool(self.options.atc_check),
                'violations': [str(v) for v in violations]}


def session_runner(path: str):
    """``run(x)``: (1, 3, H, W) float32 -> (1, K, H, W) logits of the ONNX at ``path`` with
    onnxruntime's CPU provider (an AIPP export's ``valid_size``: the whole input)."""
    session = onnxruntime_session(path)
    masked = any(i.name == VALID_SIZE_NAME for i in session.get_inputs())

    def run(x: np.ndarray) -> np.ndarray:
        feeds = {INPUT_NAME: np.ascontiguousarray(x, np.float32)}
        if masked:
            feeds[VALID_SIZE_NAME] = np.array(x.shape[-2:], np.int32)
        return session.run([OUTPUT_NAME], feeds)[0]

    return run
