"""A hook for tests that kill a training run at a point they choose (imported through a config's
``custom_imports``; ``tests/helpers`` on ``PYTHONPATH``).

``KillPointHook(iteration=N, fifo=PATH)``: after training iteration N, once every other hook of
that iteration has run (the checkpoint is on disk and ``last_checkpoint`` names it), writes
``ready N`` into the named pipe ``PATH`` (the test blocks reading it) and then waits, so the test's
SIGKILL lands at exactly that point, not somewhere in a later iteration.
"""
import time

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillPointHook(Hook):
    priority = 'LOWEST'  # after CheckpointHook (VERY_LOW) in the same iteration

    def __init__(self, iteration: int, fifo: str):
        self.iteration, self.fifo = int(iteration), fifo

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 != self.iteration:
            return
        with open(self.fifo, 'w') as f:  # opens once the test reads
            f.write(f'ready {self.iteration}\n')
        while True:  # the test kills the process here
            time.sleep(60)
