# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""Training-iteration benchmark: per-layer forward/backward times, cliffs, and Runner overhead.

    python tools/analysis_tools/benchmark_train.py [--config CONFIG] [--size H W] [--batch N]
        [--iters N] [--repeats N] [--skip-runner]

For the config's model, in one run on this machine (its CPU model and oneDNN ISA are printed):

1. **Per-layer table.** Every convolution, transposed convolution, norm, activation and pooling
   layer is timed on its own input from a real forward pass: forward, and backward (input and
   weight gradients) of the same call. A layer whose backward takes more than ``--cliff`` (5) times
   its forward is flagged: such a layer is a kernel pathology (e.g. oneDNN's weight gradient of a
   7x7 convolution on a map smaller than its kernel on AVX2 CPUs), not the normal ~2x cost.
2. **Iteration vs forward.** A whole training step (forward, loss, backward, optimizer step) of the
   plain loop against 3x a forward pass: about 1 for a healthy network (backward ~2x forward).
3. **Runner vs plain loop.** The same step through mmengine's Runner (what ``mim train`` runs: data
   preprocessor, loss, optimizer wrapper, hooks, logging) against the plain PyTorch loop over the
   same modules and batches, with the config's optimizer type and arguments. The plain loop runs
   before and after the Runner; its medians are averaged so drift hits both sides alike.

Run with ``ONEDNN_MAX_CPU_ISA=AVX2`` on an AVX-512 machine to see the AVX2 kernels.
"""
import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

from mmseg_fcn_voc.utils.machine import machine_summary, median_seconds

TIMED = (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d)


def make_batches(n_batches, batch, size, num_classes, seed=0):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n_batches * batch):
        img = torch.randint(0, 256, (3, *size), generator=gen, dtype=torch.uint8)
        label = torch.randint(0, num_classes, (1, *size), generator=gen)
        items.append(dict(inputs=img, data_samples=SegDataSample(
            gt_sem_seg=PixelData(data=label), metainfo=dict(img_shape=size, ori_shape=size))))
    return items


def layer_table(model, x, repeats):
    """``[(name, module type, input shape, forward s, backward s)]`` for every timed layer."""
    inputs = {}

    def keep_input(name):
        def hook(module, args, output):
            inputs.setdefault(name, args[0].detach())  # returns None: the output is unchanged
        return hook

    hooks = [m.register_forward_hook(keep_input(n)) for n, m in model.named_modules()
             if isinstance(m, TIMED)]
    with torch.no_grad():
        model.decode_head(model.backbone(x), tuple(x.shape[-2:]))
    for h in hooks:
        h.remove()
    rows = []
    modules = dict(model.named_modules())
    for name, inp in inputs.items():
        module = modules[name]
        params = [p for p in module.parameters() if p.requires_grad]
        grad_in = inp.clone().requires_grad_()
        with torch.no_grad():
            grad_out = torch.randn_like(module(inp.clone()))

        def forward():
            with torch.no_grad():
                module(inp.clone())  # clone: mmcv's ReLUs are in place

        def backward():
            out = module(grad_in.clone())
            torch.autograd.grad(out, [grad_in, *params], grad_out)

        fwd = median_seconds(forward, repeats)
        fwd_bwd = median_seconds(backward, repeats)
        rows.append((name, type(module).__name__, tuple(inp.shape), fwd, max(fwd_bwd - fwd, 0.0)))
    return rows


def plain_loop(model, items, batch, optim_type, optim_kwargs):
    """Textbook training steps over the segmentor's own modules; per-iteration seconds."""
    pre = model.data_preprocessor
    opt = getattr(torch.optim, optim_type)([p for p in model.parameters() if p.requires_grad],
                                           **optim_kwargs)
    ignore = getattr(model.decode_head, 'ignore_index', 255)
    times = []
    model.train()
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        t0 = time.perf_counter()
        data = pre(dict(inputs=[it['inputs'] for it in chunk],
                        data_samples=[it['data_samples'] for it in chunk]), training=True)
        x = data['inputs']  # labels padded like the images (255) when the preprocessor pads
        y = torch.cat([sample.gt_sem_seg.data for sample in data['data_samples']])
        logits = model.decode_head(model.backbone(x), tuple(x.shape[-2:]))
        loss = F.cross_entropy(logits, y, ignore_index=ignore)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times[1:]  # the first iteration warms up allocators


def runner_times(cfg, items, batch, optim_cfg, work_dir):
    from mmengine.runner import Runner
    from torch.utils.data import DataLoader

    runner = Runner(
        model=cfg.model,
        work_dir=work_dir,
        train_dataloader=DataLoader(items, batch_size=batch, shuffle=False,
                                    collate_fn=lambda b: dict(
                                        inputs=[x['inputs'] for x in b],
                                        data_samples=[x['data_samples'] for x in b])),
        optim_wrapper=dict(optimizer=optim_cfg),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=len(items) // batch),
        # mmengine requires a CheckpointHook; this one never fires
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=10**9, save_last=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='InvalidLossGuardHook')],
        default_scope='mmseg',
        randomness=dict(seed=0),
        log_level='WARNING')
    runner.train()
    return list(runner.message_hub.get_scalar('train/time').data[0])[1:], runner.model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default='configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py')
    parser.add_argument('--size', type=int, nargs=2, default=(96, 96))
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--iters', type=int, default=4, help='timed iterations (plus 1 warm-up)')
    parser.add_argument('--repeats', type=int, default=3, help='repeats per layer timing')
    parser.add_argument('--cliff', type=float, default=5.0,
                        help='flag layers whose backward exceeds this multiple of the forward')
    parser.add_argument('--skip-runner', action='store_true', help='only the layer table')
    parser.add_argument('--plain-fc6', action='store_true',
                        help="fc6 as a plain nn.Conv2d (conv_cfg=dict(type='Conv2d')) instead of "
                        'SmallMapConv2d, to see the cliff it avoids')
    args = parser.parse_args(argv)

    from mmengine.config import Config
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    import mmseg_fcn_voc  # noqa: F401  (registers the FCN modules)
    register_all_modules()
    cfg = Config.fromfile(args.config)
    cfg.model.backbone.init_cfg = None
    if args.plain_fc6:
        cfg.model.backbone.conv_cfg = dict(type='Conv2d')
    if 'fc_dropout' in cfg.model.backbone:
        cfg.model.backbone.fc_dropout = 0.0  # dropout masks are random: keep both loops identical
    size, n = tuple(args.size), args.iters + 1
    optim_cfg = dict(cfg.optim_wrapper.optimizer)
    optim_type = optim_cfg.pop('type')
    print(f'{args.config}{" (plain fc6)" if args.plain_fc6 else ""}: training at '
          f'{size[0]}x{size[1]}, batch {args.batch}, {optim_type}; '
          f'{machine_summary()}')

    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel('WARNING')  # no per-layer init report
    model = MODELS.build(cfg.model)
    model.init_weights()
    for name in ('conv_seg', 'score_pool4', 'score_pool3'):  # non-zero: real gradients everywhere
        if hasattr(model.decode_head, name):
            torch.nn.init.normal_(getattr(model.decode_head, name).weight, std=1e-3)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    items = make_batches(n, args.batch, size, model.decode_head.num_classes)
    x = model.data_preprocessor(dict(inputs=[it['inputs'] for it in items[:args.batch]],
                                     data_samples=[it['data_samples']
                                                   for it in items[:args.batch]]),
                                training=True)['inputs']

    model.train()
    rows = layer_table(model, x, args.repeats)
    print(f'\nPer layer (median of {args.repeats}; backward = input and weight gradients):')
    print(f'{"layer":34} {"type":24} {"input":22} {"fwd ms":>9} {"bwd ms":>9} {"bwd/fwd":>8}')
    cliffs = []
    for name, kind, shape, fwd, bwd in rows:
        ratio = bwd / fwd if fwd > 0 else float('inf')
        # a cliff costs real time: more than --cliff x the forward and over 10 ms
        flag = '  <-- CLIFF' if ratio > args.cliff and bwd > 0.01 else ''
        if flag:
            cliffs.append(name)
        print(f'{name:34} {kind:24} {str(shape):22} {fwd * 1e3:9.2f} {bwd * 1e3:9.2f} '
              f'{ratio:8.1f}{flag}')
    total_fwd, total_bwd = sum(r[3] for r in rows), sum(r[4] for r in rows)
    print(f'{"total":82} {total_fwd * 1e3:9.1f} {total_bwd * 1e3:9.1f} '
          f'{total_bwd / total_fwd:8.1f}')
    print(f'layers with backward > {args.cliff:g}x forward (and > 10 ms): '
          f'{", ".join(cliffs) or "none"}')

    with torch.no_grad():
        model.eval()
        forward = median_seconds(lambda: model.decode_head(model.backbone(x), size), args.repeats)
    model.load_state_dict(initial)
    before = plain_loop(model, items, args.batch, optim_type, optim_cfg)
    iteration = statistics.median(before)
    print(f'\nplain training iteration {iteration * 1e3:.1f} ms, forward {forward * 1e3:.1f} ms: '
          f'iteration / (3 x forward) = {iteration / (3 * forward):.2f}  (target <= 1.5)')
    if args.skip_runner:
        return 0
    model.load_state_dict(initial)
    with tempfile.TemporaryDirectory() as work_dir:
        ours, runner_model = runner_times(cfg, items, args.batch,
                                          dict(type=optim_type, **optim_cfg), work_dir)
    model.load_state_dict(initial)
    after = plain_loop(model, items, args.batch, optim_type, optim_cfg)
    ref = (statistics.median(before) + statistics.median(after)) / 2
    ours = statistics.median(ours)
    print(f'mim train Runner {ours * 1e3:.1f} ms vs plain loop {ref * 1e3:.1f} ms (before '
          f'{statistics.median(before) * 1e3:.1f}, after {statistics.median(after) * 1e3:.1f}), '
          f'median of {args.iters}: ratio Runner / plain = {ours / ref:.3f}  (target <= 1.10)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
