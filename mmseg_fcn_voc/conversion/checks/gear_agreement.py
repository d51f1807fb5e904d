# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""How far static gears move the predictions from native-size inference, measured on real images
(ONNX ``--gears`` with ``--images``). A measurement for ``deploy.json``, not a pass/fail check."""
import logging
from typing import Dict

import numpy as np

from fcn_voc_core.errors import InputError
from fcn_voc_runtime.geared_model import pick_gear

from ..context import Check, ExportBackend, ExportContext, Exported
from ..images import find_image_pairs, load_image_set
from ..measures import ParityAccumulator
from ..network.segmentor import fcn_logits

logger = logging.getLogger(__name__)


class GearAgreementCheck(Check):
    """Each image padded to the smallest gear that holds it (as the runtime does), the geared
    model's logits cropped back and compared with native-size torch: pixel agreement of the class
    maps over the images' own pixels (the padding changes what pixels near the bottom and right
    edges see), overall, per gear and worst image, and both mean IUs with labels. Goes into the
    report's and ``deploy.json``'s ``gears_measured``."""

    name = 'gears_images'

    def applies(self, options) -> bool:
        return bool(getattr(options, 'gears', None) and options.images)

    def run(self, context: ExportContext, backend: ExportBackend,
            exported: Exported) -> Dict[str, Dict]:
        o, model, net = context.options, context.model, context.net
        images = load_image_set(model, find_image_pairs(o.images, o.labels, o.max_images),
                                net.num_classes)
        by_size = {size: c for (size, _), c in zip(exported.gears, exported.converted)}
        pad_value = float(getattr(model.data_preprocessor, 'pad_val', 0))
        overall = ParityAccumulator(net.num_classes, context.ignore_index)
        per_gear, per_image = {}, {}
        for name, x, (h, w), gt in zip(images.names, images.inputs, images.sizes,
                                       images.labels or [None] * len(images.names)):
            ph, pw = x.shape[-2:]
            gear = pick_gear(list(by_size), ph, pw)
            if gear is None:
                raise InputError(f'{name}: {h}x{w} is larger than every gear '
                                 f'{sorted(by_size)}; --images must fit the gears')
            padded = np.pad(x.numpy(), ((0, 0), (0, 0), (0, gear[0] - ph), (0, gear[1] - pw)),
                            constant_values=pad_value)
            out = by_size[gear].forward(padded)[..., :h, :w]
            ref = fcn_logits(model, x).numpy()[..., :h, :w]
            per_image[name] = overall.add(ref, out, gt)['argmax_agreement']
            per_gear.setdefault(f'{gear[0]}x{gear[1]}', ParityAccumulator(
                net.num_classes, context.ignore_index)).add(ref, out)
        result = self.summary(overall.summary(o.thresholds), per_gear, per_image, o.images)
        exported.facts['gears_measured'] = exported.deploy['gears_measured'] = result
        return {}

    @staticmethod
    def summary(pooled: Dict, per_gear: Dict[str, ParityAccumulator],
                per_image: Dict[str, float], folder: str) -> Dict:
        worst = min(per_image, key=per_image.get)
        result = {'images': len(per_image), 'folder': folder,
                  'pixel_agreement': pooled['argmax_agreement'],
                  'per_gear': {k: {'images': acc.count, 'pixel_agreement': acc.agreeing / acc.pixels}
                               for k, acc in per_gear.items()},
                  'worst_image': worst, 'worst_image_agreement': per_image[worst]}
        if 'mean_iou_reference' in pooled:
            result['mean_iou_native'] = pooled['mean_iou_reference']
            result['mean_iou_geared'] = pooled['mean_iou_converted']
        logger.info(f'gears vs native size on {len(per_image)} image(s): pixel agreement '
                    f'{100 * result["pixel_agreement"]:.3f}% (worst {worst} '
                    f'{100 * per_image[worst]:.3f}%)'
                    + (f', mean IU {result["mean_iou_geared"]:.2f} (native '
                       f'{result["mean_iou_native"]:.2f})' if 'mean_iou_native' in result else ''))
        return result
