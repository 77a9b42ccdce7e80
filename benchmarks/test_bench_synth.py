"""Generator throughput: subjects per second per preset.

Run with ``make bench``. pytest-benchmark reports seconds per round; one round generates one
subject, so subjects per second = 1 / mean. The template is built once before timing.
"""

from __future__ import annotations

import pytest

from scvbench.steps.synth.anatomy import load_template
from scvbench.steps.synth.cohort import draw_cohort
from scvbench.steps.synth.presets import PRESETS
from scvbench.steps.synth.subject import SynthSettings, synthesize_subject


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
