"""Agreement of two raters' (or a model's and a rater's) measurements: ICC, Bland-Altman, MAE."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from scvbench.core.stats import MIN_GROUP
from scvbench.results import Agreement

__all__ = ["icc", "morphometry_agreement"]


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
