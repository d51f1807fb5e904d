# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""mmseg FCN checkpoint -> ONNX (opset 11) + ``deploy.json``, checked with onnxruntime.

The library behind ``converters/to_onnx.py``, on the shared skeleton of
:class:`~..exporter.Exporter`. The graph takes ``input`` (1, 3, H, W), the image as the model's
data preprocessor leaves it (channel order, mean/std), and returns ``output`` (1, K, H, W) logits.
It is exported with the TorchScript exporter (``dynamo=False``), the one that works here and that
Ascend's ATC reads:

* static (``input_size``): every shape fixed at export, no ``Shape`` nodes, the crops constant
  ``Slice``\\ s; what ATC needs (or one export per ``--dynamic_image_size`` gear);
* dynamic (``dynamic=True``): height and width are graph inputs' symbolic dimensions ``height`` and
  ``width``; the crops follow the input's shape. For onnxruntime (also CANN's execution provider).
"""
import dataclasses
import os
import os.path as osp
import shutil
import tempfile
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
import onnxruntime
import torch

from fcn_voc_core.errors import InputError
from fcn_voc_core.fileio import atomic_output, file_sha256, write_json

from ..deploy_info import size_policy
from ..exporter import PRECISION_FILE, Converted, ExportCheckError, Exported, Exporter, Prepared
from ..gears import resolve_gears
from ..graph import NetworkSpec
from ..model_io import SegmentorNetwork
from ..options import CALIBRATION_METHODS, OnnxExportOptions
from ..parity import find_image_pairs, load_image_set, preprocess_image, random_image
from ..precision_plan import onnx_node_names
from .atc_check import check_atc_compatibility
from .int8 import INT8_OPSET, Int8Quantizer, describe_figures, prepare_float_model

OPSET = 11
INPUT_NAME = 'input'
OUTPUT_NAME = 'output'


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


class OnnxExporter(Exporter):
    """``<name>.onnx`` + ``deploy.json`` + ``onnx_parity.json`` for
    :class:`~..options.OnnxExportOptions`; no ``input_size`` exports a dynamic height and width
    (see the module docstring)."""

    backend = 'onnxruntime'
    report_file = 'onnx_parity.json'
    options_class = OnnxExportOptions

    def versions(self) -> Dict[str, str]:
        return {**super().versions(), 'onnx': onnx.__version__,
                'onnxruntime': onnxruntime.__version__}

    def write_precision_plan(self, plan: Dict, exported: Exported) -> Dict[str, str]:
        """ATC's language: ``keep_dtype.cfg`` (one node name of the exported graph per line, for
        ``--keep_dtype``) and ``atc.sh`` (ATC with ``--precision_mode_v2=fp16``, the mode the
        plan was measured in, and the keep file)."""
        o = self.options
        names = onnx_node_names(onnx.load(exported.model_file, load_external_data=False),
                                plan['keep_fp32'])
        missing = [k for k, v in names.items() if not v]
        if missing:
            raise ExportCheckError(f'{exported.model_file}: no node of the exported graph comes '
                                   f'from {missing}; cannot write the keep_dtype plan')
        plan['keep_dtype_nodes'] = [n for name in plan['keep_fp32'] for n in names[name]]
        keep = osp.join(o.out_dir, 'keep_dtype.cfg')
        with atomic_output(keep) as tmp, open(tmp, 'w', encoding='utf-8') as f:
            f.writelines(f'{n}\n' for n in plan['keep_dtype_nodes'])
        script = self.write_atc_script(self.atc_sizes(), plan['keep_dtype_nodes'])
        return {'keep_dtype': keep, 'atc': script}

    def parity_sizes(self, model: torch.nn.Module, spec: NetworkSpec) -> List[Tuple[int, int]]:
        """With gears, each gear's size (:func:`~..gears.resolve_gears`); else the skeleton's.

        Raises:
            InputError: the VOC gears or a gear measurement (``images``) for a config whose test
                pipeline resizes images: its gears must hold the resized sizes, which the VOC set
                does not, and the measurement compares native sizes.
        """
        o = self.options
        if o.gears is None:
            return super().parity_sizes(model, spec)
        policy = size_policy(model.cfg, o.config)
        if policy['policy'] == 'resize' and (o.gears == 'voc' or o.images):
            raise InputError(
                f'{o.config}: the test pipeline resizes images ({policy["resize"]}), so the '
                + ('VOC gears (sized for native VOC images) do not hold them: give --gears for '
                   'the resized sizes' if o.gears == 'voc' else
                   'the gear measurement (--images, at native size) does not apply'))
        self.gears = resolve_gears(o.gears, spec.size_divisor)
        return list(self.gears)

    def atc_sizes(self) -> List[str]:
        """The ``HxW`` of each static model of the folder (``['HxW']`` placeholders: dynamic)."""
        o = self.options
        if o.gears is not None:
            return [f'{h}x{w}' for h, w in self.gears]
        return [f'{o.input_size[0]}x{o.input_size[1]}' if o.input_size else 'HxW']

    def write_atc_script(self, sizes: List[str], keep_nodes: Sequence[str] = ()) -> str:
        """``atc.sh``: ATC for each static model (``sizes``; a gear's file is
        ``<name>_<H>x<W>.onnx``) with ``--precision_mode_v2=fp16`` (ATC's default, the mode a
        precision plan is measured in) and, with ``keep_nodes``, ``--keep_dtype=keep_dtype.cfg``."""
        o = self.options
        stem = o.name
        script = osp.join(o.out_dir, 'atc.sh')
        lines = []
        for size in sizes:
            h, w = size.split('x')
            model = f'{stem}.onnx' if o.gears is None else f'{stem}_{size}.onnx'
            output = stem if o.gears is None else f'{stem}_{size}'
            lines.append(f'atc --model={model} --framework=5 --output={output} '
                         '--soc_version="${SOC:-Ascend310P3}" --input_format=NCHW '
                         f'--input_shape="input:1,3,{h},{w}" --precision_mode_v2=fp16'
                         + (' --keep_dtype=keep_dtype.cfg' if keep_nodes else '') + '\n')
        with atomic_output(script) as tmp, open(tmp, 'w', encoding='utf-8') as f:
            f.write('#!/usr/bin/env bash\n'
                    '# Convert the static ONNX model(s) of this folder for the Ascend NPU: float16\n'
                    "# everywhere (ATC's default)"
                    + (', the layers of keep_dtype.cfg in float32 (precision.json)'
                       if keep_nodes else '') + '.\n'
                    '# Set SOC to your chip (npu-smi info).\n'
                    + ('# This folder holds a dynamic ONNX: ATC needs static shapes, so export\n'
                       '# with --input-size H W or --gears and set H and W below.\n'
                       if o.dynamic else '') +
                    'set -euo pipefail\n'
                    'cd "$(dirname "${BASH_SOURCE[0]}")"\n' + ''.join(lines))
        os.chmod(script, 0o755)
        return script

    def export(self, model: torch.nn.Module, spec: NetworkSpec) -> Exported:
        o = self.options
        if o.gears is None:
            path, converted, facts = self.export_one(model, spec, o.input_size, self.path('.onnx'))
            shape = [1, 3, *(o.input_size or (None, None))]
            return Exported(path, shape, [converted], {}, facts)
        gears, converted, facts = [], [], {}
        for h, w in self.gears:
            path, conv, facts[f'{h}x{w}'] = self.export_one(model, spec, (h, w),
                                                            self.path(f'_{h}x{w}.onnx'))
            gears.append(((h, w), path))
            converted.append(conv)
        self.write_atc_script([f'{h}x{w}' for h, w in self.gears])
        largest = gears[-1]
        return Exported(largest[1], [1, 3, *largest[0]], converted, {},
                        {'gears': facts, 'static_shapes': True}, gears=gears)

    def export_one(self, model: torch.nn.Module, spec: NetworkSpec, size: Optional[Tuple[int, int]],
                   path: str) -> Tuple[str, Converted, Dict]:
        """One ONNX at ``path``: static for ``size``, dynamic for None; its shapes and ATC's
        constraints checked. Returns the path, the network to check and the report's facts."""
        o = self.options
        dynamic = size is None
        h, w = size or o.parity_size
        example = preprocess_image(model, random_image(h, w, o.seed))
        path = export_onnx(model, example, path, dynamic=dynamic)
        graph = onnx.load(path, load_external_data=False)  # read once for both checks
        shapes = io_shapes(graph)
        session = onnxruntime_session(path)

        def run(x: np.ndarray) -> np.ndarray:
            return session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x, np.float32)})[0]

        expected = {INPUT_NAME: list(example.shape),
                    OUTPUT_NAME: [1, spec.num_classes, *example.shape[-2:]]}
        check_io_shapes(path, shapes, expected, dynamic)
        self.log(f'wrote {path} ({"dynamic" if dynamic else f"{h}x{w}"}, opset {OPSET})')
        violations = check_atc_compatibility(graph, static=not dynamic)
        for v in violations:
            self.log(f'ATC: {v}')
        fatal = [str(v) for v in violations if v.fatal]
        if fatal and o.atc_check:
            raise ExportCheckError(f'{path}: ATC would refuse {len(fatal)} node(s): '
                                   + '; '.join(fatal[:20]) + ' (--no-atc-check exports it anyway, '
                                   'for onnxruntime)')
        facts = {'onnx': path, 'opset': OPSET, 'io_shapes': shapes, 'static_shapes': not dynamic,
                 'atc_check': {'checked': bool(o.atc_check),
                               'violations': [str(v) for v in violations]}}
        name = 'onnxruntime' if o.gears is None else f'onnxruntime_{h}x{w}'
        return path, Converted(name, run, size), facts

    # ---------------------------------------------------------------------------------------------
    # --int8
    # ---------------------------------------------------------------------------------------------
    def check_inputs(self) -> None:
        """Before any work: with ``int8``, the calibration and held-out image sets."""
        if self.options.int8:
            self.int8_image_pairs()

    def int8_image_pairs(self):
        """``(calibration pairs, held-out pairs)``; refuses held-out images that are calibration
        images (the same file, or the same bytes under another name): held out means not used."""
        o = self.options
        calibration = find_image_pairs(o.calibration_images, o.calibration_labels, None)
        held_out = find_image_pairs(o.check_images, o.check_labels, None) if o.check_images \
            else []
        by_path = {osp.realpath(i): i for i, _ in calibration}
        by_bytes = {file_sha256(i): i for i, _ in calibration} if held_out else {}
        reused = []
        for image, _ in held_out:
            twin = by_path.get(osp.realpath(image)) or by_bytes.get(file_sha256(image))
            if twin is not None:
                reused.append(f'{image} (= {twin})')
        if reused:
            raise InputError(f'--check-images {o.check_images}: {len(reused)} held-out image(s) '
                             f'are also calibration images: {"; ".join(reused[:3])}'
                             f'{" ..." if len(reused) > 3 else ""}; held out means not used for '
                             'calibration')
        return calibration, held_out

    def quantize(self, prepared: Prepared, exported: Exported) -> Optional[Tuple[Dict, Dict]]:
        """With ``int8``: ``<name>_int8.onnx`` planned on the calibration images and checked on the
        held-out ones (:mod:`.int8`), its ranges (``<name>_int8_calibration.json``), AMCT's
        configuration (``amct_quant.cfg``) and ``precision.json``. The int8 model is what
        ``deploy.json`` names, the float32 one stays beside it; a model that misses a target is
        not deployed (no ``deploy.json``) and fails the report."""
        o, spec = self.options, prepared.spec
        if not o.int8:
            return None
        num_classes = spec.num_classes
        ignore_index = int(getattr(prepared.model.decode_head, 'ignore_index', 255))
        calibration_pairs, check_pairs = self.int8_image_pairs()
        calibration = load_image_set(prepared.model, calibration_pairs, num_classes)
        held_out = load_image_set(prepared.model, check_pairs, num_classes) if check_pairs \
            else None
        int8_path = self.path('_int8.onnx')
        methods = CALIBRATION_METHODS if o.calibration_method == 'auto' \
            else (o.calibration_method, )
        work = tempfile.mkdtemp(prefix='.int8-', dir=o.out_dir)
        try:
            with self.timings('int8_plan'):
                float_graph = prepare_float_model(exported.model_file,
                                                  osp.join(work, 'float32.onnx'))
                quantizer = Int8Quantizer(float_graph, work, INPUT_NAME, num_classes,
                                          ignore_index, o.int8_targets, self.log)
                plan = quantizer.plan(calibration, int8_path, methods)
            ranges = self.path('_int8_calibration.json')
            shutil.copyfile(quantizer.calibrate(plan['method'], calibration), ranges)
            with self.timings('int8_check'):
                held = quantizer.evaluate(int8_path, held_out, 'held-out') if held_out else None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        misses = list(plan['misses'])
        if held is not None:
            self.log(f'int8 on {len(check_pairs)} held-out image(s): {describe_figures(held)}')
            misses += [f'held out: {m}' for m in o.int8_targets.misses(held)]
        float_nodes = self.float_layers(exported.model_file, plan['float_nodes'])
        amct = self.write_amct_config(float_nodes, len(calibration_pairs))
        report = {
            'int8': {'method': plan['method'], 'methods': plan['methods'],
                     'float_nodes': float_nodes, 'sensitivity': plan['sensitivity'],
                     'calibration': plan['calibration'], 'held_out': held,
                     'targets': dataclasses.asdict(o.int8_targets),
                     'misses': misses, 'reached': not misses}}
        path = write_json(osp.join(o.out_dir, PRECISION_FILE), report)
        exported.facts['precision'] = path
        check = {'passed': not misses, 'model_file': int8_path, 'method': plan['method'],
                 'float_nodes': float_nodes, 'calibration': plan['calibration'],
                 'held_out': held, 'misses': misses}
        if misses:
            self.log(f'int8 REFUSED (not deployed): {"; ".join(misses)}')
            exported.model_file = None
            return None, check
        self.log(f'int8 {int8_path}: {plan["method"]} calibration, {len(float_nodes)} layer(s) in '
                 f'float32 {float_nodes}')
        float_model = exported.model_file
        exported.model_file = int8_path
        exported.other_files['float32_model'] = float_model
        exported.other_files['int8_calibration'] = ranges
        exported.other_files['amct_config'] = amct
        import onnxruntime
        precision = {
            'dtype': 'int8', 'format': 'QDQ', 'opset': INT8_OPSET,
            'quantizer': f'onnxruntime {onnxruntime.__version__} quantize_static',
            'weights': 'int8, symmetric, per output channel, 7-bit range (reduce_range)',
            'activations': 'uint8, asymmetric, per tensor',
            'calibration': {
                'method': plan['method'], 'methods_measured': list(plan['methods']),
                'folder': osp.abspath(o.calibration_images),
                'images': calibration.names,
                'sha256': [file_sha256(i) for i, _ in calibration_pairs]},
            'float_layers': float_nodes,
            'float32_model': osp.basename(float_model),
            'measured': {'calibration': plan['calibration'], 'held_out': held,
                         'targets': report['int8']['targets']},
        }
        return precision, check

    def float_layers(self, float_onnx: str, nodes: List[str]) -> List[str]:
        """``nodes`` (of the pre-processed graph) as node names of the deployed float32 ONNX (ATC's
        and AMCT's input); refuses a name that graph lacks."""
        names = {n.name for n in onnx.load(float_onnx, load_external_data=False).graph.node}
        missing = [n for n in nodes if n not in names]
        if missing:
            raise ExportCheckError(f'{float_onnx}: the int8 plan keeps {missing} in float32, '
                                   'but the exported graph has no such node')
        return list(nodes)

    def write_amct_config(self, float_nodes: List[str], num_images: int) -> str:
        """``amct_quant.cfg``: AMCT's simplified post-training quantization configuration
        (``calibration_config_onnx.proto``) with the measured float32 layers skipped and the
        calibration images as batches of one."""
        path = osp.join(self.options.out_dir, 'amct_quant.cfg')
        with atomic_output(path) as tmp, open(tmp, 'w', encoding='utf-8') as f:
            f.write('# AMCT (ONNX) post-training quantization of this folder\'s float32 ONNX, with\n'
                    '# the layers the onnxruntime int8 plan measured as sensitive kept in float32\n'
                    '# (precision.json). Calibrate on the same images (deploy.json: precision.\n'
                    '# calibration), preprocessed as deploy.json says, one image per batch.\n'
                    f'batch_num: {num_images}\n'
                    'activation_offset: true\n'
                    + ''.join(f'skip_layers: "{n}"\n' for n in float_nodes))
        return path
