"""The PatientID key: which participant label each patient has (kept outside the BIDS root)."""

from __future__ import annotations

import os

import pandas as pd

from scvbench.errors import ScvbenchError

__all__ = ["assign_labels", "read_key"]


def read_key(path: str | os.PathLike[str], what: str = "key file") -> dict[str, str]:
    """PatientID -> participant label (without ``sub-``) from a ``patient_id,participant_id`` CSV.

    The format of the key file ``convert`` writes, and of a ``--mapping`` it reads.
    """
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        pairs = zip(table["patient_id"], table["participant_id"], strict=True)
        return {pid: label.removeprefix("sub-") for pid, label in pairs}
    except (OSError, ValueError, KeyError) as err:
        raise ScvbenchError(
            f"{path}: not a {what} ({err}); it needs the columns patient_id and participant_id "
            "(the key file scvbench convert writes has them)"
        ) from None


def assign_labels(patient_ids: list[str], mapping: dict[str, str] | None) -> dict[str, str]:
    """Labels of ``patient_ids``: from ``mapping``, else 001, 002, ... in PatientID order."""
    if mapping is not None:
        missing = [p for p in patient_ids if p not in mapping]
        if missing:
            raise ScvbenchError(
                f"the label mapping has no row for {len(missing)} patient(s); "
                "add them or leave the mapping out for sequential labels"
            )
        return {p: mapping[p].removeprefix("sub-") for p in patient_ids}
    width = max(3, len(str(len(patient_ids))))
    return {p: f"{i:0{width}d}" for i, p in enumerate(sorted(patient_ids), start=1)}
