"""Generator throughput (subjects per second per preset) and the MinIP kernel against brute force.

Run with ``make bench``. pytest-benchmark reports seconds per round; one round generates one
subject, so subjects per second = 1 / mean. The template is built once before timing.
"""

from __future__ import annotations

import numpy as np
import pytest

from scvbench.mip import SlabWindow, minimum_intensity_projection
from scvbench.synth.anatomy import load_template
from scvbench.synth.cohort import draw_cohort
from scvbench.synth.presets import PRESETS
from scvbench.synth.subject import SynthSettings, synthesize_subject


@pytest.mark.parametrize("preset", ["tiny", "demo", "paper"])
def test_generator_one_subject(benchmark, preset, tmp_path):
    load_template()
    row = draw_cohort(2, seed=0).iloc[0].to_dict()
    settings = SynthSettings(PRESETS[preset], seed=0)
    counter = iter(range(10**6))

    def run():
        synthesize_subject(row, settings, tmp_path / str(next(counter)))

    run()  # warm-up: numba compilation in skan, page cache
    benchmark.extra_info["subjects_per_second"] = "1 / mean"
    benchmark.pedantic(run, rounds=3 if preset == "paper" else 5, iterations=1)


def _brute_force(volume, window):
    return np.stack(
        [
            volume[..., s : s + window.window].min(axis=-1)
            for s in range(0, volume.shape[-1] - window.window + 1, window.step)
        ],
        axis=-1,
    )


@pytest.fixture(scope="module")
def swi_volume():
    return np.random.default_rng(0).normal(size=(352, 352, 72)).astype(np.float32)


def test_minip_sliding_filter(benchmark, swi_volume):
    window = SlabWindow(20, 1)
    out = benchmark(minimum_intensity_projection, swi_volume, window)
    np.testing.assert_array_equal(out, _brute_force(swi_volume, window))


def test_minip_brute_force_reference(benchmark, swi_volume):
    benchmark(_brute_force, swi_volume, SlabWindow(20, 1))
