"""Every command line of converters/ and tools/, run as a subprocess with its exit status and output
checked, and the one exit-status convention: 0 success, 1 check failed, 2 usage error, 3 bad input
(naming the file), 4 internal error (see fcn_voc_core/cli.py; unit-tested in test_runtime.py).

Slow: each run starts Python with torch and mmseg; the demo and the benchmarks run for real at tiny
sizes.
"""
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
pytestmark = pytest.mark.slow

#: Every command line, with the test(s) that run it as a subprocess. A new script fails
#: test_every_command_line_is_run_by_a_test until it is added here, with a test.
COMMANDS = {
    'converters/to_mindspore.py': 'test_deploy_end_to_end.py::test_mindspore_deployment',
    'converters/to_onnx.py': 'test_deploy_end_to_end.py::test_onnx_deployment',
    'converters/infer_deployed.py': 'test_deploy_end_to_end.py, test_runtime.py',
    'converters/from_mindspore.py': 'test_importers_as_commands',
    'converters/from_torchfcn.py': 'test_importers_as_commands',
    'tools/infer.py': 'test_end_to_end.py, test_checkpoint_safety.py',
    'tools/demo.py': 'test_run_demo_tiny',
    'tools/run_demo.sh': 'test_run_demo_tiny',
    'tools/run_tests.sh': 'test_run_tests_collects',
    'tools/setup_env.sh': 'test_setup_env_second_run_does_nothing',
    'tools/analysis_tools/benchmark_convert.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/benchmark_deploy.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/benchmark_forward.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/benchmark_int8.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/benchmark_metric.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/benchmark_train.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/model_summary.py': 'test_model_summary',
    'tools/dataset_converters/prepare_voc.py': 'test_dataset_converters',
    'tools/dataset_converters/make_demo_voc.py': 'test_dataset_converters',
    'tools/model_converters/vgg2mmseg.py': 'test_convert_vgg16.py',
}
PYTHON_COMMANDS = sorted(c for c in COMMANDS if c.endswith('.py'))


def run(args, timeout=900, **kwargs):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    return subprocess.run([str(a) for a in args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def run_parallel(commands, width=3, timeout=900):
    """``{key: CompletedProcess}`` of ``{key: args}``, ``width`` at a time (each start imports
    torch and mmseg: on 2 cores the imports and file writes of one overlap another's compute)."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    pending, done = list(commands.items()), {}
    while pending:
        batch, pending = pending[:width], pending[width:]
        procs = {key: subprocess.Popen([str(a) for a in args], cwd=REPO, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for key, args in batch}
        for key, proc in procs.items():
            out, err = proc.communicate(timeout=timeout)
            done[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


def test_every_command_line_is_run_by_a_test():
    found = {osp.relpath(p, REPO) for p in glob.glob(osp.join(REPO, 'converters', '*.py'))
             + glob.glob(osp.join(REPO, 'tools', '**', '*.py'), recursive=True)
             + glob.glob(osp.join(REPO, 'tools', '*.sh'))}
    assert found == set(COMMANDS)


def test_usage_errors_exit_2():
    """argparse's usage error, status 2, for every Python command line (4 at a time)."""
    results = run_parallel({c: [sys.executable, c, '--no-such-option'] for c in PYTHON_COMMANDS},
                           width=4, timeout=600)
    for command, proc in results.items():
        err = proc.stderr
        assert proc.returncode == 2, f'{command}: {proc.returncode}\n{err[-2000:]}'
        assert 'usage:' in err and 'error:' in err, command  # argparse's own report
        assert 'Traceback' not in err, command


def test_console_scripts_are_installed_and_run():
    """The editable install puts pyproject's console scripts beside the interpreter; two of them
    run (the torch-side and the torch-free one), the others resolve in test_layout.py."""
    bin_dir = osp.dirname(sys.executable)
    for script, needle in (('fcn-to-onnx', '--dynamic'), ('fcn-infer-deployed', '--device-target')):
        proc = run([osp.join(bin_dir, script), '--help'], timeout=300)
        assert proc.returncode == 0, f'{script}: {proc.stderr[-2000:]}'
        assert needle in proc.stdout, script


def test_importers_as_commands(tmp_path):
    import torch
    truncated = tmp_path / 'weights.pth'
    torch.save({'conv1_1.weight': torch.zeros(64, 3, 3, 3)}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:100])
    commands = {}
    for command, config in (('converters/from_torchfcn.py', 'configs/fcn8s_vgg16_voc.py'),
                            ('converters/from_mindspore.py', 'configs/fcn8s_vgg16bn_voc.py')):
        commands[command, 'truncated'] = [sys.executable, command, truncated,
                                          tmp_path / 'out.pth', '--config', config]
        commands[command, 'missing'] = [sys.executable, command, tmp_path / 'nope.pth',
                                        tmp_path / 'out.pth', '--config', config]
    results = run_parallel(commands, width=4)
    for (command, case), proc in results.items():
        assert proc.returncode == 3, (command, case, proc.stderr[-2000:])
        assert 'Traceback' not in proc.stderr, (command, case)
        needle = str(truncated) if case == 'truncated' else 'nope'
        assert needle in proc.stderr, (command, case, proc.stderr[-2000:])
    assert not (tmp_path / 'out.pth').exists()


def test_setup_env_second_run_does_nothing():
    proc = run(['bash', 'tools/setup_env.sh'], timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert 'stack already installed' in proc.stderr and 'ready:' in proc.stderr
    assert 'installing' not in proc.stderr and 'building' not in proc.stderr


def test_run_tests_collects():
    proc = run(['bash', 'tools/run_tests.sh', '--collect-only', '-q',
                'tests/test_bilinear_and_crop.py'], timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'tests collected' in proc.stdout


def test_model_summary():
    proc = run([sys.executable, 'tools/analysis_tools/model_summary.py'])
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ('fcn8s_vgg16_voc.py', 'fcn16s_vgg16_voc.py', 'fcn32s_vgg16_voc.py',
                 'fcn8s_vgg16bn_voc.py'):
        assert name in proc.stdout
    assert proc.stdout.count('exact') == 5 and 'MISMATCH' not in proc.stdout
    assert '134,489,759' in proc.stdout  # FCN-8s, as published


def test_dataset_converters(tmp_path):
    raw, out = tmp_path / 'raw', tmp_path / 'VOCdevkit'
    made = run([sys.executable, 'tools/dataset_converters/make_demo_voc.py', '--out-dir', raw,
                '--num-images', 8])
    assert made.returncode == 0 and 'demo dataset written' in made.stdout, made.stderr
    prepared = run([sys.executable, 'tools/dataset_converters/prepare_voc.py', '--voc',
                    raw / 'VOCdevkit', '--sbd', raw / 'benchmark_RELEASE', '--out-dir', out,
                    '--nproc', 1])
    assert prepared.returncode == 0, prepared.stderr[-2000:]
    assert (out / 'VOC2012/ImageSets/Segmentation/trainaug.txt').is_file()
    bad = run([sys.executable, 'tools/dataset_converters/prepare_voc.py', '--voc',
               tmp_path / 'missing', '--sbd', raw / 'benchmark_RELEASE', '--out-dir', out])
    assert bad.returncode == 3 and 'missing' in bad.stderr  # bad input, naming the path


def test_benchmarks_at_tiny_sizes(host_python, narrow_fcn_config):
    """Every benchmark runs at tiny sizes and prints the CPU model beside its figures (three at a
    time); the int8 one on a narrow-fc FCN-8s (its full-width export takes minutes)."""
    from mmseg_fcn_voc.utils.machine import cpu_model
    cpu = cpu_model()
    analysis = 'tools/analysis_tools/'
    results = run_parallel({
        'train': [sys.executable, analysis + 'benchmark_train.py', '--size', 32, 32, '--batch', 1,
                  '--iters', 1, '--repeats', 1],
        'forward': [sys.executable, analysis + 'benchmark_forward.py', '--size', 32, 48,
                    '--repeats', 1],
        'metric': [sys.executable, analysis + 'benchmark_metric.py', '--size', 64, 64,
                   '--num-images', 3, '--rounds', 1],
        'convert': [sys.executable, analysis + 'benchmark_convert.py', '--config',
                    'configs/fcn8s_vgg16bn_voc.py', '--size', 64, 64, '--repeats', 1,
                    '--skip-full'],
        'deploy': [sys.executable, analysis + 'benchmark_deploy.py', '--config',
                   'configs/fcn8s_vgg16_voc.py', '--num-images', 2, '--size', 40, 56,
                   '--backend', 'onnxruntime', '--host-python', host_python],
        'int8': [sys.executable, analysis + 'benchmark_int8.py', '--config',
                 narrow_fcn_config('configs/fcn8s_vgg16_voc.py'), '--num-images', 2,
                 '--calibration-count', 2, '--size', 40, 56],
    })
    for name, proc in results.items():
        assert proc.returncode == 0, f'{name}: {proc.stderr[-3000:]}'
        assert cpu in proc.stdout, name
    for text in ('backbone.fc6.conv', 'bwd/fwd', 'iteration / (3 x forward)',
                 'ratio Runner / plain'):
        assert text in results['train'].stdout, text
    assert 'ratio segmentor / plain' in results['forward'].stdout
    assert 'speed-up' in results['metric'].stdout
    for text in ('conversion total', 'launch_blocking', 'ratio to torch'):
        assert text in results['convert'].stdout, text
    deploy = results['deploy'].stdout
    assert 'ratio deployed / mmseg' in deploy and 'ratio exact / Pillow' in deploy
    # the deployed side ran in the host environment
    assert f'in {host_python} (torch absent)' in deploy
    int8 = results['int8'].stdout
    for text in ('ratio int8 / float32', 'VNNI', 'random weights: not an accuracy figure'):
        assert text in int8, text


def test_run_demo_tiny(tmp_path):
    """The README's main command end to end, with 16 images and 2 training iterations."""
    proc = run(['bash', 'tools/run_demo.sh', '--work-dir', tmp_path / 'demo', '--num-images', 16,
                '--max-iters', 2, '--parity-size', 64, 64], timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for text in ('Demo finished', 'MindSpore parity', 'deployed = mim test'):
        assert text in proc.stdout, text
    demo = tmp_path / 'demo'
    for path in ('figures/confusion_matrix.png', 'mindspore/deploy.json', 'mindspore/parity.json',
                 'deployed/metrics.json'):
        assert (demo / path).is_file(), path
    checkpoint = open(demo / 'train' / 'last_checkpoint').read().strip()
    assert osp.isfile(checkpoint + '.sha256')  # the demo's checkpoint declares its hash
