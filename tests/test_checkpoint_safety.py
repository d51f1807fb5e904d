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


# --------------------------------------------------------------------------------------------------
# the allow-list, pinned
# --------------------------------------------------------------------------------------------------
#: Everything the plugin adds to torch's weights_only allow-list besides numpy's dtype classes.
ALLOWED = {
    'mmengine.logging.history_buffer.HistoryBuffer',
    'builtins.getattr',  # resolves to a getattr restricted to HistoryBuffer's statistics
    'numpy.core.multiarray._reconstruct', 'numpy._core.multiarray._reconstruct',
    'numpy.core.multiarray.scalar', 'numpy._core.multiarray.scalar',
    'numpy.ndarray', 'numpy.dtype',
}


def test_the_allow_list_is_exactly_this():
    import re

    import numpy as np

    from mmseg_fcn_voc.utils.safe_load import checkpoint_safe_globals, history_buffer_getattr
    entries = checkpoint_safe_globals()
    names = {name for _, name in entries}
    extra = names - ALLOWED
    assert ALLOWED <= names
    # the rest are numpy's dtype classes (numpy >= 1.25 pickles dtypes as numpy.dtypes.XDType)
    assert extra and all(re.fullmatch(r'numpy\.dtypes\.\w+DType', n) for n in extra), extra
    for obj, name in entries:
        if name in extra:
            assert isinstance(obj, type) and issubclass(obj, np.dtype), name
    assert dict((n, o) for o, n in entries)['builtins.getattr'] is history_buffer_getattr
    # what torch holds after registration: torch's own defaults plus exactly these
    registered = {n for o, n in ((g if isinstance(g, tuple) else (g, None))
                                 for g in torch.serialization.get_safe_globals()) if n}
    assert registered == names


class _Reduces:
    """Unpickling this calls ``func(*args)``: a crafted checkpoint."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _crafted(marker):
    import builtins
    import functools
    import subprocess

    import numpy as np
    from mmengine.logging.history_buffer import HistoryBuffer
    cmd = f'touch {marker}'
    return {
        'os.system': _Reduces(os.system, (cmd, )),
        'eval': _Reduces(builtins.eval, (f'__import__("os").system("{cmd}")', )),
        'exec': _Reduces(builtins.exec, (f'import os; os.system("{cmd}")', )),
        'subprocess.Popen': _Reduces(subprocess.Popen, (['touch', str(marker)], )),
        'subprocess.check_output': _Reduces(subprocess.check_output, (['touch', str(marker)], )),
        '__import__': _Reduces(builtins.__import__, ('os', )),
        'functools.partial': _Reduces(functools.partial, (os.system, cmd)),
        'getattr(os, "system")': _Reduces(getattr, (_Reduces(builtins.__import__, ('os', )),
                                                    'system')),
        'getattr(HistoryBuffer, "__init__")': _Reduces(getattr, (HistoryBuffer, '__init__')),
        'getattr(numpy.ndarray, "tofile")': _Reduces(getattr, (np.ndarray, 'tofile')),
        'numpy.load': _Reduces(np.load, (str(marker), )),
    }


@pytest.mark.parametrize('what', sorted(_crafted('x')))
def test_crafted_checkpoints_are_refused(tmp_path, what):
    from mmengine.runner.checkpoint import _load_checkpoint
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'crafted.pth')
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': _crafted(marker)[what]}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)  # torch's default weights_only=True, with the plugin's allow-list
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(path, map_location='cpu')  # --resume, load_from, mim test
    with pytest.raises(CheckpointError, match='crafted.pth'):
        load_state_dict_file(path)
    assert not marker.exists()


# --------------------------------------------------------------------------------------------------
# sha256 sidecars and zip CRCs
# --------------------------------------------------------------------------------------------------
def _flip_tensor_byte(path):
    """Flip one byte inside the tensor data (not the pickle) of a torch zip checkpoint."""
    raw = bytearray(open(path, 'rb').read())
    pattern = torch.full((4, ), 1.5).numpy().tobytes()  # the tensor written below
    i = raw.index(pattern) + 2
    raw[i] ^= 0x01
    open(path, 'wb').write(bytes(raw))


def test_written_checkpoints_carry_a_sha256_that_loading_verifies(tmp_path):
    from mmseg_fcn_voc.conversion.checkpoint import save_checkpoint
    path = str(tmp_path / 'model.pth')
    save_checkpoint({'w': torch.full((64, 64), 1.5)}, path)
    assert osp.isfile(path + '.sha256')
    assert torch.equal(load_state_dict_file(path)['w'], torch.full((64, 64), 1.5))
    _flip_tensor_byte(path)
    with pytest.raises(CheckpointError, match=r'model.pth: sha256 mismatch'):
        load_state_dict_file(path)
    # without the sidecar the zip member's CRC-32 still catches the flipped byte
    os.remove(path + '.sha256')
    with pytest.raises(CheckpointError, match=r"model.pth: member '.*' fails its CRC-32"):
        load_state_dict_file(path)
    # torch itself would have loaded the damaged tensor
    assert not torch.equal(torch.load(path)['state_dict']['w'], torch.full((64, 64), 1.5))


def test_tools_verify_the_hash_of_a_checkpoint(tmp_path, repo_root):
    """tools/infer.py refuses a checkpoint whose bytes differ from its sidecar, naming it."""
    import subprocess
    import sys

    from mmseg_fcn_voc.conversion.checkpoint import save_checkpoint
    path = str(tmp_path / 'tampered.pth')
    save_checkpoint({'w': torch.full((64, 64), 1.5)}, path)
    _flip_tensor_byte(path)
    image = tmp_path / 'a.png'
    from PIL import Image
    Image.new('RGB', (8, 8)).save(image)
    proc = subprocess.run([sys.executable, 'tools/infer.py', 'configs/fcn8s_vgg16_voc.py', path,
                           str(image), '--out-dir', str(tmp_path / 'out')], cwd=repo_root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3 and 'tampered.pth: sha256 mismatch' in proc.stderr
