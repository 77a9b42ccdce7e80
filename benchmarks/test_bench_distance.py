"""Two steps of ``derive`` on a head-sized 3-D mask, against what it ran before.

The brain mask's 4 mm erosion test, ``EDT(mask) > 4 mm``:

``scvbench`` = :func:`scvbench.core.distance.farther_than` (box test, then the ball around the
voxels at the mask's edge); ``plain`` = ``scipy.ndimage.distance_transform_edt(mask,
sampling=spacing) > 4.0``, what ``derive`` ran before. The mask: an ellipsoidal head with an
irregular outline on the 256 x 256 x 64 grid of the ``demo`` SWI (0.76 x 0.86 x 1.0 mm).
Ratio = scvbench / plain (below 1 is faster); the two give the same voxels (asserted).

The ventricle step's 15 mm bias field read inside the brain's box:
:func:`scvbench.core.smoothing.gaussian_on_box` against ``scipy.ndimage.gaussian_filter`` of the
whole volume (equal values in the box, asserted). Run with ``make bench``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from scvbench.core.distance import farther_than

SPACING = (0.756, 0.859, 1.0)


@pytest.fixture(scope="module")
def head():
    i, j, k = np.meshgrid(*(np.linspace(-1, 1, n) for n in (256, 256, 64)), indexing="ij")
    bumps = ndimage.gaussian_filter(np.random.default_rng(0).normal(size=(256, 256, 64)), 6)
    return (i / 0.8) ** 2 + (j / 0.9) ** 2 + (k / 1.6) ** 2 + 4 * bumps < 1.0


@pytest.mark.benchmark(group="edt-threshold-256x256x64")
def test_farther_than_scvbench(benchmark, head):
    out = benchmark(farther_than, head, SPACING, 4.0)
    assert np.array_equal(out, ndimage.distance_transform_edt(head, sampling=SPACING) > 4.0)


@pytest.mark.benchmark(group="edt-threshold-256x256x64")
def test_farther_than_plain_scipy(benchmark, head):
    out = benchmark(lambda: ndimage.distance_transform_edt(head, sampling=SPACING) > 4.0)
    assert out.any() and not out.all()


@pytest.mark.benchmark(group="gaussian-15mm-in-brain-box-256x256x64")
def test_gaussian_on_box_scvbench(benchmark, head):
    from scvbench.core.smoothing import gaussian_on_box

    sigma = tuple(15.0 / s for s in SPACING)
    box = ndimage.find_objects(head.view(np.uint8))[0]
    out = benchmark(gaussian_on_box, head.astype(np.float32), sigma, box)
    plain = ndimage.gaussian_filter(head.astype(np.float32), sigma)[box]
    assert np.array_equal(out, plain)


@pytest.mark.benchmark(group="gaussian-15mm-in-brain-box-256x256x64")
def test_gaussian_whole_volume_plain_scipy(benchmark, head):
    sigma = tuple(15.0 / s for s in SPACING)
    benchmark(ndimage.gaussian_filter, head.astype(np.float32), sigma)
