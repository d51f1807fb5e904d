"""No command writes over its inputs, and deploy folders name only their own files.

Every command line is run for real (a subprocess each, all started at once) with an output
location that is, contains or lies inside one of its inputs; each must exit 3 naming both paths,
before any work, with every input byte unchanged. Writing into an empty or an unrelated existing
folder stays allowed.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fcn_voc_core.output_guard import OutputOverInputError, check_outputs_apart, relation
from fcn_voc_runtime.deploy import DEPLOY_FILE, DeployError, load_deploy_dir

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'configs/fcn8s_vgg16bn_voc.py'


def snapshot(root):
    """``{relative path: sha256}`` of every file under ``root`` (symbolic links as their
    target's name)."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            rel = osp.relpath(path, root)
            if osp.islink(path):
                found[rel] = 'link -> ' + os.readlink(path)
            else:
                found[rel] = hashlib.sha256(open(path, 'rb').read()).hexdigest()
    return found


def run_all(commands, timeout=600):
    """Start every ``[args...]`` at once (from the repository root); return their results."""
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)
    procs = [subprocess.Popen([sys.executable, *map(str, args)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for args in commands]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        results.append((proc.returncode, out, err))
    return results


# --------------------------------------------------------------------------------------------------
# the relation itself, by hand
# --------------------------------------------------------------------------------------------------
def test_relation_by_hand(tmp_path):
    images = tmp_path / 'data' / 'images'
    images.mkdir(parents=True)
    (images / 'a.png').write_bytes(b'x')
    os.link(images / 'a.png', tmp_path / 'hardlink.png')
    os.symlink(images, tmp_path / 'link_to_images')
    assert relation(images, images) == 'is'
    assert relation(tmp_path / 'link_to_images', images) == 'is'
    assert relation(str(images) + '/', images) == 'is'
    assert relation(tmp_path / 'data', images) == 'contains'
    assert relation(images / 'out', images) == 'lies inside'
    assert relation(tmp_path / 'link_to_images' / 'out', images) == 'lies inside'
    assert relation(tmp_path / 'hardlink.png', images / 'a.png') == 'is'  # one file, two names
    assert relation(tmp_path / 'data' / 'images2', images) is None  # a name prefix only
    assert relation(tmp_path / 'other', images) is None
    with pytest.raises(OutputOverInputError) as e:
        check_outputs_apart({'--out-dir': tmp_path / 'data'}, {'IMAGES': images, '--x': None})
    assert f"--out-dir '{tmp_path / 'data'}' contains the input IMAGES '{images}'" in str(e.value)
    check_outputs_apart({'--out-dir': tmp_path / 'out'}, {'IMAGES': images})  # apart: fine


# --------------------------------------------------------------------------------------------------
# every command, for real
# --------------------------------------------------------------------------------------------------
@pytest.fixture
def workspace(tmp_path, tiny_deploy, tiny_dataset):
    """Inputs of every command in one tree: a deploy folder, images and labels, two shard
    outputs, a checkpoint, a MindSpore checkpoint, a config, a VOC-like source folder."""
    root = tmp_path / 'ws'
    deploy = tiny_deploy(str(root / 'deploy'))
    images, labels = tiny_dataset(root / 'data', 3)
    for i in range(2):
        shard = root / f'shard{i}'
        shard.mkdir()
        (shard / 'run.json').write_text(json.dumps({'shard': [i, 2]}))
    ckpts = root / 'ckpts'
    ckpts.mkdir()
    (ckpts / 'model.pth').write_bytes(os.urandom(256))
    (ckpts / 'fcn8s.ckpt').write_bytes(os.urandom(256))
    (ckpts / 'vgg16.pth').write_bytes(os.urandom(256))
    config = root / 'configs' / 'my_fcn.py'
    config.parent.mkdir()
    shutil.copy(osp.join(REPO, CONFIG), config)
    shutil.copytree(osp.join(REPO, 'configs', '_base_'), root / 'configs' / '_base_')
    voc = root / 'VOCdevkit' / 'VOC2012'
    (voc / 'JPEGImages').mkdir(parents=True)
    (voc / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    (voc / 'ImageSets' / 'Segmentation' / 'train.txt').write_text('2007_000032\n')
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(voc / 'JPEGImages' / '2007_000032.jpg')
    sbd = root / 'benchmark_RELEASE' / 'dataset'
    sbd.mkdir(parents=True)
    (sbd / 'train.txt').write_text('2008_000002\n')
    os.symlink(images, root / 'images_link')
    return dict(root=root, deploy=deploy, images=images, labels=labels, config=str(config),
                ckpt=str(ckpts / 'model.pth'), ms_ckpt=str(ckpts / 'fcn8s.ckpt'),
                vgg=str(ckpts / 'vgg16.pth'), shards=[str(root / 'shard0'), str(root / 'shard1')],
                voc=str(root / 'VOCdevkit'), sbd=str(root / 'benchmark_RELEASE'))


def test_no_command_writes_over_its_inputs(workspace):
    w = workspace
    runtime = ['-m', 'fcn_voc_runtime', w['deploy'], w['images']]
    cases = {
        # the runtime: the images, the labels, the deploy folder; inside, around, through a link
        'runtime out=images': runtime + ['--out-dir', w['images'], '--labels', w['labels']],
        'runtime out=labels': runtime + ['--out-dir', w['labels'], '--labels', w['labels']],
        'runtime out=deploy': runtime + ['--out-dir', w['deploy']],
        'runtime out inside images': runtime + ['--out-dir', osp.join(w['images'], 'pred')],
        'runtime out contains labels': runtime + ['--out-dir', osp.dirname(w['labels']),
                                                  '--labels', w['labels']],
        'runtime out=link to images': runtime + ['--out-dir', str(w['root'] / 'images_link')],
        'merge out=shard': ['-m', 'fcn_voc_runtime', '--merge', *w['shards'], '--out-dir',
                            w['shards'][0]],
        # the converters and importers: the checkpoint, the config, the source checkpoint
        'to_onnx out contains checkpoint': ['converters/to_onnx.py', w['config'], w['ckpt'],
                                            '--out-dir', osp.dirname(w['ckpt']), '--dynamic'],
        'to_onnx out=images': ['converters/to_onnx.py', w['config'], w['ckpt'], '--out-dir',
                               w['images'], '--dynamic', '--images', w['images']],
        'to_mindspore out contains config': ['converters/to_mindspore.py', w['config'], w['ckpt'],
                                             '--out-dir', osp.dirname(w['config'])],
        'from_mindspore OUT=SRC': ['converters/from_mindspore.py', w['ms_ckpt'], w['ms_ckpt'],
                                   '--config', w['config']],
        'from_torchfcn OUT=config': ['converters/from_torchfcn.py', w['ckpt'], w['config'],
                                     '--config', w['config']],
        'vgg2mmseg OUT=SRC': ['tools/model_converters/vgg2mmseg.py', w['vgg'], w['vgg'],
                              '--source', 'caffe'],
        # the dataset tools
        'prepare_voc out=voc': ['tools/dataset_converters/prepare_voc.py', '--voc', w['voc'],
                                '--sbd', w['sbd'], '--out-dir', w['voc']],
        'prepare_voc out inside sbd': ['tools/dataset_converters/prepare_voc.py', '--voc',
                                       w['voc'], '--sbd', w['sbd'], '--out-dir',
                                       osp.join(w['sbd'], 'prepared')],
        'infer.py out=images': ['tools/infer.py', w['config'], w['ckpt'], w['images'],
                                '--out-dir', w['images']],
        'infer.py out contains gt': ['tools/infer.py', w['config'], w['ckpt'], w['images'],
                                     '--out-dir', osp.dirname(w['labels']), '--gt-dir',
                                     w['labels']],
    }
    before = snapshot(w['root'])
    results = dict(zip(cases, run_all(cases.values())))
    for name, (code, out, err) in results.items():
        assert code == 3, f'{name}: exit {code}\n{out[-2000:]}\n{err[-3000:]}'
        assert 'Traceback' not in err, f'{name}: {err[-3000:]}'
        assert 'a file written there could replace an input file' in err, f'{name}: {err}'
    assert snapshot(w['root']) == before  # not one byte of any input changed, nothing added
    # both paths named
    err = results['runtime out=labels'][2]
    assert f"--out-dir {w['labels']!r} is the input --labels {w['labels']!r}" in err
    err = results['from_mindspore OUT=SRC'][2]
    assert f"OUT {w['ms_ckpt']!r} is the input SRC {w['ms_ckpt']!r}" in err
    err = results['to_onnx out contains checkpoint'][2]
    assert f"contains the input CHECKPOINT {w['ckpt']!r}" in err
    err = results['merge out=shard'][2]
    assert f"--out-dir {w['shards'][0]!r} is the input SHARD_OUT 1" in err
    err = results['runtime out=link to images'][2]
    assert 'is the input IMAGES' in err
    err = results['prepare_voc out inside sbd'][2]
    assert 'lies inside the input --sbd' in err


def test_empty_and_unrelated_output_folders_are_fine(workspace, tmp_path):
    w = workspace
    empty = tmp_path / 'empty'
    empty.mkdir()
    unrelated = tmp_path / 'unrelated'
    unrelated.mkdir()
    (unrelated / 'notes.txt').write_text('kept')
    before = snapshot(w['root'])
    results = run_all([['-m', 'fcn_voc_runtime', w['deploy'], w['images'], '--out-dir', out,
                        '--labels', w['labels']] for out in (empty, unrelated)])
    for code, out, err in results:
        assert code == 0, err[-3000:]
    assert snapshot(w['root']) == before
    assert (unrelated / 'notes.txt').read_text() == 'kept'
    assert sorted(p for p in os.listdir(empty) if p.startswith('img')) == sorted(
        os.listdir(w['images']))


# --------------------------------------------------------------------------------------------------
# deploy folders are closed
# --------------------------------------------------------------------------------------------------
def _edit(folder, change):
    path = osp.join(folder, DEPLOY_FILE)
    with open(path) as f:
        deploy = json.load(f)
    change(deploy)
    with open(path, 'w') as f:
        json.dump(deploy, f)


@pytest.mark.parametrize('case', ['dotdot', 'absolute', 'symlink', 'gear', 'files', 'nested'])
def test_deploy_folder_paths_stay_inside(tmp_path, tiny_deploy, case):
    folder = tiny_deploy(str(tmp_path / 'deploy'))
    outside = tmp_path / 'outside.onnx'
    shutil.copy(osp.join(folder, 'tiny.onnx'), outside)  # a real model, same hash
    key = {'gear': 'gears[0]', 'files': 'files.weights'}.get(case, 'model')
    if case == 'dotdot':
        _edit(folder, lambda d: d['model'].update(file='../outside.onnx'))
    elif case == 'absolute':
        _edit(folder, lambda d: d['model'].update(file=str(outside)))
    elif case == 'symlink':
        os.symlink(outside, osp.join(folder, 'link.onnx'))
        _edit(folder, lambda d: d['model'].update(file='link.onnx'))
    elif case == 'gear':
        _edit(folder, lambda d: d.update(gears=[{'size': [24, 32], 'file': '../outside.onnx'}]))
    elif case == 'files':
        _edit(folder, lambda d: d.update(files={'weights': {'file': 'sub/../../outside.onnx'}}))
    else:  # a sub-folder is fine, as long as it stays inside
        os.mkdir(osp.join(folder, 'sub'))
        shutil.move(osp.join(folder, 'tiny.onnx'), osp.join(folder, 'sub', 'tiny.onnx'))
        _edit(folder, lambda d: d['model'].update(file='sub/tiny.onnx'))
        assert load_deploy_dir(folder).model_file == osp.join(folder, 'sub', 'tiny.onnx')
        return
    with pytest.raises(DeployError, match=rf'{DEPLOY_FILE}: {key.replace("[", "[[]")}\.file'):
        load_deploy_dir(folder)
    # the command line: exit 3 naming the key, nothing written
    images = tmp_path / 'images'
    images.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / 'a.png')
    (code, out, err), = run_all([['-m', 'fcn_voc_runtime', folder, images, '--out-dir',
                                  tmp_path / 'out']])
    assert code == 3 and f'{key}.file' in err and 'Traceback' not in err, err
    assert not (tmp_path / 'out').exists()
