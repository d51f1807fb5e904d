# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""A calibrated int8 model (ONNX ``--int8``): planned on the calibration images and checked on
held-out ones (:mod:`..onnx.quantize`); deployed only when it meets its targets."""
import dataclasses
import logging
import os.path as osp
import shutil
import tempfile
from typing import Dict, List, Tuple

from fcn_voc_core.errors import InputError
from fcn_voc_core.fileio import atomic_output, file_sha256, write_json

from ..context import INPUT_NAME, Check, ExportBackend, ExportContext, Exported
from ..images import ImageSet, find_image_pairs, load_image_set
from ..options import CALIBRATION_METHODS
from .precision import PRECISION_FILE

logger = logging.getLogger(__name__)
Pairs = List[Tuple[str, str]]


def int8_image_pairs(options) -> Tuple[Pairs, Pairs]:
    """``(calibration pairs, held-out pairs)``; refuses held-out images that are calibration
    images (the same file, or the same bytes under another name): held out means not used."""
    o = options
    calibration = find_image_pairs(o.calibration_images, o.calibration_labels, None)
    held_out = find_image_pairs(o.check_images, o.check_labels, None) if o.check_images else []
    by_path = {osp.realpath(i): i for i, _ in calibration}
    by_bytes = {file_sha256(i): i for i, _ in calibration} if held_out else {}
    reused = []
    for image, _ in held_out:
        twin = by_path.get(osp.realpath(image)) or by_bytes.get(file_sha256(image))
        if twin is not None:
            reused.append(f'{image} (= {twin})')
    if reused:
        raise InputError(f'--check-images {o.check_images}: {len(reused)} held-out image(s) are '
                         f'also calibration images: {"; ".join(reused[:3])}'
                         f'{" ..." if len(reused) > 3 else ""}; held out means not used for '
                         'calibration')
    return calibration, held_out


def write_amct_config(out_dir: str, float_nodes: List[str], num_images: int) -> str:
    """``amct_quant.cfg``: AMCT's simplified post-training quantization configuration
    (``calibration_config_onnx.proto``) with the measured float32 layers skipped and the
    calibration images as batches of one."""
    path = osp.join(out_dir, 'amct_quant.cfg')
    with atomic_output(path) as tmp, open(tmp, 'w', encoding='utf-8') as f:
        f.write('# AMCT (ONNX) post-training quantization of this folder\'s float32 ONNX, with\n'
                '# the layers the onnxruntime int8 plan measured as sensitive kept in float32\n'
                '# (precision.json). Calibrate on the same images (deploy.json: precision.\n'
                '# calibration), preprocessed as deploy.json says, one image per batch.\n'
                f'batch_num: {num_images}\n'
                'activation_offset: true\n'
                + ''.join(f'skip_layers: "{n}"\n' for n in float_nodes))
    return path


class Int8Check(Check):
    """``<name>_int8.onnx``, its ranges (``<name>_int8_calibration.json``), AMCT's configuration
    (``amct_quant.cfg``) and ``precision.json``. The int8 model is what ``deploy.json`` names, the
    float32 one stays beside it; a model that misses a target is not deployed (no ``deploy.json``)
    and fails the report's ``int8`` section."""

    name = 'int8'

    def applies(self, options) -> bool:
        return bool(getattr(options, 'int8', False))

    def validate(self, options) -> None:
        int8_image_pairs(options)

    def run(self, context: ExportContext, backend: ExportBackend,
            exported: Exported) -> Dict[str, Dict]:
        o = context.options
        calibration_pairs, check_pairs = int8_image_pairs(o)
        calibration = load_image_set(context.model, calibration_pairs, context.net.num_classes)
        held_out = load_image_set(context.model, check_pairs, context.net.num_classes) \
            if check_pairs else None
        plan, held, ranges = self.plan(context, exported, calibration, held_out)
        misses = list(plan['misses'])
        if held is not None:
            misses += [f'held out: {m}' for m in o.int8_targets.misses(held)]
        from ..onnx.quantize import check_float_nodes
        float_nodes = check_float_nodes(exported.model_file, plan['float_nodes'])
        amct = write_amct_config(o.out_dir, float_nodes, len(calibration_pairs))
        report = {'method': plan['method'], 'methods': plan['methods'],
                  'float_nodes': float_nodes, 'sensitivity': plan['sensitivity'],
                  'calibration': plan['calibration'], 'held_out': held,
                  'targets': dataclasses.asdict(o.int8_targets), 'misses': misses,
                  'reached': not misses}
        exported.facts['precision'] = write_json(osp.join(o.out_dir, PRECISION_FILE),
                                                 {'int8': report})
        check = {'passed': not misses, 'model_file': context.path('_int8.onnx'),
                 'method': plan['method'], 'float_nodes': float_nodes,
                 'calibration': plan['calibration'], 'held_out': held, 'misses': misses}
        if misses:
            logger.info(f'int8 REFUSED (not deployed): {"; ".join(misses)}')
            exported.model_file = None
        else:
            self.deploy(context, exported, report, calibration, calibration_pairs,
                        {'int8_calibration': ranges, 'amct_config': amct})
        return {'int8': check}

    def plan(self, context: ExportContext, exported: Exported, calibration: ImageSet,
             held_out):
        """Measure and write the int8 model; returns ``(plan, held-out figures, ranges file)``."""
        from ..onnx.quantize import Int8Quantizer, describe_figures, prepare_float_model
        o = context.options
        methods = CALIBRATION_METHODS if o.calibration_method == 'auto' \
            else (o.calibration_method, )
        work = tempfile.mkdtemp(prefix='.int8-', dir=o.out_dir)
        try:
            float_graph = prepare_float_model(exported.model_file, osp.join(work, 'float32.onnx'))
            quantizer = Int8Quantizer(float_graph, work, INPUT_NAME, context.net.num_classes,
                                      context.ignore_index, o.int8_targets)
            plan = quantizer.plan(calibration, context.path('_int8.onnx'), methods)
            ranges = context.path('_int8_calibration.json')
            shutil.copyfile(quantizer.calibrate(plan['method'], calibration), ranges)
            held = quantizer.evaluate(context.path('_int8.onnx'), held_out, 'held-out') \
                if held_out else None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if held is not None:
            logger.info(f'int8 on {len(held_out.names)} held-out image(s): '
                        f'{describe_figures(held)}')
        return plan, held, ranges

    @staticmethod
    def deploy(context: ExportContext, exported: Exported, report: Dict, calibration: ImageSet,
               calibration_pairs: Pairs, files: Dict[str, str]) -> None:
        """Point ``exported`` at the int8 model and describe it in ``deploy.json``."""
        import onnxruntime

        from ..onnx.quantize import INT8_OPSET
        o = context.options
        logger.info(f'int8 {context.path("_int8.onnx")}: {report["method"]} calibration, '
                    f'{len(report["float_nodes"])} layer(s) in float32 {report["float_nodes"]}')
        float_model = exported.model_file
        exported.model_file = context.path('_int8.onnx')
        exported.other_files.update(float32_model=float_model, **files)
        exported.deploy['precision'] = {
            'dtype': 'int8', 'format': 'QDQ', 'opset': INT8_OPSET,
            'quantizer': f'onnxruntime {onnxruntime.__version__} quantize_static',
            'weights': 'int8, symmetric, per output channel, 7-bit range (reduce_range)',
            'activations': 'uint8, asymmetric, per tensor',
            'calibration': {
                'method': report['method'], 'methods_measured': list(report['methods']),
                'folder': osp.abspath(o.calibration_images), 'images': calibration.names,
                'sha256': [file_sha256(i) for i, _ in calibration_pairs]},
            'float_layers': report['float_nodes'],
            'float32_model': osp.basename(float_model),
            'measured': {'calibration': report['calibration'], 'held_out': report['held_out'],
                         'targets': report['targets']}}
