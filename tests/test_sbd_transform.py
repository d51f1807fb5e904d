# Tests of LoadSBDAnnotations: SBD .mat labels behave exactly like the same map stored as a PNG.
import copy

import numpy as np
import pytest
from mmengine.config import Config
from scipy.io import savemat

from fcn_voc_core.imageio import FileFormatError
from mmseg_fcn_voc.datasets import LoadSBDAnnotations
from mmseg_fcn_voc.datasets.voc_format import write_voc_label

REPO_CONFIGS = 'configs/_base_/datasets'


@pytest.fixture
def label_pair(tmp_path):
    """The same class map as an SBD .mat file and as a palette PNG."""
    rng = np.random.default_rng(0)
    seg = rng.integers(0, 21, (23, 31)).astype(np.uint8)
    seg[:3] = 0
    mat = tmp_path / '2008_000001.mat'
    savemat(str(mat), {'GTcls': {'Segmentation': seg, 'CategoriesPresent': np.unique(seg)[1:]}})
    png = tmp_path / '2008_000001.png'
    write_voc_label(png, seg)
    return seg, str(mat), str(png)


def results_for(path, reduce_zero_label=False, label_map=None):
    return dict(seg_map_path=path, reduce_zero_label=reduce_zero_label, label_map=label_map,
                seg_fields=[])


@pytest.mark.parametrize('reduce_zero_label, label_map', [
    (False, None),
    (True, None),
    (False, {1: 2, 2: 3, 15: 0}),  # chained ids map from the original values
    (True, {0: 5}),
])
def test_mat_equals_load_annotations_on_the_png(label_pair, reduce_zero_label, label_map):
    from mmseg.datasets.transforms import LoadAnnotations
    seg, mat, png = label_pair
    ours = LoadSBDAnnotations()(results_for(mat, reduce_zero_label, copy.deepcopy(label_map)))
    ref = LoadAnnotations()(results_for(png, reduce_zero_label, copy.deepcopy(label_map)))
    assert ours['gt_seg_map'].dtype == ref['gt_seg_map'].dtype == np.uint8
    np.testing.assert_array_equal(ours['gt_seg_map'], ref['gt_seg_map'])
    assert ours['seg_fields'] == ref['seg_fields'] == ['gt_seg_map']
    if not reduce_zero_label and label_map is None:
        np.testing.assert_array_equal(ours['gt_seg_map'], seg)


def test_png_paths_go_through_load_annotations(label_pair):
    seg, _, png = label_pair
    out = LoadSBDAnnotations()(results_for(png))
    np.testing.assert_array_equal(out['gt_seg_map'], seg)


def test_reduce_zero_label_must_agree_with_the_dataset(label_pair):
    _, mat, _ = label_pair
    with pytest.raises(ValueError, match=r'2008_000001\.mat: the dataset was built with'):
        LoadSBDAnnotations(reduce_zero_label=True)(results_for(mat, reduce_zero_label=False))


def test_errors_name_the_file(tmp_path):
    no_gtcls = tmp_path / 'no_gtcls.mat'
    savemat(str(no_gtcls), {'GTinst': {'Segmentation': np.zeros((2, 2), np.uint8)}})
    with pytest.raises(FileFormatError, match=r"no_gtcls\.mat: no 'GTcls' struct"):
        LoadSBDAnnotations()(results_for(str(no_gtcls)))
    junk = tmp_path / 'junk.mat'
    junk.write_bytes(b'\x00' * 64)
    with pytest.raises(FileFormatError, match=r'junk\.mat: cannot decode'):
        LoadSBDAnnotations()(results_for(str(junk)))
    out_of_range = tmp_path / 'big.mat'
    savemat(str(out_of_range), {'GTcls': {'Segmentation': np.full((2, 2), 40, np.uint8)}})
    with pytest.raises(FileFormatError, match=r'big\.mat: label values outside 0\.\.20'):
        LoadSBDAnnotations(num_classes=21)(results_for(str(out_of_range)))
    # like LoadAnnotations, no value check unless asked
    assert LoadSBDAnnotations()(results_for(str(out_of_range)))['gt_seg_map'].max() == 40


def test_registered_in_mmseg_transforms(label_pair):
    from mmseg.registry import TRANSFORMS
    transform = TRANSFORMS.build(dict(type='LoadSBDAnnotations', num_classes=21))
    assert isinstance(transform, LoadSBDAnnotations)
    assert 'num_classes=21' in repr(transform)
    seg, mat, _ = label_pair
    np.testing.assert_array_equal(transform(results_for(mat))['gt_seg_map'], seg)


def _datasets_of(cfg_path, data_root, key):
    cfg = Config.fromfile(cfg_path)
    dataset = copy.deepcopy(cfg[key].dataset)
    parts = dataset.datasets if dataset.type == 'ConcatDataset' else [dataset]
    for part in parts:
        part.data_root = data_root
    return dataset


@pytest.mark.slow
def test_mat_configs_give_the_same_samples_as_the_png_configs(tmp_path, repo_root):
    """voc_fcn_paper_sbdmat / voc12aug_sbdmat read .mat labels and match the converted PNGs."""
    from mmseg.registry import DATASETS

    from mmseg_fcn_voc.data_prep.pipeline import PrepareOptions, prepare_voc
    from mmseg_fcn_voc.testing.demo_voc import make_demo_voc
    raw, out = tmp_path / 'raw', tmp_path / 'VOCdevkit'
    make_demo_voc(str(raw), num_images=16, seed=3)
    prepare_voc(
        PrepareOptions(out_dir=str(out), voc=str(raw / 'VOCdevkit'),
                       sbd=str(raw / 'benchmark_RELEASE'), voc2011=str(raw / 'TrainVal'), nproc=1))

    png = DATASETS.build(
        _datasets_of(f'{repo_root}/{REPO_CONFIGS}/voc_fcn_paper.py', str(out), 'train_dataloader'))
    mat = DATASETS.build(
        _datasets_of(f'{repo_root}/{REPO_CONFIGS}/voc_fcn_paper_sbdmat.py', str(out),
                     'train_dataloader'))
    assert len(png) == len(mat) > 0
    for i in range(len(png)):
        a, b = png[i], mat[i]
        assert b['data_samples'].seg_map_path.endswith('.mat')
        np.testing.assert_array_equal(a['inputs'].numpy(), b['inputs'].numpy())
        np.testing.assert_array_equal(a['data_samples'].gt_sem_seg.data.numpy(),
                                      b['data_samples'].gt_sem_seg.data.numpy())

    # VOC aug from .mat: the same ids as trainaug.txt, VOC labels for VOC train, SBD for the rest
    aug_mat = DATASETS.build(
        _datasets_of(f'{repo_root}/{REPO_CONFIGS}/voc12aug_sbdmat.py', str(out),
                     'train_dataloader'))
    trainaug = (out / 'VOC2012/ImageSets/Segmentation/trainaug.txt').read_text().split()
    infos = [aug_mat.get_data_info(i) for i in range(len(aug_mat))]
    ids = sorted(info['img_path'].rsplit('/', 1)[1][:-4] for info in infos)
    assert ids == sorted(trainaug)
    voc_train = set((out / 'VOC2012/ImageSets/Segmentation/train.txt').read_text().split())
    for info in infos:
        image_id = info['img_path'].rsplit('/', 1)[1][:-4]
        assert info['seg_map_path'].endswith('.png' if image_id in voc_train else '.mat')
    sample = aug_mat[len(aug_mat) - 1]  # from the .mat part
    assert sample['data_samples'].seg_map_path.endswith('.mat')
    assert sample['inputs'].shape[0] == 3 and max(sample['inputs'].shape[1:]) <= 512
