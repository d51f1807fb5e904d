# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""FCN-8s training iteration through mmengine's Runner (what `mim train` runs) vs a plain loop.

    python tools/benchmark_train.py [--size 320 320] [--batch 2] [--iters 4]

Same network (Caffe geometry), same weights, same batches, same SGD. The Runner iteration includes
everything `mim train` does per iteration (data preprocessor, loss, optimizer wrapper, hooks,
logging); the plain loop is the textbook forward / loss / backward / step on ``PlainFCN8s``. The
plain loop runs before and after the Runner and its two medians are averaged, so drift of the
machine hits both sides alike. Target: Runner within 10% of the plain loop.
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from mmengine.config import Config
from torch.utils.data import DataLoader

from mmseg_fcn_voc.testing import PlainFCN8s


def make_batches(n_batches, batch, size, seed=0):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    gen = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n_batches * batch):
        img = torch.randint(0, 256, (3, *size), generator=gen, dtype=torch.uint8)
        label = torch.randint(0, 21, (1, *size), generator=gen)
        items.append(dict(inputs=img, data_samples=SegDataSample(
            gt_sem_seg=PixelData(data=label), metainfo=dict(img_shape=size, ori_shape=size))))
    return items


def plain_loop(plain, items, batch, mean, optim_cfg):
    opt = torch.optim.SGD(plain.parameters(), **optim_cfg)
    times = []
    plain.train()
    for i in range(0, len(items), batch):
        chunk = items[i:i + batch]
        t0 = time.perf_counter()
        x = torch.stack([it['inputs'] for it in chunk]).float() - mean
        y = torch.cat([it['data_samples'].gt_sem_seg.data for it in chunk])
        loss = F.cross_entropy(plain(x), y, ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times[1:]  # the first iteration warms up allocators


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default='configs/fcn8s_vgg16_voc.py')
    parser.add_argument('--size', type=int, nargs=2, default=(320, 320))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--iters', type=int, default=4, help='timed iterations (plus 1 warm-up)')
    args = parser.parse_args()

    import mmseg_fcn_voc  # noqa: F401
    from mmengine.runner import Runner
    from mmseg.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(args.config)
    cfg.model.backbone.init_cfg = None
    cfg.model.backbone.fc_dropout = 0.0  # dropout masks are random: keep both sides identical
    size, n = tuple(args.size), args.iters + 1
    items = make_batches(n, args.batch, size)
    optim_cfg = dict(lr=1e-6, momentum=0.99, weight_decay=5e-4)

    runner = Runner(
        model=cfg.model,
        work_dir='work_dirs/benchmark_train',
        train_dataloader=DataLoader(items, batch_size=args.batch, shuffle=False,
                                    collate_fn=lambda b: dict(
                                        inputs=[x['inputs'] for x in b],
                                        data_samples=[x['data_samples'] for x in b])),
        optim_wrapper=dict(optimizer=dict(type='SGD', **optim_cfg)),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=n),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=10**9, save_last=False),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='InvalidLossGuardHook')],
        default_scope='mmseg',
        randomness=dict(seed=0),
        log_level='WARNING')
    model = runner.model
    model.init_weights()
    for name in ('conv_seg', 'score_pool4', 'score_pool3'):  # non-zero: real gradients everywhere
        torch.nn.init.normal_(getattr(model.decode_head, name).weight, std=1e-3)
    plain = PlainFCN8s().load_from_segmentor(model)
    initial = {k: v.clone() for k, v in plain.state_dict().items()}
    mean = torch.tensor(cfg.model.data_preprocessor.mean).view(1, 3, 1, 1)

    before = plain_loop(plain, items, args.batch, mean, optim_cfg)
    runner.train()
    runner_times = list(runner.message_hub.get_scalar('train/time').data[0])[1:]
    plain.load_state_dict(initial)
    after = plain_loop(plain, items, args.batch, mean, optim_cfg)

    ours = statistics.median(runner_times)
    ref = (statistics.median(before) + statistics.median(after)) / 2
    print(f'FCN-8s training iteration, Caffe geometry, {size[0]}x{size[1]}, batch {args.batch}, '
          f'CPU ({torch.get_num_threads()} threads), median of {len(runner_times)}:')
    print(f'  mim train Runner : {ours * 1000:8.1f} ms')
    print(f'  plain PyTorch    : {ref * 1000:8.1f} ms  (before {statistics.median(before) * 1000:.1f}'
          f', after {statistics.median(after) * 1000:.1f})')
    print(f'  ratio Runner / plain = {ours / ref:.3f}  (target <= 1.10)')


if __name__ == '__main__':
    main()
