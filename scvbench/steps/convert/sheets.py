"""The study's sheets: demographics and Fazekas ratings read, checked and written as BIDS tables."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from scvbench import io
from scvbench.bids.tables import require_columns
from scvbench.errors import ScvbenchError
from scvbench.steps.convert.plan import ParticipantPlan

__all__ = ["load_demographics", "load_fazekas", "merge_tsv", "participants_table"]

log = logging.getLogger(__name__)


def _read_table(path: Path, required: list[str], what: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise ScvbenchError(f"{path}: cannot read the {what} sheet ({err})") from None
    require_columns(table, path, required, f"{what} sheet")
    return table


def _unknown(path: Path, number: int) -> str:
    return (
        f"{path}, row {number}: no DICOM data for this patient; remove the row or add the "
        "patient's DICOM files"
    )


def load_demographics(path: Path, patient_ids: set[str]) -> tuple[dict[str, dict], list[str]]:
    """Checked demographics rows by PatientID, and one message per bad row (rows skipped).

    Parameters
    ----------
    path : Path
        The demographics CSV.
    patient_ids : set of str
        The patients that have DICOM data.

    Returns
    -------
    rows : dict
        PatientID to its checked values.
    problems : list of str
        One message per bad row, naming the file and the row.
    """
    try:
        sheet = _read_table(path, ["patient_id", "sex", "age"], "demographics")
    except ScvbenchError as err:
        return {}, [str(err)]
    rows, problems = {}, []
    for number, entry in _unique_rows(sheet, path, problems):
        where = f"{path}, row {number}"
        if entry["patient_id"] not in patient_ids:
            problems.append(_unknown(path, number))
            continue
        problem = _bad_value(entry)
        if problem:
            problems.append(f"{where}: {problem}")
        else:
            rows[entry["patient_id"]] = entry
    return rows, problems


def _number(text: str, low: float, high: float) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return low <= value < high


def _bad_value(entry: dict) -> str | None:
    """What is wrong with one demographics row, or None."""
    age = str(entry["age"]).strip()
    if age not in ("", "n/a") and not _number(age, 0, 130):
        return f"age is {age!r}; give years as a number from 0 to 130, or n/a"
    if str(entry["sex"]).strip() not in ("M", "F", "O", "n/a", ""):
        return f"sex is {entry['sex']!r}; use M, F, O or n/a"
    years = str(entry.get("education_years", "")).strip()
    if years not in ("", "n/a") and not _number(years, 0, 40):
        return f"education_years is {years!r}; give years as a number from 0 to 40, or n/a"
    hand = str(entry.get("handedness", "")).strip()
    if hand not in ("", "n/a", "R", "L", "A"):
        return f"handedness is {hand!r}; use R, L, A or n/a"
    return None


def _unique_rows(sheet: pd.DataFrame, path: Path, problems: list[str]):
    """Rows ``(number, entry)`` of a sheet with one row per patient and no control characters.

    A patient on two rows is refused on both (neither is taken: which is right is the
    user's call); a value holding a tab or a line break would shift the TSV columns.
    """
    where_rows: dict[str, list[int]] = {}
    for number, patient in enumerate(sheet["patient_id"].str.strip(), start=2):
        where_rows.setdefault(patient, []).append(number)
    for number, entry in enumerate(sheet.to_dict("records"), start=2):
        where = f"{path}, row {number}"
        bad = [k for k, v in entry.items() if any(c in str(v) for c in "\t\r\n")]
        if bad:
            problems.append(
                f"{where}: {bad[0]} holds a tab or a line break; remove it (it would shift "
                "the columns of the BIDS table)"
            )
            continue
        entry["patient_id"] = entry["patient_id"].strip()
        same = where_rows[entry["patient_id"]]
        if len(same) > 1:
            problems.append(
                f"{where}: the same patient is on rows {', '.join(map(str, same))}; keep one "
                "row per patient"
            )
            continue
        yield number, entry


_FAZEKAS_COLUMNS = [
    "rater1_dwm",
    "rater1_pv",
    "rater2_dwm",
    "rater2_pv",
    "consensus_dwm",
    "consensus_pv",
]


_PHENOTYPE_ORDER = [
    "participant_id",
    "fazekas_dwm",
    "fazekas_pv",
    "rater1_dwm",
    "rater1_pv",
    "rater2_dwm",
    "rater2_pv",
]


def load_fazekas(path: Path, labels: dict[str, str]) -> tuple[pd.DataFrame, list[str]]:
    """The phenotype table of the checked rows, and one message per bad row (rows skipped).

    Parameters
    ----------
    path : Path
        The Fazekas CSV.
    labels : dict
        PatientID to participant label.

    Returns
    -------
    table : DataFrame
        ``phenotype/fazekas.tsv`` rows.
    problems : list of str
        One message per bad row.
    """
    try:
        sheet = _read_table(path, ["patient_id", *_FAZEKAS_COLUMNS], "Fazekas")
    except ScvbenchError as err:
        return pd.DataFrame(columns=_PHENOTYPE_ORDER), [str(err)]
    rows, problems = [], []
    for number, entry in _unique_rows(sheet, path, problems):
        if entry["patient_id"] not in labels:
            problems.append(_unknown(path, number))
            continue
        row = {"participant_id": f"sub-{labels[entry['patient_id']]}"}
        for column in _FAZEKAS_COLUMNS:
            value = str(entry[column]).strip()
            if value not in ("0", "1", "2", "3"):
                problems.append(
                    f"{path}, row {number}: {column} is {value!r}; Fazekas scores are 0, 1, 2 or 3"
                )
                break
            row[column.replace("consensus", "fazekas")] = int(value)
        else:
            rows.append(row)
    return pd.DataFrame(rows, columns=_PHENOTYPE_ORDER), problems


def participants_table(plans: list[ParticipantPlan], sheet: dict[str, dict]) -> pd.DataFrame:
    """The participants table of ``plans``; checked sheet values win over DICOM headers.

    Parameters
    ----------
    plans : list of ParticipantPlan
        The converted participants.
    sheet : dict
        Checked demographics by PatientID.

    Returns
    -------
    DataFrame
        ``participants.tsv`` rows.
    """
    rows = []
    for p in plans:
        row = {
            "participant_id": f"sub-{p.label}",
            "age": "n/a",
            "sex": "n/a",
            "handedness": "n/a",
            "education_years": "n/a",
        }
        first = p.series[0][0] if p.series else None
        if first is not None:
            row["age"] = str(first.age) if first.age is not None else "n/a"
            row["sex"] = first.sex if first.sex in ("M", "F", "O") else "n/a"
        entry = sheet.get(p.patient_id, {})
        for column in ("age", "sex", "handedness", "education_years"):
            if str(entry.get(column, "")).strip():
                row[column] = str(entry[column]).strip()
        rows.append(row)
    return pd.DataFrame(
        rows, columns=["participant_id", "age", "sex", "handedness", "education_years"]
    )


def merge_tsv(path: Path, new: pd.DataFrame) -> None:
    """Add ``new`` rows to a BIDS table, replacing rows of the same participant_id.

    Parameters
    ----------
    path : Path
        The table (created when missing).
    new : DataFrame
        Rows with a ``participant_id`` column.

    Returns
    -------
    None
        The table is written atomically, sorted by participant_id.
    """
    if path.is_file():
        old = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        old = old[~old["participant_id"].isin(new["participant_id"])]
        new = pd.concat([old, new.astype(str)], ignore_index=True)
    new = new.sort_values("participant_id").reset_index(drop=True)
    io.write_text(path, new.to_csv(sep="\t", index=False, lineterminator="\n"))
