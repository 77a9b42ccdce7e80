"""Power of the study's tests when a segmentation model measures the veins, by simulation.

A simulated cohort draws each participant's true value from its group's distribution, adds the
model's measurement error (:class:`scvbench.core.agreement.ErrorModel`, fitted to the
Bland-Altman pairs of ``scvbench evaluate``), and runs the study's test: the Mann-Whitney U test
(tie-corrected Z without continuity correction, as SPSS and
:func:`scvbench.core.stats.mann_whitney`) or a logistic regression of the group on the measure
(Wald test). Thousands of cohorts are tested at once: ranks and Z along the rows of one array
(:func:`mann_whitney_z`), Newton-Raphson on all cohorts together for the logistic model
(:func:`logistic_wald`). Power is the share of cohorts whose test is significant at ``alpha``
**in the direction of the true effect**, with a Wilson 95 % interval for the Monte-Carlo error.

:func:`analytic_power` is the normal-theory cross-check: the standardised difference of the
group means attenuated by the measure's reliability (``d * sqrt(var_true / (var_true +
var_error))``), and the Mann-Whitney test's asymptotic relative efficiency 3/pi against the t
test.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from scvbench.core.agreement import ErrorModel

__all__ = [
    "analytic_power",
    "logistic_wald",
    "mann_whitney_z",
    "n_for_power",
    "simulate_power",
    "wilson_interval",
]


def mann_whitney_z(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Tie-corrected Mann-Whitney Z of each row (``first`` against ``second``), no continuity.

    Z is ``(U1 - n1 n2 / 2) / sigma`` with ``U1`` the U of ``first``: negative when ``first``
    tends to be smaller (:func:`scvbench.core.stats.mann_whitney` reports the smaller U and so
    a Z <= 0; the magnitudes are equal).

    Parameters
    ----------
    first, second : ndarray
        (cohorts, n1) and (cohorts, n2) values.

    Returns
    -------
    ndarray
        (cohorts,) Z; 0 where every value of a row is tied.
    """
    n1, n2 = first.shape[1], second.shape[1]
    n = n1 + n2
    joined = np.concatenate([first, second], axis=1)
    ranks = sps.rankdata(joined, axis=1)
    u1 = ranks[:, :n1].sum(axis=1) - n1 * (n1 + 1) / 2
    ordered = np.sort(joined, axis=1)
    # tie groups: runs of equal values along each sorted row
    starts = np.ones(ordered.shape, bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    run_id = np.cumsum(starts, axis=1) - 1
    counts = np.zeros(ordered.shape, float)
    np.add.at(counts, (np.arange(len(ordered))[:, None], run_id), 1.0)
    ties = (counts**3 - counts).sum(axis=1)
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (u1 - n1 * n2 / 2.0) / np.sqrt(variance)
    return np.where(variance > 0, z, 0.0)


def logistic_wald(x: np.ndarray, y: np.ndarray, iterations: int = 25) -> tuple[np.ndarray, ...]:
    """Logistic regression of ``y`` on ``x`` with a constant, for every row at once.

    Newton-Raphson on the 2 x 2 information matrix of each row; rows that separate perfectly
    end with a large coefficient and standard error (a Wald Z near 0, as statsmodels would
    warn).

    Parameters
    ----------
    x : ndarray
        (cohorts, n) predictor.
    y : ndarray
        (cohorts, n) outcome, 0 or 1.
    iterations : int
        Newton steps.

    Returns
    -------
    coef, se, z : ndarray
        The slope, its standard error and Wald Z per row.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    b0 = np.zeros(len(x))
    b1 = np.zeros(len(x))
    for _ in range(iterations):
        eta = np.clip(b0[:, None] + b1[:, None] * x, -30, 30)
        p = 1.0 / (1.0 + np.exp(-eta))
        w = p * (1 - p)
        g0, g1 = (y - p).sum(axis=1), ((y - p) * x).sum(axis=1)
        h00, h01, h11 = w.sum(axis=1), (w * x).sum(axis=1), (w * x * x).sum(axis=1)
        det = h00 * h11 - h01**2
        det = np.where(np.abs(det) > 1e-12, det, np.nan)
        step0, step1 = (h11 * g0 - h01 * g1) / det, (h00 * g1 - h01 * g0) / det
        b0 = np.where(np.isfinite(step0), b0 + np.clip(step0, -10, 10), b0)
        b1 = np.where(np.isfinite(step1), b1 + np.clip(step1, -50, 50), b1)
    eta = np.clip(b0[:, None] + b1[:, None] * x, -30, 30)
    p = 1.0 / (1.0 + np.exp(-eta))
    w = p * (1 - p)
    h00, h01, h11 = w.sum(axis=1), (w * x).sum(axis=1), (w * x * x).sum(axis=1)
    det = h00 * h11 - h01**2
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(h00 / det)
        z = np.where(np.isfinite(se) & (se > 0), b1 / se, 0.0)
    return b1, se, z


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion.

    Parameters
    ----------
    successes, trials : int
        Counts.
    level : float
        Coverage.

    Returns
    -------
    tuple of float
        Lower and upper bound.
    """
    if trials == 0:
        return (0.0, 1.0)
    z = sps.norm.ppf(0.5 + level / 2)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    )
    return (max(0.0, centre - half), min(1.0, centre + half))


def simulate_power(
    draw,
    n_groups: tuple[int, int],
    error: ErrorModel,
    test: str = "mannwhitney",
    alpha: float = 0.05,
    simulations: int = 2000,
    rng: np.random.Generator | None = None,
    discrete: bool = False,
    direction: int = 1,
    batch: int = 2000,
) -> dict:
    """Power of ``test`` for cohorts of ``n_groups`` measured with ``error``.

    Parameters
    ----------
    draw : callable
        ``draw(group, shape, rng)``: true values of group 0 (without the condition) or 1.
    n_groups : tuple of int
        Participants of group 1 and of group 0 (the study: 53 with DWML, 111 without).
    error : ErrorModel
        The measurement error.
    test : str
        ``mannwhitney`` or ``logistic`` (group on the measure).
    alpha : float
        Two-sided significance level.
    simulations : int
        Simulated cohorts.
    rng : numpy.random.Generator, optional
        The random stream.
    discrete : bool
        Measured values are whole numbers (vessel counts): rounded after the error.
    direction : int
        +1 when group 1's values are larger under the effect, -1 when smaller.
    batch : int
        Cohorts tested at once.

    Returns
    -------
    dict
        ``power``, ``ci_low``, ``ci_high``, ``significant`` and ``simulations``.
    """
    if test not in ("mannwhitney", "logistic"):
        raise ValueError(f"test must be mannwhitney or logistic, got {test!r}")
    rng = rng or np.random.default_rng(0)
    n1, n0 = n_groups
    critical = sps.norm.ppf(1 - alpha / 2)
    hits, done = 0, 0
    while done < simulations:
        size = min(batch, simulations - done)
        first = error.apply(draw(1, (size, n1), rng), rng)
        second = error.apply(draw(0, (size, n0), rng), rng)
        if discrete:
            first, second = np.rint(first), np.rint(second)
        if test == "mannwhitney":
            z = mann_whitney_z(first, second)
        else:
            x = np.concatenate([first, second], axis=1)
            y = np.concatenate([np.ones((size, n1)), np.zeros((size, n0))], axis=1)
            z = logistic_wald(x, y)[2]
        hits += int(np.count_nonzero(direction * z > critical))
        done += size
    low, high = wilson_interval(hits, done)
    return {
        "power": hits / done,
        "ci_low": low,
        "ci_high": high,
        "significant": hits,
        "simulations": done,
    }


def analytic_power(
    means: tuple[float, float],
    sds: tuple[float, float],
    n_groups: tuple[int, int],
    error_sd: float = 0.0,
    alpha: float = 0.05,
    test: str = "mannwhitney",
) -> dict:
    """Normal-theory power with the effect attenuated by the measure's reliability.

    Parameters
    ----------
    means, sds : tuple of float
        Group 1 and group 0 means and standard deviations of the true values.
    n_groups : tuple of int
        Participants of group 1 and group 0.
    error_sd : float
        Standard deviation of the measurement error (its bias cancels between groups).
    alpha : float
        Two-sided significance level.
    test : str
        ``mannwhitney`` (t-test power at the effective sample size x 3/pi) or ``logistic``
        (as the t test: the same normal-theory approximation).

    Returns
    -------
    dict
        ``power``, ``d`` (true standardised difference), ``reliability``, ``d_observed``.
    """
    pooled = math.sqrt((sds[0] ** 2 + sds[1] ** 2) / 2)
    d = (means[0] - means[1]) / pooled
    reliability = pooled**2 / (pooled**2 + error_sd**2)
    observed = abs(d) * math.sqrt(reliability)
    n1, n0 = n_groups
    efficiency = 3 / math.pi if test == "mannwhitney" else 1.0
    noncentrality = observed * math.sqrt(efficiency * n1 * n0 / (n1 + n0))
    critical = sps.norm.ppf(1 - alpha / 2)
    power = float(sps.norm.cdf(noncentrality - critical) + sps.norm.cdf(-noncentrality - critical))
    return {
        "power": power,
        "d": float(d),
        "reliability": float(reliability),
        "d_observed": observed,
    }


def n_for_power(ns, powers, target: float) -> float | None:
    """The total size at which the power curve first reaches ``target`` (linear between points).

    Parameters
    ----------
    ns : sequence of int
        Total cohort sizes, increasing.
    powers : sequence of float
        The power at each.
    target : float
        The power wanted.

    Returns
    -------
    float or None
        The size (interpolated between the two grid points around the crossing), or None when
        the curve stays below ``target``.
    """
    ns, powers = np.asarray(ns, float), np.asarray(powers, float)
    above = np.flatnonzero(powers >= target)
    if not above.size:
        return None
    i = int(above[0])
    if i == 0:
        return float(ns[0])
    lo, hi = powers[i - 1], powers[i]
    return float(ns[i - 1] + (target - lo) / (hi - lo) * (ns[i] - ns[i - 1]))
