# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Build the FCN models from their configs and print a summary table.

    python tools/analysis_tools/model_summary.py [CONFIG ...]

For each config: the segmentor's state-dict size (parameters + buffers), trainable and fixed
parameters, and the logits' shape for a test input (checked to equal the input size).
"""
import argparse
import glob
import os.path as osp

import torch
from rich.console import Console
from rich.table import Table

# The published counts: state_dict elements of the Caffe networks, trainable parameters of the BN variant.
REFERENCE = {
    'fcn8s_vgg16_voc.py': ('state', 134_489_759),
    'fcn8s-atonce_vgg16_voc.py': ('state', 134_489_759),
    'fcn16s_vgg16_voc.py': ('state', 134_815_994),
    'fcn32s_vgg16_voc.py': ('state', 136_152_917),
    'fcn8s_vgg16bn_voc.py': ('trainable', 134_502_112),
}


def summarise(config: str, size=(64, 96)) -> dict:
    from mmseg_fcn_voc.conversion.checkpoint import build_model
    model = build_model(config)
    cfg = model.cfg
    state = sum(v.numel() for v in model.state_dict().values())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    fixed = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    with torch.no_grad():
        out = model.predict(torch.randn(1, 3, *size))[0].seg_logits.data
    ref = REFERENCE.get(osp.basename(config))
    ok = None if ref is None else (state if ref[0] == 'state' else trainable) == ref[1]
    return dict(config=config, head=cfg.model.decode_head.type,
                geometry=cfg.model.backbone.get('geometry', '-'), state=state,
                trainable=trainable, fixed=fixed, out=tuple(out.shape), ok=ok,
                size_ok=tuple(out.shape[-2:]) == tuple(size))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('configs', nargs='*')
    args = parser.parse_args(argv)
    configs = args.configs or sorted(
        c for c in glob.glob('configs/*.py') if osp.basename(c) in REFERENCE)
    table = Table(title='FCN models built from their configs (input 64x96)')
    for col in ('config', 'head', 'geometry', 'state_dict', 'trainable', 'fixed', 'logits',
                'vs. reference'):
        table.add_column(col, justify='right' if col in ('state_dict', 'trainable', 'fixed')
                         else 'left')
    failures = 0
    for config in configs:
        s = summarise(config)
        verdict = {None: '-', True: 'exact', False: 'MISMATCH'}[s['ok']]
        failures += s['ok'] is False or not s['size_ok']
        table.add_row(osp.basename(config), s['head'], s['geometry'], f"{s['state']:,}",
                      f"{s['trainable']:,}", f"{s['fixed']:,}", str(s['out']), verdict)
    Console(width=150).print(table)
    return 1 if failures else 0


if __name__ == '__main__':
    raise SystemExit(main())
