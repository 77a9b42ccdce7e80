"""core.distance and core.smoothing: SciPy's values, voxel for voxel, for less work."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from scvbench.core.distance import ball_offsets, farther_than


@pytest.mark.parametrize("ndim", [2, 3])
def test_farther_than_equals_the_thresholded_transform(ndim):
    rng = np.random.default_rng(ndim)
    for trial in range(40):
        shape = tuple(int(n) for n in rng.integers(6, 30, ndim))
        spacing = tuple(float(s) for s in rng.uniform(0.3, 1.5, ndim))
        mask = ndimage.gaussian_filter(rng.random(shape), 2) > 0.5 + rng.uniform(-0.05, 0.05)
        if trial % 4 == 0:  # touching the image's edge, where no background lies beyond
            mask[:3] = True
        # radii between voxels and exactly on them (multiples of a voxel size)
        for mm in (0.0, float(rng.uniform(0.2, 5.0)), 2 * spacing[0], 3 * spacing[-1]):
            plain = ndimage.distance_transform_edt(mask, sampling=spacing) > mm
            assert np.array_equal(farther_than(mask, spacing, mm), plain), (trial, mm)


def test_farther_than_without_background_and_bad_shapes():
    full = np.ones((6, 7, 5), bool)
    spacing = (1.0, 0.5, 2.0)
    expected = ndimage.distance_transform_edt(full, sampling=spacing) > 1.0
    assert np.array_equal(farther_than(full, spacing, 1.0), expected)
    assert not farther_than(np.zeros((4, 4)), (1.0, 1.0), 0.5).any()
    with pytest.raises(ValueError, match="2-D or 3-D"):
        farther_than(np.ones(5, bool), (1.0,), 1.0)


def test_ball_offsets_lie_within_the_radius_nearest_first():
    spacing = (0.5, 0.75, 1.0)
    offsets = ball_offsets(spacing, 2.0)
    length = np.sqrt(((offsets * np.asarray(spacing)) ** 2).sum(axis=1))
    assert (offsets[0] == 0).all() and (np.diff(length) >= 0).all() and length.max() <= 2.0
    assert len(offsets) == len({tuple(o) for o in offsets.tolist()})
    # every offset of length <= 2 mm is there: count them by brute force
    grid = np.stack(np.meshgrid(*(np.arange(-5, 6),) * 3, indexing="ij"), -1).reshape(-1, 3)
    assert len(offsets) == int((np.sqrt(((grid * spacing) ** 2).sum(1)) <= 2.0).sum())


def test_gaussian_on_box_equals_scipy_s_filter_in_the_box():
    from scvbench.core.smoothing import gaussian_on_box

    rng = np.random.default_rng(7)
    for trial in range(12):
        volume = rng.normal(size=tuple(int(n) for n in rng.integers(8, 40, 3)))
        volume = volume.astype(np.float32 if trial % 2 else np.float64)
        sigma = tuple(float(s) for s in rng.uniform(0.0, 6.0, 3))
        if trial % 3 == 0:
            sigma = (sigma[0], 0.0, sigma[2])  # an axis SciPy leaves alone
        box = tuple(
            slice(int(a), int(a) + int(w))
            for a, w in zip(rng.integers(0, 4, 3), rng.integers(1, 5, 3), strict=True)
        )
        got = gaussian_on_box(volume, sigma, box)
        assert got.dtype == volume.dtype
        assert np.array_equal(got, ndimage.gaussian_filter(volume, sigma)[box])
    with pytest.raises(ValueError, match="one sigma and one slice per axis"):
        gaussian_on_box(np.zeros((4, 4)), (1.0,), (slice(0, 2), slice(0, 2)))
