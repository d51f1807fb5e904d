"""The MindSpore backend in the torch-free host environment (MindSpore 2.7.2, as
``tools/setup_env.sh`` makes it), on a tiny dynamic MINDIR exported by the training stack's
MindSpore: one compile for images of every size, and no silent fallback to another device."""
import json
import os.path as osp
import subprocess

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _host(host_python, code, env):
    proc = subprocess.run([host_python, '-c', code], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    return proc


@pytest.fixture(scope='module')
def ms_folder(tmp_path_factory, tiny_mindspore_deploy):
    return tiny_mindspore_deploy(str(tmp_path_factory.mktemp('ms') / 'deploy'))


def test_one_compile_for_several_sizes_under_the_hosts_mindspore(ms_folder, host_python,
                                                                 host_env):
    """MindSpore compiles a graph per input shape unless the dynamic inputs are declared: the
    runtime declares them, so three image sizes compile once (counted in GraphCell's own
    compile cache), and the predictions are the brightest channel (the network's meaning)."""
    code = f'''
import json, numpy as np, mindspore
from fcn_voc_runtime.predictor import Predictor
p = Predictor({ms_folder!r})
rng = np.random.default_rng(0)
ok = []
for size in [(24, 32), (40, 16), (17, 29)]:
    image = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    ok.append(bool((p.predict(image) == image.argmax(-1)).all()))
print(json.dumps([mindspore.__version__, len(p.model.graph.compile_cache), ok]))
'''
    proc = _host(host_python, code, host_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    version, compiles, ok = json.loads(proc.stdout.strip().splitlines()[-1])
    assert version.startswith('2.7.'), version  # the host's MindSpore, not the exporter's
    assert ok == [True, True, True]
    assert compiles == 1


@pytest.mark.parametrize('device', ['GPU', 'Ascend'])
def test_a_device_mindspore_does_not_run_on_is_refused(ms_folder, host_python, host_env,
                                                       tiny_dataset, tmp_path, device):
    """On this CPU-only host, MindSpore asked for a GPU or an NPU either fails to set it or
    runs on the CPU: the runtime reads back the device and refuses (exit 3), writing nothing,
    instead of reporting CPU results as the device's."""
    images, labels = tiny_dataset(tmp_path / 'data', 2)
    out = tmp_path / 'out'
    proc = subprocess.run([host_python, '-m', 'fcn_voc_runtime', ms_folder, images, '--out-dir',
                           str(out), '--labels', labels, '--device-target', device], cwd=REPO,
                          env=host_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    assert f'{device}' in proc.stderr.splitlines()[-1] and 'mindspore' in proc.stderr
    assert not out.exists()
    cpu = subprocess.run([host_python, '-m', 'fcn_voc_runtime', ms_folder, images, '--out-dir',
                          str(out), '--labels', labels], cwd=REPO, env=host_env(),
                         capture_output=True, text=True, timeout=600)
    assert cpu.returncode == 0, cpu.stderr[-3000:]
    assert json.load(open(out / 'run.json'))['device_target'] == 'CPU'
