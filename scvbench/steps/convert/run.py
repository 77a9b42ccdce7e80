"""``scvbench convert``: plan, convert with dcm2niix, de-identify, and write the BIDS dataset."""

from __future__ import annotations

import functools
import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from scvbench import io
from scvbench.errors import ScvbenchError
from scvbench.parallel import map_participants
from scvbench.steps.convert.participant import WORK, convert_participant
from scvbench.steps.convert.plan import ParticipantPlan, format_plan, load_rules, plan
from scvbench.steps.convert.series import (
    Skipped,
)
from scvbench.steps.convert.sheets import (
    load_demographics,
    load_fazekas,
    merge_tsv,
    participants_table,
)

log = logging.getLogger(__name__)

__all__ = [
    "ConversionReport",
    "ParticipantPlan",
    "convert_dataset",
    "format_plan",
    "plan",
]

_TEMPLATE_FILES = (
    "dataset_description.json",
    "README",
    "CHANGES",
    "participants.json",
)


@dataclass
class ConversionReport:
    """The outcome of :func:`convert_dataset`."""

    converted: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    sheet_problems: list[str] = field(default_factory=list)
    plans: list[ParticipantPlan] = field(default_factory=list)
    skipped_files: list[Skipped] = field(default_factory=list)


def template_dir() -> Path:
    """The ``bids_template`` folder: beside the package in a source tree, else installed data.

    Returns
    -------
    Path
        The folder with ``dataset_description.json``, ``README``, ``CHANGES`` and the sidecars.
    """
    candidates = [
        Path(str(resources.files("scvbench"))).resolve().parent / "bids_template",
        Path(sys.prefix) / "share" / "scvbench" / "bids_template",
    ]
    for candidate in candidates:
        if (candidate / "dataset_description.json").is_file():
            return candidate
    raise ScvbenchError(
        "the bids_template folder is missing from this installation; reinstall scvbench"
    )


def _copy_template(bids_dir: Path) -> None:
    template = template_dir()
    for name in _TEMPLATE_FILES:
        target = bids_dir / name
        if not target.exists():
            io.write_bytes(target, (template / name).read_bytes())


def convert_dataset(
    dicom_dir: str | os.PathLike[str],
    bids_dir: str | os.PathLike[str],
    demographics: str | os.PathLike[str] | None = None,
    fazekas: str | os.PathLike[str] | None = None,
    config: str | os.PathLike[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
    mapping: dict[str, str] | None = None,
    participant_labels: list[str] | None = None,
    dry_run: bool = False,
    overwrite: bool = False,
    nprocs: int = 1,
) -> ConversionReport:
    """Convert the DICOM series under ``dicom_dir`` into the BIDS dataset ``bids_dir``.

    Participants already in ``bids_dir`` are left as they are unless ``overwrite``; each
    participant appears whole or not at all. Returns what was converted, kept and failed.

    Parameters
    ----------
    dicom_dir, bids_dir : path
        The DICOM tree and the dataset to create or extend.
    demographics, fazekas : path, optional
        The study's sheets (CSV, by PatientID).
    config : path, optional
        JSON series rules tried before the built-in table.
    key_file : path, optional
        Where the PatientID-to-label key goes (outside ``bids_dir``).
    mapping : dict, optional
        PatientID to participant label.
    participant_labels : list of str, optional
        Convert only these.
    dry_run : bool
        Plan only; write nothing.
    overwrite : bool
        Convert participants already present again.
    nprocs : int
        Participants converted at once.

    Returns
    -------
    ConversionReport
        The plans, the participants converted, present or failed, and the sheets' problems.
    """
    dicom_dir, bids_dir = Path(dicom_dir), Path(bids_dir).resolve()
    if not dicom_dir.is_dir():
        raise ScvbenchError(f"{dicom_dir} is not a folder; give the folder of DICOM files")
    if key_file is not None:
        key_path = Path(key_file).resolve()
        if bids_dir == key_path or bids_dir in key_path.parents:
            raise ScvbenchError(
                f"--key-file {key_file} lies inside {bids_dir}; the key links "
                "labels to patient IDs and must be kept outside the dataset"
            )
    rules = load_rules(Path(config) if config else None)
    plans, skipped = plan(dicom_dir, rules, mapping)
    report = ConversionReport(skipped_files=skipped)
    # Sheets are checked against every patient found; a bad row is reported and left out.
    labels = {p.patient_id: p.label for p in plans}
    demo_rows: dict[str, dict] = {}
    if demographics is not None:
        demo_rows, problems = load_demographics(Path(demographics), set(labels))
        report.sheet_problems.extend(problems)
    phenotype = None
    if fazekas is not None:
        phenotype, problems = load_fazekas(Path(fazekas), labels)
        report.sheet_problems.extend(problems)
    if participant_labels:
        wanted = {label.removeprefix("sub-") for label in participant_labels}
        unknown = wanted - {p.label for p in plans}
        if unknown:
            raise ScvbenchError(f"no DICOM data for participant(s) {', '.join(sorted(unknown))}")
        plans = [p for p in plans if p.label in wanted]
    report.plans = plans
    if dry_run:
        return report
    if not plans:
        raise ScvbenchError(f"no DICOM series found under {dicom_dir}")
    bids_dir.mkdir(parents=True, exist_ok=True)
    _copy_template(bids_dir)
    todo = []
    for p in plans:
        if p.problems:
            report.failed[p.label] = "; ".join(p.problems)
        elif (bids_dir / f"sub-{p.label}").exists() and not overwrite:
            report.up_to_date.append(p.label)
        else:
            todo.append(p)

    convert = functools.partial(convert_participant, bids_dir=bids_dir)
    for p, label, error in map_participants(
        convert, todo, nprocs, "convert", catch=(ScvbenchError,)
    ):
        if error is None:
            report.converted.append(label)
            log.info("sub-%s converted", p.label)
        else:
            report.failed[p.label] = str(error)
            log.error("sub-%s failed: %s", p.label, error)
    shutil.rmtree(bids_dir / WORK, ignore_errors=True)
    done = [p for p in plans if p.label in report.converted or p.label in report.up_to_date]
    merge_tsv(bids_dir / "participants.tsv", participants_table(done, demo_rows))
    if phenotype is not None:
        (bids_dir / "phenotype").mkdir(exist_ok=True)
        done_ids = {f"sub-{p.label}" for p in done}
        table = phenotype[phenotype["participant_id"].isin(done_ids)]
        merge_tsv(bids_dir / "phenotype" / "fazekas.tsv", table)
        sidecar = bids_dir / "phenotype" / "fazekas.json"
        if not sidecar.exists():  # only beside its table: alone it is a validator error
            io.write_bytes(sidecar, (template_dir() / "phenotype" / "fazekas.json").read_bytes())
    if key_file is not None:
        key = pd.DataFrame(
            {
                "patient_id": [p.patient_id for p in done],
                "participant_id": [f"sub-{p.label}" for p in done],
            }
        )
        io.write_text(Path(key_file), key.to_csv(index=False))
    report.converted.sort()
    return report
