"""``scvbench convert``: plan, convert with dcm2niix, de-identify, and write the BIDS dataset."""

from __future__ import annotations

import contextlib
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
from scvbench.bids.keys import merge_key, read_key
from scvbench.errors import ScvbenchError
from scvbench.parallel import map_participants
from scvbench.steps.convert.participant import WORK, convert_participant
from scvbench.steps.convert.plan import ParticipantPlan, format_plan, load_rules, plan
from scvbench.steps.convert.series import Skipped
from scvbench.steps.convert.sheets import (
    load_demographics,
    load_fazekas,
    merge_tsv,
    participants_table,
)
from scvbench.workspace import exclusive_lock

log = logging.getLogger(__name__)

__all__ = [
    "ConversionReport",
    "ParticipantPlan",
    "convert_dataset",
    "format_plan",
    "plan",
]

#: The lock file of a BIDS root being written (removed when the writer ends).
LOCK = ".scvbench.lock"

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


def _why_none(skipped: list[Skipped]) -> str:
    gz = [k for k in skipped if k.path.name.lower().endswith(".gz")]
    if gz:
        return f" ({len(gz)} gzipped file(s) could not be read as DICOM, e.g. {gz[0].path})"
    return f" ({len(skipped)} file(s) skipped as not DICOM)" if skipped else ""


def _check_against_dataset(plans: list[ParticipantPlan], bids_dir: Path) -> None:
    """Refuse a patient whose DICOM sex contradicts the dataset row of the label it is given."""
    table = bids_dir / "participants.tsv"
    if not table.is_file():
        return
    rows = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
    if "sex" not in rows.columns:
        return
    recorded = dict(zip(rows["participant_id"], rows["sex"], strict=True))
    for p in plans:
        sexes = {s.sex for s, _, _ in p.series if s.sex in ("M", "F")}
        known = recorded.get(f"sub-{p.label}")
        if known in ("M", "F") and sexes and sexes != {known}:
            raise ScvbenchError(
                f"sub-{p.label} in {table} has sex {known}, but the DICOM of the patient the "
                f"labels give it says {'/'.join(sorted(sexes))}: the key, the mapping or the "
                "dataset belongs to other patients; check them before converting"
            )


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
    if bids_dir.exists() and not bids_dir.is_dir():
        raise ScvbenchError(f"{bids_dir} is a file; give a folder for the BIDS dataset")
    key_path = None
    if key_file is not None:
        key_path = Path(key_file).resolve()
        if key_path.is_dir():
            raise ScvbenchError(
                f"--key-file {key_file} is a folder; give a CSV file name (for example key.csv)"
            )
        if bids_dir == key_path or bids_dir in key_path.parents:
            raise ScvbenchError(
                f"--key-file {key_file} lies inside {bids_dir}; the key links "
                "labels to patient IDs and must be kept outside the dataset"
            )
    rules = load_rules(Path(config) if config else None)
    run = functools.partial(
        _convert,
        dicom_dir,
        bids_dir,
        rules,
        key_path,
        mapping,
        demographics,
        fazekas,
        participant_labels,
        overwrite=overwrite,
        nprocs=nprocs,
    )
    if dry_run:
        return run(dry_run=True)
    try:
        bids_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ScvbenchError(
            f"cannot create the BIDS folder {bids_dir} ({err.strerror}); choose a writable place"
        ) from None
    if not os.access(bids_dir, os.W_OK | os.X_OK):
        raise ScvbenchError(f"{bids_dir} is not writable; choose a writable place")
    with contextlib.ExitStack() as locks:
        locks.enter_context(exclusive_lock(bids_dir / LOCK, f"the BIDS root {bids_dir}"))
        if key_path is not None:
            key_path.parent.mkdir(parents=True, exist_ok=True)
            lock = key_path.with_name(f".{key_path.name}.lock")
            locks.enter_context(exclusive_lock(lock, f"the key file {key_path}"))
        return run(dry_run=False)


def _convert(
    dicom_dir: Path,
    bids_dir: Path,
    rules,
    key_path: Path | None,
    mapping: dict[str, str] | None,
    demographics,
    fazekas,
    participant_labels: list[str] | None,
    *,
    dry_run: bool,
    overwrite: bool,
    nprocs: int,
) -> ConversionReport:
    """The conversion, with the BIDS root and the key file locked (unless ``dry_run``)."""
    key = read_key(key_path) if key_path is not None and key_path.is_file() else {}
    existing = {path.name[4:] for path in bids_dir.glob("sub-*") if path.is_dir()}
    plans, skipped = plan(dicom_dir, rules, mapping, key, existing)
    seen = {p.patient_id: p.label for p in plans}  # every patient found keeps its label
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
    _check_against_dataset(plans, bids_dir)
    report.plans = plans
    if dry_run:
        return report
    if not plans:
        raise ScvbenchError(
            f"no DICOM series found under {dicom_dir}" + _why_none(report.skipped_files)
        )
    shutil.rmtree(bids_dir / WORK, ignore_errors=True)  # a killed run's; we hold the lock
    _copy_template(bids_dir)
    todo = []
    for p in plans:
        if p.problems:
            report.failed[p.label] = "; ".join(p.problems)
        elif (bids_dir / f"sub-{p.label}").exists() and not overwrite:
            report.up_to_date.append(p.label)
        else:
            todo.append(p)

    if key_path is not None:  # the ledger first: no folder in the dataset is ever unaccounted
        key = merge_key(key_path, seen)
        io.write_text(key_path, key.to_csv(index=False))
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
    report.converted.sort()
    return report
