"""``scvbench derive``: MinIP, brain and hemisphere masks, analysis slices, exports, QC report.

For each participant, in ``BIDS_DIR/derivatives/scvbench/``:

* ``sub-<label>/anat/sub-<label>_acq-swi_desc-minip_T2starw.nii.gz`` (+ ``.json``): the sliding
  MinIP of the scanner SWI (else the magnitude) in RAS+ voxel order, slab and step in mm through
  the voxel size of the slice axis, affine at each window's centre;
* ``..._desc-brain_mask.nii.gz``: brain on the MinIP grid, the pixels inside the intracranial
  mask in every slice of their slab (:func:`scvbench.core.brain.brain_mask` on the magnitude);
* ``..._desc-hemi_dseg.nii.gz``: 1 left, 2 right of the estimated mid-sagittal plane;
* ``sourcedata/labelme/sub-<label>_minip-<mmm>.png``: the analysis slices for Labelme, one
  fixed window (raters save their ``.json`` beside them);
* ``sourcedata/qc/sub-<label>.html``: the QC report.

BIDS has no name for PNG exports or HTML reports, and ``bids-validator-deno -r`` ignores a
derivative dataset's ``.bidsignore``; it does skip ``sourcedata/``, where both therefore live.

A participant whose recorded inputs and settings are unchanged is skipped; one derived with
other settings or inputs is kept unless ``overwrite``. Each participant is written into a work
folder and moved in at the end, the MinIP sidecar (which records what was done) last.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import multiprocessing
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from scvbench import io
from scvbench.bids import layout
from scvbench.bids.spec import DERIVATIVES, RAW
from scvbench.core import brain
from scvbench.core.display import to_display, window_to_uint8
from scvbench.core.mip import minimum_intensity_projection, slab_window
from scvbench.errors import ScvbenchError
from scvbench.report.qc import write_participant_report
from scvbench.steps.annotate import EXPORT_NAME

__all__ = [
    "LABELME_DIR",
    "PIPELINE",
    "QC_DIR",
    "DeriveReport",
    "Settings",
    "copy_derived",
    "derivation_state",
    "derive_dataset",
    "derive_participant",
]

log = logging.getLogger(__name__)

PIPELINE = "scvbench"
_WORK = ".work"
LABELME_DIR = "sourcedata/labelme"
QC_DIR = "sourcedata/qc"
_DSEG_TSV = "index\tname\tabbreviation\n1\tleft hemisphere\tL\n2\tright hemisphere\tR\n"


@dataclass(frozen=True)
class Settings:
    """What a derivation depends on besides its input files."""

    slab_mm: float = 20.0
    step_mm: float = 1.0
    slices: tuple[int, ...] | None = None

    def record(self) -> dict:
        """The settings as recorded in the MinIP sidecar (``Parameters``)."""
        return {"slab_mm": float(self.slab_mm), "step_mm": float(self.step_mm)}


@dataclass
class DeriveReport:
    """Which participants were derived, skipped as up to date, or failed (with the reason)."""

    derived: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _voxel_size(affine: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(v) for v in np.linalg.norm(affine[:3, :3], axis=0))


def _outputs(label: str) -> dict[str, str]:
    return {
        "minip": DERIVATIVES["minip"].relpath(label),
        "minip_json": DERIVATIVES["minip"].relpath(label, ".json"),
        "brain": DERIVATIVES["brain_mask"].relpath(label),
        "brain_json": DERIVATIVES["brain_mask"].relpath(label, ".json"),
        "hemi": DERIVATIVES["hemispheres"].relpath(label),
        "hemi_json": DERIVATIVES["hemispheres"].relpath(label, ".json"),
        "hemi_tsv": DERIVATIVES["hemispheres"].relpath(label, ".tsv"),
    }


def _inputs(bids_dir: Path, label: str) -> dict[str, Path]:
    swi = layout.raw_path(bids_dir, label, "swi")
    mag = layout.raw_path(bids_dir, label, "mag")
    if swi is None and mag is None:
        raise ScvbenchError(f"sub-{label}: no {RAW['swi'].filename(label)} or magnitude image")
    return {"projection": swi or mag, "mask": mag or swi}


def read_sidecar(deriv: Path, label: str) -> dict | None:
    """The MinIP sidecar of a derived participant, or None."""
    path = deriv / DERIVATIVES["minip"].relpath(label, ".json")
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def derivation_state(bids_dir: Path, label: str, settings: Settings) -> dict:
    """What a participant's derivatives depend on: the settings and the raw files' SHA-256."""
    inputs = _inputs(bids_dir, label)
    checksums = {
        layout.bids_uri(path.relative_to(bids_dir).as_posix()): layout.sha256(path)
        for path in sorted(set(inputs.values()))
    }
    return {"Parameters": settings.record(), "SourceChecksums": checksums}


def _analysis_slices(
    brain3d: np.ndarray, ventricle_range: tuple[int, int] | None, window, n_proj: int
) -> tuple[list[int], int]:
    """MinIP slices whose window centre lies in the ventricle range; the largest brain section."""
    centres = np.array([window.centre(m) for m in range(n_proj)])
    area = brain3d.sum(axis=(0, 1)).astype(float)
    section = np.array([area[int(np.floor(c)) : int(np.ceil(c)) + 1].mean() for c in centres])
    if ventricle_range is None:
        candidates = np.array([int(np.argmax(section))])
    else:
        lo, hi = ventricle_range
        candidates = np.flatnonzero((centres >= lo) & (centres <= hi))
        if candidates.size == 0:
            candidates = np.array([int(np.argmin(np.abs(centres - (lo + hi) / 2)))])
    best = int(candidates[np.argmax(section[candidates])])
    return [int(c) for c in candidates], best


def _export_window(minip: np.ndarray, mask: np.ndarray, slices: list[int]) -> tuple[float, float]:
    values = minip[:, :, slices][mask[:, :, slices]]
    if values.size == 0:
        values = minip[:, :, slices].ravel()
    low, high = np.percentile(values.astype(float), [0.5, 99.5])
    if high <= low:
        high = low + 1.0
    return float(low), float(high)


def _world_plane(plane: brain.Plane, affine: np.ndarray, spacing) -> dict:
    """The mid-sagittal plane as a point and unit normal in scanner RAS mm."""
    spacing = np.asarray(spacing, float)
    normal_vox = np.asarray(plane.normal)
    point_vox = normal_vox * plane.offset / spacing  # in voxel indices
    point = affine[:3, :3] @ point_vox + affine[:3, 3]
    # A normal transforms with the inverse transpose of the (index -> mm) map.
    scaled = affine[:3, :3] / spacing
    normal = np.linalg.inv(scaled).T @ normal_vox
    normal /= np.linalg.norm(normal)
    return {"point_ras_mm": np.round(point, 3), "normal_ras": np.round(normal, 5)}


def derive_participant(
    bids_dir: Path,
    label: str,
    settings: Settings,
    staging: Path,
    threads: int = 1,
) -> dict:
    """Compute every derivative of one participant into ``staging``; return the MinIP sidecar."""
    inputs = _inputs(bids_dir, label)
    state = derivation_state(bids_dir, label, settings)
    source, affine = io.load_canonical(inputs["projection"])
    if inputs["mask"] == inputs["projection"]:
        magnitude = source
    else:
        magnitude, mag_affine = io.load_canonical(inputs["mask"])
        if magnitude.shape != source.shape or not np.allclose(mag_affine, affine, atol=1e-3):
            raise ScvbenchError(
                f"sub-{label}: the SWI and magnitude images are on different grids "
                f"({source.shape} vs {magnitude.shape}); convert them from one acquisition"
            )
    if not np.isfinite(np.asarray(source, float)).all():
        raise ScvbenchError(f"{inputs['projection']}: the image contains NaN or infinite values")
    spacing = _voxel_size(affine)
    window = slab_window(settings.slab_mm, settings.step_mm, spacing[2])
    n_proj = window.n_projections(source.shape[2])
    if n_proj == 0:
        raise ScvbenchError(
            f"{inputs['projection']}: {source.shape[2]} slices of {spacing[2]:.3g} mm are thinner "
            f"than the {settings.slab_mm:g} mm slab; use a smaller --slab-mm"
        )
    minip = minimum_intensity_projection(source, window, threads=threads)
    minip_affine = window.affine(affine)

    magnitude = np.asarray(magnitude, np.float32)
    brain3d = brain.brain_mask(magnitude, spacing)
    if not brain3d.any():
        raise ScvbenchError(f"{inputs['mask']}: no brain found (is the image empty?)")
    brain_minip = minimum_intensity_projection(brain3d.view(np.uint8), window) > 0
    plane = brain.midsagittal_plane(magnitude, brain3d, spacing)
    centres = np.array([window.centre(m) for m in range(n_proj)])
    sides = brain.hemisphere_labels(minip.shape, plane, spacing, centres)
    hemi = np.where(brain_minip, sides, 0).astype(np.uint8)
    ventricles = brain.lateral_ventricles(magnitude, brain3d, spacing, plane)
    ventricle_range = brain.ventricle_slice_range(ventricles)
    slices, analysis = _analysis_slices(brain3d, ventricle_range, window, n_proj)
    method = "automatic"
    if settings.slices is not None:
        bad = [m for m in settings.slices if not 0 <= m < n_proj]
        if bad:
            raise ScvbenchError(f"sub-{label}: --slices {bad} outside the MinIP's 0..{n_proj - 1}")
        slices = sorted(set(settings.slices))
        section = brain_minip.sum(axis=(0, 1))
        analysis = int(max(slices, key=lambda m: section[m]))
        method = "manual"

    out = _outputs(label)
    io.save_nifti(staging / out["minip"], minip, minip_affine)
    io.save_nifti(staging / out["brain"], brain_minip.astype(np.uint8), minip_affine)
    io.save_nifti(staging / out["hemi"], hemi, minip_affine)
    mask_uri = layout.bids_uri(inputs["mask"].relative_to(bids_dir).as_posix())
    io.write_json(
        staging / out["brain_json"],
        {
            "Type": "Brain",
            "Sources": [mask_uri],
            "RawSources": [mask_uri],
            "Description": (
                "Intracranial mask of the SWI magnitude (Otsu threshold, erosion-reconstruction "
                "from the largest component, hole filling, 1.5 mm CSF/dura rim removed), "
                "projected onto the MinIP grid: pixels inside it in every slice of their slab."
            ),
        },
    )
    io.write_json(
        staging / out["hemi_json"],
        {
            "Sources": [mask_uri, layout.bids_uri(out["brain"], "scvbench")],
            "Description": (
                "Hemispheres on the MinIP grid: 1 left, 2 right of the mid-sagittal plane "
                "estimated by mirror symmetry of the magnitude image."
            ),
            "MidSagittalPlane": _world_plane(plane, affine, spacing),
        },
    )
    io.write_text(staging / out["hemi_tsv"], _DSEG_TSV)

    low, high = _export_window(minip, brain_minip, slices)
    for m in slices:
        image = window_to_uint8(to_display(minip[:, :, m]), low, high)
        name = EXPORT_NAME.format(label=label, slice=m)
        io.write_png(staging / LABELME_DIR / name, image)

    sidecar = {
        "Description": (
            f"Sliding minimum-intensity projection over {window.window} slices "
            f"({window.window * spacing[2]:g} mm) every {window.step} slice(s) "
            f"({window.step * spacing[2]:g} mm) along the inferior-superior axis; slice m is "
            "placed at the centre of its window."
        ),
        "Sources": [layout.bids_uri(inputs["projection"].relative_to(bids_dir).as_posix())],
        "SkullStripped": False,
        "SlabThicknessMM": float(settings.slab_mm),
        "SlabStepMM": float(settings.step_mm),
        "SliceSpacingMM": round(spacing[2], 6),
        "SlabWindowSlices": window.window,
        "SlabStepSlices": window.step,
        "EffectiveSlabThicknessMM": round(window.window * spacing[2], 6),
        "EffectiveSlabStepMM": round(window.step * spacing[2], 6),
        "VentricleSlices": list(ventricle_range) if ventricle_range else None,
        "AnalysisSlices": slices,
        "AnalysisSlice": analysis,
        "AnalysisSlicesMethod": method,
        "ExportWindow": [round(low, 4), round(high, 4)],
        "ExportFiles": [
            f"{LABELME_DIR}/{EXPORT_NAME.format(label=label, slice=m)}" for m in slices
        ],
        **state,
    }
    return sidecar


def _job(
    bids_dir: Path, deriv: Path, work: Path, label: str, settings: Settings, threads: int
) -> str:
    """Derive one participant into the work folder, then move its files in (sidecar last)."""
    staging = work / f"sub-{label}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        sidecar = derive_participant(bids_dir, label, settings, staging, threads)
        out = _outputs(label)
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
    if previous is None or not all((deriv / rel).is_file() for rel in _outputs(label).values()):
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
    """
    copied = []
    for label in labels:
        previous = _complete(source, label)
        if previous is None or read_sidecar(target, label) is not None:
            continue
        state = derivation_state(bids_dir, label, settings)
        if any(previous.get(key) != value for key, value in state.items()):
            continue
        files = [source / rel for rel in _outputs(label).values()]
        sidecar = source / _outputs(label)["minip_json"]
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
    slab_mm: float = 20.0,
    step_mm: float = 1.0,
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
    todo, current = _plan(bids_dir, deriv, labels, settings, overwrite)
    report = DeriveReport(up_to_date=current)

    for label in current:  # a report lost (or never written after a crash) is made again
        if not (deriv / QC_DIR / f"sub-{label}.html").is_file():
            write_participant_report(bids_dir, label, deriv.parent)
    threads = max(1, (os.cpu_count() or 1) // max(1, min(nprocs, len(todo) or 1)))

    disable = None if progress is None else not progress
    bar = tqdm(total=len(todo), desc="derive", unit="participant", disable=disable)

    def collect(label: str, future: cf.Future) -> None:
        try:
            report.derived.append(future.result())
            log.info("sub-%s derived", label)
        except ScvbenchError as err:
            report.failed[label] = str(err)
        except Exception as err:  # one participant's failure must not stop the others
            report.failed[label] = f"{type(err).__name__}: {err}"
        bar.update()

    if nprocs > 1 and len(todo) > 1:
        context = multiprocessing.get_context("fork")
        with cf.ProcessPoolExecutor(max_workers=nprocs, mp_context=context) as pool:
            futures = {
                pool.submit(_job, bids_dir, deriv, work, lab, settings, threads): lab
                for lab in todo
            }
            for future in cf.as_completed(futures):
                collect(futures[future], future)
    else:
        for label in todo:
            future: cf.Future = cf.Future()
            try:
                future.set_result(_job(bids_dir, deriv, work, label, settings, threads))
            except Exception as err:
                future.set_exception(err)
            collect(label, future)
    bar.close()
    for folder in (work, deriv / _WORK):  # left only when empty: others may be working in it
        try:
            folder.rmdir()
        except OSError:
            pass
    report.derived.sort()
    return report
