"""The synthetic cohort as tables: who the subjects are and what their veins should measure.

This is the generator's statistical model, apart from any image: demographics, Fazekas ratings
and, per subject and hemisphere, the target vein count, mean diameter and mean tortuosity. With
``effect="paper"`` the targets follow the study's Tables 2 and 3 (median and quartiles per group):
men have more veins than women, and right-hemisphere tortuosity is raised in subjects with deep
white-matter lesions (DWML) while the left is not. ``effect="null"`` gives every subject the same
distributions (the N-DWML column, sexes pooled), so no group differs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

__all__ = [
    "EFFECTS",
    "SplitNormal",
    "cohort_targets",
    "draw_cohort",
    "effect_parameters",
    "role_counts",
]

EFFECTS = ("paper", "null")

#: Study sizes: 200 development (102 M) and 164 association (84 M; 53 DWML) subjects.
_STUDY = {"n": 364, "assoc": 164, "assoc_male": 84, "assoc_dwml": 53, "dev": 200, "dev_male": 102}


@dataclass(frozen=True)
class SplitNormal:
    """A distribution fixed by its median and quartiles, with adjustable tails.

    Between the quartiles each half is a normal half with its own scale, so the median and both
    quartiles are exact. Beyond a quartile the same normal continues with its scale multiplied by
    ``lower_tail`` or ``upper_tail`` (1: a plain two-piece normal): the published tables give
    quartiles only, and the tails decide how much two groups overlap, hence the Mann-Whitney Z and
    the logistic coefficient (:data:`TAILS`).
    """

    median: float
    q1: float
    q3: float
    lower_tail: float = 1.0
    upper_tail: float = 1.0

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Return the quantiles at probabilities ``u``."""
        z = norm.ppf(u)
        low = (self.median - self.q1) / _Q3
        high = (self.q3 - self.median) / _Q3
        inner = self.median + np.where(z < 0, z * low, z * high)
        below = self.q1 + (z + _Q3) * low * self.lower_tail
        above = self.q3 + (z - _Q3) * high * self.upper_tail
        return np.where(z < -_Q3, below, np.where(z > _Q3, above, inner))


_Q3 = 0.6744897501960817  # the standard normal's upper quartile

# Table 2 (count by sex) and Table 3 (diameter and tortuosity by DWML), per hemisphere. The tails
# are fitted so that, over paper-sized draws, the mean Mann-Whitney Z of every comparison the study
# reports and the logistic coefficient of right tortuosity land on the published values
# (docs/synthetic-cohort.md, "Matching the study's tables"; tests/test_synth_cohort.py):
# - count: men's lower and women's upper tails heavier on the left (Z -3.8, not -4.9), lighter
#   on the right (Z -2.9, not -2.6);
# - right tortuosity: a heavier upper tail without DWML and a lighter lower tail with DWML keep
#   Z at -3.5 while bringing the logistic B from 3.3 down to the published 2.0 (a few tortuous
#   N-DWML subjects flatten the logistic slope, not the rank test);
# - left tortuosity and left diameter: heavy tails in both groups (Z near the published -0.9 and
#   0, not -1.6 and -0.5).
_COUNT_BY_SEX = {
    ("M", "right"): SplitNormal(6, 4, 7, 0.8, 1.0),
    ("M", "left"): SplitNormal(6, 4, 7, 1.9, 1.0),
    ("F", "right"): SplitNormal(5, 3, 6, 1.0, 0.8),
    ("F", "left"): SplitNormal(4, 3, 5, 1.0, 1.9),
}
# Table 3's count columns: with DWML, slightly fewer veins on the right and more on the left. The
# sex distributions above are shifted by this many standard-normal units for DWML subjects.
_COUNT_DWML_SHIFT = {"right": -0.12, "left": 0.35}
_DIAMETER_BY_DWML = {
    (0, "right"): SplitNormal(1.34, 1.22, 1.42),
    (0, "left"): SplitNormal(1.31, 1.21, 1.40, 2.5, 2.5),
    (1, "right"): SplitNormal(1.28, 1.18, 1.38),
    (1, "left"): SplitNormal(1.29, 1.23, 1.43, 2.5, 2.5),
}
_TORTUOSITY_BY_DWML = {
    (0, "right"): SplitNormal(1.23, 1.16, 1.39, 1.0, 1.7),
    (0, "left"): SplitNormal(1.15, 1.13, 1.20, 1.0, 2.5),
    (1, "right"): SplitNormal(1.37, 1.25, 1.50, 0.6, 1.0),
    (1, "left"): SplitNormal(1.17, 1.13, 1.25, 2.5, 1.0),
}
_COUNT_NULL = {"right": SplitNormal(5, 4, 7), "left": SplitNormal(5, 3, 6)}

COUNT_RANGE = (1, 10)
DIAMETER_RANGE_MM = (0.8, 2.2)
TORTUOSITY_RANGE = (1.03, 2.2)


def role_counts(n_subjects: int) -> dict[str, int]:
    """Split ``n_subjects`` into development and association subjects in the study's proportions.

    Returns a dict with ``development``, ``association``, the number of men in each, and the number
    of DWML subjects in each. For 364 subjects this is exactly the study's 200/164 split with
    102/84 men and 53 DWML among the 164.

    Parameters
    ----------
    n_subjects : int
        Cohort size (at least 1).

    Returns
    -------
    dict
        ``development`` and ``association`` counts, and their split by sex.
    """
    if n_subjects < 1:
        raise ValueError(f"the cohort needs at least 1 subject, got {n_subjects}")
    n_assoc = max(1, round(n_subjects * _STUDY["assoc"] / _STUDY["n"]))
    n_dev = n_subjects - n_assoc
    dwml_rate = _STUDY["assoc_dwml"] / _STUDY["assoc"]

    def at_least_one(n: int, rate: float) -> int:
        k = round(n * rate)
        return min(max(k, 1), n - 1) if n >= 2 else k

    return {
        "development": n_dev,
        "association": n_assoc,
        "development_male": round(n_dev * _STUDY["dev_male"] / _STUDY["dev"]),
        "association_male": round(n_assoc * _STUDY["assoc_male"] / _STUDY["assoc"]),
        "development_dwml": round(n_dev * dwml_rate),
        "association_dwml": at_least_one(n_assoc, dwml_rate),
    }


def _shuffled_flags(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    flags = np.zeros(n, dtype=int)
    flags[:k] = 1
    rng.shuffle(flags)
    return flags


def _rate(rng: np.random.Generator, consensus: np.ndarray, agree: float) -> np.ndarray:
    """One rater's score: the consensus, or one step away from it with probability 1 - agree."""
    off = rng.uniform(size=consensus.size) > agree
    step = np.where(consensus == 0, 1, -1)
    return np.where(off, consensus + step, consensus)


def _distributions(effect: str, measure: str, hemi: str) -> dict:
    """Distributions of one measure by group level (sex for count, DWML otherwise)."""
    if effect == "null":
        if measure == "count":
            return {None: _COUNT_NULL[hemi]}
        table = _DIAMETER_BY_DWML if measure == "diameter" else _TORTUOSITY_BY_DWML
        return {None: table[(0, hemi)]}
    if measure == "count":
        return {sex: _COUNT_BY_SEX[(sex, hemi)] for sex in ("M", "F")}
    table = _DIAMETER_BY_DWML if measure == "diameter" else _TORTUOSITY_BY_DWML
    return {level: table[(level, hemi)] for level in (0, 1)}


def effect_parameters(effect: str) -> dict:
    """The target distributions of ``effect`` as plain data (median, q1, q3 per group).

    Keys are ``"<measure>_<hemisphere>"``; values map the group level (sex for count, DWML 0/1
    for diameter and tortuosity, ``"all"`` under the null effect) to ``[median, q1, q3, lower_tail,
    upper_tail]``; ``count_dwml_shift`` (paper only) is the DWML shift of the count draw.

    Parameters
    ----------
    effect : str
        ``paper`` or ``null``.

    Returns
    -------
    dict
        ``grouping`` (the variable each measure depends on) and, per
        ``<measure>_<hemisphere>``, each group's [median, q1, q3, lower_tail, upper_tail].
    """
    if effect not in EFFECTS:
        raise ValueError(f"unknown effect {effect!r}; choose one of {', '.join(EFFECTS)}")
    out: dict = {"grouping": {"count": "sex", "diameter": "dwml", "tortuosity": "dwml"}}
    for measure in ("count", "diameter", "tortuosity"):
        for hemi in ("right", "left"):
            out[f"{measure}_{hemi}"] = {
                "all" if level is None else str(level): [
                    dist.median,
                    dist.q1,
                    dist.q3,
                    dist.lower_tail,
                    dist.upper_tail,
                ]
                for level, dist in _distributions(effect, measure, hemi).items()
            }
    if effect == "paper":
        out["count_dwml_shift"] = dict(_COUNT_DWML_SHIFT)
    if effect == "null":
        out["grouping"] = {"count": "none", "diameter": "none", "tortuosity": "none"}
    return out


def cohort_targets(cohort: pd.DataFrame, rng: np.random.Generator, effect: str) -> pd.DataFrame:
    """Draw per-hemisphere target count, mean diameter and mean tortuosity for every subject.

    Parameters
    ----------
    cohort : DataFrame
        One row per subject with its group (DWML, sex).
    rng : numpy.random.Generator
        The cohort's random stream.
    effect : str
        ``paper`` or ``null``.

    Returns
    -------
    DataFrame
        ``cohort`` with ``count_<hemi>``, ``diameter_<hemi>`` and ``tortuosity_<hemi>``.
    """
    if effect not in EFFECTS:
        raise ValueError(f"unknown effect {effect!r}; choose one of {', '.join(EFFECTS)}")
    out = cohort.copy()
    sex = out["sex"].to_numpy()
    dwml = out["dwml"].to_numpy().astype(int)
    for hemi in ("right", "left"):
        draws = {}
        for measure in ("count", "diameter", "tortuosity"):
            values = np.empty(len(out))
            u = rng.uniform(0.0005, 0.9995, len(out))
            if measure == "count" and effect == "paper":
                u = norm.cdf(norm.ppf(u) + _COUNT_DWML_SHIFT[hemi] * dwml)
            for key, dist in _distributions(effect, measure, hemi).items():
                sel = (
                    (sex == key)
                    if measure == "count" and effect == "paper"
                    else (dwml == key if effect == "paper" else np.ones(len(out), bool))
                )
                values[sel] = dist.ppf(u[sel])
            draws[measure] = values
        out[f"count_{hemi}"] = np.clip(np.rint(draws["count"]), *COUNT_RANGE).astype(int)
        out[f"diameter_{hemi}"] = np.round(np.clip(draws["diameter"], *DIAMETER_RANGE_MM), 4)
        out[f"tortuosity_{hemi}"] = np.round(np.clip(draws["tortuosity"], *TORTUOSITY_RANGE), 4)
    return out


def draw_cohort(n_subjects: int, seed: int, effect: str = "paper") -> pd.DataFrame:
    """Draw the whole cohort table: demographics, ratings, role and morphometry targets.

    Parameters
    ----------
    n_subjects : int
        Number of subjects (>= 1).
    seed : int
        Seed; the same seed gives the same table.
    effect : {"paper", "null"}
        Group effects of the study, or none.

    Returns
    -------
    pandas.DataFrame
        One row per subject, in subject order: ``index``, ``patient_id``, ``role``
        (``development``/``association``), ``sex`` (M/F), ``age``, ``education_years``,
        ``handedness``, ``dwml`` (consensus deep Fazekas >= 1), ``fazekas_dwm``, ``fazekas_pv``,
        the two raters' scores and, per hemisphere, ``count_*``, ``diameter_*``,
        ``tortuosity_*``.

    Examples
    --------
    >>> table = draw_cohort(364, seed=0)
    >>> table.groupby("role").size().to_dict()
    {'association': 164, 'development': 200}
    """
    if effect not in EFFECTS:
        raise ValueError(f"unknown effect {effect!r}; choose one of {', '.join(EFFECTS)}")
    counts = role_counts(n_subjects)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5C0]))
    parts = []
    for role in ("development", "association"):
        n = counts[role]
        if n == 0:
            continue
        male = _shuffled_flags(rng, n, counts[f"{role}_male"])
        dwml = _shuffled_flags(rng, n, counts[f"{role}_dwml"])
        if role == "association":
            age = np.clip(np.rint(rng.normal(34.0, 6.34, n)), 18, 44)
        else:
            age = rng.integers(20, 66, n)
        education = np.clip(np.rint(rng.normal(14.0, 3.0, n)), 7, 22)
        pv = (rng.uniform(size=n) < np.where(dwml == 1, 0.6, 0.2)).astype(int)
        parts.append(
            pd.DataFrame(
                {
                    "role": role,
                    "sex": np.where(male == 1, "M", "F"),
                    "age": age.astype(int),
                    "education_years": education.astype(int),
                    "handedness": "R",
                    "dwml": dwml,
                    "fazekas_dwm": dwml,
                    "fazekas_pv": pv,
                    "rater1_dwm": _rate(rng, dwml, 0.92),
                    "rater1_pv": _rate(rng, pv, 0.88),
                    "rater2_dwm": _rate(rng, dwml, 0.90),
                    "rater2_pv": _rate(rng, pv, 0.85),
                }
            )
        )
    cohort = pd.concat(parts, ignore_index=True)
    # Interleave roles so that a cohort cut short still holds both.
    order = rng.permutation(len(cohort))
    cohort = cohort.iloc[order].reset_index(drop=True)
    cohort.insert(0, "index", np.arange(len(cohort)))
    ids = rng.choice(np.arange(100000, 999999), size=len(cohort), replace=False)
    cohort.insert(1, "patient_id", [f"P{x:07d}" for x in np.sort(ids)])
    return cohort_targets(cohort, rng, effect)
