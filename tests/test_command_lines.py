"""Every command line of converters/ and tools/, run as a subprocess with its exit status and output
checked, and the one exit-status convention: 0 success, 1 check failed, 2 usage error, 3 bad input
(naming the file), 4 internal error (see fcn_voc_core/cli.py; unit-tested in test_runtime.py).

Slow: each run starts Python with torch and mmseg; the demo and the benchmarks run for real at tiny
sizes.
"""
import glob
import json
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
    'tools/setup_env.sh': 'test_run_tests_collects (its second run does nothing)',
    'tools/analysis_tools/benchmark_convert.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/benchmark_deploy.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/benchmark_forward.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/benchmark_host.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/benchmark_int8.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/benchmark_metric.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/benchmark_train.py': 'test_benchmarks_at_tiny_sizes',
    'tools/analysis_tools/model_summary.py': 'test_run_demo_tiny (the demo runs it)',
    'tools/dataset_converters/prepare_voc.py': 'test_run_demo_tiny, test_dataset_converters',
    'tools/dataset_converters/make_demo_voc.py': 'test_run_demo_tiny',
    'tools/model_converters/vgg2mmseg.py': 'test_convert_vgg16.py',
    'tools/mutation.sh': 'test_mutation_setup (checked, not run: it takes hours)',
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


def test_mutation_setup():
    """``tools/mutation.sh`` parses, and mutmut reads the configuration it runs with: the torch-free
    half mutated, the quick tests of it selected, the files the tests need copied beside."""
    assert subprocess.run(['bash', '-n', osp.join(REPO, 'tools', 'mutation.sh')]).returncode == 0
    code = ('import os, json; os.chdir(%r); from mutmut.configuration import _load_config; '
            'c = _load_config(); print(json.dumps([list(map(str, c.source_paths)), '
            'c.pytest_add_cli_args, c.pytest_add_cli_args_test_selection, '
            'list(map(str, c.also_copy))]))' % REPO)
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sources, args, selection, copied = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sources == ['fcn_voc_core', 'fcn_voc_runtime'] and 'not slow' in args
    for test in selection:
        assert osp.isfile(osp.join(REPO, test)), test
    assert {'mmseg_fcn_voc', 'configs', 'tests'} <= {c.rstrip('/') for c in copied}


#: Runs each script given on its command line as ``python SCRIPT --no-such-option`` would (as
#: ``__main__``, with that ``sys.argv``), one after another in this one interpreter, and prints one
#: JSON line per script: its exit status and what it wrote to stderr. Importing torch and mmseg once
#: instead of once per script is the only difference from separate processes.
USAGE_SNIPPET = r"""
import contextlib, io, json, runpy, sys, traceback
for script in sys.argv[1:]:
    sys.argv = [script, '--no-such-option']
    err, status = io.StringIO(), 0
    with contextlib.redirect_stderr(err):
        try:
            runpy.run_path(script, run_name='__main__')
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc()
            status = 1
    print(json.dumps(dict(script=script, status=status, stderr=err.getvalue())))
"""


def test_usage_errors_exit_2():
    """argparse's usage error, status 2, for every Python command line (each run as ``__main__``
    with ``--no-such-option``, in two interpreters)."""
    import json
    half = len(PYTHON_COMMANDS) // 2
    results = run_parallel({i: [sys.executable, '-c', USAGE_SNIPPET, *chunk] for i, chunk in
                            enumerate((PYTHON_COMMANDS[:half], PYTHON_COMMANDS[half:]))},
                           width=2, timeout=600)
    seen = {}
    for proc in results.values():
        assert proc.returncode == 0, proc.stderr[-3000:]
        for line in proc.stdout.splitlines():
            if line.startswith('{"script"'):
                entry = json.loads(line)
                seen[entry['script']] = entry
    assert sorted(seen) == PYTHON_COMMANDS
    for command, entry in seen.items():
        err = entry['stderr']
        assert entry['status'] == 2, f'{command}: {entry["status"]}\n{err[-2000:]}'
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


def test_run_tests_collects():
    """The README's test command: its set-up step (tools/setup_env.sh) finds the stack installed
    and installs nothing, then pytest collects."""
    proc = run(['bash', 'tools/run_tests.sh', '--collect-only', '-q',
                'tests/test_bilinear_and_crop.py'], timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert 'stack already installed' in proc.stderr and 'ready:' in proc.stderr
    assert 'installing' not in proc.stderr and 'building' not in proc.stderr
    assert 'tests collected' in proc.stdout


def test_dataset_converters(tmp_path):
    """A missing input folder: exit 3 naming it (the demo test runs both converters on good input)."""
    bad = run([sys.executable, 'tools/dataset_converters/prepare_voc.py', '--voc',
               tmp_path / 'missing', '--sbd', tmp_path / 'sbd', '--out-dir', tmp_path / 'out'])
    assert bad.returncode == 3 and 'missing' in bad.stderr  # bad input, naming the path
    assert not (tmp_path / 'out').exists()


def test_benchmarks_at_tiny_sizes(host_python, narrow_fcn_config):
    """Every benchmark runs at tiny sizes and prints the CPU model beside its figures (three at a
    time), all but the forward one (which compares with a plain full-width FCN-8s) on networks with
    narrow fc6/fc7 (the README's figures are the full-width ones)."""
    from mmseg_fcn_voc.utils.machine import cpu_model
    cpu = cpu_model()
    analysis = 'tools/analysis_tools/'
    results = run_parallel({
        'train': [sys.executable, analysis + 'benchmark_train.py', '--config',
                  narrow_fcn_config('configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py'),
                  '--size', 32, 32, '--batch', 1, '--iters', 1, '--repeats', 1],
        'forward': [sys.executable, analysis + 'benchmark_forward.py', '--size', 32, 48,
                    '--repeats', 1],  # against a plain full-width FCN-8s
        'metric': [sys.executable, analysis + 'benchmark_metric.py', '--size', 64, 64,
                   '--num-images', 3, '--rounds', 1],
        'convert': [sys.executable, analysis + 'benchmark_convert.py', '--config',
                    narrow_fcn_config('configs/fcn8s_vgg16bn_voc.py'), '--size', 64, 64,
                    '--repeats', 1, '--skip-full'],
        'deploy': [sys.executable, analysis + 'benchmark_deploy.py', '--config',
                   narrow_fcn_config('configs/fcn8s_vgg16_voc.py'), '--num-images', 2,
                   '--size', 40, 56, '--backend', 'onnxruntime', '--host-python', host_python,
                   '--gears', '48x64,64x48'],
        'host': [sys.executable, analysis + 'benchmark_host.py', '--config',
                 narrow_fcn_config('configs/fcn8s_vgg16_voc.py'), '--num-images', 2,
                 '--stand-in-images', 4, '--size', 60, 90, '--gears', '64x96,96x64,96x96',
                 '--repeats', 1, '--host-python', host_python],
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
    assert 'static gears [(48, 64), (64, 48)]' in deploy and 'ratio geared / dynamic' in deploy
    host = results['host'].stdout
    assert f'host side in {host_python}' in host
    assert host.count('ratio end-to-end / model-only') == 3, host  # float32, int8, MindSpore
    assert host.count('with predictions written and scored') == 5, host
    # bytes per image, by hand: images of 54..60 x 84..90 pad to 64x96 (or 96x64): 6144 pixels;
    # 21 classes; uint8 NHWC + int32 valid_size (AIPP) or float32 NCHW in; logits or int32 out
    for shape, sent, back in (('float32 in, logits out', 3 * 6144 * 4, 21 * 6144 * 4),
                              ('AIPP uint8 in, logits out', 3 * 6144 + 8, 21 * 6144 * 4),
                              ('float32 in, class map out', 3 * 6144 * 4, 6144 * 4),
                              ('AIPP uint8 in, class map out (Ascend)', 3 * 6144 + 8, 6144 * 4)):
        assert f'(c) {shape:37}: to the device {sent:,} bytes, back {back:,} bytes' in host, host
    int8 = results['int8'].stdout
    for text in ('ratio int8 / float32', 'VNNI', 'random weights: not an accuracy figure'):
        assert text in int8, text


def test_run_demo_tiny(tmp_path, narrow_fcn_config):
    """The README's main command end to end, with 16 images and 2 training iterations of the demo
    config with narrow fc6/fc7 (the full-width one is the README's run); its first stages are the
    model summary (every FCN config with its published parameter count) and both dataset
    converters."""
    config = narrow_fcn_config('configs/demo/fcn8s_vgg16bn_1xb4-300_demovoc-96x96.py')
    proc = run(['bash', 'tools/run_demo.sh', '--work-dir', tmp_path / 'demo', '--num-images', 16,
                '--max-iters', 2, '--parity-size', 64, 64, '--config', config], timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    for text in ('Demo finished', 'MindSpore parity', 'deployed = mim test', 'demo dataset written'):
        assert text in proc.stdout, text
    summary = proc.stdout.split('make_demo_voc.py')[0]  # tools/analysis_tools/model_summary.py
    for name in ('fcn8s_vgg16_voc.py', 'fcn16s_vgg16_voc.py', 'fcn32s_vgg16_voc.py',
                 'fcn8s_vgg16bn_voc.py'):
        assert name in summary
    assert summary.count('exact') == 5 and 'MISMATCH' not in summary, summary
    assert '134,489,759' in summary  # FCN-8s, as published
    demo = tmp_path / 'demo'
    assert (demo / 'VOCdevkit/VOC2012/ImageSets/Segmentation/trainaug.txt').is_file()
    for path in ('figures/confusion_matrix.png', 'mindspore/deploy.json', 'mindspore/parity.json',
                 'deployed/metrics.json'):
        assert (demo / path).is_file(), path
    checkpoint = open(demo / 'train' / 'last_checkpoint').read().strip()
    assert osp.isfile(checkpoint + '.sha256')  # the demo's checkpoint declares its hash
