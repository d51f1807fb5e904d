"""The project's shape: one options object per exporter, one backend contract, the console scripts
of pyproject.toml, and one definition per public name."""
import argparse
import dataclasses
import importlib
import os
import os.path as osp

import numpy as np
import pytest
import tomllib

from fcn_voc_core.errors import InputError

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


# --------------------------------------------------------------------------------------------------
# export options: one field is one option
# --------------------------------------------------------------------------------------------------
def _parse(options_class, argv):
    parser = argparse.ArgumentParser(prog='t')
    options_class.add_arguments(parser)
    return options_class.from_args(parser.parse_args(argv))


def test_export_options_from_the_command_line():
    from mmseg_fcn_voc.conversion.options import MindSporeExportOptions, OnnxExportOptions
    o = _parse(MindSporeExportOptions, ['cfg/a.py', 'b.pth', '--out-dir', 'o', '--input-size', '64',
                                        '96', '--no-mindir', '--seed', '3', '--layout',
                                        'mindspore'])
    assert (o.config, o.checkpoint, o.out_dir) == ('cfg/a.py', 'b.pth', 'o')
    assert o.input_size == (64, 96) and not o.dynamic
    assert o.mindir is False and o.layout == 'mindspore' and o.seed == 3
    assert o.name == 'a' and o.parity_size == (512, 512)
    assert (o.thresholds.max_rel_error, o.thresholds.min_argmax_agreement) == (1e-5, 0.9999)
    d = _parse(MindSporeExportOptions, ['a.py', 'b.pth', '--out-dir', 'o'])
    assert d.dynamic and d.mindir is True and d.layout == 'auto' and d.device_target is None
    # to_onnx: exactly one of --input-size / --dynamic (argparse's usage error, status 2)
    assert _parse(OnnxExportOptions, ['a.py', 'b.pth', '--out-dir', 'o', '--dynamic']).dynamic
    for argv in (['a.py', 'b.pth', '--out-dir', 'o'],
                 ['a.py', 'b.pth', '--out-dir', 'o', '--dynamic', '--input-size', '8', '8']):
        with pytest.raises(SystemExit) as e:
            _parse(OnnxExportOptions, argv)
        assert e.value.code == 2


def test_a_new_option_is_one_field():
    from mmseg_fcn_voc.conversion.options import ExportOptions, argument

    @dataclasses.dataclass
    class WithGears(ExportOptions):
        gears: str = argument('--gears', default='500x500', help='static gears')

    o = _parse(WithGears, ['a.py', 'b.pth', '--out-dir', 'o', '--gears', '320x480'])
    assert o.gears == '320x480' and o.out_dir == 'o'
    assert _parse(WithGears, ['a.py', 'b.pth', '--out-dir', 'o']).gears == '500x500'


def test_an_exporter_takes_its_own_options_class_only():
    from mmseg_fcn_voc.conversion.onnx.backend import OnnxBackend
    from mmseg_fcn_voc.conversion.options import MindSporeExportOptions
    with pytest.raises(TypeError, match='OnnxExportOptions'):
        OnnxBackend(MindSporeExportOptions('a.py', 'b.pth', 'o'))


# --------------------------------------------------------------------------------------------------
# the backend contract
# --------------------------------------------------------------------------------------------------
def _conv_weights():
    rng = np.random.default_rng(0)
    return (rng.standard_normal((2, 3, 1, 1)).astype(np.float32),
            rng.standard_normal(2).astype(np.float32))


def _tiny_onnx(path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w, b = _conv_weights()
    graph = helper.make_graph(
        [helper.make_node('Conv', ['input', 'w', 'b'], ['output'])], 'tiny',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, 3, 'h', 'w'])],
        [helper.make_tensor_value_info('output', TensorProto.FLOAT, [1, 2, 'h', 'w'])],
        [numpy_helper.from_array(w, 'w'), numpy_helper.from_array(b, 'b')])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid('', 11)], ir_version=7),
              path)


def _tiny_mindir(path):
    import mindspore as ms
    from mindspore import nn
    w, b = _conv_weights()
    cell = nn.Conv2d(3, 2, 1, pad_mode='valid', has_bias=True)
    cell.weight.set_data(ms.Tensor(w))
    cell.bias.set_data(ms.Tensor(b))
    cell.set_train(False)
    ms.export(cell, ms.Tensor(shape=[1, 3, None, None], dtype=ms.float32),
              file_name=path[:-len('.mindir')], file_format='MINDIR')


def _spec(folder, backend, model_file):
    from fcn_voc_runtime.deploy import DeployFolder
    return DeployFolder(folder=folder, backend=backend, model_file=model_file, input_name='input',
                      output_name='output', input_shape=[1, 3, None, None], channel_order='RGB',
                      mean=[0.0] * 3, std=[1.0] * 3, size_policy='native', resize=None,
                      size_divisor=1, pad_value=0.0, min_size=1, classes=['a', 'b'],
                      palette=[[0, 0, 0], [255, 255, 255]], ignore_index=255, raw={})


@pytest.mark.parametrize('backend, suffix, make', [('onnxruntime', '.onnx', _tiny_onnx),
                                                   ('mindspore', '.mindir', _tiny_mindir)])
def test_every_backend_implements_the_protocol(backend, suffix, make, tmp_path):
    from fcn_voc_runtime.backends import DeployedModel, load_model
    path = str(tmp_path / f'tiny{suffix}')
    make(path)
    model = load_model(_spec(str(tmp_path), backend, path), backend, 'CPU')
    assert isinstance(model, DeployedModel)
    assert (model.backend, model.device, model.precision) == (backend, 'CPU', 'float32')
    assert isinstance(model.notes, list)
    w, b = _conv_weights()
    for h, wd in ((5, 7), (9, 4)):  # one model, two sizes
        x = np.random.default_rng(h).standard_normal((1, 3, h, wd)).astype(np.float32)
        expected = np.einsum('oc,nchw->nohw', w[:, :, 0, 0], x) + b[None, :, None, None]
        np.testing.assert_allclose(model(x), expected, rtol=1e-5, atol=1e-5)


def test_the_backends_folder_holds_the_listed_backends_only():
    from fcn_voc_runtime.choices import BACKENDS, RUN_BACKENDS
    folder = osp.join(REPO, 'fcn_voc_runtime', 'backends')
    modules = {f[:-3] for f in os.listdir(folder) if f.endswith('.py') and f != '__init__.py'}
    # deploy.json names the exported model's backend; 'om' runs the ATC-compiled models of an
    # ONNX folder, so it is a backend to run with but never one a folder is written for
    assert set(BACKENDS) < set(RUN_BACKENDS)
    assert set(RUN_BACKENDS) - set(BACKENDS) == {'om'}
    assert modules == set(RUN_BACKENDS) | {'base'}
    for backend in RUN_BACKENDS:
        assert callable(importlib.import_module(f'fcn_voc_runtime.backends.{backend}').load)


def test_a_model_on_another_device_than_asked_is_refused(monkeypatch, tmp_path):
    """What onnxruntime-cann does without CANN: the session silently runs on the CPU."""
    from fcn_voc_runtime import backends

    class FellBack:
        backend, device, precision, notes = 'onnxruntime', 'CPU', 'float32', []

        def __call__(self, x):
            return x

    module = importlib.import_module('fcn_voc_runtime.backends.onnxruntime')
    monkeypatch.setattr(module, 'load', lambda spec, device, device_id: FellBack())
    spec = _spec(str(tmp_path), 'onnxruntime', str(tmp_path / 'm.onnx'))
    with pytest.raises(InputError, match='asked to run on Ascend, but onnxruntime runs it on CPU'):
        backends.load_model(spec, None, 'Ascend')


# --------------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------------
def _scripts():
    """The console scripts of both distributions: the plugin's and the host's (``runtime/``)."""
    scripts = {}
    for project in ('pyproject.toml', osp.join('runtime', 'pyproject.toml')):
        with open(osp.join(REPO, project), 'rb') as f:
            declared = tomllib.load(f)['project']['scripts']
        assert not set(declared) & set(scripts), project  # one distribution per script
        scripts.update(declared)
    return scripts


#: documented script path -> the console script that runs the same main
DOCUMENTED = {
    'converters/to_mindspore.py': 'fcn-to-mindspore',
    'converters/to_onnx.py': 'fcn-to-onnx',
    'converters/from_mindspore.py': 'fcn-from-mindspore',
    'converters/from_torchfcn.py': 'fcn-from-torchfcn',
    'converters/infer_deployed.py': 'fcn-infer-deployed',
    'tools/model_converters/vgg2mmseg.py': 'fcn-vgg2mmseg',
    'tools/dataset_converters/prepare_voc.py': 'fcn-prepare-voc',
    'tools/dataset_converters/make_demo_voc.py': 'fcn-make-demo-voc',
}


def test_console_scripts_and_documented_paths_run_one_main():
    scripts = _scripts()
    assert set(scripts) == set(DOCUMENTED.values())
    for path, script in DOCUMENTED.items():
        module, func = scripts[script].split(':')
        assert callable(getattr(importlib.import_module(module), func)), script
        with open(osp.join(REPO, path)) as f:
            source = f.read()
        assert f'from {module} import {func}' in source, path  # the script is that main
        assert 'sys.path' not in source and 'runpy' not in source, path


def test_no_alias_scripts_and_no_sys_path_edits():
    for root in ('converters', 'tools', 'fcn_voc_runtime', 'fcn_voc_core', 'mmseg_fcn_voc'):
        for dirpath, _, files in os.walk(osp.join(REPO, root)):
            for name in files:
                if name.endswith('.py'):
                    with open(osp.join(dirpath, name)) as f:
                        text = f.read()
                    assert 'sys.path.insert' not in text and 'runpy.run_path' not in text, name
    for alias in ('convert_vgg16.py', 'prepare_voc.py', 'make_demo_voc.py'):
        assert not osp.exists(osp.join(REPO, 'tools', alias))


# --------------------------------------------------------------------------------------------------
# one definition per public name
# --------------------------------------------------------------------------------------------------
def node_name(node):
    return getattr(node, 'name', None)


def test_each_public_name_is_defined_once():
    """No function or class name is defined in two modules of the three packages (a second
    definition with another contract is what this guards against). Exempt: each command's
    ``main`` and each backend's ``load`` (the contract of :mod:`fcn_voc_runtime.backends.base`)."""
    import ast
    defined = {}
    for root in ('fcn_voc_core', 'fcn_voc_runtime', 'mmseg_fcn_voc'):
        for dirpath, _, files in os.walk(osp.join(REPO, root)):
            for name in files:
                if not name.endswith('.py'):
                    continue
                path = osp.relpath(osp.join(dirpath, name), REPO)
                with open(osp.join(REPO, path)) as f:
                    tree = ast.parse(f.read())
                for node in tree.body:
                    per_module = node_name(node) in ('main', ) or (
                        node_name(node) == 'load' and 'backends' in path)  # the backend contract
                    if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and \
                            not node.name.startswith('_') and not per_module:
                        defined.setdefault(node.name, []).append(path)
                    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
                        for target in node.targets:  # an alias of a class: X = Y
                            if isinstance(target, ast.Name) and target.id[0].isupper() and \
                                    node.value.id[0].isupper() and target.id != node.value.id:
                                defined.setdefault(target.id, []).append(path + ' (alias)')
    twice = {k: v for k, v in defined.items() if len(v) > 1}
    assert not twice, twice


def test_package_inits_export_their_own_names_only():
    import mmseg_fcn_voc.datasets as datasets
    import mmseg_fcn_voc.evaluation as evaluation
    assert set(datasets.__all__) == {'FCNVOCDataset', 'LoadSBDAnnotations'}
    assert set(evaluation.__all__) == {'FCNIoUMetric'}
    for package in (datasets, evaluation):
        for name in package.__all__:
            assert getattr(package, name).__module__.startswith(package.__name__), name
