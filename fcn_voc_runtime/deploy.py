# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""``deploy.json``: everything a deployment host needs to run a converted FCN and read its output.

The converters (``converters/to_mindspore.py``, ``converters/to_onnx.py``) write it beside the model
file; :func:`load_deploy_dir` reads and checks it on the host. Keys (``version`` 1)::

    format, version        "mmseg-fcn-voc/deploy", 1
    backend                "mindspore" (MINDIR) or "onnxruntime" (ONNX)
    model                  file (relative to the folder), sha256, input_name, output_name,
                           input_shape ([1, 3, H, W]; null for a dynamic height/width)
    files                  {role: {file, sha256}}: the other files written (MindSpore .ckpt, ...)
    input                  layout "NCHW", channel_order ("RGB"/"BGR": of the network input; images
                           are decoded to RGB), dtype "float32", mean, std (per channel, in that
                           order, on 0-255 pixel values): x = (pixel - mean) / std
    size                   policy "native" (the image at its own size) or "resize" (resize:
                           {scale, keep_ratio} as mmcv's Resize); size_divisor (pad the bottom and
                           right to a multiple of it, 1 = never) and pad_value (after
                           normalisation); min_size (smallest height/width the network takes)
    output                 kind "logits": (N, num_classes, H', W') for the (padded) input H' x W',
                           the image's prediction is argmax over classes of the top-left H x W;
                           kind "class_map" (``--with-argmax``): (N, H', W') int32, the prediction
                           is its top-left H x W
    classes, palette       class names, [r, g, b] per class
    ignore_index           label value not scored (VOC's void border, 255)
    source                 config (path), config_text, checkpoint (path), checkpoint_sha256
    versions               library versions of the conversion
    precision              what the model computes in (``dtype`` "int8" for a quantized model)
                           and what was measured
    gears (optional)       [{size: [H, W], file, sha256}]: static models, smallest first (the
                           model entry is the largest); each image runs on the smallest that holds
                           it (:mod:`fcn_voc_runtime.geared_model`), measured: agreement with native size
"""
import json
import os
import os.path as osp
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Tuple

from fcn_voc_core.errors import InputError
from fcn_voc_core.fileio import file_sha256

from .choices import BACKENDS

DEPLOY_FILE = 'deploy.json'
DEPLOY_FORMAT = 'mmseg-fcn-voc/deploy'
DEPLOY_VERSION = 1
#: What a deployed network may return: logits, or the class map of a network exported with its
#: argmax (``--with-argmax``).
OUTPUT_KINDS = ('logits', 'class_map')
REQUIRED_KEYS = ('format', 'version', 'backend', 'model', 'input', 'size', 'output', 'classes',
                 'palette', 'ignore_index')


class DeployError(InputError):
    """A deploy folder that cannot be used (incomplete, inconsistent, or tampered with)."""


@dataclass(frozen=True)
class DeployFolder:
    """The checked contents of a deploy folder."""
    folder: str
    backend: str
    model_file: str
    input_name: str
    output_name: str
    input_shape: List[Optional[int]]
    channel_order: str
    mean: List[float]
    std: List[float]
    size_policy: str
    resize: Optional[dict]
    size_divisor: int
    pad_value: float
    min_size: int
    classes: List[str]
    palette: List[List[int]]
    ignore_index: int
    raw: dict
    #: ``[((H, W), model file)]`` of a geared folder, smallest first; [] otherwise
    gears: List[Tuple[Tuple[int, int], str]] = field(default_factory=list)
    #: what the model returns: ``'logits'`` (1, K, H, W) or ``'class_map'`` (1, H, W) int32
    output_kind: str = 'logits'

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def dtype(self) -> str:
        """The model's arithmetic: ``'int8'`` for a quantized model, else ``'float32'``."""
        precision = self.raw.get('precision') or {}
        return precision.get('dtype', 'float32') if isinstance(precision, dict) else 'float32'

    @property
    def static_size(self) -> Optional[List[int]]:
        """``[H, W]`` of a static model, None for a dynamic one or gears (each its own size)."""
        if self.gears:
            return None
        h, w = self.input_shape[2:]
        return None if h is None or w is None else [h, w]


def _need(cond: bool, path: str, problem: str) -> None:
    if not cond:
        raise DeployError(f'{path}: {problem}')


def folder_file(folder: str, entry: object, key: str, path: str) -> str:
    """The path of the file that ``deploy.json`` (``path``) names under ``key``, checked to lie
    inside its folder: a relative name without ``..``, not leading out through a symbolic link.

    Raises:
        DeployError: naming the key and the value (a folder that reaches outside itself could
            load any model on the host).
    """
    _need(isinstance(entry, dict) and isinstance(entry.get('file'), str) and entry['file'], path,
          f'{key}.file: expected a file name inside the deploy folder')
    name = entry['file']
    parts = name.replace('\\', '/').split('/')
    _need(not osp.isabs(name) and not name.startswith(('/', '\\')) and '..' not in parts
          and not (len(name) > 1 and name[1] == ':'), path,
          f'{key}.file {name!r}: not inside the deploy folder (an absolute path or ".."); a '
          'deploy folder names only its own files')
    real_folder = osp.realpath(folder)
    real = osp.realpath(osp.join(folder, name))
    _need(real.startswith(real_folder.rstrip(os.sep) + os.sep), path,
          f'{key}.file {name!r} leads outside the deploy folder (to {real}, through a symbolic '
          'link); a deploy folder names only its own files')
    return osp.join(folder, name)


def _read_raw(folder: str, path: str) -> dict:
    """``deploy.json`` as a dict with the required keys, this runtime's format and a backend."""
    if not osp.isdir(folder):
        raise DeployError(f'{folder}: no such deploy folder')
    if not osp.isfile(path):
        raise DeployError(f'{path}: missing; a deploy folder is what converters/to_mindspore.py or '
                          'converters/to_onnx.py writes with --out-dir')
    try:
        with open(path, encoding='utf-8') as f:
            raw = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DeployError(f'{path}: not readable JSON: {e}') from e
    _need(isinstance(raw, dict), path, 'expected a JSON object')
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    _need(not missing, path, f'incomplete, missing keys {missing}')
    _need(raw['format'] == DEPLOY_FORMAT and raw['version'] == DEPLOY_VERSION, path,
          f'format {raw["format"]!r} version {raw["version"]!r}; this runtime reads '
          f'{DEPLOY_FORMAT!r} version {DEPLOY_VERSION}')
    _need(raw['backend'] in BACKENDS, path, f'backend {raw["backend"]!r} is not one of {BACKENDS}')
    return raw


def _parse(raw: dict, folder: str, model_file: str, path: str) -> DeployFolder:
    """The typed fields of ``raw``; a value of the wrong kind is refused."""
    model, inp, size = raw['model'], raw['input'], raw['size']
    try:
        return DeployFolder(
            folder=folder, backend=raw['backend'], model_file=model_file,
            input_name=str(model['input_name']), output_name=str(model['output_name']),
            input_shape=list(model['input_shape']), channel_order=str(inp['channel_order']),
            mean=[float(v) for v in inp['mean']], std=[float(v) for v in inp['std']],
            size_policy=str(size['policy']), resize=size.get('resize'),
            size_divisor=int(size.get('size_divisor') or 1), pad_value=float(size['pad_value']),
            min_size=int(size.get('min_size', 1)), classes=[str(c) for c in raw['classes']],
            palette=[[int(v) for v in c] for c in raw['palette']],
            ignore_index=int(raw['ignore_index']), raw=raw,
            output_kind=str(raw['output'].get('kind')))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DeployError(f'{path}: malformed entry: {type(e).__name__}: {e}') from e


def _check_values(deploy: DeployFolder, out: dict, path: str) -> None:
    shape = deploy.input_shape
    _need(len(shape) == 4 and shape[:2] == [1, 3], path,
          f'model.input_shape {shape}: expected [1, 3, H, W]')
    _need(deploy.channel_order in ('RGB', 'BGR'), path,
          f'input.channel_order {deploy.channel_order!r}')
    _need(len(deploy.mean) == 3 and len(deploy.std) == 3 and all(s > 0 for s in deploy.std), path,
          'input.mean and input.std need 3 values each (std > 0)')
    _need(deploy.size_policy in ('native', 'resize'), path, f'size.policy {deploy.size_policy!r}')
    _need(deploy.size_policy == 'native' or isinstance(deploy.resize, dict), path,
          'size.policy "resize" needs size.resize')
    _need(isinstance(out, dict) and out.get('kind') in OUTPUT_KINDS
          and int(out.get('num_classes', -1)) == len(deploy.classes),
          path, f'output {out} does not match {len(deploy.classes)} classes (kinds: '
          f'{OUTPUT_KINDS})')
    _need(deploy.output_kind == 'logits' or deploy.size_policy == 'native', path,
          'output.kind "class_map" with size.policy "resize": the logits must be resized to the '
          'image before the argmax, so the folder must return logits')
    _need(len(deploy.palette) == len(deploy.classes), path,
          f'{len(deploy.palette)} palette colours for {len(deploy.classes)} classes')


def _gears(raw: dict, folder: str, path: str) -> List[Tuple[Tuple[int, int], str]]:
    """``[((H, W), file)]`` of the ``gears`` entries, each file present inside the folder."""
    gears = raw.get('gears') or []
    _need(isinstance(gears, list), path, 'gears: expected a list of {size, file, sha256}')
    try:
        parsed = [((int(g['size'][0]), int(g['size'][1])),
                   folder_file(folder, g, f'gears[{i}]', path)) for i, g in enumerate(gears)]
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise DeployError(f'{path}: malformed gears entry: {type(e).__name__}: {e}') from e
    for (size, gear_file), entry in zip(parsed, gears):
        _need(osp.isfile(gear_file), path, f'names gear {size[0]}x{size[1]} file '
              f'{entry["file"]!r}, which is missing from {folder}')
    return parsed


def _verify_hashes(entries: List[dict], folder: str, path: str) -> None:
    for entry in entries:
        if not entry.get('sha256'):
            continue
        file = osp.join(folder, entry['file'])
        actual = file_sha256(file)
        _need(actual == entry['sha256'], path,
              f'does not match the model file {file}: it records sha256 '
              f'{entry["sha256"][:16]}..., the file hashes to {actual[:16]}... (replaced or '
              'modified after conversion; convert again)')


def load_deploy_dir(folder: str, verify_hash: bool = True) -> DeployFolder:
    """Read ``folder/deploy.json`` and check it against the files it names.

    Raises:
        DeployError: naming the file: no ``deploy.json``, not JSON, another format or version,
            missing keys or values of the wrong kind, a path leading outside the folder, a model
            file that is missing, or one whose sha256 differs from the one recorded
            (``deploy.json`` does not describe this model).
    """
    path = osp.join(folder, DEPLOY_FILE)
    raw = _read_raw(folder, path)
    model_file = folder_file(folder, raw['model'], 'model', path)
    files = raw.get('files') or {}
    _need(isinstance(files, dict), path, 'files: expected {role: {file, sha256}}')
    for role, entry in files.items():
        folder_file(folder, entry, f'files.{role}', path)
    deploy = _parse(raw, folder, model_file, path)
    _check_values(deploy, raw['output'], path)
    _need(osp.isfile(model_file), path, f'names model file {raw["model"]["file"]!r}, which is '
          f'missing from {folder}: the deploy folder is incomplete')
    gears = _gears(raw, folder, path)
    if verify_hash:
        _verify_hashes([raw['model']] + list(raw.get('gears') or []), folder, path)
    if gears:
        deploy = replace(deploy, gears=sorted(gears, key=lambda g: (g[0][0] * g[0][1], g[0])))
    return deploy


def file_entry(folder: str, path: str) -> Dict[str, str]:
    """``{file: <relative to folder>, sha256}`` for a written file."""
    return {'file': osp.relpath(path, folder), 'sha256': file_sha256(path)}
