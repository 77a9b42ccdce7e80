"""``measure`` on a 512 x 512 mask with 20 vessels against skan on the same skeleton.

Target: no slower than skan's ``summarize(Skeleton(skeleton))`` on the same (thinned) skeleton,
which measures the branches of the pixel graph and nothing else (no thinning, pinhole filling,
pruning, per-vessel longest path, end fits, tips or diameters). Also timed: skan from the mask
with skimage's fast (Zhang) ``skeletonize``, and skimage's topology-preserving ``thin`` (which
``measure`` runs compiled, per vessel). Run with ``make bench``; ratio = measure / skan.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from scvbench.core.morphometry import measure


@pytest.fixture(scope="module")
def mask():
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:512, :512]
    centres = np.c_[cols.ravel(), rows.ravel()].astype(float)
    out = np.zeros(512 * 512, bool)
    for k in range(20):
        r0, c0 = 40 + (k // 5) * 110, 30 + (k % 5) * 95
        t = np.linspace(0, 1, 2000)
        curve = np.c_[
            c0 + 70 * t,
            r0 + rng.uniform(5, 15) * np.sin(2 * np.pi * t * rng.uniform(1, 2.5)) + 40 * t,
        ]
        distance, _ = cKDTree(curve).query(centres)
        out |= distance <= rng.uniform(1.2, 2.8)
    return out.reshape(512, 512)


@pytest.mark.benchmark(group="morphometry-512x512-20-vessels")
def test_measure(benchmark, mask):
    table = benchmark(measure, mask, 0.55, None, 0.0)
    assert len(table) == 20


@pytest.mark.benchmark(group="morphometry-512x512-20-vessels")
def test_skan_summarize_same_skeleton(benchmark, mask):
    from skan import Skeleton, summarize
    from skimage.morphology import thin

    skeleton = thin(mask)
    summarize(Skeleton(skeleton, spacing=0.55), separator="_")  # numba warm-up
    table = benchmark(lambda: summarize(Skeleton(skeleton, spacing=0.55), separator="_"))
    assert len(table) >= 20


@pytest.mark.benchmark(group="morphometry-512x512-20-vessels")
def test_skan_from_the_mask_with_zhang_skeletonize(benchmark, mask):
    from skan import Skeleton, summarize
    from skimage.morphology import skeletonize

    benchmark(lambda: summarize(Skeleton(skeletonize(mask), spacing=0.55), separator="_"))


@pytest.mark.benchmark(group="morphometry-512x512-20-vessels")
def test_thin_alone(benchmark, mask):
    from skimage.morphology import thin

    benchmark(thin, mask)
