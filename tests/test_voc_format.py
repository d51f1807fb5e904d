# Tests of mmseg_fcn_voc.datasets.voc_format: VOC / SBD file formats and their errors.
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from fcn_voc_core import fileio
from fcn_voc_core.imageio import FileFormatError, read_image
from mmseg_fcn_voc.datasets import voc_format as vf


def bit_colour_map(n=256):
    """The VOC colour map built from the bits of the class index (the devkit's VOClabelcolormap)."""
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for c in range(n):
        r = g = b = 0
        idx = c
        for j in range(8):
            r |= ((idx >> 0) & 1) << (7 - j)
            g |= ((idx >> 1) & 1) << (7 - j)
            b |= ((idx >> 2) & 1) << (7 - j)
            idx >>= 3
        cmap[c] = (r, g, b)
    return cmap


def test_palette_matches_the_voc_colour_map():
    palette = np.asarray(vf.voc_palette(), dtype=np.uint8).reshape(256, 3)
    official = bit_colour_map()
    np.testing.assert_array_equal(palette[:21], official[:21])
    assert tuple(palette[255]) == tuple(official[255]) == (224, 224, 192)
    # a few colours written out: aeroplane, bicycle, boat, person, tvmonitor
    assert [tuple(palette[c]) for c in (1, 2, 4, 15, 20)] == [
        (128, 0, 0), (0, 128, 0), (0, 0, 128), (192, 128, 128), (0, 64, 128)]
    assert vf.NUM_VOC_CLASSES == 21 and vf.VOC_CLASSES[0] == 'background'
    assert vf.VOC_CLASSES[15] == 'person'


def test_label_png_round_trip(tmp_path):
    label = np.random.default_rng(0).integers(0, 21, (37, 53)).astype(np.uint8)
    label[0, :] = 255
    path = tmp_path / 'a' / 'x.png'
    vf.write_voc_label(path, label)
    with Image.open(path) as img:
        assert img.mode == 'P' and img.size == (53, 37)
        assert tuple(img.getpalette()[3 * 15:3 * 16]) == (192, 128, 128)
    np.testing.assert_array_equal(vf.read_label(path), label)
    assert os.listdir(tmp_path / 'a') == ['x.png']  # no temporary left behind


def test_grey_scale_labels_accepted_colour_labels_refused(tmp_path):
    label = np.full((5, 6), 3, np.uint8)
    Image.fromarray(label, 'L').save(tmp_path / 'grey.png')
    np.testing.assert_array_equal(vf.read_label(tmp_path / 'grey.png'), label)
    Image.fromarray(np.zeros((5, 6, 3), np.uint8)).save(tmp_path / 'rgb.png')
    with pytest.raises(FileFormatError, match=r'rgb\.png: label must be a palette'):
        vf.read_label(tmp_path / 'rgb.png')


def test_out_of_range_label_values_name_the_file(tmp_path):
    label = np.zeros((4, 4), np.uint8)
    label[0, 0], label[1, 1], label[2, 2] = 21, 254, 255  # 255 is fine, 21 and 254 are not
    path = tmp_path / 'bad.png'
    vf.write_voc_label(path, label)
    with pytest.raises(FileFormatError) as e:
        vf.read_label(path)
    assert str(e.value).startswith(str(path)) and '21, 254' in str(e.value)
    assert e.value.path == str(path)
    # value checking can be switched off
    assert vf.read_label(path, num_classes=None)[0, 0] == 21


def test_undecodable_and_truncated_images_name_the_file(tmp_path):
    garbage = tmp_path / 'garbage.jpg'
    garbage.write_bytes(b'this is not a jpeg')
    with pytest.raises(FileFormatError, match=r'garbage\.jpg: cannot decode image'):
        read_image(garbage)
    good = tmp_path / 'good.jpg'
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(
        good, quality=90)
    assert read_image(good).shape == (64, 80, 3)
    truncated = tmp_path / 'truncated.jpg'
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(FileFormatError, match=r'truncated\.jpg: cannot decode image'):
        read_image(truncated)
    with pytest.raises(FileFormatError, match=r'missing\.png: label not found'):
        vf.read_label(tmp_path / 'missing.png')
    broken_png = tmp_path / 'broken.png'
    broken_png.write_bytes(b'\x89PNG\r\n\x1a\n' + b'\x00' * 20)
    with pytest.raises(FileFormatError, match=r'broken\.png: cannot decode label'):
        vf.read_label(broken_png)


def write_mat(path, **variables):
    savemat(str(path), variables)


def test_sbd_mat_reading(tmp_path):
    seg = np.random.default_rng(2).integers(0, 21, (30, 40)).astype(np.uint8)
    path = tmp_path / 'ok.mat'
    write_mat(path, GTcls={'Segmentation': seg, 'CategoriesPresent': np.array([1, 2])})
    np.testing.assert_array_equal(vf.read_sbd_mat(path), seg)
    # from bytes (mmengine fileio), the name is used in errors
    np.testing.assert_array_equal(vf.read_sbd_mat(path.read_bytes(), name='remote.mat'), seg)
    np.testing.assert_array_equal(vf.read_label(path), seg)


@pytest.mark.parametrize('variables, message', [
    (dict(GTinst={'Segmentation': np.zeros((3, 3), np.uint8)}), "no 'GTcls' struct"),
    (dict(GTcls={'Boundaries': np.zeros((3, 3), np.uint8)}), "no 'Segmentation' field"),
    (dict(GTcls={'Segmentation': np.zeros((3, 3, 2), np.uint8)}), 'must be a 2-D integer map'),
    (dict(GTcls={'Segmentation': np.zeros((3, 3), np.float64)}), 'must be a 2-D integer map'),
    (dict(GTcls={'Segmentation': np.full((3, 3), 30, np.uint8)}), 'label values outside'),
])
def test_bad_sbd_mat_files_name_the_file(tmp_path, variables, message):
    path = tmp_path / 'bad.mat'
    write_mat(path, **variables)
    with pytest.raises(FileFormatError, match=message) as e:
        vf.read_sbd_mat(path)
    assert str(e.value).startswith(str(path))


def test_undecodable_mat_names_the_file(tmp_path):
    path = tmp_path / 'garbage.mat'
    path.write_bytes(b'MATLAB? no.' * 20)
    with pytest.raises(FileFormatError, match=r'garbage\.mat: cannot decode SBD \.mat file'):
        vf.read_sbd_mat(path)
    with pytest.raises(FileFormatError, match=r'nothere\.mat: SBD \.mat label not found'):
        vf.read_sbd_mat(tmp_path / 'nothere.mat')


def test_validate_sample_collects_every_problem(tmp_path):
    image = tmp_path / 'a.jpg'
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(image)
    label = tmp_path / 'a.png'
    vf.write_voc_label(label, np.zeros((20, 31), np.uint8))
    (problem, ) = vf.validate_sample(image, label)
    assert problem.startswith(str(label)) and '31x20' in problem and '30x20' in problem
    vf.write_voc_label(label, np.zeros((20, 30), np.uint8))
    assert vf.validate_sample(image, label) == []
    (tmp_path / 'b.jpg').write_bytes(b'junk')
    bad_label = tmp_path / 'b.png'
    vf.write_voc_label(bad_label, np.full((2, 2), 99, np.uint8))
    problems = vf.validate_sample(tmp_path / 'b.jpg', bad_label)
    assert len(problems) == 2
    assert problems[0].startswith(str(tmp_path / 'b.jpg'))
    assert problems[1].startswith(str(bad_label))


def test_split_files(tmp_path):
    path = tmp_path / 'train.txt'
    vf.write_split(path, ['2007_000032', '2007_000039'])
    assert path.read_text() == '2007_000032\n2007_000039\n'
    path.write_text('a\n\n b \n')
    assert vf.read_split(path) == ['a', 'b']
    path.write_text('a\nb\na\n')
    with pytest.raises(FileFormatError,
                       match=r"train\.txt: line 3: image id 'a' is listed twice"):
        vf.read_split(path)
    path.write_text('a 1\n')
    with pytest.raises(FileFormatError, match='expected one image id'):
        vf.read_split(path)
    with pytest.raises(FileFormatError, match=r'none\.txt: split file not found'):
        vf.read_split(tmp_path / 'none.txt')


def test_atomic_output_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / 'f.txt'
    path.write_text('old')
    with pytest.raises(RuntimeError):
        with fileio.atomic_output(path) as tmp:
            with open(tmp, 'w') as f:
                f.write('half')
            raise RuntimeError('killed')
    assert path.read_text() == 'old'
    assert os.listdir(tmp_path) == ['f.txt']
    # leftovers of a killed process are recognised
    stale = tmp_path / '.g.png.tmp-12345'
    stale.write_text('x')
    assert fileio.remove_stale_temporaries(tmp_path) == 1
    assert not osp.exists(stale) and path.exists()
