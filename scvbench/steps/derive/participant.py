"""One participant derived: MinIP, brain and hemisphere masks, analysis slices, PNG exports."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scvbench import io
from scvbench.bids import layout
from scvbench.bids.spec import DERIVATIVES, EXPORT_NAME, LABELME_DIR, RAW
from scvbench.core import brain
from scvbench.core.display import to_display, window_to_uint8
from scvbench.core.mip import minimum_intensity_projection, slab_window
from scvbench.defaults import DEFAULTS
from scvbench.errors import ScvbenchError

__all__ = [
    "LABELME_DIR",
    "PIPELINE",
    "QC_DIR",
    "Settings",
    "derivation_state",
    "derive_participant",
    "input_paths",
    "output_names",
    "read_sidecar",
]

log = logging.getLogger(__name__)


PIPELINE = "scvbench"


QC_DIR = "sourcedata/qc"


_DSEG_TSV = "index\tname\tabbreviation\n1\tleft hemisphere\tL\n2\tright hemisphere\tR\n"


@dataclass(frozen=True)
class Settings:
    """What a derivation depends on besides its input files."""

    slab_mm: float = DEFAULTS.slab_mm
    step_mm: float = DEFAULTS.step_mm
    slices: tuple[int, ...] | None = None

    def record(self) -> dict:
        """The settings as recorded in the MinIP sidecar (``Parameters``)."""
        return {"slab_mm": float(self.slab_mm), "step_mm": float(self.step_mm)}


def _voxel_size(affine: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(v) for v in np.linalg.norm(affine[:3, :3], axis=0))


def output_names(label: str) -> dict[str, str]:
    """The derivative files of a participant, relative to the derivative dataset.

    Parameters
    ----------
    label : str
        The participant label.

    Returns
    -------
    dict
        Kind (``minip``, ``minip_json``, ``brain``, ...) to relative path.
    """
    return {
        "minip": DERIVATIVES["minip"].relpath(label),
        "minip_json": DERIVATIVES["minip"].relpath(label, ".json"),
        "brain": DERIVATIVES["brain_mask"].relpath(label),
        "brain_json": DERIVATIVES["brain_mask"].relpath(label, ".json"),
        "hemi": DERIVATIVES["hemispheres"].relpath(label),
        "hemi_json": DERIVATIVES["hemispheres"].relpath(label, ".json"),
        "hemi_tsv": DERIVATIVES["hemispheres"].relpath(label, ".tsv"),
    }


def input_paths(bids_dir: Path, label: str) -> dict[str, Path]:
    """The raw images a participant is derived from: the MinIP source and the brain-mask source.

    Parameters
    ----------
    bids_dir : Path
        The raw dataset.
    label : str
        The participant label.

    Returns
    -------
    dict
        ``projection`` (the SWI, else the magnitude) and ``mask`` (the magnitude, else the SWI).
    """
    swi = layout.raw_path(bids_dir, label, "swi")
    mag = layout.raw_path(bids_dir, label, "mag")
    if swi is None and mag is None:
        raise ScvbenchError(f"sub-{label}: no {RAW['swi'].filename(label)} or magnitude image")
    return {"projection": swi or mag, "mask": mag or swi}


def read_sidecar(deriv: Path, label: str) -> dict | None:
    """The MinIP sidecar of a derived participant, or None.

    Parameters
    ----------
    deriv : Path
        The ``scvbench`` derivative dataset.
    label : str
        The participant label.

    Returns
    -------
    dict or None
        The sidecar, or None when missing or unreadable.
    """
    path = deriv / DERIVATIVES["minip"].relpath(label, ".json")
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def derivation_state(bids_dir: Path, label: str, settings: Settings) -> dict:
    """What a participant's derivatives depend on: the settings and the raw files' SHA-256.

    Parameters
    ----------
    bids_dir : Path
        The raw dataset.
    label : str
        The participant label.
    settings : Settings
        Slab, step and slices.

    Returns
    -------
    dict
        The settings and ``{file: SHA-256}`` of the inputs, as recorded in the MinIP sidecar.
    """
    inputs = input_paths(bids_dir, label)
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
    """Compute every derivative of one participant into ``staging``; return the MinIP sidecar.

    Parameters
    ----------
    bids_dir : Path
        The raw dataset.
    label : str
        The participant label.
    settings : Settings
        Slab, step and slices.
    staging : Path
        An empty folder laid out as the derivative dataset.
    threads : int
        Threads of the MinIP kernel.

    Returns
    -------
    dict
        The MinIP sidecar (written last, by the caller).
    """
    inputs = input_paths(bids_dir, label)
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
    # the 1 mm smoothing the brain mask, the plane and the ventricles all start from, made once
    smooth = brain.smoothed(magnitude, spacing) if np.isfinite(magnitude).all() else None
    brain3d = brain.brain_mask(magnitude, spacing, smooth=smooth)
    if not brain3d.any():
        raise ScvbenchError(f"{inputs['mask']}: no brain found (is the image empty?)")
    brain_minip = minimum_intensity_projection(brain3d.view(np.uint8), window) > 0
    plane = brain.midsagittal_plane(magnitude, brain3d, spacing, smooth=smooth)
    centres = np.array([window.centre(m) for m in range(n_proj)])
    sides = brain.hemisphere_labels(minip.shape, plane, spacing, centres)
    hemi = np.where(brain_minip, sides, 0).astype(np.uint8)
    ventricles = brain.lateral_ventricles(magnitude, brain3d, spacing, plane, smooth=smooth)
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

    out = output_names(label)
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
