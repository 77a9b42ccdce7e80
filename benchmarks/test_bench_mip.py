"""MinIP kernel on a 352 x 352 x 150 float32 volume (20-slice slab, 1-slice step).

Target: within 3x of one plain copy of the volume (the memory-bandwidth floor). Peers:
``scipy.ndimage.minimum_filter1d`` along the slice axis (what sliding-window tools use) and the
brute-force minimum over each window. The volume is Fortran-ordered, as nibabel loads NIfTI.
Run with ``make bench`` and compare the group's means: ratio = scvbench / copy, with one
thread and with two (``threads=2``).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from scvbench.core.mip import SlabWindow, minimum_intensity_projection

WINDOW = SlabWindow(20, 1)


@pytest.fixture(scope="module")
def volume():
    data = np.random.default_rng(0).normal(size=(352, 352, 150)).astype(np.float32)
    return np.asfortranarray(data)


def _brute_force(volume, window):
    return np.stack(
        [
            volume[..., s : s + window.window].min(axis=-1)
            for s in range(0, volume.shape[-1] - window.window + 1, window.step)
        ],
        axis=-1,
    )


@pytest.mark.benchmark(group="minip-352x352x150")
def test_minip_scvbench(benchmark, volume):
    out = benchmark(minimum_intensity_projection, volume, WINDOW)
    np.testing.assert_array_equal(out, _brute_force(volume, WINDOW))


@pytest.mark.benchmark(group="minip-352x352x150")
def test_minip_scvbench_two_threads(benchmark, volume):
    out = benchmark(minimum_intensity_projection, volume, WINDOW, threads=2)
    np.testing.assert_array_equal(out, _brute_force(volume, WINDOW))


@pytest.mark.benchmark(group="minip-352x352x150")
def test_minip_plain_copy_floor(benchmark, volume):
    benchmark(np.copy, volume, order="K")


@pytest.mark.benchmark(group="minip-352x352x150")
def test_minip_scipy_minimum_filter1d(benchmark, volume):
    def run():
        filtered = ndimage.minimum_filter1d(volume, WINDOW.window, axis=2, origin=9)
        return filtered[:, :, 19:]

    benchmark(run)


@pytest.mark.benchmark(group="minip-352x352x150")
def test_minip_brute_force(benchmark, volume):
    benchmark(_brute_force, volume, WINDOW)
