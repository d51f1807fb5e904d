"""Write a real mmengine Runner checkpoint (message_hub with HistoryBuffers, optimizer state).

Used to produce ``runner_ckpt_numpy2.pth`` with a numpy 2.x environment (the project's own stack
pins numpy < 2 for MindSpore), so the tests can prove that checkpoints written by either numpy
generation load under ``weights_only=True`` with the plugin's allow-list:

    python -m venv /tmp/np2 && /tmp/np2/bin/pip install torch==2.13.0 'numpy>=2' mmengine==0.10.7
    /tmp/np2/bin/python tests/data/make_runner_checkpoint.py tests/data/runner_ckpt_numpy2.pth

The tests call ``make_checkpoint`` directly for the numpy 1.x case.
"""
import os.path as osp
import shutil
import sys
import tempfile

import torch
from torch import nn


def make_checkpoint(out_path: str, iters: int = 3) -> str:
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class TinyModel(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 1)

        def forward(self, inputs, labels=None, mode='tensor'):
            pred = self.linear(inputs)
            if mode == 'loss':
                return dict(loss=((pred - labels)**2).mean())
            return pred

    gen = torch.Generator().manual_seed(0)
    data = [dict(inputs=torch.randn(2, generator=gen), labels=torch.randn(1, generator=gen))
            for _ in range(4)]
    work_dir = tempfile.mkdtemp()
    try:
        runner = Runner(
            model=TinyModel(),
            work_dir=work_dir,
            train_dataloader=dict(
                dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
                batch_size=2, collate_fn=dict(type='default_collate')),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
            train_cfg=dict(by_epoch=False, max_iters=iters),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=iters,
                                               by_epoch=False)),
            default_scope='mmengine',
            log_level='WARNING')
        runner.train()
        shutil.copy(osp.join(work_dir, f'iter_{iters}.pth'), out_path)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return out_path


if __name__ == '__main__':
    print(make_checkpoint(sys.argv[1]))
