# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Export options as one object: each option is one dataclass field that carries its command-line
argument, so adding an option is one field (and its help text), read in one place.

    parser = argparse.ArgumentParser()
    MindSporeExportOptions.add_arguments(parser)
    options = MindSporeExportOptions.from_args(parser.parse_args(argv))
    run_export(MindSporeBackend(options))

Library users build the dataclass directly: ``OnnxExportOptions(config, checkpoint, out_dir,
dynamic=True)``.
"""
import argparse
import dataclasses
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .gear_sizes import parse_gears
from .measures import ParityThresholds

Size = Tuple[int, int]
DEFAULT_PARITY_SIZE = (512, 512)
#: onnxruntime's calibration methods that ``--int8`` measures (:mod:`.onnx.quantize`).
CALIBRATION_METHODS = ('MinMax', 'Entropy', 'Percentile')
_DEFAULT_THRESHOLDS = ParityThresholds()


@dataclass(frozen=True)
class Int8Targets:
    """What an int8 model must reach against float32: argmax agreement (mean over images, worst
    image), and mean IU no more than ``max_miou_drop`` points below float32's (with labels)."""
    min_agreement_mean: float = 0.995
    min_agreement_worst: float = 0.99
    max_miou_drop: float = 0.5

    def misses(self, figures: Dict) -> List[str]:
        """Each target ``figures`` (a :func:`~.onnx.quantize.measure` result) misses, in words; [] when all hold."""
        out = []
        if figures['argmax_agreement_mean'] < self.min_agreement_mean:
            out.append(f'mean agreement {100 * figures["argmax_agreement_mean"]:.3f}% < '
                       f'{100 * self.min_agreement_mean:.2f}%')
        if figures['argmax_agreement_worst'] < self.min_agreement_worst:
            out.append(f'worst image {figures["worst_image"]} '
                       f'{100 * figures["argmax_agreement_worst"]:.3f}% < '
                       f'{100 * self.min_agreement_worst:.2f}%')
        if figures.get('mIoU') is not None:
            drop = figures['mIoU_float32'] - figures['mIoU']
            if drop > self.max_miou_drop:
                out.append(f'mean IU {figures["mIoU"]:.2f} is {drop:.2f} points below float32\'s '
                           f'{figures["mIoU_float32"]:.2f} (at most {self.max_miou_drop:g})')
        return out


def argument(*flags: str, default=None, group: Optional[str] = None, reads: bool = False,
             **kwargs):
    """A dataclass field that is also the command-line argument ``flags`` (``argparse`` keywords
    in ``kwargs``; no flags: a positional argument). ``group`` puts it into a mutually exclusive
    group of that name; ``reads`` marks a path the exporter reads (never written over, see
    :meth:`ExportOptions.input_paths`)."""
    return field(default=default, metadata={'flags': flags, 'group': group, 'argparse': kwargs,
                                            'reads': reads})


def positional(help: str, reads: bool = False):
    return field(metadata={'flags': (), 'group': None, 'argparse': {'help': help},
                           'reads': reads})


def _gears_argument(text: str):
    try:
        return parse_gears(text)
    except ValueError as e:  # argparse prints an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(e)) from None


def _size(value) -> Optional[Size]:
    return None if value is None else tuple(int(v) for v in value)


@dataclass
class ExportOptions:
    """What every export takes (see :mod:`.pipeline`).

    ``input_size`` None exports a dynamic-shape model, checked at ``parity_size`` and at
    :func:`~.context.second_size` of it; a static model is checked at ``input_size``.
    """

    #: exclusive argument groups that need one member given (``{name: required}``)
    GROUPS = {}

    config: str = positional('model config, e.g. configs/fcn8s_vgg16_voc.py', reads=True)
    checkpoint: str = positional('mmseg checkpoint (.pth) of that model', reads=True)
    out_dir: str = argument('--out-dir', required=True,
                            help='folder for the model file, deploy.json and the parity report')
    input_size: Optional[Size] = argument(
        '--input-size', type=int, nargs=2, metavar=('H', 'W'), group='shape',
        help='export a static model for this size (also the size of the seeded parity input)')
    parity_size: Size = argument(
        '--parity-size', default=DEFAULT_PARITY_SIZE, type=int, nargs=2, metavar=('H', 'W'),
        help='seeded parity input of a dynamic export (default %(default)s; a second, smaller '
        'non-square size is checked too)')
    images: Optional[str] = argument(
        '--images', reads=True, help='folder of real images for another parity check (a model '
        'that takes any size)')
    labels: Optional[str] = argument(
        '--labels', reads=True, help='label PNGs named like the images (default: a VOC '
        'JPEGImages folder uses its sibling SegmentationClass)')
    max_images: Optional[int] = argument('--max-images', type=int,
                                         help='use the first N images only')
    max_rel_error: float = argument('--max-rel-error', default=_DEFAULT_THRESHOLDS.max_rel_error,
                                    type=float, help='max |converted - torch| / max |torch| '
                                    '(default %(default)g)')
    min_argmax_agreement: float = argument(
        '--min-argmax-agreement', default=_DEFAULT_THRESHOLDS.min_argmax_agreement, type=float,
        help='fraction of pixels with the same class (default %(default)g)')
    seed: int = argument('--seed', default=0, type=int, help='seed of the random parity inputs')
    precision_images: Optional[str] = argument(
        '--precision-images', reads=True, help='images for the NPU precision report '
        '(precision.json): the emulated float16 modes against float32, and a measured '
        'keep-float32 plan')
    precision_labels: Optional[str] = argument(
        '--precision-labels', reads=True, help='their label PNGs (adds each mode\'s mean IU)')
    precision_threshold: float = argument(
        '--precision-threshold', default=0.999, type=float,
        help="the plan's target: worst image's argmax agreement with float32 (default %(default)g)")
    with_argmax: bool = argument(
        '--with-argmax', default=False, action='store_true',
        help='the exported network ends with the argmax over the classes: it returns the (1, H, '
        'W) class map instead of the logits (21x fewer bytes back from the device); for '
        'configs that keep the image size (a resize policy resizes logits before the argmax)')
    aipp: bool = argument(
        '--aipp', default=False, action='store_true',
        help="preprocessing on the NPU: write Ascend AIPP configurations for the config's mean, "
        'std and channel order (aipp_<H>x<W>.cfg, used by atc.sh and the MindSpore Lite '
        'config), so the offline model takes uint8 RGB pixels; needs a static export '
        '(--input-size, or --gears)')
    #: file stem of the exported files; None: the config's
    name: Optional[str] = None

    def __post_init__(self):
        self.input_size = _size(self.input_size)
        self.parity_size = _size(self.parity_size)
        if self.name is None:
            self.name = osp.splitext(osp.basename(self.config))[0]
        if self.aipp and self.input_size is None and getattr(self, 'gears', None) is None:
            raise ValueError('--aipp needs a static export: --input-size H W (or --gears for '
                             'to_onnx.py); ATC takes AIPP for static shapes')

    @property
    def dynamic(self) -> bool:
        return self.input_size is None

    @property
    def thresholds(self) -> ParityThresholds:
        return ParityThresholds(self.max_rel_error, self.min_argmax_agreement)

    def input_paths(self) -> Dict[str, Optional[str]]:
        """``{argument: path}`` of every file or folder the export reads (``CONFIG``,
        ``CHECKPOINT``, ``--images``, ...; None where not given): the output folder must lie
        apart from all of them (:func:`fcn_voc_core.output_guard.check_outputs_apart`)."""
        paths = {}
        for f in dataclasses.fields(self):
            if f.metadata.get('reads'):
                flags = f.metadata['flags']
                paths[flags[0] if flags else f.name.upper()] = getattr(self, f.name)
        return paths

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One argument per field that declares one, in field order."""
        groups = {}
        for f in dataclasses.fields(cls):
            if 'flags' not in f.metadata:
                continue
            target = parser
            group = f.metadata['group']
            if group is not None:
                if group not in groups:
                    groups[group] = parser.add_mutually_exclusive_group(
                        required=cls.GROUPS.get(group, False))
                target = groups[group]
            kwargs = dict(f.metadata['argparse'])
            if f.metadata['flags']:
                kwargs.setdefault('dest', f.name)
                if f.default is not dataclasses.MISSING and 'action' not in kwargs:
                    kwargs['default'] = (list(f.default) if isinstance(f.default, tuple)
                                         else f.default)
                target.add_argument(*f.metadata['flags'], **kwargs)
            else:
                target.add_argument(f.name, **kwargs)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> 'ExportOptions':
        values = vars(args)
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})


@dataclass
class MindSporeExportOptions(ExportOptions):
    """:class:`ExportOptions` plus what the MindSpore exporter takes."""

    layout: str = argument(
        '--layout', default='auto', choices=('auto', 'mindspore', 'mindspore_tutorial'),
        help='parameter names: auto = the MindSpore tutorial names for the tutorial network '
        '(configs/fcn8s_vgg16bn_voc.py), else the plugin cells')
    mindir: bool = argument('--no-mindir', default=True, action='store_false',
                            help='skip the MINDIR export (then no deploy.json is written)')
    device_target: Optional[str] = argument('--device-target', choices=('CPU', 'GPU', 'Ascend'),
                                            help="MindSpore device (default: MindSpore's own)")


@dataclass
class OnnxExportOptions(ExportOptions):
    """:class:`ExportOptions` plus what the ONNX exporter takes: a static ``input_size`` or
    ``dynamic`` (one of the two on the command line)."""

    GROUPS = {'shape': True}

    dynamic_shape: bool = argument('--dynamic', default=False, action='store_true', group='shape',
                                   help='any input height and width (symbolic dimensions)')
    gears: Optional[object] = argument(
        '--gears', type=_gears_argument, group='shape', metavar='HxW[,HxW...]|voc',
        help="one static model per size (ATC's way to take several sizes); the runtime runs each "
        "image on the smallest that holds it. 'voc': 375x500, 500x375, 500x500 (rounded up to the "
        "network's size divisor)")
    atc_check: bool = argument('--no-atc-check', default=True, action='store_false',
                               help="export even if Ascend's ATC would refuse the graph (for "
                               'onnxruntime only)')
    int8: bool = argument('--int8', default=False, action='store_true',
                          help='also write a calibrated int8 ONNX (onnxruntime QDQ) and deploy it '
                          '(needs --dynamic and --calibration-images)')
    calibration_images: Optional[str] = argument(
        '--calibration-images', reads=True, help='images whose activations calibrate the int8 '
        'model; the accuracy targets must hold on them')
    calibration_labels: Optional[str] = argument(
        '--calibration-labels', reads=True, help='their label PNGs (adds the mean IU target; '
        'default: a VOC JPEGImages folder uses its sibling SegmentationClass)')
    calibration_method: str = argument(
        '--calibration-method', default='auto', choices=('auto', ) + CALIBRATION_METHODS,
        help='auto (default) measures every method and keeps the most accurate')
    check_images: Optional[str] = argument(
        '--check-images', reads=True, help='held-out images (not used for calibration) on which '
        'the int8 model must also reach the targets, or the export fails')
    check_labels: Optional[str] = argument('--check-labels', reads=True, help='their label PNGs')
    int8_min_agreement_mean: float = argument(
        '--int8-min-agreement-mean', default=0.995, type=float,
        help='int8 target: mean argmax agreement with float32 (default %(default)g)')
    int8_min_agreement_worst: float = argument(
        '--int8-min-agreement-worst', default=0.99, type=float,
        help='int8 target: worst image\'s argmax agreement with float32 (default %(default)g)')
    int8_max_miou_drop: float = argument(
        '--int8-max-miou-drop', default=0.5, type=float,
        help='int8 target with labels: mean IU points below float32 (default %(default)g)')

    @property
    def dynamic(self) -> bool:
        return self.input_size is None and self.gears is None

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.gears, str):
            self.gears = parse_gears(self.gears)
        shapes = [self.dynamic_shape, self.input_size is not None, self.gears is not None]
        if sum(shapes) > 1:
            raise ValueError('input_size, dynamic_shape and gears exclude each other')
        int8_only = [flag for flag, value in (
            ('--calibration-images', self.calibration_images),
            ('--calibration-labels', self.calibration_labels),
            ('--check-images', self.check_images), ('--check-labels', self.check_labels))
            if value is not None]
        if not self.int8 and int8_only:
            raise ValueError(f'{", ".join(int8_only)} only go with --int8')
        if self.int8:
            if self.calibration_images is None:
                raise ValueError('--int8 needs --calibration-images')
            if not self.dynamic:
                raise ValueError('--int8 quantizes the dynamic export (--dynamic): the images '
                                 'calibrate at their own sizes (static int8 models for the NPU '
                                 'come from AMCT, see the README)')
            if self.precision_images is not None:
                raise ValueError('--int8 and --precision-images exclude each other (the float16 '
                                 'report is for the float model on the NPU)')
            if self.with_argmax:
                raise ValueError('--int8 and --with-argmax exclude each other (the int8 plan '
                                 'measures the logits graph)')
            if self.check_labels is not None and self.check_images is None:
                raise ValueError('--check-labels needs --check-images')

    @property
    def int8_targets(self) -> 'Int8Targets':
        return Int8Targets(self.int8_min_agreement_mean, self.int8_min_agreement_worst,
                           self.int8_max_miou_drop)
