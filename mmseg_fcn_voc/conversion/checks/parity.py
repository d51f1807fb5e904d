# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Parity: every converted network against torch, on seeded inputs and optionally on real images
(the measures of :mod:`..measures`)."""
import logging
import time
from typing import Dict

from fcn_voc_core.errors import InputError

from ..context import Check, Converted, ExportBackend, ExportCheckError, ExportContext, Exported
from ..images import find_image_pairs, load_pair, preprocess_image, random_image
from ..measures import ParityAccumulator
from ..network.segmentor import fcn_logits

logger = logging.getLogger(__name__)


class ParityCheck(Check):
    """Always: one seeded input per parity size for every converted network (``seeded``,
    ``mindir``, ``onnxruntime``...), and with ``images`` (not with gears, whose images are
    measured by :class:`~.gear_agreement.GearAgreementCheck`) the first any-size network on real
    images (``images``, both mean IUs with labels)."""

    name = 'parity'

    def applies(self, options) -> bool:
        return True

    def run(self, context: ExportContext, backend: ExportBackend,
            exported: Exported) -> Dict[str, Dict]:
        with context.timings('parity_seeded'):
            sections = self.seeded(context, exported)
        if context.options.images and not exported.gears:
            with context.timings('parity_images'):
                sections['images'] = self.on_images(context, exported)
        failed = [name for name, c in sections.items() if not c['passed']]
        logger.info(f'parity: {len(sections) - len(failed)} of {len(sections)} check(s) passed'
                    + (f'; failed: {failed}' if failed else ''))
        return sections

    @staticmethod
    def _forward(context: ExportContext, conv: Converted, x, size):
        try:
            return conv.forward(x)
        except Exception as e:  # noqa: BLE001 - the backends raise their own types
            raise ExportCheckError(
                f'{context.options.out_dir}: the exported {conv.name} network fails on an input '
                f'of {size[0]}x{size[1]}, which it should take ('
                f'{"dynamic" if conv.input_size is None else "static"} export): '
                f'{type(e).__name__}: {str(e)[:500]}') from e

    def seeded(self, context: ExportContext, exported: Exported) -> Dict[str, Dict]:
        """Every converted network against torch on one seeded input per size; a network
        exported with its argmax also against its logits twin (equal on every pixel)."""
        o, net = context.options, context.net
        accs = {c.name: ParityAccumulator(net.num_classes) for c in exported.converted}
        shapes = {c.name: [] for c in exported.converted}
        twins = {c.name: [0, 0] for c in exported.converted if c.logits_twin is not None}
        for i, size in enumerate(context.sizes):
            x = preprocess_image(context.model, random_image(*size, o.seed + i))
            ref = fcn_logits(context.model, x).numpy()
            for conv in exported.converted:
                if conv.input_size is not None and tuple(x.shape[-2:]) != conv.input_size:
                    continue
                t0 = time.perf_counter()
                out = self._forward(context, conv, x.numpy(), size)
                acc = accs[conv.name]
                acc.add(ref, out)
                shapes[conv.name].append(list(x.shape))
                if conv.logits_twin is not None:
                    same = out == conv.logits_twin(x.numpy()).argmax(1)
                    twins[conv.name][0] += int(same.sum())
                    twins[conv.name][1] += same.size
                logger.info(f'{conv.name} vs torch at {size[0]}x{size[1]}: max rel error '
                            f'{acc.max_rel_error:.3g}, argmax agreement '
                            f'{100 * acc.agreeing / acc.pixels:.4f}% '
                            f'({time.perf_counter() - t0:.1f} s)')
        sections = {name: {**acc.summary(o.thresholds), 'input_shapes': shapes[name]}
                    for name, acc in accs.items()}
        for name, (same, pixels) in twins.items():
            exact = same / pixels if pixels else 1.0
            sections[name]['argmax_agreement_with_logits_model'] = exact
            sections[name]['passed'] = bool(sections[name]['passed'] and exact == 1.0)
        return sections

    def on_images(self, context: ExportContext, exported: Exported) -> Dict:
        """The first any-size converted network against torch over real images, with both mean
        IUs when labelled."""
        o = context.options
        conv = next((c for c in exported.converted if c.input_size is None), None)
        if conv is None:
            raise InputError('--images needs a network that takes any size; this export is '
                             f'static ({o.input_size})')
        pairs = find_image_pairs(o.images, o.labels, o.max_images)
        acc = ParityAccumulator(context.net.num_classes)
        for image, label in pairs:
            x, gt = load_pair(context.model, image, label, context.net.num_classes)
            acc.add(fcn_logits(context.model, x).numpy(), conv.forward(x.numpy()), gt)
        summary = {**acc.summary(o.thresholds), 'network': conv.name, 'folder': o.images}
        logger.info(f'{len(pairs)} image(s), {conv.name}: max rel error '
                    f'{summary["max_rel_error"]:.3g}, argmax agreement '
                    f'{100 * summary["argmax_agreement"]:.4f}%'
                    + (f', mean IU {summary["mean_iou_reference"]:.2f} (torch) / '
                       f'{summary["mean_iou_converted"]:.2f} (converted)'
                       if 'mean_iou_reference' in summary else ''))
        return summary
