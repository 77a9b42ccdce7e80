"""Agreement of two raters' (or a model's and a rater's) measurements: ICC, Bland-Altman, MAE.

:class:`ErrorModel` is the measurement error fitted to the Bland-Altman pairs, for the power
simulations of :mod:`scvbench.core.power`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from scvbench.core.stats import MIN_GROUP
from scvbench.results import Agreement

__all__ = ["ErrorModel", "fit_error_model", "icc", "morphometry_agreement"]


def morphometry_agreement(
    pairs: pd.DataFrame, measures: tuple[str, ...] = ("count", "diameter_mm", "tortuosity")
) -> dict[str, dict[str, Agreement]]:
    """ICC(A,1), ICC(C,1), Bland-Altman bias and 95 % limits, MAE per measure and hemisphere.

    Units are slices x hemispheres; a pair with a missing value (no vessel: no diameter or
    tortuosity) is left out of that measure and counted in ``n_missing``.

    Parameters
    ----------
    pairs : DataFrame
        One row per case and hemisphere with ``hemisphere`` and ``<measure>_submission`` /
        ``<measure>_reference`` columns.
    measures : tuple of str
        The measures to compare.

    Returns
    -------
    dict
        ``{hemisphere: {measure: Agreement}}``.
    """
    out: dict = {}
    for side in ("left", "right"):
        part = pairs[pairs["hemisphere"] == side]
        for name in measures:
            sub = part[f"{name}_submission"].to_numpy(float)
            ref = part[f"{name}_reference"].to_numpy(float)
            keep = np.isfinite(sub) & np.isfinite(ref)
            diff = sub[keep] - ref[keep]
            agreement = icc(ref[keep], sub[keep])
            bias = float(diff.mean()) if diff.size else None
            sd = float(diff.std(ddof=1)) if diff.size > 1 else None
            out.setdefault(side, {})[name] = Agreement(
                n=int(keep.sum()),
                n_missing=int((~keep).sum()),
                icc_a1=agreement["icc_a1"],
                icc_c1=agreement["icc_c1"],
                bias=bias,
                loa_low=None if sd is None else bias - 1.96 * sd,
                loa_high=None if sd is None else bias + 1.96 * sd,
                mae=float(np.abs(diff).mean()) if diff.size else None,
            )
    return out


def icc(first, second) -> dict:
    """Two-way intraclass correlations of paired measurements (McGraw and Wong, 1996).

    ``ICC(A,1)`` (absolute agreement, single measurement; Shrout-Fleiss ICC(2,1)) and ``ICC(C,1)``
    (consistency, ICC(3,1)) from the two-way ANOVA mean squares of ``n`` targets x 2 raters, with
    the 95 % confidence interval of ``ICC(A,1)`` (McGraw and Wong's F-based bounds). Pairs with a
    missing value are dropped; fewer than 3 pairs give None values.

    Parameters
    ----------
    first, second : array_like
        Paired measurements of the same units.

    Returns
    -------
    dict
        ``icc_a1`` (absolute agreement) and ``icc_c1`` (consistency), None when undefined.

    Examples
    --------
    >>> round(icc([1, 2, 3, 4, 5], [1.1, 2.1, 3.1, 4.1, 5.1])["icc_c1"], 3)
    1.0
    """
    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    data = np.stack([a[keep], b[keep]], axis=1)
    n, k = data.shape
    out: dict = {"n": int(n), "icc_a1": None, "icc_c1": None, "ci_low": None, "ci_high": None}
    if n < MIN_GROUP:
        return out
    grand = data.mean()
    ss_rows = k * np.sum((data.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((data.mean(axis=0) - grand) ** 2)
    ss_error = np.sum((data - grand) ** 2) - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_error / ((n - 1) * (k - 1))
    denominator_a = msr + (k - 1) * mse + k * (msc - mse) / n
    denominator_c = msr + (k - 1) * mse
    if denominator_a <= 0 or denominator_c <= 0:
        return out
    icc_a = (msr - mse) / denominator_a
    out["icc_a1"] = float(icc_a)
    out["icc_c1"] = float((msr - mse) / denominator_c)
    # Confidence interval of ICC(A,1): McGraw and Wong (1996), case 2A.
    if mse > 0:
        fj = msc / mse
        vn = (k - 1) * (n - 1) * (k * icc_a * fj + n * (1 + (k - 1) * icc_a) - k * icc_a) ** 2
        vd = (n - 1) * k**2 * icc_a**2 * fj**2 + (n * (1 + (k - 1) * icc_a) - k * icc_a) ** 2
        v = vn / vd
        f_low = sps.f.ppf(0.975, n - 1, v)
        f_high = sps.f.ppf(0.975, v, n - 1)
        low = n * (msr - f_low * mse) / (f_low * (k * msc + (k * n - k - n) * mse) + n * msr)
        high = n * (f_high * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_high * msr)
        out["ci_low"], out["ci_high"] = float(low), float(high)
    return out


#: Below this many Bland-Altman pairs a proportional bias is not fitted.
MIN_PAIRS_FOR_SLOPE = 10
#: From this many pairs on, scatter that is not normal (Shapiro-Wilk) is resampled from the pairs.
MIN_PAIRS_FOR_EMPIRICAL = 20


@dataclass(frozen=True)
class ErrorModel:
    """Measured value = true value + ``bias`` + ``slope`` x true value + scatter.

    The scatter is N(0, ``sd``), or with ``noise="empirical"`` drawn with replacement from
    ``residuals`` (the pairs' own scatter, centred): heavy tails, where a few slices are
    measured far off and most nearly right, are kept as they are instead of being spread over
    every participant as a wide normal error.

    Attributes
    ----------
    kind : str
        ``none`` (error-free), ``constant`` (bias and scatter) or ``proportional`` (the error
        grows with the value: the differences regressed on the reference values).
    bias, slope, sd : float
        The error's intercept, its slope on the true value and the residual standard deviation.
    n : int
        Pairs it was fitted on (0 for ``none``).
    slope_p : float or None
        P value of the slope (the evidence for proportional bias).
    noise : str
        ``normal`` or ``empirical``.
    residuals : tuple of float
        The centred scatter resampled by ``empirical``.
    normality_p : float or None
        Shapiro-Wilk P of the scatter (the evidence against a normal error).
    """

    kind: str = "none"
    bias: float = 0.0
    slope: float = 0.0
    sd: float = 0.0
    n: int = 0
    slope_p: float | None = None
    noise: str = "normal"
    residuals: tuple[float, ...] = ()
    normality_p: float | None = None

    def apply(self, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``values`` as the model measures them.

        Parameters
        ----------
        values : ndarray
            True values.
        rng : numpy.random.Generator
            The random stream of the noise.

        Returns
        -------
        ndarray
            The measured values.
        """
        if self.kind == "none":
            return values
        if self.noise == "empirical":
            pool = np.asarray(self.residuals, float)
            noise = pool[rng.integers(0, pool.size, values.shape)]
        else:
            noise = rng.standard_normal(values.shape) * self.sd if self.sd > 0 else 0.0
        return values + self.bias + self.slope * values + noise

    def to_json(self) -> dict:
        """The model as plain data."""
        return {
            "kind": self.kind,
            "bias": self.bias,
            "slope": self.slope,
            "sd": self.sd,
            "n": self.n,
            "slope_p": self.slope_p,
            "noise": self.noise,
            "normality_p": self.normality_p,
        }


def fit_error_model(reference, measured, alpha: float = 0.05) -> ErrorModel:
    """The error of ``measured`` against ``reference`` from their Bland-Altman pairs.

    A trend of the differences over the reference values (Kendall's tau, significant at
    ``alpha``, with at least :data:`MIN_PAIRS_FOR_SLOPE` pairs) makes the error
    ``proportional`` (Theil-Sen intercept and slope), else it is ``constant`` (mean difference
    and its SD). Both are robust to a few far-off pairs. The
    scatter around it is normal unless, with at least :data:`MIN_PAIRS_FOR_EMPIRICAL` pairs, a
    Shapiro-Wilk test rejects normality at ``alpha``: then it is ``empirical`` (resampled from
    the pairs' centred scatter).

    Parameters
    ----------
    reference, measured : array_like
        Paired values (NaN pairs dropped).
    alpha : float
        Significance of the slope that makes the bias proportional, and of the normality test.

    Returns
    -------
    ErrorModel
        The fitted error.
    """
    ref, sub = np.asarray(reference, float), np.asarray(measured, float)
    keep = np.isfinite(ref) & np.isfinite(sub)
    ref, sub = ref[keep], sub[keep]
    if ref.size < 3:
        raise ValueError(f"{ref.size} Bland-Altman pairs; the error model needs at least 3")
    diff = sub - ref
    kind, bias, slope, slope_p = "constant", float(diff.mean()), 0.0, None
    residual, dof = diff - diff.mean(), 1
    if ref.size >= MIN_PAIRS_FOR_SLOPE and np.ptp(ref) > 0 and np.ptp(diff) > 0:
        # The trend is taken over the reference, the value the simulation perturbs (over the
        # pair means, a pair measured far off would move along both axes and fake a trend);
        # Kendall's tau tests it and Theil-Sen fits it, both robust to a few far-off pairs.
        slope_p = float(sps.kendalltau(ref, diff).pvalue)
        if slope_p < alpha:
            fit = sps.theilslopes(diff, ref)
            kind, bias, slope = "proportional", float(fit.intercept), float(fit.slope)
            residual, dof = diff - (fit.intercept + fit.slope * ref), 2
    noise, pool, normality_p = "normal", (), None
    if ref.size >= MIN_PAIRS_FOR_EMPIRICAL and np.ptp(residual) > 0:
        normality_p = float(sps.shapiro(residual).pvalue)
        if normality_p < alpha:
            noise, pool = "empirical", tuple(float(v) for v in residual - residual.mean())
    sd = float(residual.std(ddof=dof))
    return ErrorModel(kind, bias, slope, sd, int(ref.size), slope_p, noise, pool, normality_p)
