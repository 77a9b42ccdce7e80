"""``scvbench convert``: plan, convert with dcm2niix, de-identify, and write the BIDS dataset."""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import dcm2niix
import nibabel as nib
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from scvbench import io
from scvbench.bids.keys import assign_labels
from scvbench.bids.spec import RAW
from scvbench.errors import ScvbenchError
from scvbench.steps.convert.deidentify import clean_nifti, clean_sidecar
from scvbench.steps.convert.series import (
    BUILTIN_RULES,
    USED_KINDS,
    Classification,
    Rule,
    SeriesInfo,
    Skipped,
    classify,
    find_series,
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
_WORK = ".scvbench-work"


@dataclass
class ParticipantPlan:
    """What converting one patient will do."""

    patient_id: str
    label: str
    series: list[tuple[SeriesInfo, Classification, str | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def chosen(self) -> dict[str, SeriesInfo]:
        """The series converted, by kind."""
        return {c.kind: s for s, c, target in self.series if target is not None}


@dataclass
class ConversionReport:
    """The outcome of :func:`convert_dataset`."""

    converted: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    sheet_problems: list[str] = field(default_factory=list)
    plans: list[ParticipantPlan] = field(default_factory=list)
    skipped_files: list[Skipped] = field(default_factory=list)


def load_rules(config: Path | None) -> tuple[Rule, ...]:
    """Rules from a JSON config (``{"rules": [{"kind": ..., "match": {field: regex}}]}``) first."""
    if config is None:
        return BUILTIN_RULES
    try:
        data = json.loads(Path(config).read_text())
        rules = tuple(
            Rule(item["kind"], tuple(item["match"].items()), item.get("note", "config rule"))
            for item in data["rules"]
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ScvbenchError(
            f"{config}: not a valid rule file ({err}); expected "
            '{"rules": [{"kind": "swi", "match": {"SeriesDescription": "regex"}}]}'
        ) from None
    for rule in rules:
        if rule.kind is not None and rule.kind not in (*USED_KINDS, "mip"):
            raise ScvbenchError(
                f"{config}: unknown kind {rule.kind!r}; use one of "
                f"{', '.join((*USED_KINDS, 'mip'))} or null"
            )
    return rules + BUILTIN_RULES


def plan(
    dicom_dir: Path, rules: tuple[Rule, ...] = BUILTIN_RULES, mapping: dict[str, str] | None = None
) -> tuple[list[ParticipantPlan], list[Skipped]]:
    """Find, classify and name every series under ``dicom_dir``, one plan per patient."""
    series, skipped = find_series(dicom_dir)
    by_patient: dict[str, list[SeriesInfo]] = {}
    for s in series:
        by_patient.setdefault(s.patient_id, []).append(s)
    labels = assign_labels(list(by_patient), mapping)
    plans = []
    for patient_id, items in sorted(by_patient.items(), key=lambda kv: labels[kv[0]]):
        p = ParticipantPlan(patient_id, labels[patient_id])
        classified = [(s, classify(s, rules)) for s in items]
        last = {}
        for s, c in classified:
            if c.used:
                last[c.kind] = s  # a repeated scan: the last one wins
        for s, c in classified:
            if c.used and last[c.kind] is s:
                p.series.append((s, c, RAW[c.kind].relpath(p.label)))
            elif c.used:
                note = f"repeat of {c.kind}; series {last[c.kind].number} is used"
                p.series.append((s, Classification(None, note), None))
            else:
                p.series.append((s, c, None))
        if "swi" not in last and "mag" not in last:
            p.problems.append("no SWI series (processed SWI or magnitude) found")
        for kind, s in last.items():
            missing = s.missing_instances()
            if missing:
                p.problems.append(
                    f"series {s.number} ({kind}) in {s.files[0].parent} lacks instance(s) "
                    f"{', '.join(map(str, missing[:5]))}: a slice is missing; export it again"
                )
        sexes = {s.sex for s in items if s.sex}
        ages = {s.age for s in items if s.age is not None}
        if len(sexes) > 1 or (ages and max(ages) - min(ages) > 1):
            p.problems.append(
                f"conflicting patient data across series (sex {sorted(sexes)}, age "
                f"{sorted(ages)}): do two people share one PatientID?"
            )
        plans.append(p)
    return plans, skipped


def format_plan(plans: list[ParticipantPlan], skipped: list[Skipped]) -> str:
    """The plan as text: one line per series, ``->`` a BIDS name or ``skip:`` the reason."""
    lines = []
    for p in plans:
        lines.append(f"sub-{p.label}:")
        for s, c, target in p.series:
            what = f"-> {target}" if target else f"skip: {c.reason}"
            lines.append(
                f"  series {s.number:>3} {s.description!r:<32} ({len(s.files)} files) {what}"
            )
        lines.extend(f"  problem: {problem}" for problem in p.problems)
    if skipped:
        lines.append(f"{len(skipped)} file(s) not in any series:")
        lines.extend(f"  {k.path}: {k.reason}" for k in skipped)
    return "\n".join(lines)


def _dcm2niix(series: SeriesInfo, work: Path) -> tuple[Path, Path]:
    """Convert one series; return its NIfTI and sidecar paths."""
    source = work / "in"
    source.mkdir(parents=True)
    for path in series.files:
        (source / path.name).symlink_to(path.resolve())
    out = work / "out"
    out.mkdir()
    run = subprocess.run(
        [
            dcm2niix.bin,
            "-b",
            "y",
            "-ba",
            "y",
            "-z",
            "n",  # compressed once, by clean_nifti, after de-identification
            "-f",
            "series",
            "-o",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    images = sorted(out.glob("*.nii"))
    if run.returncode != 0 or len(images) != 1:
        detail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ScvbenchError(
            f"dcm2niix could not convert series {series.number} "
            f"({series.description}) in {series.files[0].parent}: {detail[0]}"
        )
    return images[0], images[0].with_suffix(".json")


def _phase_scale(image_path: Path) -> tuple[float | None, str]:
    """Scale that expresses phase in radians, and the Units value."""
    data = np.asarray(nib.load(image_path).dataobj)
    low, high = float(data.min()), float(data.max())
    if -np.pi - 1e-3 <= low and high <= np.pi + 1e-3:
        return None, "rad"
    if -4096 <= low and high <= 4096:  # Siemens 12-bit phase
        return float(np.pi / 4096.0), "rad"
    return None, "arbitrary"


def _convert_participant(p: ParticipantPlan, bids_dir: Path) -> str:
    work_root = bids_dir / _WORK
    work_root.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_root, prefix=f"sub-{p.label}.") as tmp:
        staging = Path(tmp) / "staging"
        for kind, series in p.chosen.items():
            image, sidecar = _dcm2niix(series, Path(tmp) / kind)
            target = staging / RAW[kind].relpath(p.label)
            meta = clean_sidecar(json.loads(sidecar.read_text()))
            scale = None
            if kind == "phase":
                scale, meta["Units"] = _phase_scale(image)
            clean_nifti(image, target, rescale=scale)
            io.write_json(target.with_name(target.name.replace(".nii.gz", ".json")), meta)
        io.replace_directory(staging / f"sub-{p.label}", bids_dir / f"sub-{p.label}")
    return p.label


def _read_table(path: Path, required: list[str], what: str) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise ScvbenchError(f"{path}: cannot read the {what} sheet ({err})") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise ScvbenchError(
            f"{path}: the {what} sheet has no column {', '.join(missing)}; "
            f"it needs {', '.join(required)}"
        )
    return table


def _unknown(path: Path, number: int) -> str:
    return (
        f"{path}, row {number}: no DICOM data for this patient; remove the row or add the "
        "patient's DICOM files"
    )


def load_demographics(path: Path, patient_ids: set[str]) -> tuple[dict[str, dict], list[str]]:
    """Checked demographics rows by PatientID, and one message per bad row (rows skipped)."""
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
    """The phenotype table of the checked rows, and one message per bad row (rows skipped)."""
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


def _participants(plans: list[ParticipantPlan], sheet: dict[str, dict]) -> pd.DataFrame:
    """The participants table of ``plans``; checked sheet values win over DICOM headers."""
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


def _merge_tsv(path: Path, new: pd.DataFrame) -> None:
    if path.is_file():
        old = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        old = old[~old["participant_id"].isin(new["participant_id"])]
        new = pd.concat([old, new.astype(str)], ignore_index=True)
    new = new.sort_values("participant_id").reset_index(drop=True)
    io.write_text(path, new.to_csv(sep="\t", index=False, lineterminator="\n"))


def template_dir() -> Path:
    """The ``bids_template`` folder: beside the package in a source tree, else installed data."""
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

    bar = tqdm(total=len(todo), desc="convert", unit="participant", disable=None)
    if nprocs > 1 and len(todo) > 1:
        context = multiprocessing.get_context("fork")
        with cf.ProcessPoolExecutor(max_workers=nprocs, mp_context=context) as pool:
            futures = {pool.submit(_convert_participant, p, bids_dir): p for p in todo}
            for future in cf.as_completed(futures):
                _collect(future, futures[future], report)
                bar.update()
    else:
        for p in todo:
            future: cf.Future = cf.Future()
            try:
                future.set_result(_convert_participant(p, bids_dir))
            except ScvbenchError as err:
                future.set_exception(err)
            _collect(future, p, report)
            bar.update()
    bar.close()
    shutil.rmtree(bids_dir / _WORK, ignore_errors=True)
    done = [p for p in plans if p.label in report.converted or p.label in report.up_to_date]
    _merge_tsv(bids_dir / "participants.tsv", _participants(done, demo_rows))
    if phenotype is not None:
        (bids_dir / "phenotype").mkdir(exist_ok=True)
        done_ids = {f"sub-{p.label}" for p in done}
        table = phenotype[phenotype["participant_id"].isin(done_ids)]
        _merge_tsv(bids_dir / "phenotype" / "fazekas.tsv", table)
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


def _collect(future: cf.Future, p: ParticipantPlan, report: ConversionReport) -> None:
    try:
        report.converted.append(future.result())
        log.info("sub-%s converted", p.label)
    except ScvbenchError as err:
        report.failed[p.label] = str(err)
        log.error("sub-%s failed: %s", p.label, err)
