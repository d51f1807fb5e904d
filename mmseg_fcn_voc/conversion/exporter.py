# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The one skeleton every exporter follows (MindSpore, ONNX).

:meth:`Exporter.run`:

1. remove the previous report from the output folder (a refused conversion must not leave an old
   "passed" report behind);
2. build the config's model and load the checkpoint strictly (:mod:`.model_io`), describe it
   (:mod:`.describe`: unsupported networks are refused) and check the parity sizes;
3. :meth:`Exporter.export`: the backend writes its files and returns the networks to check;
4. run the torch model and every converted network on seeded inputs (one per parity size) and,
   optionally, on real images, and compare (:mod:`.parity`);
5. write ``deploy.json`` (:mod:`.deploy_info`) and the report, both atomically.

A backend subclass implements :meth:`Exporter.export` (and names its report file); everything else is
shared.
"""
import os
import os.path as osp
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from fcn_voc_runtime.deploy import DEPLOY_FILE
from fcn_voc_runtime.errors import InputError
from fcn_voc_runtime.fileio import file_sha256, write_json

from .deploy_info import describe_deployment
from .describe import describe_fcn
from .model_io import build_and_load, fcn_logits, input_size_problem
from .parity import (
    ParityAccumulator,
    ParityThresholds,
    find_image_pairs,
    load_pair,
    preprocess_image,
    random_image,
)
from .spec import FCNSpec

Size = Tuple[int, int]
DEFAULT_PARITY_SIZE = (512, 512)


class Timings(dict):
    """``{step: seconds}``; ``with timings('step'):`` times a block."""

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self[step] = round(time.perf_counter() - start, 3)


@dataclass
class Converted:
    """A converted network to check against torch.

    Attributes:
        name: its key in the report (``'seeded'`` for the converted cell, ``'mindir'``,
            ``'onnxruntime'``).
        run: (1, 3, H, W) float32 array -> (1, K, H, W) logits array.
        input_size: the one (H, W) it takes, or None for every size the network takes.
    """
    name: str
    run: Callable[[np.ndarray], np.ndarray]
    input_size: Optional[Size] = None


@dataclass
class Exported:
    """What :meth:`Exporter.export` wrote and what to check."""
    model_file: Optional[str]  # None: nothing deployable was written (no deploy.json)
    input_shape: List[Optional[int]]
    converted: List[Converted]
    other_files: Dict[str, str] = field(default_factory=dict)
    facts: Dict = field(default_factory=dict)


def second_size(size: Size, divisor: int) -> Size:
    """Another realistic, non-square input size for checking a dynamic-shape model: about 3/4 of
    the height and 1/2 of the width (odd numbers for the Caffe geometry, whose ceil-mode pooling
    they exercise; multiples of ``divisor`` otherwise)."""
    h, w = max(size[0] * 3 // 4, 1), max(size[1] // 2, 1)
    if divisor > 1:
        return max(h // divisor, 1) * divisor, max(w // divisor, 1) * divisor
    return h | 1, w | 1


class Exporter:
    """Convert one checkpoint and prove parity; subclasses implement :meth:`export`.

    Args:
        config, checkpoint: the mmseg config and a checkpoint of its model.
        out_dir: folder for the exported files, ``deploy.json`` and the report.
        input_size: export a static model for this (H, W); None exports a dynamic-shape model.
        parity_size: (H, W) of the seeded parity input (a static model uses ``input_size``); a
            dynamic model is also checked at :func:`second_size` of it.
        images, labels, max_images: real images (and VOC label PNGs) for another parity check.
        thresholds: when two networks count as equal.
        seed: seed of the random parity inputs.
        name: file stem; defaults to the config's.
        log: where progress lines go.
    """

    backend = ''
    report_file = ''

    def __init__(self,
                 config: str,
                 checkpoint: str,
                 out_dir: str,
                 input_size: Optional[Sequence[int]] = None,
                 parity_size: Sequence[int] = DEFAULT_PARITY_SIZE,
                 images: Optional[str] = None,
                 labels: Optional[str] = None,
                 max_images: Optional[int] = None,
                 thresholds: ParityThresholds = ParityThresholds(),
                 seed: int = 0,
                 name: Optional[str] = None,
                 log: Callable[[str], None] = print):
        self.config, self.checkpoint, self.out_dir = config, checkpoint, out_dir
        self.input_size = None if input_size is None else tuple(int(v) for v in input_size)
        self.parity_size = self.input_size or tuple(int(v) for v in parity_size)
        self.images, self.labels, self.max_images = images, labels, max_images
        self.thresholds, self.seed, self.log = thresholds, seed, log
        self.name = name or osp.splitext(osp.basename(config))[0]
        self.timings = Timings()

    # ---------------------------------------------------------------------------------------------
    # what a backend provides
    # ---------------------------------------------------------------------------------------------
    def export(self, model: nn.Module, spec: FCNSpec) -> Exported:
        """Write the backend's files into ``self.out_dir``; return them and the networks to
        check. Called once, after the model is loaded and described."""
        raise NotImplementedError

    def versions(self) -> Dict[str, str]:
        import mmseg
        return {'torch': torch.__version__, 'mmsegmentation': mmseg.__version__}

    def path(self, suffix: str) -> str:
        return osp.join(self.out_dir, f'{self.name}{suffix}')

    # ---------------------------------------------------------------------------------------------
    # the shared skeleton
    # ---------------------------------------------------------------------------------------------
    def run(self) -> Dict:
        """Export and check; write ``deploy.json`` and the report; return the report
        (``report['passed']`` is False when a parity check failed).

        Raises:
            InputError: the checkpoint, config or sizes cannot be converted exactly (nothing
                half-written is reported as a success).
        """
        os.makedirs(self.out_dir, exist_ok=True)
        report_path = osp.join(self.out_dir, self.report_file)
        for stale in (report_path, osp.join(self.out_dir, DEPLOY_FILE)):
            if osp.exists(stale):
                os.remove(stale)
        with self.timings('load_torch'):
            model = build_and_load(self.config, self.checkpoint)
            spec = describe_fcn(model, self.config)
        sizes = [self.parity_size]
        if self.input_size is None:
            sizes.append(second_size(self.parity_size, spec.size_divisor))
        for size in sizes:
            problem = input_size_problem(model, size)
            if problem:
                raise InputError(f'{self.config}: {problem}')

        with self.timings('export'):
            exported = self.export(model, spec)
        with self.timings('parity_seeded'):
            checks = self.seeded_parity(model, spec, exported, sizes)
        if self.images:
            with self.timings('parity_images'):
                checks['images'] = self.image_parity(model, spec, exported)

        checkpoint_sha256 = file_sha256(self.checkpoint)
        versions = self.versions()
        deploy_file = None
        if exported.model_file is not None:
            deploy_file = write_json(osp.join(self.out_dir, DEPLOY_FILE), describe_deployment(
                model, spec, self.config, self.checkpoint, checkpoint_sha256, self.backend,
                self.out_dir, exported.model_file, exported.input_shape, exported.other_files,
                versions))
        passed = all(c['passed'] for c in checks.values())
        report = {
            'config': self.config,
            'checkpoint': self.checkpoint,
            'checkpoint_sha256': checkpoint_sha256,
            'backend': self.backend,
            'model_file': exported.model_file,
            'input_shape': exported.input_shape,
            'dynamic': self.input_size is None,
            'parity_sizes': [list(s) for s in sizes],
            'seed': self.seed,
            **exported.facts,
            **checks,
            'deploy': deploy_file,
            'timings_s': dict(self.timings),
            'versions': versions,
            'passed': bool(passed),
        }
        write_json(report_path, report)
        return report

    def seeded_parity(self, model: nn.Module, spec: FCNSpec, exported: Exported,
                      sizes: List[Size]) -> Dict[str, Dict]:
        """Every converted network against torch on one seeded input per size."""
        accs = {c.name: ParityAccumulator(spec.head.num_classes) for c in exported.converted}
        shapes = {c.name: [] for c in exported.converted}
        for i, (h, w) in enumerate(sizes):
            x = preprocess_image(model, random_image(h, w, self.seed + i))
            ref = fcn_logits(model, x).numpy()
            for conv in exported.converted:
                if conv.input_size is not None and tuple(x.shape[-2:]) != conv.input_size:
                    continue
                t0 = time.perf_counter()
                out = conv.run(x.numpy())
                seconds = time.perf_counter() - t0
                accs[conv.name].add(ref, out)
                shapes[conv.name].append(list(x.shape))
                self.log(f'{conv.name} vs torch at {h}x{w}: max rel error '
                         f'{accs[conv.name].max_rel_error:.3g}, argmax agreement '
                         f'{100 * accs[conv.name].agreeing / accs[conv.name].pixels:.4f}% '
                         f'({seconds:.1f} s)')
        return {name: {**acc.summary(self.thresholds), 'input_shapes': shapes[name]}
                for name, acc in accs.items()}

    def image_parity(self, model: nn.Module, spec: FCNSpec, exported: Exported) -> Dict:
        """The first any-size converted network against torch over real images, with both mean
        IUs when labelled."""
        conv = next((c for c in exported.converted if c.input_size is None), None)
        if conv is None:
            raise InputError('--images needs a network that takes any size; this export is '
                             f'static ({self.input_size})')
        pairs = find_image_pairs(self.images, self.labels, self.max_images)
        acc = ParityAccumulator(spec.head.num_classes)
        for image, label in pairs:
            x, gt = load_pair(model, image, label, spec.head.num_classes)
            acc.add(fcn_logits(model, x).numpy(), conv.run(x.numpy()), gt)
        summary = {**acc.summary(self.thresholds), 'network': conv.name, 'folder': self.images}
        self.log(f'{len(pairs)} image(s), {conv.name}: max rel error '
                 f'{summary["max_rel_error"]:.3g}, argmax agreement '
                 f'{100 * summary["argmax_agreement"]:.4f}%'
                 + (f', mean IU {summary["mean_iou_reference"]:.2f} (torch) / '
                    f'{summary["mean_iou_converted"]:.2f} ({self.backend})'
                    if 'mean_iou_reference' in summary else ''))
        return summary
