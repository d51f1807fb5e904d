"""Graphs as Ascend's tools want them: the static ONNX models ``atc.sh`` converts leave msit's
surgeon (``msit debug surgeon evaluate``) nothing to apply, with parity unchanged (the exports'
own checks). msit runs in the environment ``tools/setup_env.sh`` makes for it (``.venv-msit``);
``FCN_NO_MSIT=1`` (the set-up's opt-out) skips these tests, saying so."""
import os
import os.path as osp
import subprocess

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MSIT_VENV = os.environ.get('FCN_MSIT_VENV') or osp.join(REPO, '.venv-msit')
pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def evaluate():
    msit = osp.join(MSIT_VENV, 'bin', 'msit')
    if not osp.isfile(osp.join(MSIT_VENV, '.fcn-msit-v1')):
        if os.environ.get('FCN_NO_MSIT') == '1':
            pytest.skip(f'FCN_NO_MSIT=1: msit was not installed ({MSIT_VENV})')
        pytest.fail(f'{MSIT_VENV}: no msit; `bash tools/setup_env.sh` installs it '
                    '(FCN_NO_MSIT=1 opts out)')

    def _evaluate(path):
        proc = subprocess.run([msit, 'debug', 'surgeon', 'evaluate', '--path', str(path), '-v'],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        text = proc.stdout + proc.stderr  # '<model>_KnowledgeA,KnowledgeB' for what applies
        found = set()
        for line in text.splitlines():
            if '_Knowledge' in line:
                tail = line.split('_Knowledge', 1)[1].split()[0]
                found |= {k.replace('Knowledge', '') for k in tail.split(',')}
        return sorted(found)

    return _evaluate


def test_msit_finds_what_the_exports_no_longer_have(evaluate, tmp_path):
    """The check can fail: two consecutive crops with int64 indices are flagged."""
    import importlib.util
    spec = importlib.util.spec_from_file_location('t', osp.join(REPO, 'tests', 'test_argmax.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import onnx
    path = tmp_path / 'crops.onnx'
    onnx.save(module._scores_graph(crop=((2, 10), (3, 14))), str(path))
    found = evaluate(path)
    assert 'MergeConsecutiveSlice' in found and 'TypeCast' in found


@pytest.mark.parametrize('config, args', [
    ('configs/fcn8s_vgg16_voc.py', ['--input-size', '375', '500']),
    ('configs/fcn8s_vgg16_voc.py', ['--input-size', '375', '500', '--with-argmax']),
    ('configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py', ['--gears', '384x512']),
])
def test_static_exports_leave_msit_surgeon_nothing_to_apply(evaluate, config, args, tmp_path,
                                                           narrow_fcn_config,
                                                           random_fcn_checkpoint, converter_cli):
    narrow = narrow_fcn_config(config)
    out = tmp_path / 'out'
    assert converter_cli('to_onnx').main([narrow, random_fcn_checkpoint(narrow), '--out-dir',
                                          str(out), *args]) == 0
    models = [f for f in sorted(os.listdir(out)) if f.endswith('.onnx')]
    assert models
    for name in models:
        assert evaluate(out / name) == [], name
