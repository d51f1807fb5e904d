# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""How the NPU's float16 changes a model's predictions, measured, and which layers to keep in
float32: the precision report of the converters (``--precision-images``).

On each image (preprocessed as for testing) the model runs in float32 and under each emulated mode
of :mod:`.npu_precision`; a mode's **argmax agreement** is the fraction of pixels whose class
equals float32's (``mean`` over images and ``worst`` image), its **mIoU** the paper's mean IU
against the labels when given, and ``layers`` each rounded layer's largest absolute output and
float16 overflows, ``seconds_per_image`` the emulated forward's time per image (the table shows it
as a ratio to ``fp32``'s: what the emulation costs, not what the NPU would take).

The **plan** is measured, not guessed: starting from ``force_fp16`` (ATC's default), each candidate
layer's sensitivity is the worst-image agreement when it alone computes in float32; layers are
added in order of sensitivity until the worst image reaches the threshold (or the candidates run
out). Transposed convolutions are no candidates: ATC's ONNX ``ConvTranspose`` takes float16 only,
so the plan is measured with them in float16.
"""
import logging
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from torch import nn

from fcn_voc_core.console import text_table
from fcn_voc_core.metrics import confusion_matrix, scores_from_confusion

from .network.segmentor import fcn_logits
from .npu_precision import ActivationStats, cube_layers, npu_emulation

logger = logging.getLogger(__name__)
#: The modes in the report, in order; ``plan`` is ``force_fp16`` with ``keep_fp32``.
REPORT_MODES = ('fp32', 'force_fp16', 'allow_fp32_to_fp16', 'plan')
DEFAULT_THRESHOLD = 0.999


def _predictions(model, inputs, mode, keep_fp32=(), stats=None) -> List[np.ndarray]:
    with torch.no_grad(), npu_emulation(model, mode, keep_fp32, stats):
        return [fcn_logits(model, x).argmax(1)[0].numpy() for x in inputs]


def evaluate_mode(model: nn.Module, inputs: Sequence[torch.Tensor], reference: List[np.ndarray],
                  mode: str, keep_fp32: Sequence[str] = (),
                  labels: Optional[Sequence[np.ndarray]] = None, num_classes: int = 21,
                  ignore_index: int = 255) -> Dict:
    """One mode's entry of the report (see the module): agreement with ``reference`` (the float32
    class maps), mIoU with ``labels`` (the top-left crop of each prediction, at the label's size),
    and per-layer statistics."""
    stats = ActivationStats()
    start = time.perf_counter()
    preds = _predictions(model, inputs, mode, keep_fp32, stats)
    seconds = (time.perf_counter() - start) / max(len(inputs), 1)
    agreement = [float((p == r).mean()) for p, r in zip(preds, reference)]
    miou = None
    if labels is not None:
        hist = sum(confusion_matrix(gt, p[:gt.shape[0], :gt.shape[1]], num_classes, ignore_index)
                   for gt, p in zip(labels, preds))
        miou = 100.0 * scores_from_confusion(hist).mean_iou
    return {'argmax_agreement_mean': float(np.mean(agreement)),
            'argmax_agreement_worst': float(np.min(agreement)),
            'mIoU': miou, 'layers': stats.as_dict(), 'seconds_per_image': seconds}


def plan_candidates(model: nn.Module) -> List[str]:
    """The layers a plan may keep in float32: every cube layer but the transposed convolutions."""
    return [name for name, m in cube_layers(model).items()
            if not isinstance(m, nn.ConvTranspose2d)]


def precision_report(model: nn.Module, inputs: Sequence[torch.Tensor],
                     labels: Optional[Sequence[np.ndarray]] = None,
                     threshold: float = DEFAULT_THRESHOLD, num_classes: int = 21,
                     ignore_index: int = 255) -> Dict:
    """``{mode: entry}`` for :data:`REPORT_MODES`; ``plan`` also holds ``keep_fp32``,
    ``threshold``, ``reached`` and ``fp16_only`` (layers that cannot be kept: ConvTranspose)."""
    reference = _predictions(model, inputs, 'fp32')
    report = {}
    for mode in REPORT_MODES[:3]:
        report[mode] = evaluate_mode(model, inputs, reference, mode, (), labels, num_classes,
                                     ignore_index)
        logger.info(f'{mode}: argmax agreement with float32 mean '
            f'{100 * report[mode]["argmax_agreement_mean"]:.3f}%, worst '
            f'{100 * report[mode]["argmax_agreement_worst"]:.3f}%')
    keep: List[str] = []
    worst = report['force_fp16']['argmax_agreement_worst']
    if worst < threshold:
        sensitivity = {}
        for name in plan_candidates(model):
            preds = _predictions(model, inputs, 'force_fp16', [name])
            sensitivity[name] = min(float((p == r).mean()) for p, r in zip(preds, reference))
        for name in sorted(sensitivity, key=lambda n: -sensitivity[n]):
            keep.append(name)
            preds = _predictions(model, inputs, 'force_fp16', keep)
            worst = min(float((p == r).mean()) for p, r in zip(preds, reference))
            if worst >= threshold:
                break
    plan = evaluate_mode(model, inputs, reference, 'force_fp16', keep, labels, num_classes,
                         ignore_index)
    plan.update(keep_fp32=keep, threshold=threshold,
                reached=plan['argmax_agreement_worst'] >= threshold,
                fp16_only=[n for n, m in cube_layers(model).items()
                           if isinstance(m, nn.ConvTranspose2d)])
    report['plan'] = plan
    logger.info(precision_table(report))
    logger.info(f'plan: {len(keep)} layer(s) in float32 {keep}; worst image '
        f'{100 * plan["argmax_agreement_worst"]:.3f}% (threshold {100 * threshold:.2f}%'
        f'{"" if plan["reached"] else ", NOT reached"})')
    return report


def precision_table(report: Dict) -> str:
    """The report's modes as a text table: agreement with float32 (mean, worst image), mean IU,
    the float16 overflows, the largest activation, and the time per image as a ratio to float32's."""
    rows = []
    base = report['fp32'].get('seconds_per_image')
    for mode in REPORT_MODES:
        entry = report[mode]
        layers = entry.get('layers') or {}
        overflows = sum(v['overflows'] for v in layers.values())
        largest = max((v['max_abs'] for v in layers.values()), default=0.0)
        rows.append([mode, f'{100 * entry["argmax_agreement_mean"]:.3f}',
                     f'{100 * entry["argmax_agreement_worst"]:.3f}',
                     '-' if entry.get('mIoU') is None else f'{entry["mIoU"]:.2f}',
                     str(overflows), f'{largest:.4g}',
                     f'{entry["seconds_per_image"] / base:.2f}' if base else '-'])
    return text_table(['mode', 'agree mean %', 'agree worst %', 'mIoU', 'fp16 overflows',
                       'max |activation|', 'time x fp32'], rows)


def onnx_node_names(onnx_model, module_names: Sequence[str]) -> Dict[str, List[str]]:
    """``{torch module name: [ONNX node names]}`` of the cube nodes each module exported to.

    The TorchScript exporter names a node after the path of the module that made it, below the
    export wrapper (``/model/backbone/conv1_1/conv/Conv``); a head's modules can appear without
    the head's own name (``/model/conv_seg/Conv``), so the longest trailing part of the module
    name that matches wins.
    """
    ops = ('Conv', 'ConvTranspose', 'Gemm', 'MatMul')
    nodes = [n.name for n in onnx_model.graph.node if n.op_type in ops]
    out = {}
    for name in module_names:
        parts = name.split('.')
        found: List[str] = []
        for k in range(len(parts)):
            segment = '/' + '/'.join(parts[k:]) + '/'
            found = [n for n in nodes if segment in n]
            if found:
                break
        out[name] = found
    return out
