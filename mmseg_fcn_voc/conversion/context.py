# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""What the export pipeline (:mod:`.pipeline`) passes between its steps, and the two contracts it
runs: an :class:`ExportBackend` (writes the backend's files) and a :class:`Check` (measures them)."""
import os.path as osp
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np
from torch import nn

from fcn_voc_core.errors import InputError

from .network.trace import TracedNetwork
from .options import ExportOptions

Size = Tuple[int, int]
#: The exported network's input and output names, in every backend and in ``deploy.json``.
INPUT_NAME = 'input'
OUTPUT_NAME = 'output'


class ExportCheckError(InputError):
    """An exported model that is not what was asked for (a "dynamic" model with fixed sizes, a
    static one of another size, one that fails on an input it should take)."""


class Timings(dict):
    """``{step: seconds}``; ``with timings('step'):`` times a block."""

    @contextmanager
    def __call__(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self[step] = round(time.perf_counter() - start, 3)


@dataclass
class ExportContext:
    """The loaded model and what every step reads.

    Attributes:
        options: the :class:`~.options.ExportOptions` (of the backend's kind).
        model: the config's model with the checkpoint loaded, in eval mode.
        net: its traced inference network (the one description, :mod:`.network.trace`).
        sizes: the (H, W) of the seeded parity inputs.
        timings: seconds per step, for the report.
    """
    options: ExportOptions
    model: nn.Module
    net: TracedNetwork
    sizes: List[Size]
    timings: Timings = field(default_factory=Timings)

    def path(self, suffix: str) -> str:
        """``<out_dir>/<name><suffix>``: a file of the export."""
        return osp.join(self.options.out_dir, f'{self.options.name}{suffix}')

    @property
    def ignore_index(self) -> int:
        return int(getattr(self.model.decode_head, 'ignore_index', 255))


@dataclass
class Converted:
    """A converted network to check against torch.

    Attributes:
        name: its key in the report (``'seeded'`` for the converted cell, ``'mindir'``,
            ``'onnxruntime'``).
        forward: (1, 3, H, W) float32 array -> (1, K, H, W) logits array.
        input_size: the one (H, W) it takes, or None for every size the network takes.
        logits_twin: for a network exported with its argmax (``forward`` returns the (1, H, W)
            class map), the same export without it: the class map must be its argmax exactly.
    """
    name: str
    forward: Callable[[np.ndarray], np.ndarray]
    input_size: Optional[Size] = None
    logits_twin: Optional[Callable[[np.ndarray], np.ndarray]] = None


@dataclass
class Exported:
    """What a backend wrote, what to check, and what the checks add.

    Attributes:
        model_file: the deployable model (None: nothing deployable, no ``deploy.json``).
        input_shape: ``[1, 3, H, W]``, None for a dynamic height or width.
        converted: the networks the checks compare with torch.
        other_files: ``{role: path}`` of the other files written (listed in ``deploy.json``).
        facts: the report's descriptive entries (layout, ATC findings, ...).
        gears: ``[((H, W), model file)]`` of static gears, smallest first (``model_file`` the
            largest).
        deploy: entries a check adds to ``deploy.json`` (``precision``, ``gears_measured``).
    """
    model_file: Optional[str]
    input_shape: List[Optional[int]]
    converted: List[Converted]
    other_files: Dict[str, str] = field(default_factory=dict)
    facts: Dict = field(default_factory=dict)
    gears: List[Tuple[Size, str]] = field(default_factory=list)
    deploy: Dict = field(default_factory=dict)


def second_size(size: Size, divisor: int) -> Size:
    """Another realistic, non-square input size for checking a dynamic-shape model: about 3/4 of
    the height and 1/2 of the width (odd numbers for the Caffe geometry, whose ceil-mode pooling
    they exercise; multiples of ``divisor`` otherwise)."""
    h, w = max(size[0] * 3 // 4, 1), max(size[1] // 2, 1)
    if divisor > 1:
        return max(h // divisor, 1) * divisor, max(w // divisor, 1) * divisor
    return h | 1, w | 1


class ExportBackend:
    """A backend of the pipeline: one folder each (:mod:`.mindspore`, :mod:`.onnx`), the only
    modules importing that backend's library. A backend implements :meth:`export`; the rest has
    defaults.

    Attributes:
        name: ``deploy.json``'s ``backend`` (``'mindspore'``, ``'onnxruntime'``).
        report_file: the parity report's file name.
        options_class: the options it takes.
    """

    name = ''
    report_file = ''
    options_class = ExportOptions

    def __init__(self, options: ExportOptions):
        if not isinstance(options, self.options_class):
            raise TypeError(f'{type(self).__name__} takes {self.options_class.__name__}, got '
                            f'{type(options).__name__}')
        self.options = options

    @property
    def report_path(self) -> str:
        return osp.join(self.options.out_dir, self.report_file)

    def parity_sizes(self, model: nn.Module, net: TracedNetwork) -> List[Size]:
        """The seeded inputs' sizes: the static size, or for a dynamic model ``parity_size`` and
        :func:`second_size` of it."""
        o = self.options
        sizes = [o.input_size or o.parity_size]
        if o.dynamic:
            sizes.append(second_size(sizes[0], net.size_divisor))
        return sizes

    def export(self, context: ExportContext) -> Exported:
        """Write the backend's files into the output folder; return them and the networks to
        check. Called once, after the model is loaded and traced."""
        raise NotImplementedError

    def write_precision_plan(self, plan: Dict, exported: Exported) -> Dict[str, str]:
        """Write a measured keep-float32 plan in the backend's own configuration language (fill
        ``plan['keep_dtype_nodes']`` where the graph's node names are known); returns
        ``{role: path}``. Default: nothing."""
        return {}

    def versions(self) -> Dict[str, str]:
        import mmseg
        import torch
        return {'torch': torch.__version__, 'mmsegmentation': mmseg.__version__}


class Check:
    """One measurement of the exported files.

    Attributes:
        name: the step's name in the report's timings.
    """

    name = ''

    def applies(self, options: ExportOptions) -> bool:
        """Whether the options ask for this check."""
        raise NotImplementedError

    def validate(self, options: ExportOptions) -> None:
        """Refuse unusable inputs before any work (raise :class:`InputError`). Default: none."""

    def run(self, context: ExportContext, backend: ExportBackend,
            exported: Exported) -> Dict[str, Dict]:
        """Measure; return the report's pass/fail sections (``{key: {..., 'passed': bool}}``)
        and add to ``exported.facts`` / ``exported.deploy`` what else it found."""
        raise NotImplementedError
