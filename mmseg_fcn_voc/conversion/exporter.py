# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""The one skeleton every exporter follows (MindSpore, ONNX), as named steps.

:meth:`Exporter.run` calls, in order:

1. :meth:`~Exporter.prepare`: remove the previous report and ``deploy.json`` from the output
   folder (a refused conversion must not leave an old "passed" report behind), build the config's
   model and load the checkpoint strictly (:mod:`.model_io`), describe it once (:mod:`.describe`:
   unsupported networks are refused) and check the parity sizes;
2. :meth:`~Exporter.export`: the backend writes its files and returns the networks to check;
3. :meth:`~Exporter.check_parity`: the torch model against every converted network on seeded
   inputs (one per parity size) and, optionally, on real images (:mod:`.parity`);
4. with ``precision_images``, :meth:`~Exporter.check_precision`: the NPU's float16 emulated on
   those images (:mod:`.precision_plan`), ``precision.json`` and the backend's keep-float32 plan
   files (:meth:`~Exporter.write_precision_plan`);
5. :meth:`~Exporter.quantize`: a backend's lower-precision model, measured against the float32
   one (ONNX ``--int8``: :mod:`.onnx.int8`); a model that misses its targets is not deployed;
6. :meth:`~Exporter.write_deploy` (:mod:`.deploy_info`) and :meth:`~Exporter.write_report`, both
   atomically.

Every step logs what it did. A backend subclass implements :meth:`Exporter.export` (and names its
report file and options class); everything else is shared. Options come as one object
(:mod:`.options`).
"""
import os
import os.path as osp
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from fcn_voc_core.errors import InputError
from fcn_voc_core.fileio import file_sha256, write_json
from fcn_voc_core.output_guard import check_outputs_apart
from fcn_voc_runtime.deploy import DEPLOY_FILE, file_entry

from .deploy_info import describe_deployment
from .describe import describe_network
from .graph import NetworkSpec
from .model_io import build_and_load, fcn_logits, input_size_problem
from .options import ExportOptions
from .parity import (
    ParityAccumulator,
    find_image_pairs,
    load_image_set,
    load_pair,
    preprocess_image,
    random_image,
)
from .precision_plan import precision_report

Size = Tuple[int, int]
PRECISION_FILE = 'precision.json'


class Timings(dict):
    """``{step: seconds}``; ``with timings('step'):`` times a block."""

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self[step] = round(time.perf_counter() - start, 3)


class ExportCheckError(InputError):
    """An exported model that is not what was asked for (a "dynamic" model with fixed sizes, a
    static one of another size, one that fails on an input it should take)."""


@dataclass
class Converted:
    """A converted network to check against torch.

    Attributes:
        name: its key in the report (``'seeded'`` for the converted cell, ``'mindir'``,
            ``'onnxruntime'``).
        forward: (1, 3, H, W) float32 array -> (1, K, H, W) logits array.
        input_size: the one (H, W) it takes, or None for every size the network takes.
    """
    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    input_size: Optional[Size] = None


@dataclass
class Exported:
    """What :meth:`Exporter.export` wrote and what to check."""
    model_file: Optional[str]  # None: nothing deployable was written (no deploy.json)
    input_shape: List[Optional[int]]
    converted: List[Converted]
    other_files: Dict[str, str] = field(default_factory=dict)
    facts: Dict = field(default_factory=dict)
    #: ``[((H, W), model file)]`` of static gears, smallest first (``model_file`` the largest)
    gears: List[Tuple[Size, str]] = field(default_factory=list)


def second_size(size: Size, divisor: int) -> Size:
    """Another realistic, non-square input size for checking a dynamic-shape model: about 3/4 of
    the height and 1/2 of the width (odd numbers for the Caffe geometry, whose ceil-mode pooling
    they exercise; multiples of ``divisor`` otherwise)."""
    h, w = max(size[0] * 3 // 4, 1), max(size[1] // 2, 1)
    if divisor > 1:
        return max(h // divisor, 1) * divisor, max(w // divisor, 1) * divisor
    return h | 1, w | 1


@dataclass
class Prepared:
    """What :meth:`Exporter.prepare` made: the loaded model, its one description, the sizes to
    check."""
    model: nn.Module
    spec: NetworkSpec
    sizes: List[Size]


class Exporter:
    """Convert one checkpoint and prove parity; subclasses implement :meth:`export`.

    Args:
        options: an :class:`~.options.ExportOptions` (of the subclass's :attr:`options_class`).
        log: where progress lines go.
    """

    backend = ''
    report_file = ''
    options_class = ExportOptions

    def __init__(self, options: ExportOptions, log: Callable[[str], None] = print):
        if not isinstance(options, self.options_class):
            raise TypeError(f'{type(self).__name__} takes {self.options_class.__name__}, got '
                            f'{type(options).__name__}')
        self.options, self.log = options, log
        self.timings = Timings()

    # ---------------------------------------------------------------------------------------------
    # what a backend provides
    # ---------------------------------------------------------------------------------------------
    def export(self, model: nn.Module, spec: NetworkSpec) -> Exported:
        """Write the backend's files into the output folder; return them and the networks to
        check. Called once, after the model is loaded and described."""
        raise NotImplementedError

    def versions(self) -> Dict[str, str]:
        import mmseg
        return {'torch': torch.__version__, 'mmsegmentation': mmseg.__version__}

    def path(self, suffix: str) -> str:
        return osp.join(self.options.out_dir, f'{self.options.name}{suffix}')

    @property
    def report_path(self) -> str:
        return osp.join(self.options.out_dir, self.report_file)

    # ---------------------------------------------------------------------------------------------
    # the shared steps
    # ---------------------------------------------------------------------------------------------
    def run(self) -> Dict:
        """prepare -> export -> check_parity [-> check_precision] [-> quantize] -> write_deploy ->
        write_report; returns the report
        (``report['passed']`` is False when a parity check failed).

        Raises:
            InputError: the checkpoint, config or sizes cannot be converted exactly (nothing
                half-written is reported as a success).
        """
        check_outputs_apart({'--out-dir': self.options.out_dir}, self.options.input_paths())
        self.check_inputs()
        prepared = self.prepare()
        with self.timings('export'):
            exported = self.export(prepared.model, prepared.spec)
        checks = self.check_parity(prepared, exported)
        precision = None
        if self.options.precision_images:
            precision = self.check_precision(prepared, exported)
            checks['precision_plan'] = {'passed': bool(precision['measured']['reached']),
                                        **precision['measured']}
        quantized = self.quantize(prepared, exported)
        if quantized is not None:
            precision, checks['int8'] = quantized
        checkpoint_sha256 = file_sha256(self.options.checkpoint)
        versions = self.versions()
        deploy_file = self.write_deploy(prepared, exported, checkpoint_sha256, versions,
                                        precision)
        return self.write_report(prepared, exported, checks, deploy_file, checkpoint_sha256,
                                 versions)

    def prepare(self) -> Prepared:
        """Clear stale reports, load the checkpoint into the config's model, describe it, and
        check that it takes the parity sizes."""
        o = self.options
        os.makedirs(o.out_dir, exist_ok=True)
        for stale in (self.report_path, osp.join(o.out_dir, DEPLOY_FILE)):
            if osp.exists(stale):
                os.remove(stale)
                self.log(f'removed the previous {stale}')
        with self.timings('load_torch'):
            model = build_and_load(o.config, o.checkpoint)
            spec = describe_network(model, o.config)
        sizes = self.parity_sizes(model, spec)
        for size in sizes:
            problem = input_size_problem(model, size)
            if problem:
                raise InputError(f'{o.config}: {problem}')
        self.log(f'loaded {o.checkpoint} into {o.config} ({spec.summary}); parity sizes {sizes}')
        return Prepared(model, spec, sizes)

    def parity_sizes(self, model: nn.Module, spec: NetworkSpec) -> List[Size]:
        """The seeded inputs' sizes: the static size, or for a dynamic model ``parity_size`` and
        :func:`second_size` of it."""
        o = self.options
        sizes = [o.input_size or o.parity_size]
        if o.dynamic:
            sizes.append(second_size(sizes[0], spec.size_divisor))
        return sizes

    def check_parity(self, prepared: Prepared, exported: Exported) -> Dict[str, Dict]:
        """Seeded inputs for every converted network, and real images when asked for."""
        with self.timings('parity_seeded'):
            checks = self.seeded_parity(prepared.model, prepared.spec, exported, prepared.sizes)
        if self.options.images and exported.gears:
            with self.timings('gears_images'):
                exported.facts['gears_measured'] = self.gear_agreement(prepared, exported)
        elif self.options.images:
            with self.timings('parity_images'):
                checks['images'] = self.image_parity(prepared.model, prepared.spec, exported)
        failed = [name for name, c in checks.items() if not c['passed']]
        self.log(f'parity: {len(checks) - len(failed)} of {len(checks)} check(s) passed'
                 + (f'; failed: {failed}' if failed else ''))
        return checks

    def check_precision(self, prepared: Prepared, exported: Exported) -> Dict:
        """The NPU precision report (:mod:`.precision_plan`) on ``precision_images``: writes
        ``precision.json`` and the backend's plan files; returns deploy.json's ``precision``."""
        o, spec = self.options, prepared.spec
        pairs = find_image_pairs(o.precision_images, o.precision_labels, None)
        images = load_image_set(prepared.model, pairs, spec.num_classes)
        with self.timings('precision'):
            report = precision_report(
                prepared.model, images.inputs, images.labels, o.precision_threshold,
                spec.num_classes,
                int(getattr(prepared.model.decode_head, 'ignore_index', 255)), self.log)
        plan = report['plan']
        plan['keep_dtype_nodes'] = []
        files = self.write_precision_plan(plan, exported)
        report['images'] = [osp.basename(i) for i, _ in pairs]
        report['emulated'] = ('on the CPU (mmseg_fcn_voc.conversion.npu_precision): cube ops in '
                              'float16 with float32 accumulation, saturation mode')
        path = write_json(osp.join(o.out_dir, PRECISION_FILE), report)
        self.log(f'wrote {path}' + (f' and {", ".join(sorted(files))}' if files else ''))
        exported.facts['precision'] = path
        return {'planned_for': 'force_fp16' + (' + keep_fp32' if plan['keep_fp32'] else ''),
                'keep_fp32': plan['keep_fp32'], 'keep_dtype_nodes': plan['keep_dtype_nodes'],
                'fp16_only': plan['fp16_only'],
                'measured': {'images': len(pairs), 'emulated': True,
                             'argmax_agreement_mean': plan['argmax_agreement_mean'],
                             'argmax_agreement_worst': plan['argmax_agreement_worst'],
                             'threshold': plan['threshold'], 'reached': plan['reached']},
                'files': {k: osp.basename(v) for k, v in files.items()}}

    def check_inputs(self) -> None:
        """A backend's checks of its own inputs, before any work (raise :class:`InputError`).
        The skeleton has none."""

    def quantize(self, prepared: Prepared, exported: Exported) -> Optional[Tuple[Dict, Dict]]:
        """A lower-precision model when the options ask for one: point ``exported`` at it (or at
        nothing, when it misses its targets) and return deploy.json's ``precision`` and the
        report's check. The skeleton makes none (None)."""
        return None

    def write_precision_plan(self, plan: Dict, exported: Exported) -> Dict[str, str]:
        """Write the plan in the backend's own configuration language (fill
        ``plan['keep_dtype_nodes']`` where the graph's node names are known); returns
        ``{role: path}``. The skeleton writes nothing."""
        return {}

    def write_deploy(self, prepared: Prepared, exported: Exported, checkpoint_sha256: str,
                     versions: Dict[str, str], precision: Optional[Dict] = None) -> Optional[str]:
        """``deploy.json`` for the model file (none when nothing deployable was written)."""
        if exported.model_file is None:
            self.log('no deployable model written, so no deploy.json')
            return None
        o = self.options
        deploy = describe_deployment(
            prepared.model, prepared.spec, o.config, o.checkpoint, checkpoint_sha256,
            self.backend, o.out_dir, exported.model_file, exported.input_shape,
            exported.other_files, versions, precision)
        if exported.gears:
            deploy['gears'] = [{'size': list(size), **file_entry(o.out_dir, path)}
                               for size, path in exported.gears]
            deploy['gears_measured'] = exported.facts.get('gears_measured') or {
                'note': 'not measured: run the converter with --images (native-size torch '
                        'against the geared model on real images)'}
        path = write_json(osp.join(o.out_dir, DEPLOY_FILE), deploy)
        self.log(f'wrote {path}')
        return path

    def write_report(self, prepared: Prepared, exported: Exported, checks: Dict[str, Dict],
                     deploy_file: Optional[str], checkpoint_sha256: str,
                     versions: Dict[str, str]) -> Dict:
        """The parity report (``report_file``), written atomically and returned."""
        o = self.options
        report = {
            'config': o.config,
            'checkpoint': o.checkpoint,
            'checkpoint_sha256': checkpoint_sha256,
            'backend': self.backend,
            'model_file': exported.model_file,
            'input_shape': exported.input_shape,
            'dynamic': o.dynamic,
            'parity_sizes': [list(s) for s in prepared.sizes],
            'seed': o.seed,
            **exported.facts,
            **checks,
            'deploy': deploy_file,
            'timings_s': dict(self.timings),
            'versions': versions,
            'passed': bool(all(c['passed'] for c in checks.values())),
        }
        write_json(self.report_path, report)
        return report

    def seeded_parity(self, model: nn.Module, spec: NetworkSpec, exported: Exported,
                      sizes: List[Size]) -> Dict[str, Dict]:
        """Every converted network against torch on one seeded input per size."""
        accs = {c.name: ParityAccumulator(spec.num_classes) for c in exported.converted}
        shapes = {c.name: [] for c in exported.converted}
        for i, (h, w) in enumerate(sizes):
            x = preprocess_image(model, random_image(h, w, self.options.seed + i))
            ref = fcn_logits(model, x).numpy()
            for conv in exported.converted:
                if conv.input_size is not None and tuple(x.shape[-2:]) != conv.input_size:
                    continue
                t0 = time.perf_counter()
                try:
                    out = conv.forward(x.numpy())
                except Exception as e:  # noqa: BLE001 - the backends raise their own types
                    raise ExportCheckError(
                        f'{self.options.out_dir}: the exported {conv.name} network fails on an '
                        f'input of {h}x{w}, which it should take ('
                        f'{"dynamic" if conv.input_size is None else "static"} export): '
                        f'{type(e).__name__}: {str(e)[:500]}') from e
                seconds = time.perf_counter() - t0
                accs[conv.name].add(ref, out)
                shapes[conv.name].append(list(x.shape))
                self.log(f'{conv.name} vs torch at {h}x{w}: max rel error '
                         f'{accs[conv.name].max_rel_error:.3g}, argmax agreement '
                         f'{100 * accs[conv.name].agreeing / accs[conv.name].pixels:.4f}% '
                         f'({seconds:.1f} s)')
        return {name: {**acc.summary(self.options.thresholds), 'input_shapes': shapes[name]}
                for name, acc in accs.items()}

    def gear_agreement(self, prepared: Prepared, exported: Exported) -> Dict:
        """The geared model against native-size torch on ``images``: each image padded to the
        smallest gear that holds it (as the runtime does), the logits cropped back; pixel
        agreement of the class maps over the images' own pixels (the padding changes what pixels
        near the bottom and right edges see), overall, per gear and worst image, and both mean IUs
        with labels. A measurement, not a pass/fail check."""
        from fcn_voc_runtime.gears import pick_gear
        o, model, spec = self.options, prepared.model, prepared.spec
        pairs = find_image_pairs(o.images, o.labels, o.max_images)
        images = load_image_set(model, pairs, spec.num_classes)
        by_size = {size: c for (size, _), c in zip(exported.gears, exported.converted)}
        pad_value = float(getattr(model.data_preprocessor, 'pad_val', 0))
        ignore = int(getattr(model.decode_head, 'ignore_index', 255))
        overall = ParityAccumulator(spec.num_classes, ignore)
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
            key = f'{gear[0]}x{gear[1]}'
            per_gear.setdefault(key, ParityAccumulator(spec.num_classes, ignore)).add(ref, out)
        worst = min(per_image, key=per_image.get)
        summary = overall.summary(o.thresholds)
        result = {'images': len(per_image), 'folder': o.images,
                  'pixel_agreement': summary['argmax_agreement'],
                  'per_gear': {k: {'images': acc.count, 'pixel_agreement': acc.agreeing / acc.pixels}
                               for k, acc in per_gear.items()},
                  'worst_image': worst, 'worst_image_agreement': per_image[worst]}
        if 'mean_iou_reference' in summary:
            result['mean_iou_native'] = summary['mean_iou_reference']
            result['mean_iou_geared'] = summary['mean_iou_converted']
        self.log(f'gears vs native size on {len(per_image)} image(s): pixel agreement '
                 f'{100 * result["pixel_agreement"]:.3f}% (worst {worst} '
                 f'{100 * per_image[worst]:.3f}%)'
                 + (f', mean IU {result["mean_iou_geared"]:.2f} (native '
                    f'{result["mean_iou_native"]:.2f})' if 'mean_iou_native' in result else ''))
        return result

    def image_parity(self, model: nn.Module, spec: NetworkSpec, exported: Exported) -> Dict:
        """The first any-size converted network against torch over real images, with both mean
        IUs when labelled."""
        o = self.options
        conv = next((c for c in exported.converted if c.input_size is None), None)
        if conv is None:
            raise InputError('--images needs a network that takes any size; this export is '
                             f'static ({o.input_size})')
        pairs = find_image_pairs(o.images, o.labels, o.max_images)
        acc = ParityAccumulator(spec.num_classes)
        for image, label in pairs:
            x, gt = load_pair(model, image, label, spec.num_classes)
            acc.add(fcn_logits(model, x).numpy(), conv.forward(x.numpy()), gt)
        summary = {**acc.summary(o.thresholds), 'network': conv.name, 'folder': o.images}
        self.log(f'{len(pairs)} image(s), {conv.name}: max rel error '
                 f'{summary["max_rel_error"]:.3g}, argmax agreement '
                 f'{100 * summary["argmax_agreement"]:.4f}%'
                 + (f', mean IU {summary["mean_iou_reference"]:.2f} (torch) / '
                    f'{summary["mean_iou_converted"]:.2f} ({self.backend})'
                    if 'mean_iou_reference' in summary else ''))
        return summary
