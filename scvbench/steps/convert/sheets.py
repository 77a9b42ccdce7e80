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
    for number, entry in enumerate(sheet.to_dict("records"), start=2):
        where = f"{path}, row {number}"
        age = str(entry["age"]).strip()
        if entry["patient_id"] not in patient_ids:
            problems.append(_unknown(path, number))
        elif age and age != "n/a" and not (age.replace(".", "", 1).isdigit() and float(age) < 130):
            problems.append(f"{where}: age is {age!r}; give years as a number or n/a")
        elif str(entry["sex"]).strip() not in ("M", "F", "O", "n/a", ""):
            problems.append(f"{where}: sex is {entry['sex']!r}; use M, F, O or n/a")
        else:
            rows[entry["patient_id"]] = entry
    return rows, problems


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
    for number, entry in enumerate(sheet.to_dict("records"), start=2):
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
