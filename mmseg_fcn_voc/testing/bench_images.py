# Copyright (c) mmseg-fcn-voc contributors. Licensed under the Apache License 2.0.
"""JPEG images of VOC-like sizes for the deployment benchmarks."""
import os.path as osp
from typing import List, Tuple

import numpy as np
from PIL import Image


def write_bench_images(folder: str, n: int, size: Tuple[int, int] = (375, 500), seed: int = 0,
                       prefix: str = '') -> List[str]:
    """``n`` JPEGs (quality 90) in ``folder``: about ``size`` (H, W), alternately landscape and
    portrait, each a few pixels smaller than the last at random (so every image has its own
    size, as VOC's do); smooth gradients with noise. Returns their paths."""
    rng = np.random.default_rng(seed)
    paths = []
    jitter = max(1, min(size) // 10)
    for i in range(n):
        h, w = size if i % 2 else size[::-1]
        h, w = h - int(rng.integers(0, jitter)), w - int(rng.integers(0, jitter))
        yy, xx = np.mgrid[0:h, 0:w]
        img = np.stack([(xx * 255 // w), (yy * 255 // h), ((xx + yy) % 256)], -1)
        img = np.clip(img + rng.normal(0, 20, img.shape), 0, 255).astype(np.uint8)
        paths.append(osp.join(folder, f'{prefix}{i:03d}.jpg'))
        Image.fromarray(img).save(paths[-1], quality=90)
    return paths
