# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""float32 ONNX -> calibrated int8 ONNX (QDQ) with onnxruntime's static quantizer, the calibration
method and the layers kept in float32 chosen by measurement (``converters/to_onnx.py --int8``).

The quantized graph: weights int8, symmetric, per output channel (``DequantizeLinear``'s ``axis``
needs opset 13, so the float32 export, opset 11 for ATC and AMCT, is converted to
:data:`INT8_OPSET` first); activations uint8, asymmetric, per tensor, their ranges calibrated on
the calibration images. ``reduce_range`` (7-bit weights) is on: x86 CPUs without VNNI multiply
uint8 x int8 pairs into saturating 16-bit sums, which 7-bit weights cannot overflow, so the same
file is exact to its calibration on every x86 host.

How the plan is measured (:meth:`Int8Quantizer.plan`), on the calibration images preprocessed as for
testing, against the float32 ONNX's class maps (top-left H x W of each image):

1. each calibration method (:data:`CALIBRATION_METHODS`; ranges computed once per method, one image
   at a time, and cached) quantizes every layer; the method with the best worst-image argmax
   agreement (then mean) is chosen;
2. if the chosen one misses :class:`Int8Targets`, each group of candidate layers
   (:func:`layer_group`: a backbone stage, the decode head; the candidates are the convolutions,
   transposed convolutions, matrix products, additions and max pools that compute on float
   tensors) is kept in float32 alone and the agreement measured; the shortest list of the most
   sensitive groups whose float32 meets the targets is found by bisection and measured (every
   group, when even that misses: the model is then refused). Groups, not single layers: the
   score maps' 8-bit steps add up through the head's layers, so keeping one of them in float32
   changes little while keeping all of them changes much (measured on the demo model).

Figures: ``argmax_agreement_mean`` / ``_worst`` (fraction of pixels with float32's class, mean over
images and worst image), ``mIoU`` and ``mIoU_float32`` (the paper's mean IU, percent) with labels.
"""
import logging
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx

from fcn_voc_core.console import track
from fcn_voc_core.fileio import atomic_output
from fcn_voc_core.metrics import confusion_matrix, scores_from_confusion

from ..context import ExportCheckError
from ..images import ImageSet
from ..options import CALIBRATION_METHODS, Int8Targets

logger = logging.getLogger(__name__)
#: The opset of the int8 graph (per-channel ``DequantizeLinear``).
INT8_OPSET = 13
#: The operator types whose nodes are candidates for float32.
CANDIDATE_OPS = ('Conv', 'ConvTranspose', 'MatMul', 'Gemm', 'Add', 'MaxPool')


def class_maps(run: Callable[[np.ndarray], np.ndarray], images: ImageSet,
               description: str = '') -> List[np.ndarray]:
    """``run``'s (H, W) class map of every image (the top-left of its padded input)."""
    out = []
    for x, (h, w) in track(list(zip(images.inputs, images.sizes)), description=description):
        out.append(run(x.numpy())[0, :, :h, :w].argmax(0))
    return out


def measure(preds: Sequence[np.ndarray], reference: Sequence[np.ndarray], images: ImageSet,
            num_classes: int, ignore_index: int = 255) -> Dict:
    """Agreement of the class maps ``preds`` with the float32 ones (``reference``) over
    ``images`` and, with labels, both mean IUs."""
    agreement = [float((p == r).mean()) for p, r in zip(preds, reference)]
    worst = int(np.argmin(agreement))
    figures = {'images': len(preds), 'argmax_agreement_mean': float(np.mean(agreement)),
               'argmax_agreement_worst': agreement[worst], 'worst_image': images.names[worst],
               'mIoU': None, 'mIoU_float32': None}
    if images.labels is not None:
        def miou(maps):
            hist = sum(confusion_matrix(gt, p, num_classes, ignore_index)
                       for gt, p in zip(images.labels, maps))
            return 100.0 * scores_from_confusion(hist).mean_iou
        figures['mIoU'], figures['mIoU_float32'] = miou(preds), miou(reference)
    return figures


def describe_figures(figures: Dict) -> str:
    text = (f'agreement with float32 mean {100 * figures["argmax_agreement_mean"]:.3f}%, worst '
            f'{100 * figures["argmax_agreement_worst"]:.3f}% ({figures["worst_image"]})')
    if figures.get('mIoU') is not None:
        text += f', mean IU {figures["mIoU"]:.2f} (float32 {figures["mIoU_float32"]:.2f})'
    return text


def prepare_float_model(src: str, dst: str, opset: int = INT8_OPSET) -> str:
    """The float32 graph to quantize: ``src`` converted to ``opset`` by ONNX's version converter,
    then onnxruntime's quantization pre-processing (ONNX shape inference, graph optimisation such as
    folding batch norms into convolutions); at ``dst``."""
    from onnxruntime.quantization.shape_inference import quant_pre_process
    model = onnx.version_converter.convert_version(onnx.load(src), opset)
    onnx.checker.check_model(model)
    with atomic_output(dst, suffix='.onnx') as tmp:
        # symbolic shape inference cannot follow the crops (Slice by the input shape): ONNX's own
        quant_pre_process(model, tmp, skip_symbolic_shape=True)
    return dst


def candidate_nodes(onnx_path: str, calibrated: Optional[Sequence[str]] = None) -> List[str]:
    """The names of the graph's nodes that may be kept in float32: :data:`CANDIDATE_OPS` whose
    output is a float tensor (one of ``calibrated``, the tensors with calibrated ranges, when
    given: index arithmetic is never quantized)."""
    graph = onnx.load(onnx_path, load_external_data=False).graph
    known = None if calibrated is None else set(calibrated)
    return [n.name for n in graph.node if n.op_type in CANDIDATE_OPS
            and (known is None or any(o in known for o in n.output))]


def layer_group(node: str) -> str:
    """The group a node is kept in float32 with: the exported FCN names nodes after their torch
    module (``/model/backbone/conv3_2/conv/Conv``): a backbone stage's nodes form one group
    (``backbone.conv3``: its convolutions and pool; ``backbone.fc6``), the decode head's (score
    layers, transposed convolutions, the skips' additions: the score maps, whose 8-bit steps add
    up) another, ``decode_head``; any other node is its own group."""
    parts = node.strip('/').split('/')
    if len(parts) < 2 or parts[0] != 'model':
        return node
    if parts[1] == 'backbone' and len(parts) >= 3:
        return 'backbone.' + parts[2].split('_')[0].replace('pool', 'conv')
    return 'decode_head'


def candidate_groups(nodes: Sequence[str]) -> Dict[str, List[str]]:
    """``{group: [nodes]}`` of :func:`layer_group`, in the nodes' order."""
    groups: Dict[str, List[str]] = {}
    for node in nodes:
        groups.setdefault(layer_group(node), []).append(node)
    return groups


class _OneInput:
    """A calibration data reader of one input (onnxruntime's ``CalibrationDataReader`` API)."""

    def __init__(self, name: str, x: np.ndarray):
        self.items = [{name: np.ascontiguousarray(x, np.float32)}]

    def get_next(self):
        return self.items.pop() if self.items else None


class Int8Quantizer:
    """Calibrate and quantize one float32 ONNX, and measure the results.

    Args:
        float_onnx: the float32 graph at :data:`INT8_OPSET`.
        work_dir: where the calibration caches and the measured candidates go.
        input_name: the graph's input.
        num_classes, ignore_index: for the mean IUs.
        targets: :class:`Int8Targets`.
    """

    def __init__(self, float_onnx: str, work_dir: str, input_name: str, num_classes: int,
                 ignore_index: int = 255, targets: Int8Targets = Int8Targets()):
        self.float_onnx, self.work_dir, self.input_name = float_onnx, work_dir, input_name
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.targets = targets
        os.makedirs(work_dir, exist_ok=True)
        self._caches: Dict[str, str] = {}
        self._references: List[Tuple[ImageSet, List[np.ndarray]]] = []

    def session(self, path: str):
        import onnxruntime as ort
        return ort.InferenceSession(path, providers=['CPUExecutionProvider'])

    def runner(self, path: str) -> Callable[[np.ndarray], np.ndarray]:
        session = self.session(path)
        name = session.get_outputs()[0].name
        return lambda x: session.run([name], {self.input_name: np.ascontiguousarray(
            x, np.float32)})[0]

    def calibrate(self, method: str, images: ImageSet) -> str:
        """The activation ranges of ``method`` over ``images``, computed one image at a time (the
        histogram methods hold every intermediate tensor of a batch) and cached as onnxruntime's
        calibration JSON; returns the cache's path."""
        from onnxruntime.quantization.calibrate import (
            CalibrationMethod,
            create_calibrator,
            save_tensors_data,
        )
        if method in self._caches:
            return self._caches[method]
        cache = osp.join(self.work_dir, f'calibration_{method}.json')
        augmented = osp.join(self.work_dir, f'augmented_{method}.onnx')
        calibrator = create_calibrator(self.float_onnx, None, augmented_model_path=augmented,
                                       calibrate_method=getattr(CalibrationMethod, method))
        for x in track(images.inputs, description=f'calibrating ({method})'):
            calibrator.collect_data(_OneInput(self.input_name, x.numpy()))
        save_tensors_data(calibrator.compute_data(), cache)
        del calibrator
        for leftover in (augmented, augmented + '.data'):
            if osp.exists(leftover):
                os.remove(leftover)
        self._caches[method] = cache
        return cache

    def quantize(self, method: str, images: ImageSet, out_path: str,
                 float_nodes: Sequence[str] = ()) -> str:
        """The int8 graph of ``method``'s calibration with ``float_nodes`` left in float32."""
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
        cache = self.calibrate(method, images)
        with atomic_output(out_path, suffix='.onnx') as tmp:
            quantize_static(self.float_onnx, tmp, None, quant_format=QuantFormat.QDQ,
                            per_channel=True, reduce_range=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=list(float_nodes),
                            calibrate_method=_method(method), calibration_cache_path=cache)
        return out_path

    def reference(self, images: ImageSet) -> List[np.ndarray]:
        """The float32 graph's class maps of ``images`` (computed once per set)."""
        for known, maps in self._references:
            if known is images:
                return maps
        maps = class_maps(self.runner(self.float_onnx), images, 'float32')
        self._references.append((images, maps))
        return maps

    def evaluate(self, path: str, images: ImageSet, description: str = 'int8') -> Dict:
        """:func:`measure` of the int8 graph at ``path`` on ``images``."""
        return measure(class_maps(self.runner(path), images, description),
                       self.reference(images), images, self.num_classes, self.ignore_index)

    def plan(self, images: ImageSet, out_path: str, methods: Sequence[str] = CALIBRATION_METHODS,
             candidates: Optional[Sequence[str]] = None) -> Dict:
        """Measure the methods and the float32 layers (see the module) and leave the chosen int8
        graph at ``out_path``; returns ``{'method', 'methods': {method: figures},
        'float_nodes', 'sensitivity': {group: figures}, 'calibration': figures, 'reached'}``."""
        trial = osp.join(self.work_dir, 'trial_int8.onnx')
        measured = {}
        for method in methods:
            self.quantize(method, images, trial)
            measured[method] = self.evaluate(trial, images, f'int8 ({method})')
            logger.info(f'int8, {method} calibration, every layer: '
                     f'{describe_figures(measured[method])}')
        best = max(measured, key=lambda m: (measured[m]['argmax_agreement_worst'],
                                            measured[m]['argmax_agreement_mean']))
        figures, float_nodes, sensitivity = measured[best], [], {}
        if self.targets.misses(figures):
            if candidates is None:
                from onnxruntime.quantization.calibrate import load_tensors_data
                calibrated = load_tensors_data(self.calibrate(best, images)).data
                candidates = candidate_nodes(self.float_onnx, list(calibrated))
            groups = candidate_groups(candidates)
            for group, nodes in groups.items():
                self.quantize(best, images, trial, nodes)
                sensitivity[group] = self.evaluate(trial, images, f'int8, {group} float32')
                logger.info(f'  {group} ({len(nodes)} node(s)) in float32: '
                         f'{describe_figures(sensitivity[group])}')
            order = sorted(sensitivity, key=lambda g: (-sensitivity[g]['argmax_agreement_worst'],
                                                       -sensitivity[g]['argmax_agreement_mean']))
            kept, figures = self._shortest_prefix(best, images, order, trial, groups)
            float_nodes = [n for g in kept for n in groups[g]]
        os.replace(trial, out_path)
        misses = self.targets.misses(figures)
        return {'method': best, 'methods': measured, 'float_nodes': float_nodes,
                'sensitivity': sensitivity, 'calibration': figures, 'reached': not misses,
                'misses': misses}


    def _shortest_prefix(self, method: str, images: ImageSet, order: List[str], trial: str,
                         groups: Dict[str, List[str]]) -> Tuple[List[str], Dict]:
        """The shortest prefix of the groups ``order`` (most sensitive first) that, kept in
        float32, meets the targets, found by bisection (more float32 layers agree more) and
        measured; all of ``order`` when even that misses. Leaves its graph at ``trial``."""
        last = []

        def attempt(k: int) -> Dict:
            last[:] = [k]
            self.quantize(method, images, trial, [n for g in order[:k] for n in groups[g]])
            figures = self.evaluate(trial, images, f'int8, {k} group(s) float32')
            logger.info(f'int8 with {order[:k]} in float32: {describe_figures(figures)}')
            return figures

        tried = {len(order): attempt(len(order))}
        if self.targets.misses(tried[len(order)]):
            return list(order), tried[len(order)]
        low, high = 0, len(order)  # prefix `low` misses (measured above), `high` meets them
        while high - low > 1:
            mid = (low + high) // 2
            tried[mid] = attempt(mid)
            if self.targets.misses(tried[mid]):
                low = mid
            else:
                high = mid
        if last != [high]:  # the graph left at `trial` is the one returned
            tried[high] = attempt(high)
        return list(order[:high]), tried[high]


def _method(name: str):
    from onnxruntime.quantization import CalibrationMethod
    return getattr(CalibrationMethod, name)


def check_float_nodes(float_onnx: str, nodes: Sequence[str]) -> List[str]:
    """``nodes`` (of the pre-processed graph) as node names of the deployed float32 ONNX (ATC's
    and AMCT's input); refuses a name that graph lacks."""
    names = {n.name for n in onnx.load(float_onnx, load_external_data=False).graph.node}
    missing = [n for n in nodes if n not in names]
    if missing:
        raise ExportCheckError(f'{float_onnx}: the int8 plan keeps {missing} in float32, but the '
                               'exported graph has no such node')
    return list(nodes)
