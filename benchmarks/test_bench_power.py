"""``scvbench power``'s simulation against a plain per-cohort loop over SciPy's Mann-Whitney test.

``scvbench`` = :func:`scvbench.core.power.simulate_power` (all cohorts ranked and tested along
the rows of one array) for 2,000 cohorts of the study's 164 (53 : 111) drawn from the study's
right-tortuosity distributions with a constant measurement error; ``scipy`` = the same number of
cohorts, each drawn and tested with ``scipy.stats.mannwhitneyu`` (asymptotic, no continuity
correction) in a Python loop. Target: thousands of cohorts per second on 2 cores. Run with
``make bench``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from scvbench.core.agreement import ErrorModel
from scvbench.core.power import simulate_power
from scvbench.steps.power import load_effect, sampler

COHORTS = 2000
GROUPS = (53, 111)
ERROR = ErrorModel("constant", -0.05, 0.0, 0.1, 40)


def _draw():
    return sampler(load_effect("paper", "tortuosity", "right"))


@pytest.mark.benchmark(group="power-2000-cohorts-of-164")
def test_scvbench_vectorised(benchmark):
    draw = _draw()
    result = benchmark.pedantic(
        lambda: simulate_power(draw, GROUPS, ERROR, simulations=COHORTS), rounds=3, warmup_rounds=1
    )
    assert 0.5 < result["power"] < 0.95
    if benchmark.stats:  # timed (make bench), not run with the benchmarks disabled
        benchmark.extra_info["cohorts_per_second"] = COHORTS / benchmark.stats.stats.mean


@pytest.mark.benchmark(group="power-2000-cohorts-of-164")
def test_scipy_loop(benchmark):
    draw = _draw()

    def plain():
        rng = np.random.default_rng(0)
        hits = 0
        for _ in range(COHORTS):
            a = ERROR.apply(draw(1, (GROUPS[0],), rng), rng)
            b = ERROR.apply(draw(0, (GROUPS[1],), rng), rng)
            test = sps.mannwhitneyu(a, b, method="asymptotic", use_continuity=False)
            hits += bool(test.pvalue < 0.05 and test.statistic > GROUPS[0] * GROUPS[1] / 2)
        return hits / COHORTS

    power = benchmark.pedantic(plain, rounds=1, warmup_rounds=0)
    assert 0.5 < power < 0.95
