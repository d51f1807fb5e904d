# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""mmseg FCN checkpoint -> MindSpore ``.ckpt`` + MINDIR, with the parity proof (``parity.json``).

The library behind ``converters/to_mindspore.py``. Steps:

1. build the config's model and load the checkpoint strictly (a checkpoint of another architecture
   is refused with its missing and unexpected keys);
2. describe the network (:mod:`.architecture`) and build the MindSpore cell: the tutorial's FCN8s
   (:mod:`.mindspore_tutorial`) when the model is exactly that network, else :mod:`.mindspore_fcn`;
3. map every tensor through :mod:`.names`, load it into the cell with :func:`load_params_exact`
   (nothing left at its initial value), save the ``.ckpt`` and read it back bit for bit;
4. compare the cell with the torch model on a seeded input of the export size and, optionally, on
   real images (with the mean IU of both networks where labels exist);
5. export MINDIR at that size, load it back (``mindspore.load`` + ``nn.GraphCell``) and compare it
   with the cell.
"""
import json
import os
import os.path as osp
import time
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from .architecture import FCNSpec, describe_fcn, format_mismatches, tutorial_mismatches
from .checkpoint_io import CheckpointError
from .images import find_image_pairs, load_pair, preprocess_image, random_image
from .model_io import build_and_load, fcn_logits, inference_state_dict, input_size_problem
from .names import LAYOUTS, format_keys, layout_key_map
from .parity import ParityAccumulator, ParityThresholds

#: ``--layout`` choices: ``auto`` takes the tutorial layout when the model is the tutorial network.
LAYOUT_CHOICES = ('auto', 'mindspore', 'mindspore_tutorial')
DEFAULT_INPUT_SIZE = (512, 512)


def choose_layout(spec: FCNSpec, layout: str = 'auto', what: str = 'the model') -> str:
    """The MindSpore layout for ``spec``: ``'mindspore_tutorial'`` or ``'mindspore'``.

    Raises:
        ValueError: the tutorial layout was asked for a model that is not the tutorial network
            (the message lists why).
    """
    if layout not in LAYOUT_CHOICES:
        raise ValueError(f'unknown layout {layout!r}; expected one of {LAYOUT_CHOICES}')
    mismatches = tutorial_mismatches(spec)
    if layout == 'auto':
        return 'mindspore' if mismatches else 'mindspore_tutorial'
    if layout == 'mindspore_tutorial' and mismatches:
        raise ValueError(f'{what} is not the MindSpore tutorial FCN8s: '
                         f'{format_mismatches(mismatches)}')
    return layout


def build_mindspore_network(spec: FCNSpec, layout: str):
    """The MindSpore cell of ``spec`` in ``layout``, in inference mode, parameters at zero."""
    if layout == 'mindspore_tutorial':
        from .mindspore_tutorial import build_mindspore_tutorial_fcn8s
        return build_mindspore_tutorial_fcn8s(spec.head.num_classes, spec.conv('conv1_1').norm)
    if layout == 'mindspore':
        from .mindspore_fcn import build_mindspore_fcn
        return build_mindspore_fcn(spec)
    raise ValueError(f'{layout!r} is not a MindSpore layout')


def mindspore_arrays(state_dict: Dict[str, torch.Tensor], layout: str,
                     what: str = 'the model') -> Tuple[Dict[str, np.ndarray], list]:
    """``{MindSpore name: float32 array}`` for an mmseg state dict, and the keys left out
    (``num_batches_tracked``). Raises :class:`~.names.KeyMapError` for keys the layout lacks."""
    if layout not in LAYOUTS:
        raise ValueError(f'unknown layout {layout!r}')
    mapping, dropped = layout_key_map(state_dict.keys(), layout, what)
    arrays = {name: state_dict[key].detach().cpu().contiguous().numpy()
              for key, name in mapping.items()}
    return arrays, dropped


def _check_saved(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """Read a written ``.ckpt`` back and require exactly ``arrays`` (names, shapes, bits)."""
    from .mindspore_io import read_mindspore_checkpoint
    saved = read_mindspore_checkpoint(path)
    if set(saved) != set(arrays):
        raise CheckpointError(f'{path}: written with other names than converted: '
                              f'{format_keys(sorted(set(saved) ^ set(arrays)))}')
    differ = [k for k, a in arrays.items() if not np.array_equal(saved[k], a)]
    if differ:
        raise CheckpointError(f'{path}: tensors changed while writing: {format_keys(differ)}')


def convert_checkpoint(model: torch.nn.Module, out_ckpt: str, layout: str = 'auto',
                       what: str = 'the model') -> Dict:
    """Convert a loaded torch model into a MindSpore ``.ckpt``; return the cell and facts.

    Returns:
        dict with ``cell`` (the loaded MindSpore cell), ``spec``, ``layout``, ``arrays``,
        ``dropped`` (mmseg keys not stored) and ``tutorial_mismatches``.
    """
    from .mindspore_io import load_params_exact, save_mindspore_checkpoint

    spec = describe_fcn(model, what)
    layout = choose_layout(spec, layout, what)
    arrays, dropped = mindspore_arrays(inference_state_dict(model), layout, what)
    cell = build_mindspore_network(spec, layout)
    load_params_exact(cell, arrays, what)
    save_mindspore_checkpoint(cell, out_ckpt)
    _check_saved(out_ckpt, arrays)
    return dict(cell=cell, spec=spec, layout=layout, arrays=arrays, dropped=dropped,
                tutorial_mismatches=tutorial_mismatches(spec))


def image_parity(model: torch.nn.Module, cell, pairs, num_classes: int,
                 thresholds: ParityThresholds) -> Dict:
    """Parity of ``cell`` with ``model`` over ``(image, label or None)`` files (see
    :func:`~.images.find_image_pairs`), with both mean IUs when labelled."""
    from .mindspore_io import run_cell

    acc = ParityAccumulator(num_classes)
    for image, label in pairs:
        x, gt = load_pair(model, image, label, num_classes)
        acc.add(fcn_logits(model, x).numpy(), run_cell(cell, x.numpy()), gt)
    return acc.summary(thresholds)


def mindir_round_trip(cell, inputs: np.ndarray, cell_out: np.ndarray, path: str,
                      thresholds: ParityThresholds) -> Dict:
    """Export ``cell`` as MINDIR for ``inputs``' shape, load it back (``mindspore.load`` +
    ``nn.GraphCell``) and compare its output on ``inputs`` with ``cell_out`` (the cell's)."""
    from .mindspore_io import export_mindir, load_mindir, run_cell

    path = export_mindir(cell, inputs.shape, path)
    acc = ParityAccumulator(cell_out.shape[1])
    acc.add(cell_out, run_cell(load_mindir(path), inputs))
    return {**acc.summary(thresholds), 'file': path, 'input_shape': list(inputs.shape)}


def _versions() -> Dict[str, str]:
    import mindspore
    import mmseg
    return {'torch': torch.__version__, 'mindspore': mindspore.__version__,
            'mmsegmentation': mmseg.__version__}


def convert_to_mindspore(config: str,
                         checkpoint: str,
                         out_dir: str,
                         input_size: Sequence[int] = DEFAULT_INPUT_SIZE,
                         images: Optional[str] = None,
                         labels: Optional[str] = None,
                         max_images: Optional[int] = None,
                         layout: str = 'auto',
                         thresholds: ParityThresholds = ParityThresholds(),
                         seed: int = 0,
                         mindir: bool = True,
                         name: Optional[str] = None,
                         log: Callable[[str], None] = print) -> Dict:
    """Convert, export and prove parity; write ``out_dir/parity.json`` and return its contents.

    Args:
        config: the model config (``configs/fcn8s_vgg16_voc.py`` ...).
        checkpoint: an mmseg checkpoint for it.
        out_dir: receives ``<name>.ckpt``, ``<name>.mindir`` and ``parity.json``.
        input_size: (H, W) of the MINDIR (static) and of the seeded parity input.
        images / labels / max_images: real images for a second parity check (labels: VOC PNGs
            named like the images; a VOC ``JPEGImages`` folder finds its ``SegmentationClass``).
        layout: ``'auto'`` (tutorial names for the tutorial network), ``'mindspore'`` or
            ``'mindspore_tutorial'``.
        thresholds: parity criteria (relative error <= 1e-5, argmax agreement >= 99.99%).
        seed: seed of the random parity input.
        mindir: export and check MINDIR (default True).
        name: file stem; defaults to the config's.

    Returns:
        The report; ``report['passed']`` is False when any parity check failed.

    Raises:
        CheckpointError, UnsupportedModelError, KeyMapError, ValueError: the checkpoint or model
        cannot be converted exactly (nothing half-written is reported as a success).
    """
    height, width = (int(v) for v in input_size)
    name = name or osp.splitext(osp.basename(config))[0]
    os.makedirs(out_dir, exist_ok=True)
    report_path = osp.join(out_dir, 'parity.json')
    if osp.exists(report_path):  # a refused conversion must not leave an old report behind
        os.remove(report_path)
    timings = {}
    t0 = time.perf_counter()
    model = build_and_load(config, checkpoint)
    problem = input_size_problem(model, (height, width))
    if problem:
        raise ValueError(f'{config}: {problem}')
    timings['load_torch'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ckpt_path = osp.join(out_dir, f'{name}.ckpt')
    conv = convert_checkpoint(model, ckpt_path, layout, config)
    cell, spec = conv['cell'], conv['spec']
    timings['convert_ckpt'] = time.perf_counter() - t0
    num_classes = spec.head.num_classes
    log(f'wrote {ckpt_path}: {len(conv["arrays"])} tensors, layout {conv["layout"]!r} '
        f'({timings["convert_ckpt"]:.1f} s)')

    from .mindspore_io import run_cell

    t0 = time.perf_counter()
    inputs = preprocess_image(model, random_image(height, width, seed)).numpy()
    ref = fcn_logits(model, torch.from_numpy(inputs)).numpy()
    out = run_cell(cell, inputs)
    seeded = ParityAccumulator(num_classes)
    seeded.add(ref, out)
    seeded_summary = seeded.summary(thresholds)
    timings['parity_seeded'] = time.perf_counter() - t0
    log(f'seeded input {height}x{width}: max rel error {seeded_summary["max_rel_error"]:.3g}, '
        f'argmax agreement {100 * seeded_summary["argmax_agreement"]:.4f}% '
        f'({timings["parity_seeded"]:.1f} s)')

    image_summary = None
    if images:
        t0 = time.perf_counter()
        pairs = find_image_pairs(images, labels, max_images)
        image_summary = image_parity(model, cell, pairs, num_classes, thresholds)
        image_summary['folder'] = images
        timings['parity_images'] = time.perf_counter() - t0
        log(f'{len(pairs)} image(s): max rel error {image_summary["max_rel_error"]:.3g}, argmax '
            f'agreement {100 * image_summary["argmax_agreement"]:.4f}%'
            + (f', mean IU {image_summary["mean_iou_reference"]:.2f} (torch) / '
               f'{image_summary["mean_iou_converted"]:.2f} (MindSpore)'
               if 'mean_iou_reference' in image_summary else ''))

    mindir_summary = None
    if mindir:
        t0 = time.perf_counter()
        mindir_summary = mindir_round_trip(cell, inputs, out, osp.join(out_dir, f'{name}.mindir'),
                                           thresholds)
        timings['mindir_export_and_check'] = time.perf_counter() - t0
        log(f'wrote {mindir_summary["file"]}; GraphCell vs cell: max abs error '
            f'{mindir_summary["max_abs_error"]:.3g} ({timings["mindir_export_and_check"]:.1f} s)')

    passed = seeded_summary['passed'] and (image_summary is None or image_summary['passed']) \
        and (mindir_summary is None or mindir_summary['passed'])
    report = {
        'config': config,
        'checkpoint': checkpoint,
        'layout': conv['layout'],
        'tutorial_mismatches': conv['tutorial_mismatches'],
        'ckpt': ckpt_path,
        'tensors': len(conv['arrays']),
        'values': int(sum(a.size for a in conv['arrays'].values())),
        'not_stored': conv['dropped'],
        'input_size': [height, width],
        'seed': seed,
        'seeded': seeded_summary,
        'images': image_summary,
        'mindir': mindir_summary,
        'timings_s': timings,
        'versions': _versions(),
        'passed': bool(passed),
    }
    with open(report_path, 'w') as f:
        json.dump(report, f, indent=2)
    return report
