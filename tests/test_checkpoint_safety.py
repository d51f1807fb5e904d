"""Runner checkpoints load under torch's weights_only=True; code-running pickles are refused."""
import importlib.util
import os
import os.path as osp
import pickle

import pytest
import torch

from mmseg_fcn_voc.conversion import CheckpointError, load_state_dict_file

DATA = osp.join(osp.dirname(__file__), 'data')


@pytest.fixture(autouse=True)
def no_global_override(monkeypatch):
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    monkeypatch.delenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', raising=False)


def _make_checkpoint_module():
    spec = importlib.util.spec_from_file_location(
        'make_runner_checkpoint', osp.join(DATA, 'make_runner_checkpoint.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_full_checkpoint(ckpt):
    assert {'state_dict', 'message_hub', 'optimizer', 'meta'} <= set(ckpt)
    buffer = ckpt['message_hub']['log_scalars']['train/loss']
    assert buffer.mean() == pytest.approx(float(buffer.data[0].mean()))


def test_numpy1_runner_checkpoint_loads_with_weights_only(tmp_path):
    import numpy as np
    assert np.__version__.startswith('1.')
    path = _make_checkpoint_module().make_checkpoint(str(tmp_path / 'np1.pth'))
    _assert_full_checkpoint(torch.load(path, weights_only=True))


def test_numpy2_runner_checkpoint_loads_with_weights_only():
    """tests/data/runner_ckpt_numpy2.pth was written by make_runner_checkpoint.py under numpy 2."""
    path = osp.join(DATA, 'runner_ckpt_numpy2.pth')
    with open(path, 'rb') as f:
        assert b'numpy._core.multiarray' in f.read()  # really a numpy-2 pickle
    _assert_full_checkpoint(torch.load(path, weights_only=True))


class _RunsCode:
    """Unpickling this runs a shell command: the classic malicious checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class _AbusesGetattr:
    """Tries to use the allow-listed ``builtins.getattr`` to reach beyond HistoryBuffer stats."""

    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_code_running_checkpoint_is_refused(tmp_path):
    from mmengine.runner.checkpoint import _load_checkpoint
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': _RunsCode(marker)}, path)
    with pytest.raises(pickle.UnpicklingError, match='posix.system|os.system|system'):
        torch.load(path)  # torch's default, as mmengine calls it
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(path, map_location='cpu')  # the path of --resume, load_from, mim test
    with pytest.raises(CheckpointError, match='evil.pth'):
        load_state_dict_file(path)
    assert not marker.exists()


def test_getattr_allow_entry_is_restricted(tmp_path):
    path = str(tmp_path / 'getattr.pth')
    torch.save({'x': _AbusesGetattr()}, path)
    with pytest.raises(pickle.UnpicklingError, match="refused builtins.getattr"):
        torch.load(path)


@pytest.mark.parametrize('damage', ['truncate', 'flip'])
def test_tampered_files_are_refused_naming_the_file(tmp_path, damage):
    path = tmp_path / 'model.pth'
    torch.save({'state_dict': {'w': torch.randn(64, 64)}}, str(path))
    raw = bytearray(path.read_bytes())
    if damage == 'truncate':
        raw = raw[:len(raw) // 2]
    else:
        i = raw.index(b'data.pkl') + 60  # inside the pickle stream
        raw[i:i + 8] = b'\xff' * 8
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match='model.pth'):
        load_state_dict_file(str(path))


def test_nan_weights_are_refused(tmp_path):
    path = str(tmp_path / 'nan.pth')
    torch.save({'state_dict': {'a': torch.ones(3), 'b': torch.tensor([1.0, float('nan')])}}, path)
    with pytest.raises(CheckpointError, match=r"nan.pth.*\['b'\]"):
        load_state_dict_file(path)
