"""The study's tables: participants.tsv, phenotype/fazekas.tsv and the group morphometry table.

One reader for each, with one clear error naming the file and the column or row at fault.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from scvbench.core.stats import HEMISPHERES, MEASURES
from scvbench.errors import ScvbenchError

__all__ = ["check_rows", "load_covariates", "load_wide", "read_tsv", "require_columns"]

_PARTICIPANT = re.compile(r"sub-[A-Za-z0-9]+")


def read_tsv(path: Path, required: list[str], what: str) -> pd.DataFrame:
    """A tab-separated table with ``required`` columns (``n/a`` read as missing)."""
    try:
        table = pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=True)
    except FileNotFoundError:
        raise ScvbenchError(f"{path}: no such file ({what})") from None
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise ScvbenchError(f"{path}: not a readable tab-separated {what} ({err})") from None
    require_columns(table, path, required, what)
    return table


def require_columns(table: pd.DataFrame, path: str | Path, required: list[str], what: str) -> None:
    """Raise one error naming ``path`` and the missing columns when ``table`` lacks any."""
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ScvbenchError(
            f"{path}: the {what} has no column {', '.join(missing)} (columns: "
            f"{', '.join(map(str, table.columns))}; it needs {', '.join(required)})"
        )


def check_rows(
    table: pd.DataFrame,
    path: str | Path,
    numeric: tuple[str, ...] = (),
    unique: tuple[str, ...] = ("participant_id",),
) -> None:
    """Refuse, naming the row: bad participant labels, repeated rows, non-numbers in ``numeric``.

    Parameters
    ----------
    table : DataFrame
        As read by :func:`read_tsv` (row 2 of the file is index 0).
    path : path
        The file, for the message.
    numeric : tuple of str
        Columns that must hold finite numbers or ``n/a``.
    unique : tuple of str
        Columns whose values together may appear once.

    Returns
    -------
    None
        Raises :class:`ScvbenchError` at the first problem.
    """
    for number, label in enumerate(table["participant_id"].astype(str), start=2):
        if not _PARTICIPANT.fullmatch(label):
            raise ScvbenchError(
                f"{path}, row {number}: participant_id {label!r} is not sub-<label> with "
                "letters and digits only (a tab inside a value shifts the columns)"
            )
    repeated = table.duplicated(list(unique), keep=False)
    if repeated.any():
        keys = table[list(unique)].astype(str).agg(" ".join, axis=1)
        what = keys[repeated].iloc[0]
        rows = ", ".join(str(i + 2) for i in np.flatnonzero((keys == what).to_numpy()))
        raise ScvbenchError(
            f"{path}, rows {rows}: {what} appears more than once; keep one row (which one is "
            "right is yours to say)"
        )
    for column in numeric:
        if column not in table.columns:
            continue
        values = pd.to_numeric(table[column], errors="coerce")
        bad = (table[column].notna() & values.isna()) | np.isinf(values)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ScvbenchError(
                f"{path}, row {row + 2}: {column} is {str(table[column].iloc[row])!r}; give a "
                "finite number or n/a"
            )


def load_wide(
    morph: str | Path, participants: str | Path, phenotype: str | Path | None = None
) -> pd.DataFrame:
    """One row per participant: sex, age, education, DWML and the six measures."""
    group = read_tsv(
        Path(morph),
        ["participant_id", "hemisphere", *MEASURES.values()],
        "group morphometry table",
    )
    bad = sorted(set(group["hemisphere"]) - set(HEMISPHERES))
    if bad:
        raise ScvbenchError(
            f"{morph}: hemisphere values {bad}; the study needs left and right (measure with "
            "scvbench morph --bids ... so that the hemispheres are split)"
        )
    check_rows(group, morph, tuple(MEASURES.values()), ("participant_id", "hemisphere"))
    duplicated = group.duplicated(["participant_id", "hemisphere"])
    if duplicated.any():
        first = group[duplicated].iloc[0]
        raise ScvbenchError(
            f"{morph}: {first['participant_id']} {first['hemisphere']} appears twice; one row "
            "per participant and hemisphere"
        )
    wide = group.pivot(index="participant_id", columns="hemisphere", values=list(MEASURES.values()))
    wide.columns = [
        f"{next(k for k, v in MEASURES.items() if v == value)}_{hemi}"
        for value, hemi in wide.columns
    ]
    wide = wide.join(load_covariates(participants, phenotype, list(wide.index)))
    return wide.reset_index()


def load_covariates(
    participants: str | Path, phenotype: str | Path | None, ids: list[str]
) -> pd.DataFrame:
    """Sex, age, education and (with ``phenotype``) DWML of ``ids``, indexed by participant_id."""
    people = read_tsv(Path(participants), ["participant_id", "sex"], "participants table")
    check_rows(people, participants, ("age", "education_years"))
    people = people.set_index("participant_id")
    unknown = sorted(set(ids) - set(people.index))
    if unknown:
        raise ScvbenchError(
            f"{participants}: no row for {', '.join(unknown[:5])}"
            + (" ..." if len(unknown) > 5 else "")
        )
    sexes = set(people["sex"].dropna().astype(str)) - {"M", "F"}
    if sexes:
        raise ScvbenchError(f"{participants}: sex must be M or F, found {sorted(sexes)}")
    columns = [c for c in ("sex", "age", "education_years") if c in people.columns]
    out = people.loc[ids, columns]
    if phenotype is not None:
        rated = read_tsv(Path(phenotype), ["participant_id", "fazekas_dwm"], "Fazekas table")
        check_rows(rated, phenotype, ("fazekas_dwm", "fazekas_pv"))
        rated = rated.set_index("participant_id")["fazekas_dwm"]
        scores = pd.to_numeric(rated, errors="coerce")
        if not scores.dropna().isin([0, 1, 2, 3]).all():
            raise ScvbenchError(f"{phenotype}: fazekas_dwm must be 0-3")
        out["dwml"] = (scores.reindex(out.index) >= 1).astype(float)
        out.loc[scores.reindex(out.index).isna(), "dwml"] = np.nan
    return out
