"""How closely a synthetic association cohort reproduces the study's published tables.

The study (docs/paper) reports, for its 164 association participants, the median and quartiles of
vein count by sex (Table 2) and of diameter, tortuosity and count by DWML group (Table 3), the
Mann-Whitney Z of each of those 8 comparisons, and the logistic coefficient of right tortuosity
for DWML (B 2.035). :func:`compare` measures the same quantities on synthetic cohorts (one
per-participant table each, as ``scvbench stats`` builds it) and sets them beside the published
values with the tolerances the benchmark promises.

SPSS prints every Mann-Whitney Z as negative. Here a Z carries the study's direction: it is
negative when the groups differ the way the published quartiles do (the group whose median and
quartiles sum higher ranks higher) and positive when they differ the other way, so that a null
comparison averages near 0 over seeds rather than near -0.8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from scvbench.core.stats import mann_whitney, run_study

__all__ = [
    "LOGISTIC_B",
    "PUBLISHED",
    "TOLERANCE",
    "Z_TOLERANCE",
    "compare",
    "directional_z",
    "markdown",
]


@dataclass(frozen=True)
class Comparison:
    """One published comparison: groups, their median (Q1, Q3) and the Z."""

    grouping: str  # "sex" or "dwml"
    measure: str
    hemisphere: str
    groups: tuple[tuple[object, str, tuple[float, float, float]], ...]  # (value, label, quartiles)
    z: float

    @property
    def rising(self) -> bool:
        """Whether the second group's published values are higher than the first's."""
        return sum(self.groups[1][2]) > sum(self.groups[0][2])


def _dwml(measure, hemi, first, second, z):
    return Comparison("dwml", measure, hemi, ((0, "N-DWML", first), (1, "DWML", second)), z)


#: Tables 2 and 3 of the study: median (Q1, Q3) per group and the Mann-Whitney Z.
PUBLISHED = (
    Comparison(
        "sex", "count", "right", (("M", "male", (6, 4, 7)), ("F", "female", (5, 3, 6))), -2.875
    ),
    Comparison(
        "sex", "count", "left", (("M", "male", (6, 4, 7)), ("F", "female", (4, 3, 5))), -3.796
    ),
    _dwml("diameter", "right", (1.34, 1.22, 1.42), (1.28, 1.18, 1.38), -1.909),
    _dwml("diameter", "left", (1.31, 1.21, 1.40), (1.29, 1.23, 1.43), -0.040),
    _dwml("tortuosity", "right", (1.23, 1.16, 1.39), (1.37, 1.25, 1.50), -3.511),
    _dwml("tortuosity", "left", (1.15, 1.13, 1.20), (1.17, 1.13, 1.25), -0.895),
    _dwml("count", "right", (5, 4, 7), (5, 4, 6), -0.614),
    _dwml("count", "left", (5, 3, 6), (5, 4, 7), -1.710),
)
#: The study's logistic regression of DWML on right tortuosity: coefficient B.
LOGISTIC_B = 2.035
#: Largest allowed difference of a median or quartile (mean over seeds) from the published one.
TOLERANCE = {"tortuosity": 0.03, "diameter": 0.06, "count": 1.0}
#: Largest allowed difference of a mean Z over seeds from the published Z.
Z_TOLERANCE = 0.75


def directional_z(first, second, rising: bool) -> float:
    """Mann-Whitney Z, negative when ``second`` ranks higher exactly when ``rising`` says so.

    Parameters
    ----------
    first, second : array_like
        The two groups' values.
    rising : bool
        Whether the study's second group was the higher one.

    Returns
    -------
    float
        ``-|Z|`` for a difference in the study's direction, ``+|Z|`` against it.
    """
    result = mann_whitney(first, second)
    if result["Z"] is None:
        return float("nan")
    up = result["mean_rank_2"] > result["mean_rank_1"]
    size = abs(float(result["Z"]))
    return -size if up == rising else size


def _per_seed(wide: pd.DataFrame) -> dict[str, float]:
    values: dict[str, float] = {}
    for c in PUBLISHED:
        column = wide[f"{c.measure}_{c.hemisphere}"]
        parts = [column[wide[c.grouping] == value].to_numpy(float) for value, _, _ in c.groups]
        key = f"{c.measure} {c.hemisphere} by {c.grouping}"
        values[f"{key}|Z"] = directional_z(parts[0], parts[1], c.rising)
        for (_, label, _), part in zip(c.groups, parts, strict=True):
            q1, med, q3 = np.nanpercentile(part, [25, 50, 75]) if part.size else (np.nan,) * 3
            values[f"{key}|{label}|median"] = float(med)
            values[f"{key}|{label}|Q1"] = float(q1)
            values[f"{key}|{label}|Q3"] = float(q3)
    fit = run_study(wide, terms=["tortuosity_right"])["logistic"]
    coef = [t["coef"] for t in fit["terms"] if t["name"] == "tortuosity_right"]
    values["logistic|B"] = float(coef[0]) if coef else float("nan")
    return values


def compare(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """The published values beside the mean over synthetic cohorts, with tolerances.

    Parameters
    ----------
    tables : list of DataFrame
        One per cohort (seed): one row per association participant with ``sex`` (M/F),
        ``dwml`` (0/1) and ``<measure>_<hemisphere>`` columns.

    Returns
    -------
    DataFrame
        One row per quantity: ``quantity``, ``published``, ``synthetic`` (mean over cohorts),
        ``sd`` (over cohorts), ``difference``, ``tolerance`` (NaN for the logistic B, which is
        reported, not promised) and ``holds``.
    """
    if not tables:
        raise ValueError("compare needs at least one cohort table")
    draws = pd.DataFrame([_per_seed(t) for t in tables])
    rows = []
    for c in PUBLISHED:
        key = f"{c.measure} {c.hemisphere} by {c.grouping}"
        for _, label, quartiles in c.groups:
            for name, value in zip(("median", "Q1", "Q3"), quartiles, strict=True):
                rows.append(
                    (f"{key}: {label} {name}", value, f"{key}|{label}|{name}", TOLERANCE[c.measure])
                )
        rows.append((f"{key}: Z", c.z, f"{key}|Z", Z_TOLERANCE))
    rows.append(("logistic B of right tortuosity", LOGISTIC_B, "logistic|B", np.nan))
    out = []
    for quantity, published, column, tolerance in rows:
        mean = float(draws[column].mean())
        difference = mean - published
        out.append(
            {
                "quantity": quantity,
                "published": published,
                "synthetic": mean,
                "sd": float(draws[column].std(ddof=1)) if len(draws) > 1 else np.nan,
                "difference": difference,
                "tolerance": tolerance,
                "holds": bool(np.isnan(tolerance) or abs(difference) <= tolerance + 1e-9),
            }
        )
    return pd.DataFrame(out)


def markdown(table: pd.DataFrame, label: str) -> str:
    """The comparison as a Markdown table whose synthetic column is headed ``label``.

    Parameters
    ----------
    table : DataFrame
        :func:`compare`'s result.
    label : str
        Heading of the synthetic column (what was measured, how many seeds).

    Returns
    -------
    str
        A Markdown table.
    """
    lines = [
        f"| quantity | study | {label} | difference | tolerance |",
        "|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        digits = 0 if row.quantity.startswith("count") and "Z" not in row.quantity else 2
        digits = 3 if "Z" in row.quantity or "logistic" in row.quantity else max(digits, 2)
        tolerance = "reported" if np.isnan(row.tolerance) else f"{row.tolerance:g}"
        mark = "" if row.holds else " (outside)"
        spread = "" if np.isnan(row.sd) else f" ± {row.sd:.{digits}f}"
        lines.append(
            f"| {row.quantity} | {row.published:g} | {row.synthetic:.{digits}f}{spread} | "
            f"{row.difference:+.{digits}f}{mark} | {tolerance} |"
        )
    return "\n".join(lines)
