# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Parameter names of a network in every layout the converters read and write, kept in one place.

* The FCN/VGG-16 family's names in every framework and release (:data:`LAYOUTS`: the authors'
  Caffe release as torchfcn names it, the plugin's MindSpore layout, the MindSpore tutorial's),
  functions of the mmseg state-dict keys (:func:`layout_key`);
* every other network's ``'translated'`` layout: torch's keys with MindSpore's BN names, a
  function of the traced network (:func:`translated_key_map`, over :mod:`.trace`).
"""
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from fcn_voc_core.errors import InputError

from ...models.backbones.fcn_vgg import VGG16_STAGES
from ...models.decode_heads.fcn_skip_head import HEAD_LAYERS
from .layer_specs import BatchNormSpec
from .trace import TracedNetwork

#: Caffe/torchfcn names of the 13 VGG-16 convolutions, in order: conv1_1 ... conv5_3.
VGG16_CONV_NAMES = tuple(f'conv{s}_{j}' for s, (n, _) in enumerate(VGG16_STAGES, start=1)
                         for j in range(1, n + 1))


def vgg16_torchvision_names() -> Dict[str, str]:
    """torchvision ``vgg16`` layer prefixes -> Caffe names (``features.0`` -> ``conv1_1``, ...).

    ``features`` interleaves conv, ReLU and pooling (``nn.Sequential`` indices 0, 2, 5, 7, ...);
    ``classifier.0`` / ``classifier.3`` are fc6 / fc7 as ``Linear`` layers; ``classifier.6`` (the
    1000-way ImageNet classifier) has no FCN counterpart.
    """
    names, idx = {}, 0
    conv = iter(VGG16_CONV_NAMES)
    for num_convs, _ in VGG16_STAGES:
        for _ in range(num_convs):
            names[f'features.{idx}'] = next(conv)
            idx += 2  # conv, ReLU
        idx += 1  # pool
    names['classifier.0'] = 'fc6'
    names['classifier.3'] = 'fc7'
    return names


def fcnvgg_key(layer: str, param: str) -> str:
    """Key of ``FCNVGG``'s state dict for a Caffe layer name: ``conv1_1.conv.weight``."""
    return f'{layer}.conv.{param}'


# --------------------------------------------------------------------------------------------------
# Whole-network key maps: mmseg state dict <-> other layouts
# --------------------------------------------------------------------------------------------------
#: The layouts an mmseg FCN state dict converts to and from:
#:
#: ``'torchfcn'``            the authors' Caffe release as torchfcn names it: ``conv1_1.weight``,
#:                           ..., ``fc6.weight``, ``score_fr.weight``, ``upscore2.weight``; no BN.
#: ``'mindspore'``           the FCN/VGG networks' MindSpore cells (:mod:`..mindspore.translate`):
#:                           mmseg's keys with MindSpore's BN names, Caffe's ``score_fr`` for
#:                           ``conv_seg``:
#:                           ``backbone.conv1_1.conv.weight``, ``backbone.conv1_1.bn.gamma``,
#:                           ``decode_head.score_fr.weight``.
#: ``'mindspore_tutorial'``  the MindSpore tutorial / model-zoo FCN8s (its own cell loads them):
#:                           ``conv1.0.weight``, ``conv1.1.gamma``, ..., ``conv6.0.weight``,
#:                           ``conv7.1.moving_variance``, ``score_fr.weight``, ``upscore8.weight``.
LAYOUTS = ('torchfcn', 'mindspore', 'mindspore_tutorial')

#: torch BatchNorm state -> MindSpore ``nn.BatchNorm2d`` parameters.
BN_TORCH_TO_MINDSPORE = {
    'weight': 'gamma',
    'bias': 'beta',
    'running_mean': 'moving_mean',
    'running_var': 'moving_variance',
}
#: MindSpore ``nn.BatchNorm2d`` parameters -> torch BatchNorm state.
BN_MINDSPORE_TO_TORCH = {ms: torch for torch, ms in BN_TORCH_TO_MINDSPORE.items()}
#: torch BatchNorm state with no MindSpore counterpart. Inference never reads it (the running
#: statistics are used as they are), and training reads it only when ``momentum=None``.
BN_TORCH_ONLY = ('num_batches_tracked', )
#: mmseg's name for a head layer -> Caffe's; every other head layer keeps its Caffe name.
HEAD_TO_CAFFE = {'conv_seg': 'score_fr'}
#: Backbone layers with weights: the 13 VGG convs, fc6, fc7.
BACKBONE_LAYERS = VGG16_CONV_NAMES + ('fc6', 'fc7')


class KeyMapError(InputError):
    """State-dict keys that a layout cannot hold; the message lists them."""


def _tutorial_backbone_prefix(layer: str, part: str) -> str:
    """``conv2_3`` + ``conv``/``bn`` -> the tutorial's ``conv2.6`` / ``conv2.7``.

    Each tutorial stage is one ``SequentialCell`` of (conv, BN, ReLU) triples, so conv ``j`` of a
    stage sits at index ``3 (j - 1)`` and its BN one after; fc6 / fc7 are the stages ``conv6`` /
    ``conv7``.
    """
    if layer in ('fc6', 'fc7'):
        stage, j = layer[2], 1
    else:
        stage, j = layer[4], int(layer.split('_')[1])
    return f'conv{stage}.{3 * (j - 1) + (0 if part == "conv" else 1)}'


def layout_key(key: str, layout: str) -> Optional[str]:
    """The name of one mmseg state-dict key in ``layout`` (see :data:`LAYOUTS`).

    Returns None for state the layout does not store (``num_batches_tracked`` in the MindSpore
    layouts). Raises :class:`KeyMapError` for a key the layout cannot hold, e.g. a BN parameter in
    the BN-free torchfcn layout or anything outside ``backbone.*`` / ``decode_head.*``.
    """
    if layout not in LAYOUTS:
        raise ValueError(f'unknown layout {layout!r}; expected one of {LAYOUTS}')
    parts = key.split('.')
    module, layer = parts[0], parts[1] if len(parts) > 1 else ''
    if module == 'backbone' and layer in BACKBONE_LAYERS and len(parts) == 4 \
            and parts[2] in ('conv', 'bn'):
        part, param = parts[2], parts[3]
        if part == 'bn':
            if layout == 'torchfcn':
                raise KeyMapError(key)
            if param in BN_TORCH_ONLY:
                return None
            if param not in BN_TORCH_TO_MINDSPORE:
                raise KeyMapError(key)
            param = BN_TORCH_TO_MINDSPORE[param]
        elif param not in ('weight', 'bias'):
            raise KeyMapError(key)
        if layout == 'torchfcn':
            return f'{layer}.{param}'
        if layout == 'mindspore':
            return f'backbone.{layer}.{part}.{param}'
        return f'{_tutorial_backbone_prefix(layer, part)}.{param}'
    if module == 'decode_head' and layer in HEAD_LAYERS and len(parts) == 3 \
            and parts[2] in ('weight', 'bias'):
        name = HEAD_TO_CAFFE.get(layer, layer)
        return f'decode_head.{name}.{parts[2]}' if layout == 'mindspore' else f'{name}.{parts[2]}'
    raise KeyMapError(key)


def layout_key_map(keys: Iterable[str], layout: str,
                   what: str = 'the model') -> Tuple[Dict[str, str], List[str]]:
    """Map every mmseg key of a model to ``layout``.

    Args:
        keys: the mmseg state-dict keys (``model.state_dict().keys()``).
        layout: one of :data:`LAYOUTS`.
        what: how error messages name the model (its config file).

    Returns:
        ``(mapping, dropped)``: ``{mmseg_key: layout_key}`` for every stored tensor, and the mmseg
        keys the layout does not store (``num_batches_tracked``).

    Raises:
        KeyMapError: listing every key the layout cannot hold.
    """
    mapping, dropped, bad = {}, [], []
    for key in keys:
        try:
            name = layout_key(key, layout)
        except KeyMapError:
            bad.append(key)
            continue
        if name is None:
            dropped.append(key)
        else:
            mapping[key] = name
    if bad:
        hint = ' (the torchfcn layout has no BatchNorm)' if layout == 'torchfcn' and any(
            '.bn.' in k for k in bad) else ''
        raise KeyMapError(f'{what} has {len(bad)} tensor(s) the {layout!r} layout cannot hold'
                          f'{hint}: {format_keys(bad)}')
    if len(set(mapping.values())) != len(mapping):
        raise KeyMapError(f'{what}: two keys map to one {layout!r} name')  # a bug in this module
    return mapping, dropped


def compare_keys(expected: Iterable[str], found: Iterable[str]) -> Tuple[List[str], List[str]]:
    """``(missing, unexpected)``: the keys of ``expected`` not in ``found`` and the reverse."""
    expected, found = set(expected), set(found)
    return sorted(expected - found), sorted(found - expected)


def format_keys(keys: Sequence[str], limit: int = 40) -> str:
    """``['a', 'b']``, or the first ``limit`` keys and ``(+N more)``, for error messages."""
    keys = list(keys)
    more = f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return f'{keys[:limit]}{more}'


def key_mismatch(missing: Sequence[str], unexpected: Sequence[str]) -> str:
    """``'2 missing key(s) [...], 1 unexpected key(s) [...]'``: the converters' refusal wording."""
    return (f'{len(missing)} missing key(s) {format_keys(missing)}, '
            f'{len(unexpected)} unexpected key(s) {format_keys(unexpected)}')


# --------------------------------------------------------------------------------------------------
# Any traced network: torch's keys with MindSpore's BN names
# --------------------------------------------------------------------------------------------------
#: The layout name of translated networks' checkpoints (``parity.json``, ``from_mindspore``).
TRANSLATED_LAYOUT = 'translated'


def translated_key_map(net: TracedNetwork, keys) -> Tuple[Dict[str, str], List[str]]:
    """``({torch key: MindSpore name}, [torch keys not stored])`` for the state-dict ``keys``.

    Raises:
        KeyMapError: a key that belongs to no translated layer (a parameter the inference
            network never reads could not come back from MindSpore).
    """
    mapping, dropped, bad = {}, [], []
    for key in keys:
        path, _, param = key.rpartition('.')
        spec = net.layers.get(path)
        if spec is None:
            bad.append(key)
            continue
        if isinstance(spec, BatchNormSpec):
            if param in BN_TORCH_ONLY:
                dropped.append(key)
                continue
            if param not in BN_TORCH_TO_MINDSPORE:
                bad.append(key)
                continue
            mapping[key] = f'{path}.{BN_TORCH_TO_MINDSPORE[param]}'
        else:
            mapping[key] = key
    if bad:
        raise KeyMapError(f'{net.summary}: {len(bad)} tensor(s) belong to no layer of the '
                          f'inference network: {format_keys(bad)}')
    return mapping, dropped


def network_key_map(net: TracedNetwork, keys, layout: str = TRANSLATED_LAYOUT,
                    what: str = 'the model') -> Tuple[Dict[str, str], List[str]]:
    """``({torch key: MindSpore name}, [torch keys not stored])`` of the state-dict ``keys`` in
    ``layout``: :data:`TRANSLATED_LAYOUT` (:func:`translated_key_map`) or one of the FCN/VGG
    layouts of :func:`layout_key_map` (every key must still belong to a traced layer).

    Raises:
        KeyMapError: a key that belongs to no layer, or that ``layout`` cannot hold.
    """
    translated = translated_key_map(net, keys)
    if layout == TRANSLATED_LAYOUT:
        return translated
    return layout_key_map(keys, layout, what)


def torch_key(net: TracedNetwork, name: str) -> str:
    """The torch state-dict key of a translated parameter name (the inverse of
    :func:`translated_key_map`)."""
    path, _, param = name.rpartition('.')
    if isinstance(net.layers.get(path), BatchNormSpec):
        param = BN_MINDSPORE_TO_TORCH.get(param, param)
    return f'{path}.{param}'
