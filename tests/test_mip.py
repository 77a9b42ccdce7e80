import numpy as np
import pytest

from scvbench.core.mip import (
    SlabWindow,
    maximum_intensity_projection,
    minimum_intensity_projection,
    slab_window,
)


def brute_force(volume, window, step, axis, reducer=np.min):
    moved = np.moveaxis(volume, axis, -1)
    out = [
        reducer(moved[..., s : s + window], axis=-1)
        for s in range(0, moved.shape[-1] - window + 1, step)
    ]
    return np.moveaxis(np.stack(out, axis=-1), -1, axis)


@pytest.mark.parametrize("window,step", [(20, 1), (1, 1), (2, 1), (3, 2), (4, 3), (7, 7), (13, 1)])
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_sliding_minimum_equals_brute_force(window, step, axis):
    rng = np.random.default_rng(window * 10 + step)
    shape = [5, 6, 7]
    shape[axis] = 31
    volume = rng.normal(size=shape).astype(np.float32)
    expected = brute_force(volume, window, step, axis)
    got = minimum_intensity_projection(volume, SlabWindow(window, step), axis=axis)
    np.testing.assert_array_equal(got, expected)
    got_max = maximum_intensity_projection(volume, SlabWindow(window, step), axis=axis)
    np.testing.assert_array_equal(got_max, brute_force(volume, window, step, axis, np.max))


def test_integer_labels_keep_dtype():
    labels = np.zeros((3, 3, 10), np.int16)
    labels[1, 1, 4] = 7
    out = maximum_intensity_projection(labels, SlabWindow(3, 1))
    assert out.dtype == np.int16
    assert out[1, 1].tolist() == [0, 0, 7, 7, 7, 0, 0, 0]


def test_slab_in_mm_uses_slice_spacing():
    assert slab_window(20, 1, 1.0) == SlabWindow(20, 1)
    assert slab_window(20, 1, 2.0) == SlabWindow(10, 1)
    assert slab_window(20, 2, 0.5) == SlabWindow(40, 4)
    assert slab_window(20, 1, 1.5) == SlabWindow(13, 1)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_slab_window_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="slab_mm must be a positive number"):
        slab_window(bad, 1, 1)


def test_affine_places_projection_at_window_centre():
    affine = np.diag([0.5, 0.6, 1.5, 1.0])
    affine[:3, 3] = [-10, 20, -30]
    window = SlabWindow(window=20, step=2)
    out = window.affine(affine)
    # projection 3 covers input slices 6..25, centre 15.5
    centre = out @ np.array([1, 2, 3, 1.0])
    np.testing.assert_allclose(centre[:3], affine[:3, :3] @ [1, 2, 15.5] + affine[:3, 3])
    assert window.covering(3) == range(6, 26)
    assert window.n_projections(25) == 3
    assert window.n_projections(19) == 0


def test_too_thick_slab_is_a_clear_error():
    with pytest.raises(ValueError, match="thicker than the volume"):
        minimum_intensity_projection(np.zeros((2, 2, 5)), SlabWindow(6, 1))


def test_input_is_not_modified():
    volume = np.arange(24, dtype=float).reshape(2, 3, 4)
    before = volume.copy()
    minimum_intensity_projection(volume, SlabWindow(2, 1))
    np.testing.assert_array_equal(volume, before)


@pytest.mark.parametrize(
    "layout",
    ["c", "fortran", "flipped", "strided", "wide"],
)
def test_sliding_minimum_any_memory_layout(layout):
    rng = np.random.default_rng(3)
    if layout == "wide":  # more in-plane pixels than one processing tile
        volume = rng.normal(size=(190, 200, 23)).astype(np.float32)
    else:
        volume = rng.normal(size=(9, 11, 40)).astype(np.float32)
    volume = {
        "c": volume,
        "wide": np.asfortranarray(volume),
        "fortran": np.asfortranarray(volume),
        "flipped": np.asfortranarray(volume)[::-1, ::-1, :],
        "strided": volume[::2, :, ::1],
    }[layout]
    for window, step in [(20, 1), (6, 4), (1, 1)]:
        window = min(window, volume.shape[2])
        expected = brute_force(volume, window, step, 2)
        got = minimum_intensity_projection(volume, SlabWindow(window, step))
        np.testing.assert_array_equal(got, expected)
        threaded = minimum_intensity_projection(volume, SlabWindow(window, step), threads=3)
        np.testing.assert_array_equal(threaded, expected)


def test_nan_propagates_like_brute_force():
    volume = np.ones((2, 2, 10), np.float32)
    volume[0, 0, 5] = np.nan
    got = minimum_intensity_projection(volume, SlabWindow(3, 1))
    np.testing.assert_array_equal(got, brute_force(volume, 3, 1, 2))
