"""``onnxruntime-cann`` on a machine without CANN lists ``CANNExecutionProvider`` as available and
then runs the session on the CPU without a word: the runtime must refuse to report those results
as the NPU's. The real PyPI wheel (numpy < 2), installed by ``tools/setup_env.sh`` into a folder
of its own (``.cann-site``, or ``$FCN_CANN_SITE``), in front of the host environment's packages;
no test installs anything. ``FCN_NO_CANN=1`` (the set-up's opt-out) skips the test, saying so."""
import os
import os.path as osp
import subprocess

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CANN_SITE = os.environ.get('FCN_CANN_SITE') or osp.join(REPO, '.cann-site')
pytestmark = pytest.mark.slow


@pytest.fixture
def cann_site():
    if not osp.isfile(osp.join(CANN_SITE, '.fcn-cann-v1')):
        if os.environ.get('FCN_NO_CANN') == '1':
            pytest.skip(f'FCN_NO_CANN=1: onnxruntime-cann was not installed ({CANN_SITE}), so the '
                        'CANN fallback is not tested')
        pytest.fail(f'{CANN_SITE}: no onnxruntime-cann; `bash tools/setup_env.sh` installs it '
                    '(FCN_NO_CANN=1 opts out)')
    return CANN_SITE


def test_cann_provider_that_falls_back_to_the_cpu_is_refused(tmp_path, host_python, tiny_deploy,
                                                             tiny_dataset, cann_site):
    target = cann_site
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), REPO]))
    probe = subprocess.run([host_python, '-c', 'import numpy, onnxruntime as o; '
                            'print(numpy.__version__, o.__file__, o.get_available_providers())'],
                           env=env, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.startswith('1.') and str(target) in probe.stdout  # numpy < 2, the wheel
    assert 'CANNExecutionProvider' in probe.stdout  # listed, although no CANN is installed
    deploy = tiny_deploy(str(tmp_path / 'deploy'))
    images, labels = tiny_dataset(tmp_path / 'data', 2)
    out = tmp_path / 'out'
    proc = subprocess.run([host_python, '-m', 'fcn_voc_runtime', deploy, images, '--out-dir',
                           str(out), '--labels', labels, '--device-target', 'Ascend'], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'asked to run on Ascend, but onnxruntime runs it on CPU' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not out.exists()  # no scores reported as the NPU's
    # the same folder on the CPU, asked for the CPU, runs
    cpu = subprocess.run([host_python, '-m', 'fcn_voc_runtime', deploy, images, '--out-dir',
                          str(out), '--labels', labels], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert cpu.returncode == 0, cpu.stderr[-3000:]
