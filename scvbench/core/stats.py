"""The study's group statistics, as SPSS 25 computes and prints them.

Pure table functions (no files):

* :func:`describe` - median (Q1, Q3) with SPSS's default percentile definition (weighted average
  at ``(n + 1) p``, numpy's ``"weibull"`` method);
* :func:`normality` - Kolmogorov-Smirnov with the Lilliefors correction (SPSS "Tests of
  Normality"), statistic ``D`` and p (statsmodels' table, as SPSS caps p at 0.200 and above);
* :func:`mann_whitney` - Mann-Whitney U with the normal approximation, tie-corrected and without
  continuity correction (SPSS's "Asymp. Sig."): ``U`` = the smaller of the two U statistics and
  ``Z = (U - n1 n2 / 2) / sigma``, so ``Z <= 0`` as SPSS prints it; the direction is given apart
  by the mean ranks and the rank-biserial correlation (positive when the second group is higher);
* :func:`spearman` - Spearman's rho of a measure against age or education years;
* :func:`icc` - ICC(A,1) and ICC(C,1) of paired measurements, with the CI of ICC(A,1);
* :func:`logistic` - binary logistic regression (statsmodels ``Logit``): coefficient, SE, Wald
  (``(coef / SE)**2``, SPSS's column), p, odds ratio and its 95 % CI.

:func:`run_study` runs the study's whole analysis on a wide per-participant table.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

# statsmodels is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = [
    "MEASURES",
    "MIN_GROUP",
    "describe",
    "logistic",
    "mann_whitney",
    "normality",
    "run_study",
    "spearman",
]

#: The study's three measures per hemisphere, with the group-table column they come from.
MEASURES = {"diameter": "diameter_mm", "tortuosity": "tortuosity", "count": "count"}
HEMISPHERES = ("right", "left")
#: Smallest group a test is run on; smaller groups give a result with ``p`` = None and a note.
MIN_GROUP = 3


def _clean(values) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[np.isfinite(array)]


def describe(values) -> dict:
    """``n``, median, Q1, Q3 (SPSS weighted-average percentiles), mean and SD of finite values.

    Parameters
    ----------
    values : array_like
        Measurements (NaN dropped).

    Returns
    -------
    dict
        ``n``, ``median``, ``q1``, ``q3``, ``mean``, ``sd`` (None where undefined).

    Examples
    --------
    >>> describe([1, 2, 3, 4])["q1"]
    1.25
    """
    x = _clean(values)
    if x.size == 0:
        return {"n": 0, "median": None, "q1": None, "q3": None, "mean": None, "sd": None}
    q1, median, q3 = np.percentile(x, [25, 50, 75], method="weibull")
    return {
        "n": int(x.size),
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)) if x.size > 1 else None,
    }


def normality(values) -> dict:
    """Kolmogorov-Smirnov test of normality with the Lilliefors correction: ``D``, ``p``.

    Parameters
    ----------
    values : array_like
        Measurements (NaN dropped).

    Returns
    -------
    dict
        ``n``, ``D`` and ``p`` (None, with a ``note``, for fewer than 5 or constant values).
    """
    from statsmodels.stats.diagnostic import lilliefors

    x = _clean(values)
    if x.size < 5 or np.ptp(x) == 0:
        return {"n": int(x.size), "D": None, "p": None, "note": "too few or constant values"}
    statistic, p = lilliefors(x, dist="norm", pvalmethod="table")
    return {"n": int(x.size), "D": float(statistic), "p": float(p)}


def mann_whitney(first, second) -> dict:
    """Mann-Whitney U test of ``first`` against ``second`` (NaN dropped), as SPSS prints it.

    Returns ``U`` (the smaller U), ``Z`` (tie-corrected, no continuity correction, <= 0), two-sided
    ``p``, the group sizes, mean ranks and the rank-biserial correlation ``r_rb`` (> 0 when
    ``second`` tends to be larger). Groups smaller than :data:`MIN_GROUP` give ``p`` = None.

    Parameters
    ----------
    first, second : array_like
        The two groups' measurements.

    Returns
    -------
    dict
        ``U``, ``Z`` (tie-corrected, no continuity correction), two-sided ``p`` and the group sizes;
        None values when a group is too small.

    Examples
    --------
    >>> result = mann_whitney([1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8])
    >>> round(result["U"], 1), round(result["Z"], 2), round(result["p"], 4)
    (4.5, -1.93, 0.0536)
    """
    x, y = _clean(first), _clean(second)
    n1, n2 = int(x.size), int(y.size)
    result = {"n1": n1, "n2": n2, "U": None, "Z": None, "p": None}
    if n1 < MIN_GROUP or n2 < MIN_GROUP:
        result["note"] = f"fewer than {MIN_GROUP} values in a group"
        return result
    ranks = sps.rankdata(np.concatenate([x, y]))
    r1 = float(ranks[:n1].sum())
    u1 = r1 - n1 * (n1 + 1) / 2
    u2 = n1 * n2 - u1
    n = n1 + n2
    _, counts = np.unique(ranks, return_counts=True)
    ties = float(np.sum(counts**3 - counts))
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    u = min(u1, u2)
    if variance <= 0:
        z, p = 0.0, 1.0  # every value tied
    else:
        z = (u - n1 * n2 / 2.0) / math.sqrt(variance)
        p = float(min(1.0, 2.0 * sps.norm.cdf(z)))
    result.update(
        U=float(u),
        Z=float(z),
        p=p,
        mean_rank_1=r1 / n1,
        mean_rank_2=float(ranks[n1:].sum()) / n2,
        r_rb=float(1.0 - 2.0 * u1 / (n1 * n2)),
    )
    return result


def spearman(values, covariate) -> dict:
    """Spearman's rho and two-sided p between paired finite values.

    Parameters
    ----------
    values, covariate : array_like
        Paired measurements.

    Returns
    -------
    dict
        ``n``, ``rho`` and ``p``.
    """
    a = np.asarray(values, dtype=float)
    b = np.asarray(covariate, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < MIN_GROUP or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return {"n": int(keep.sum()), "rho": None, "p": None, "note": "too few or constant values"}
    rho, p = sps.spearmanr(a[keep], b[keep])
    return {"n": int(keep.sum()), "rho": float(rho), "p": float(p)}


def logistic(table: pd.DataFrame, outcome: str, terms: list[str]) -> dict:
    """Binary logistic regression of ``outcome`` (0/1) on ``terms`` with a constant.

    Returns ``terms`` (one object per predictor and the constant: ``name``, ``coef``, ``se``,
    ``wald``, ``p``, ``odds_ratio``, ``ci_low``, ``ci_high``), ``n``, ``events``, the
    log-likelihoods and Nagelkerke's R². Perfect separation or a singular design gives a result
    with ``terms`` empty and a ``note`` saying so.

    Parameters
    ----------
    table : DataFrame
        One row per participant.
    outcome : str
        The 0/1 column.
    terms : list of str
        Predictor columns.

    Returns
    -------
    dict
        ``outcome``, ``n``, ``events`` and ``terms`` (B, SE, Wald, P, odds ratio and its 95 % CI
        each), with a ``note`` when the model cannot be fitted.
    """
    import statsmodels.api as sm

    data = table[[outcome, *terms]].apply(pd.to_numeric, errors="coerce").dropna()
    y = data[outcome].astype(float)
    result: dict = {"outcome": outcome, "n": len(data), "events": int(y.sum()), "terms": []}
    if not terms:
        result["note"] = "no predictor"
        return result
    if y.nunique() < 2 or min(y.sum(), len(y) - y.sum()) < MIN_GROUP:
        result["note"] = f"fewer than {MIN_GROUP} participants in an outcome group"
        return result
    design = sm.add_constant(data[terms].astype(float), has_constant="add")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fit = sm.Logit(y, design).fit(disp=0, maxiter=200)
    except Exception as err:  # separation, singular matrix, no convergence
        result["note"] = f"the model cannot be fitted: {type(err).__name__}: {err}"
        return result
    ci = fit.conf_int(0.05)
    for name in [*terms, "const"]:
        coef, se = float(fit.params[name]), float(fit.bse[name])
        result["terms"].append(
            {
                "name": "constant" if name == "const" else name,
                "coef": coef,
                "se": se,
                "wald": (coef / se) ** 2 if se > 0 else None,
                "p": float(fit.pvalues[name]),
                "odds_ratio": math.exp(coef),
                "ci_low": math.exp(float(ci.loc[name, 0])),
                "ci_high": math.exp(float(ci.loc[name, 1])),
            }
        )
    n = len(data)
    cox_snell = 1.0 - math.exp(2.0 * (fit.llnull - fit.llf) / n)
    result.update(
        log_likelihood=float(fit.llf),
        log_likelihood_null=float(fit.llnull),
        nagelkerke_r2=cox_snell / (1.0 - math.exp(2.0 * fit.llnull / n)),
    )
    return result


@dataclass(frozen=True)
class Grouping:
    """A two-group comparison: the column and the two values, in the paper's order."""

    name: str
    column: str
    first: object
    second: object
    labels: tuple[str, str]


GROUPINGS = (
    Grouping("dwml", "dwml", 0, 1, ("N-DWML", "DWML")),
    Grouping("sex", "sex", "M", "F", ("male", "female")),
)


def _column(measure: str, hemisphere: str) -> str:
    return f"{measure}_{hemisphere}"


def run_study(wide: pd.DataFrame, fdr: bool = False, terms: list[str] | None = None) -> dict:
    """The study's analysis of a per-participant table.

    ``wide`` has one row per participant with ``sex`` (M/F), ``dwml`` (0/1), optionally ``age``
    and ``education_years``, and ``<measure>_<hemisphere>`` for measure in :data:`MEASURES`
    (``diameter``, ``tortuosity``, ``count``) and hemisphere ``right``/``left``.
    The logistic model takes the measures that differed between DWML groups (p < 0.05) unless
    ``terms`` names them. With ``fdr`` the Mann-Whitney p values also get Benjamini-Hochberg
    adjusted values ``p_fdr``.

    Parameters
    ----------
    wide : DataFrame
        One row per participant: ``<measure>_<hemisphere>`` columns, ``sex`` and, when known,
        ``dwml``, ``age``, ``education_years``.
    fdr : bool
        Add Benjamini-Hochberg adjusted P values.
    terms : list of str, optional
        Logistic predictors (default: the measures that differed by DWML).

    Returns
    -------
    dict
        ``n``, ``descriptives``, ``normality``, ``mann_whitney``, ``correlations`` and
        ``logistic``.
    """
    measures = [(m, h) for m in MEASURES for h in HEMISPHERES]
    out: dict = {
        "n": len(wide),
        "normality": [],
        "descriptives": [],
        "mann_whitney": [],
        "correlations": [],
    }
    for measure, hemisphere in measures:
        values = wide[_column(measure, hemisphere)]
        out["normality"].append({"measure": measure, "hemisphere": hemisphere, **normality(values)})
        for grouping in GROUPINGS:
            if grouping.column not in wide:
                continue
            parts = []
            for value, label in zip(
                (grouping.first, grouping.second), grouping.labels, strict=True
            ):
                part = values[wide[grouping.column] == value]
                parts.append(part)
                out["descriptives"].append(
                    {
                        "comparison": grouping.name,
                        "group": label,
                        "measure": measure,
                        "hemisphere": hemisphere,
                        **describe(part),
                    }
                )
            out["mann_whitney"].append(
                {
                    "comparison": grouping.name,
                    "measure": measure,
                    "hemisphere": hemisphere,
                    "groups": list(grouping.labels),
                    **mann_whitney(*parts),
                }
            )
        for covariate in ("age", "education_years"):
            if covariate in wide and wide[covariate].notna().any():
                out["correlations"].append(
                    {
                        "covariate": covariate,
                        "measure": measure,
                        "hemisphere": hemisphere,
                        **spearman(values, pd.to_numeric(wide[covariate], errors="coerce")),
                    }
                )
    tested = [row for row in out["mann_whitney"] if row["p"] is not None]
    if fdr and tested:
        from statsmodels.stats.multitest import multipletests

        adjusted = multipletests([row["p"] for row in tested], method="fdr_bh")[1]
        for row, value in zip(tested, adjusted, strict=True):
            row["p_fdr"] = float(value)
    if terms is None:
        key = "p_fdr" if fdr else "p"
        terms = [
            _column(row["measure"], row["hemisphere"])
            for row in out["mann_whitney"]
            if row["comparison"] == "dwml" and row.get(key) is not None and row[key] < 0.05
        ]
    if "dwml" in wide:
        out["logistic"] = logistic(wide, "dwml", terms)
    else:
        out["logistic"] = {"terms": [], "note": "no DWML ratings"}
    return out
