"""Does a submission lead to the study's conclusions? Association reproduction scores.

The study's analysis (:func:`scvbench.core.stats.run_study`: Mann-Whitney U by DWML group and by sex
for count, diameter and tortuosity per hemisphere, and the logistic regression of DWML) is run
on the morphometry of the submission's masks and on that of the reference masks of the same
participants (and, with ``published="paper"``, compared with the study's Table 2 and 3 and its
odds ratio). Per test: the Z of each, whether the direction (sign of Z) and the significance at
0.05 agree, and the difference in Z. For the logistic model: the reference model's predictors
are fitted on the submission's morphometry too and the odds ratios compared (ratio
submission / reference).

**Reproduction score**: the fraction of the tests on which the submission reaches the same
conclusion as the comparison: the same significance at 0.05 and, where the comparison is
significant, the same direction. 1 reproduces every conclusion. A test the submission cannot run
(fewer than 3 per group) is not reproduced; a test the comparison cannot run does not count, and
with none left the score is None.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scvbench.core.stats import run_study

__all__ = ["PUBLISHED", "association_summary", "compare", "participant_table", "reproduction"]

#: The study's published tests (Table 2: count by sex; Table 3: by DWML) and its logistic model.
#: ``p`` None with ``significant`` True stands for "P < 0.001".
PUBLISHED = {
    "paper": {
        "mann_whitney": [
            {
                "comparison": "sex",
                "measure": "count",
                "hemisphere": "right",
                "Z": -2.875,
                "p": 0.004,
            },
            {"comparison": "sex", "measure": "count", "hemisphere": "left", "Z": -3.796, "p": None},
            {
                "comparison": "dwml",
                "measure": "diameter",
                "hemisphere": "right",
                "Z": -1.909,
                "p": 0.056,
            },
            {
                "comparison": "dwml",
                "measure": "diameter",
                "hemisphere": "left",
                "Z": -0.040,
                "p": 0.968,
            },
            {
                "comparison": "dwml",
                "measure": "tortuosity",
                "hemisphere": "right",
                "Z": -3.511,
                "p": None,
            },
            {
                "comparison": "dwml",
                "measure": "tortuosity",
                "hemisphere": "left",
                "Z": -0.895,
                "p": 0.371,
            },
            {
                "comparison": "dwml",
                "measure": "count",
                "hemisphere": "right",
                "Z": -0.614,
                "p": 0.539,
            },
            {
                "comparison": "dwml",
                "measure": "count",
                "hemisphere": "left",
                "Z": -1.710,
                "p": 0.087,
            },
        ],
        "logistic": {
            "terms": [{"name": "tortuosity_right", "coef": 2.035, "p": 0.015, "odds_ratio": 7.649}]
        },
    }
}

_KEY = ("comparison", "measure", "hemisphere")
_MEASURE_COLUMNS = {"count": "count", "diameter": "diameter_mm", "tortuosity": "tortuosity"}


def participant_table(pairs: pd.DataFrame, source: str, people: pd.DataFrame) -> pd.DataFrame:
    """One row per participant: ``<measure>_<hemisphere>`` (mean over its slices) and covariates.

    ``pairs`` has per slice and hemisphere ``<column>_<source>`` values (see
    :func:`scvbench.steps.evaluate.evaluate`); ``people`` is indexed by participant_id with sex,
    age, education_years and dwml.

    Parameters
    ----------
    pairs : DataFrame
        Per slice and hemisphere ``<measure>_<source>`` values.
    source : str
        Whose values: ``submission``, ``reference`` or ``truth``.
    people : DataFrame
        Covariates indexed by participant_id.

    Returns
    -------
    DataFrame
        The wide table :func:`scvbench.core.stats.run_study` takes.
    """
    rows = {}
    for (pid, side), group in pairs.groupby(["participant_id", "hemisphere"]):
        row = rows.setdefault(pid, {"participant_id": pid})
        for measure, column in _MEASURE_COLUMNS.items():
            row[f"{measure}_{side}"] = group[f"{column}_{source}"].astype(float).mean()
    wide = pd.DataFrame(list(rows.values())).set_index("participant_id")
    return wide.join(people, how="left").reset_index()


def _significant(test: dict) -> bool | None:
    if test.get("p") is None:
        return True if test.get("Z") is not None and "published" in test else None
    return test["p"] < 0.05


def compare(submission: dict, comparison: dict, published: bool = False) -> dict:
    """Test-by-test agreement of two :func:`scvbench.core.stats.run_study` results.

    Parameters
    ----------
    submission, comparison : dict
        Two results of :func:`scvbench.core.stats.run_study` (``comparison`` may be the study's
        published values).
    published : bool
        ``comparison`` is the published study (Z only where it reported one).

    Returns
    -------
    dict
        ``tests`` (one row per test: both Z, direction, significance, reproduced),
        ``n_tests`` and ``reproduction_score`` (the share reproduced, or None without tests).
    """
    theirs = {tuple(t[k] for k in _KEY): t for t in comparison["mann_whitney"]}
    tests = []
    for test in submission["mann_whitney"]:
        key = tuple(test[k] for k in _KEY)
        other = theirs.get(key)
        if other is None:
            continue
        other = {**other, "published": True} if published else other
        z_sub, z_ref = test.get("Z"), other.get("Z")
        sig_sub = None if test.get("p") is None else test["p"] < 0.05
        sig_ref = _significant(other)
        same_sig = sig_sub is not None and sig_ref is not None and sig_sub == sig_ref
        same_direction = (
            z_sub is not None and z_ref is not None and np.sign(z_sub) == np.sign(z_ref)
        )
        reproduced = bool(same_sig and (not sig_ref or same_direction))
        tests.append(
            {
                **dict(zip(_KEY, key, strict=True)),
                "Z": z_sub,
                "Z_comparison": z_ref,
                "delta_Z": None if z_sub is None or z_ref is None else z_sub - z_ref,
                "p": test.get("p"),
                "p_comparison": other.get("p"),
                "same_direction": bool(same_direction),
                "same_significance": bool(same_sig),
                "reproduced": reproduced,
            }
        )
    # Tests the comparison itself could not run (fewer than 3 per group) do not count.
    counted = [t for t in tests if t["p_comparison"] is not None or published]
    score = float(np.mean([t["reproduced"] for t in counted])) if counted else None
    return {"tests": tests, "n_tests": len(counted), "reproduction_score": score}


def _odds_ratios(result: dict) -> dict[str, float]:
    return {
        t["name"]: t["odds_ratio"]
        for t in result.get("logistic", {}).get("terms", [])
        if t["name"] != "constant" and t.get("odds_ratio") is not None
    }


def reproduction(
    submission_wide: pd.DataFrame, reference_wide: pd.DataFrame, published: str | None = None
) -> dict:
    """The study's analysis on both tables, compared; ``published`` adds the paper's values.

    Parameters
    ----------
    submission_wide, reference_wide : DataFrame
        Per-participant tables of :func:`participant_table`.
    published : str, optional
        ``"paper"`` to also compare with the published study.

    Returns
    -------
    dict
        ``n_participants``, the ``reference`` (and ``published``) comparisons of
        :func:`compare`, and ``logistic`` (the odds ratios of both).
    """
    reference = run_study(reference_wide)
    terms = [n for n in _odds_ratios(reference)]
    submission = run_study(submission_wide, terms=terms or None)
    out = {
        "n_participants": len(submission_wide),
        "reference": compare(submission, reference),
        "logistic": {
            "terms": terms,
            "odds_ratio": _odds_ratios(submission),
            "odds_ratio_reference": _odds_ratios(reference),
        },
    }
    ratios = {}
    for name in terms:
        mine, theirs = out["logistic"]["odds_ratio"].get(name), _odds_ratios(reference)[name]
        ratios[name] = None if mine is None or not theirs else mine / theirs
    out["logistic"]["odds_ratio_ratio"] = ratios
    if published:
        paper = PUBLISHED[published]
        out["published"] = compare(submission, paper, published=True)
        names = [t["name"] for t in paper["logistic"]["terms"]]
        fitted = _odds_ratios(run_study(submission_wide, terms=names))
        theirs = _odds_ratios(run_study(reference_wide, terms=names))
        out["published"]["logistic"] = {
            name: {
                "odds_ratio": fitted.get(name),
                "odds_ratio_reference": theirs.get(name),
                "odds_ratio_published": t["odds_ratio"],
                "ratio": None
                if fitted.get(name) is None or not math.isfinite(fitted[name])
                else fitted[name] / t["odds_ratio"],
            }
            for name, t in zip(names, paper["logistic"]["terms"], strict=True)
        }
    return out


def association_summary(association: dict) -> dict:
    """The study's key effect as the submission's morphometry reproduces it.

    Parameters
    ----------
    association : dict
        The ``association`` part of ``results.json`` (best from the association split, scored
        with ``--published paper`` and ``--truth``).

    Returns
    -------
    dict
        ``tortuosity_right_z`` (Mann-Whitney Z of right-hemisphere tortuosity by DWML; the study
        -3.511), ``odds_ratio`` (logistic odds ratio of right tortuosity; the study 7.649), both
        also from the reference masks (``..._reference``; None where not scored), and
        the reproduction scores against the ``reference`` masks, the ``published`` study and
        the generator's ``truth`` (None where not scored).
    """
    z, z_reference = None, None
    for test in association.get("reference", {}).get("tests", []):
        if (test["comparison"], test["measure"], test["hemisphere"]) == (
            "dwml",
            "tortuosity",
            "right",
        ):
            z, z_reference = test["Z"], test.get("Z_comparison")
    logistic = association.get("published", {}).get("logistic", {}).get("tortuosity_right", {})
    odds, odds_reference = logistic.get("odds_ratio"), logistic.get("odds_ratio_reference")
    if odds is None:
        fitted = association.get("logistic", {})
        odds = fitted.get("odds_ratio", {}).get("tortuosity_right")
        odds_reference = fitted.get("odds_ratio_reference", {}).get("tortuosity_right")
    return {
        "tortuosity_right_z": z,
        "tortuosity_right_z_reference": z_reference,
        "odds_ratio": odds,
        "odds_ratio_reference": odds_reference,
        **{
            f"reproduction_{source}": association.get(source, {}).get("reproduction_score")
            for source in ("reference", "published", "truth")
        },
    }
