"""The PatientID key: which participant label each patient has (kept outside the BIDS root).

The key is a ledger. Once a patient has a label it keeps it for ever: a later run reads the
label from the key, gives new patients new labels after every label in use, and refuses any
disagreement between the key, a ``--mapping`` and the folders in the dataset. The file is only
ever extended (rows merged, written atomically), never cut to the patients of one run.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from scvbench.errors import ScvbenchError

__all__ = ["assign_labels", "check_label", "is_label", "merge_key", "read_key"]

_LABEL = re.compile(r"[A-Za-z0-9]+")


def is_label(text: str) -> bool:
    """Whether ``text`` is a BIDS label (letters and digits only), as labels and raters must be.

    Parameters
    ----------
    text : str
        The candidate.

    Returns
    -------
    bool
        True for ``001``, ``rater1``; False for ``x/..``, ``a b``, ``""``.
    """
    return bool(_LABEL.fullmatch(str(text)))


def check_label(label: str, where: str) -> str:
    """``label`` without ``sub-`` when it is a BIDS label (letters and digits only).

    Parameters
    ----------
    label : str
        A participant label, with or without ``sub-``.
    where : str
        The file and row it came from, for the message.

    Returns
    -------
    str
        The label without ``sub-``.
    """
    bare = str(label).strip().removeprefix("sub-")
    if not is_label(bare):
        raise ScvbenchError(
            f"{where}: participant label {label!r} is not a BIDS label; use letters and digits "
            "only (sub-001, sub-P12)"
        )
    return bare


def read_key(path: str | os.PathLike[str], what: str = "key file") -> dict[str, str]:
    """PatientID -> participant label (without ``sub-``) from a ``patient_id,participant_id`` CSV.

    The format of the key file ``convert`` writes, and of a ``--mapping`` it reads. A patient
    listed twice, a label given to two patients, an empty ID or a label that is not a BIDS
    label is refused, naming the row.

    Parameters
    ----------
    path : path
        The CSV.
    what : str
        ``key file`` or ``label mapping``, for messages.

    Returns
    -------
    dict
        PatientID to label.
    """
    path = Path(path)
    if path.is_dir():
        raise ScvbenchError(f"{path} is a folder; the {what} is a CSV file")
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        pairs = list(zip(table["patient_id"], table["participant_id"], strict=True))
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as err:
        raise ScvbenchError(
            f"{path}: not a {what} ({err}); it needs the columns patient_id and participant_id "
            "(the key file scvbench convert writes has them)"
        ) from None
    key: dict[str, str] = {}
    owner: dict[str, str] = {}
    for row, (patient, label) in enumerate(pairs, start=2):
        where = f"{path}, row {row}"
        patient = patient.strip()
        if not patient:
            raise ScvbenchError(f"{where}: empty patient_id; fill it in or remove the row")
        bare = check_label(label, where)
        if patient in key and key[patient] != bare:
            raise ScvbenchError(
                f"{where}: patient listed again with another label (sub-{key[patient]} and "
                f"sub-{bare}); keep one row per patient"
            )
        if bare in owner and owner[bare] != patient:
            raise ScvbenchError(
                f"{where}: label sub-{bare} is given to two patients; each patient needs "
                "its own label"
            )
        key[patient], owner[bare] = bare, patient
    return key


def assign_labels(
    patient_ids: list[str],
    mapping: dict[str, str] | None = None,
    key: dict[str, str] | None = None,
    existing: set[str] | frozenset[str] = frozenset(),
) -> dict[str, str]:
    """Labels of ``patient_ids``: from the key, else the mapping, else new ones after all in use.

    Parameters
    ----------
    patient_ids : list of str
        The patients found in the DICOM.
    mapping : dict, optional
        PatientID to label from ``--mapping``; then every new patient needs a row.
    key : dict, optional
        The ledger of earlier runs (PatientID to label).
    existing : set of str
        Labels of the ``sub-*`` folders already in the dataset.

    Returns
    -------
    dict
        PatientID to label. New labels are numbers (001, 002, ...) above every numeric label
        in the key and the dataset, given in PatientID order.

    Raises
    ------
    ScvbenchError
        The mapping disagrees with the key, gives one label to two patients or reuses a label
        the key gives to someone else; the dataset holds participants the key does not know.
    """
    key = dict(key or {})
    owner = {label: patient for patient, label in key.items()}
    unknown_folders = sorted(set(existing) - set(owner))
    if key and unknown_folders:
        raise ScvbenchError(
            f"the dataset holds sub-{unknown_folders[0]} (and {len(unknown_folders) - 1} more) "
            "that the key file does not list: is this the key of another dataset? Give the key "
            "that was written with this dataset"
        )
    if not key and existing and mapping is None:
        raise ScvbenchError(
            f"the dataset already holds {len(existing)} participant(s) and no key file says "
            "whose they are; give the --key-file written when they were converted (or a "
            "--mapping) so that every patient keeps its label"
        )
    labels: dict[str, str] = {}
    for patient in patient_ids:
        if patient in key:
            labels[patient] = key[patient]
    if mapping is not None:
        used: dict[str, str] = {}
        for patient in patient_ids:
            if patient not in mapping:
                continue
            wanted = mapping[patient].removeprefix("sub-")
            if patient in key and key[patient] != wanted:
                raise ScvbenchError(
                    f"the mapping gives a patient sub-{wanted} but the key file gave it "
                    f"sub-{key[patient]}; labels never change: fix the mapping"
                )
            if owner.get(wanted, patient) != patient or used.get(wanted, patient) != patient:
                raise ScvbenchError(
                    f"the mapping gives sub-{wanted} to a second patient; each patient needs "
                    "its own label"
                )
            used[wanted] = patient
            labels[patient] = wanted
        missing = [p for p in patient_ids if p not in labels]
        if missing:
            raise ScvbenchError(
                f"the label mapping has no row for {len(missing)} patient(s); "
                "add them or leave the mapping out for sequential labels"
            )
        return labels
    taken = set(owner) | set(existing)
    new = sorted(p for p in patient_ids if p not in labels)
    start = max((int(label) for label in taken if label.isdigit()), default=0)
    width = max(3, len(str(start + len(new))))
    for offset, patient in enumerate(new, start=1):
        labels[patient] = f"{start + offset:0{width}d}"
    return labels


def merge_key(path: Path, rows: dict[str, str]) -> pd.DataFrame:
    """The key file at ``path`` (if any) with ``rows`` added, checked, sorted by label.

    Parameters
    ----------
    path : Path
        The key file; missing means an empty ledger.
    rows : dict
        PatientID to label of this run.

    Returns
    -------
    DataFrame
        ``patient_id, participant_id`` of every patient, old and new.
    """
    merged = read_key(path) if Path(path).is_file() else {}
    for patient, label in rows.items():
        if merged.get(patient, label) != label:
            raise ScvbenchError(
                f"{path}: the key gives this patient sub-{merged[patient]}, not sub-{label}; "
                "labels never change"
            )
        merged[patient] = label
    table = pd.DataFrame(
        {"patient_id": list(merged), "participant_id": [f"sub-{v}" for v in merged.values()]}
    )
    if table["participant_id"].duplicated().any():
        raise ScvbenchError(f"{path}: merging would give one label to two patients")
    return table.sort_values("participant_id").reset_index(drop=True)
