"""The deployment host's own distribution (``runtime/``, fcn-voc-runtime): one pip command sets up a
host (its dependencies and one extra per backend), the training distribution depends on it instead
of carrying the same packages, and a host missing a library gets one line saying what to install
(exit status 3), never a traceback."""
import email
import glob
import os
import os.path as osp
import subprocess
import sys
import zipfile

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
        return email.message_from_bytes(z.read(name)), z.namelist()


@pytest.fixture(scope='module')
def runtime_wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('runtime_wheel')
    src = tmp_path_factory.mktemp('runtime_src')
    # built from a copy (the symbolic links resolved), so the clone gets no build/ folder
    import shutil
    shutil.copytree(osp.join(REPO, 'runtime'), src / 'runtime', symlinks=False,
                    ignore=shutil.ignore_patterns('build', '*.egg-info', '__pycache__'))
    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-index',
                           '--no-build-isolation', '-w', str(out), str(src / 'runtime')],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel, = glob.glob(str(out / '*.whl'))
    return wheel


def test_the_runtime_distribution_installs_a_host(runtime_wheel):
    meta, names = _metadata(runtime_wheel)
    assert meta['Name'] == 'fcn-voc-runtime'
    requires = meta.get_all('Requires-Dist')
    base = sorted(r for r in requires if 'extra ==' not in r)
    assert base == ['Pillow', 'numpy<2,>=1.24', 'opencv-python-headless==4.11.0.86']
    extras = {r.split('extra == ')[1].strip('"\''): r.split(';')[0].strip()
              for r in requires if 'extra ==' in r}
    assert extras == {'onnxruntime': 'onnxruntime>=1.18',
                      'onnxruntime-cann': 'onnxruntime-cann>=1.18',
                      'mindspore': 'mindspore<2.11,>=2.7'}
    packages = {n.split('/')[0] for n in names if '/' in n and '.dist-info' not in n}
    assert packages == {'fcn_voc_core', 'fcn_voc_runtime'}  # and no torch-side code
    # every module of the two packages is in the wheel (the links were followed)
    repo_modules = {osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'fcn_voc_*', '**',
                                                                     '*.py'), recursive=True)}
    assert repo_modules <= set(names)
    assert 'fcn-infer-deployed = fcn_voc_runtime.__main__:main' in zipfile.ZipFile(
        runtime_wheel).read(next(n for n in names if n.endswith('entry_points.txt'))).decode()


def test_the_plugin_depends_on_the_runtime_instead_of_carrying_it():
    import tomllib
    project = tomllib.load(open(osp.join(REPO, 'pyproject.toml'), 'rb'))
    assert 'fcn-voc-runtime==0.1.0' in project['project']['dependencies']
    assert project['tool']['setuptools']['packages']['find']['include'] == ['mmseg_fcn_voc*']
    runtime = tomllib.load(open(osp.join(REPO, 'runtime', 'pyproject.toml'), 'rb'))
    assert runtime['project']['version'] == project['project']['version']


BLOCKER = '''
import sys
BLOCKED = {blocked!r}
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ModuleNotFoundError(f'No module named {{name!r}} (not installed on this host)')
        return None
sys.meta_path.insert(0, _Blocker())
'''


@pytest.mark.parametrize('missing, needle', [
    ('cv2', 'pip install ./runtime (opencv-python-headless==4.11.0.86'),
    ('PIL', 'pip install ./runtime (Pillow)'),
    ('onnxruntime', "pip install './runtime[onnxruntime]'"),
])
def test_a_missing_library_is_one_line_saying_what_to_install(tmp_path, tiny_deploy,
                                                             tiny_dataset, host_python,
                                                             missing, needle):
    deploy = tiny_deploy(str(tmp_path / 'deploy'))
    images, labels = tiny_dataset(tmp_path / 'data', 2)
    site = tmp_path / 'site'
    site.mkdir()
    blocked = {'torch', 'mmcv', 'mmengine', 'mmseg', 'mmseg_fcn_voc', missing}
    (site / 'sitecustomize.py').write_text(BLOCKER.format(blocked=sorted(blocked)))
    out = tmp_path / 'out'
    proc = subprocess.run([host_python, '-m', 'fcn_voc_runtime', deploy, images, '--out-dir',
                           str(out), '--labels', labels], cwd=REPO, capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), REPO])))
    assert proc.returncode == 3, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and missing in lines[0] and needle in lines[0], proc.stderr
    assert not out.exists()
