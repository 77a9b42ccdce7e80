"""Derive a dataset: participants in parallel, each staged in a work folder and moved in."""

from __future__ import annotations

import functools
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scvbench import io
from scvbench.bids import layout
from scvbench.defaults import DEFAULTS
from scvbench.errors import ScvbenchError
from scvbench.parallel import map_participants
from scvbench.report.qc import write_participant_report
from scvbench.steps.derive.participant import (
    LABELME_DIR,
    PIPELINE,
    QC_DIR,
    Settings,
    derivation_state,
    derive_participant,
    output_names,
    read_sidecar,
)
from scvbench.workspace import sweep_stale, tagged

__all__ = ["DeriveReport", "copy_derived", "derive_dataset"]

log = logging.getLogger(__name__)

_WORK = ".work"


@dataclass
class DeriveReport:
    """Which participants were derived, skipped as up to date, or failed (with the reason)."""

    derived: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _job(
    bids_dir: Path, deriv: Path, work: Path, label: str, settings: Settings, threads: int
) -> str:
    """Derive one participant into the work folder, then move its files in (sidecar last)."""
    staging = work / tagged(f"sub-{label}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        sidecar = derive_participant(bids_dir, label, settings, staging, threads)
        out = output_names(label)
        for old in (deriv / LABELME_DIR).glob(f"sub-{label}_minip-*.png"):
            old.unlink()
        for path in sorted(staging.rglob("*")):
            if path.is_file():
                io.move_file(path, deriv / path.relative_to(staging))
        io.write_json(deriv / out["minip_json"], sidecar)
        write_participant_report(bids_dir, label, deriv.parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return label


def _complete(deriv: Path, label: str) -> dict | None:
    """The MinIP sidecar of ``label`` when every derived file of it is in ``deriv``."""
    previous = read_sidecar(deriv, label)
    if previous is None or not all((deriv / rel).is_file() for rel in output_names(label).values()):
        return None
    return previous


def copy_derived(
    bids_dir: Path, source: Path, target: Path, labels: list[str], settings: Settings
) -> list[str]:
    """Copy participants that ``source`` holds derived from the same inputs and settings.

    ``source`` and ``target`` are ``scvbench`` derivative datasets of ``bids_dir`` (a dataset's
    own ``derivatives/scvbench``, a BIDS-App's output); participants ``target`` lacks are copied
    when ``source`` has them up to date: what deriving them again would write, the MinIP
    sidecar (which marks a participant complete) last. Returns the labels copied.

    Parameters
    ----------
    bids_dir : Path
        The raw dataset.
    source, target : Path
        ``scvbench`` derivative datasets of ``bids_dir``.
    labels : list of str
        The participants wanted.
    settings : Settings
        Slab, step and slices they must have been derived with.

    Returns
    -------
    list of str
        The labels copied.
    """
    copied = []
    for label in labels:
        previous = _complete(source, label)
        if previous is None or read_sidecar(target, label) is not None:
            continue
        state = derivation_state(bids_dir, label, settings)
        if any(previous.get(key) != value for key, value in state.items()):
            continue
        files = [source / rel for rel in output_names(label).values()]
        sidecar = source / output_names(label)["minip_json"]
        extra = sorted((source / LABELME_DIR).glob(f"sub-{label}_minip-*.png"))
        extra += [p for p in [source / QC_DIR / f"sub-{label}.html"] if p.is_file()]
        for path in [*extra, *(f for f in files if f != sidecar), sidecar]:
            copy = target / path.relative_to(source)
            copy.parent.mkdir(parents=True, exist_ok=True)
            with io.atomic_path(copy) as tmp:
                shutil.copyfile(path, tmp)
        copied.append(label)
    return copied


def _plan(
    bids_dir: Path, deriv: Path, labels: list[str], settings: Settings, overwrite: bool
) -> tuple[list[str], list[str]]:
    todo, current, stale = [], [], []
    for label in labels:
        previous = _complete(deriv, label)
        if overwrite or previous is None:
            todo.append(label)
            continue
        state = derivation_state(bids_dir, label, settings)
        same = all(previous.get(key) == value for key, value in state.items())
        manual_kept = settings.slices is None or (
            previous.get("AnalysisSlicesMethod") == "manual"
            and previous.get("AnalysisSlices") == sorted(set(settings.slices))
        )
        if same and manual_kept:
            current.append(label)
        elif settings.slices is not None and same:
            todo.append(label)  # a new manual choice of slices
        else:
            stale.append(label)
    if stale:
        names = ", ".join(f"sub-{label}" for label in stale)
        raise ScvbenchError(
            f"{names}: derived before from other inputs or with other slab settings; pass "
            "--overwrite to replace (annotations imported on the old MinIP grid must then be "
            "imported again)"
        )
    return todo, current


def derive_dataset(
    bids_dir: str | os.PathLike[str],
    participant_labels: list[str] | None = None,
    slab_mm: float = DEFAULTS.slab_mm,
    step_mm: float = DEFAULTS.step_mm,
    slices: list[int] | None = None,
    nprocs: int = 1,
    overwrite: bool = False,
    progress: bool | None = None,
    derivatives: str | os.PathLike[str] | None = None,
    work_dir: str | os.PathLike[str] | None = None,
) -> DeriveReport:
    """Derive MinIP, masks, analysis slices, exports and QC reports for a BIDS dataset.

    Parameters
    ----------
    bids_dir : path
        The raw BIDS dataset (made by ``scvbench convert``); it is never modified outside
        ``derivatives/scvbench``.
    participant_labels : list of str, optional
        Participants to process (with or without ``sub-``); default all with SWI data.
    slab_mm, step_mm : float
        MinIP slab thickness and step in mm.
    slices : list of int, optional
        Manual analysis slices (MinIP indices) for the one participant named.
    nprocs : int
        Participants processed in parallel.
    overwrite : bool
        Redo participants already derived, whatever their state.
    progress : bool or None
        Show a progress bar (None: only on a terminal).
    derivatives : path, optional
        Folder that holds the ``scvbench`` derivative dataset (default ``BIDS_DIR/derivatives``;
        ``scvbench run`` gives its output folder, leaving the raw dataset read-only).
    work_dir : path, optional
        Where each participant is computed before its files are moved in (default a hidden
        folder inside the derivative dataset); participants running in parallel into one
        dataset, as SLURM array tasks do, each use their own.

    Parameters
    ----------
    bids_dir : path
        The dataset made by ``scvbench convert``.
    participant_labels : list of str, optional
        Derive only these (with or without ``sub-``).
    slab_mm, step_mm : float
        MinIP slab thickness and step.
    slices : list of int, optional
        The analysis slices of the one participant named.
    nprocs : int
        Participants derived at once.
    overwrite : bool
        Derive participants again whose inputs or settings changed.
    progress : bool, optional
        Progress bar (default: on a terminal).
    derivatives : path, optional
        Where ``scvbench/`` goes (default ``bids_dir/derivatives``).
    work_dir : path, optional
        Where each participant is staged.

    Returns
    -------
    DeriveReport
        The participants derived, up to date and failed (with the reason).
    """
    bids_dir = Path(bids_dir)
    for name, value in (("--slab-mm", slab_mm), ("--step-mm", step_mm)):
        if not np.isfinite(value) or value <= 0:
            raise ScvbenchError(f"{name} must be a positive number of millimetres, got {value}")
    labels = layout.find_participants(bids_dir, participant_labels)
    if slices is not None and len(labels) != 1:
        raise ScvbenchError(
            "--slices sets the analysis slices of one participant; name exactly one with "
            "--participant-label"
        )
    settings = Settings(slab_mm, step_mm, tuple(int(m) for m in slices) if slices else None)
    deriv = layout.derivative_dir(bids_dir, PIPELINE, derivatives)
    deriv.mkdir(parents=True, exist_ok=True)
    work = Path(work_dir) if work_dir is not None else deriv / _WORK
    layout.write_dataset_description(
        deriv,
        "scvbench derivatives: SWI MinIP, brain and hemisphere masks",
        "SWI minimum-intensity projection, brain and hemisphere masks, analysis slices",
        {"raw": layout.link(bids_dir, deriv), "scvbench": "./"},
    )
    for folder in (work, deriv / _WORK):  # the staging folders of killed runs on this host
        sweep_stale(folder, "sub-")
    todo, current = _plan(bids_dir, deriv, labels, settings, overwrite)
    report = DeriveReport(up_to_date=current)

    for label in current:  # a report lost (or never written after a crash) is made again
        if not (deriv / QC_DIR / f"sub-{label}.html").is_file():
            write_participant_report(bids_dir, label, deriv.parent)
    threads = max(1, (os.cpu_count() or 1) // max(1, min(nprocs, len(todo) or 1)))

    job = functools.partial(_job, bids_dir, deriv, work, settings=settings, threads=threads)
    # Exception: one participant's failure, whatever it is, must not stop the others.
    outcomes = map_participants(job, todo, nprocs, "derive", progress=progress, catch=(Exception,))
    for label, done, error in outcomes:
        if error is None:
            report.derived.append(done)
            log.info("sub-%s derived", label)
        elif isinstance(error, ScvbenchError):
            report.failed[label] = str(error)
        else:
            report.failed[label] = f"{type(error).__name__}: {error}"
    for folder in (work, deriv / _WORK):  # left only when empty: others may be working in it
        try:
            folder.rmdir()
        except OSError:
            pass
    report.derived.sort()
    return report
