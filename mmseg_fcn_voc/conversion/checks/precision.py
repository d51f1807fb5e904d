# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The NPU precision report (``--precision-images``): the model under the NPU's float16 modes,
emulated on the CPU (:mod:`..npu_precision`), against float32 on real images, and a measured plan
of layers to keep in float32 (:mod:`..precision_plan`), written in the backend's own configuration
language."""
import logging
import os.path as osp
from typing import Dict

from fcn_voc_core.fileio import write_json

from ..context import Check, ExportBackend, ExportContext, Exported
from ..images import find_image_pairs, load_image_set
from ..precision_plan import precision_report

logger = logging.getLogger(__name__)
PRECISION_FILE = 'precision.json'


class PrecisionPlanCheck(Check):
    """Writes ``precision.json`` and the backend's plan files; ``deploy.json``'s ``precision``
    says what the folder was planned for; the report's ``precision_plan`` passes when the plan
    reaches its threshold on the worst image."""

    name = 'precision'

    def applies(self, options) -> bool:
        return bool(options.precision_images)

    def run(self, context: ExportContext, backend: ExportBackend,
            exported: Exported) -> Dict[str, Dict]:
        o, net = context.options, context.net
        pairs = find_image_pairs(o.precision_images, o.precision_labels, None)
        images = load_image_set(context.model, pairs, net.num_classes)
        report = precision_report(context.model, images.inputs, images.labels,
                                  o.precision_threshold, net.num_classes, context.ignore_index)
        plan = report['plan']
        plan['keep_dtype_nodes'] = []
        files = backend.write_precision_plan(plan, exported)
        report['images'] = [osp.basename(i) for i, _ in pairs]
        report['emulated'] = ('on the CPU (mmseg_fcn_voc.conversion.npu_precision): cube ops in '
                              'float16 with float32 accumulation, saturation mode')
        path = write_json(osp.join(o.out_dir, PRECISION_FILE), report)
        logger.info(f'wrote {path}' + (f' and {", ".join(sorted(files))}' if files else ''))
        exported.facts['precision'] = path
        measured = {'images': len(pairs), 'emulated': True,
                    'argmax_agreement_mean': plan['argmax_agreement_mean'],
                    'argmax_agreement_worst': plan['argmax_agreement_worst'],
                    'threshold': plan['threshold'], 'reached': plan['reached']}
        exported.deploy['precision'] = {
            'planned_for': 'force_fp16' + (' + keep_fp32' if plan['keep_fp32'] else ''),
            'keep_fp32': plan['keep_fp32'], 'keep_dtype_nodes': plan['keep_dtype_nodes'],
            'fp16_only': plan['fp16_only'], 'measured': measured,
            'files': {k: osp.basename(v) for k, v in files.items()}}
        return {'precision_plan': {'passed': bool(plan['reached']), **measured}}
