"""One synthetic subject: anatomy, veins, SWI and FLAIR series, truth and annotations."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scvbench import io
from scvbench.core.mip import (
    maximum_intensity_projection,
    minimum_intensity_projection,
    slab_window,
)
from scvbench.defaults import DEFAULTS
from scvbench.steps.synth import annotate
from scvbench.steps.synth.anatomy import deep_vein_paths, load_template
from scvbench.steps.synth.dicom import write_series
from scvbench.steps.synth.geometry import draw_pose
from scvbench.steps.synth.imaging import (
    flair_grid,
    render_flair,
    render_swi,
    subject_maps,
    swi_grid,
)
from scvbench.steps.synth.phi import fake_study
from scvbench.steps.synth.placement import (
    brain_depth_context,
    choose_slices,
    medullary_veins,
    place_veins,
)
from scvbench.steps.synth.presets import Preset
from scvbench.steps.synth.render import TubeRaster
from scvbench.steps.synth.series import (
    flair_series,
    phase_to_stored,
    scanner_mip,
    swi_series,
    to_uint12,
)
from scvbench.steps.synth.sites import DEFAULT_SITES, SITES
from scvbench.steps.synth.tree_truth import tree_graph, truth_tables
from scvbench.steps.synth.veins import (
    Vein,
)
from scvbench.steps.synth.warp import draw_warp

log = logging.getLogger(__name__)

__all__ = ["SubjectResult", "SynthSettings", "synthesize_subject"]


@dataclass(frozen=True)
class SynthSettings:
    """Cohort-wide settings a subject needs."""

    preset: Preset
    seed: int
    slab_mm: float = DEFAULTS.slab_mm
    step_mm: float = DEFAULTS.step_mm


@dataclass
class SubjectResult:
    """What the cohort writer collects from one subject."""

    patient_id: str
    annotated_slices: list[int]
    analysis_slice: int | None
    vessels: pd.DataFrame
    morphometry: pd.DataFrame
    unplaced: dict[str, int]  # main-slab veins without room, per hemisphere


def subject_rng(seed: int, index: int, stream: int) -> np.random.Generator:
    """The random stream ``stream`` of subject ``index``: independent of every other draw.

    Parameters
    ----------
    seed : int
        The cohort's seed.
    index : int
        The subject's number.
    stream : int
        Which stream (geometry, SWI, FLAIR, raters).

    Returns
    -------
    numpy.random.Generator
        The same stream for the same arguments, whatever else is drawn.
    """
    return np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EB, int(index), stream]))


def synthesize_subject(row: dict, settings: SynthSettings, out: Path) -> SubjectResult:
    """Generate one subject into ``out`` (the cohort folder being written).

    Parameters
    ----------
    row : dict
        The subject's row of :func:`scvbench.steps.synth.cohort.draw_cohort`.
    settings : SynthSettings
        Preset, seed and MinIP slab.
    out : Path
        Cohort folder; this writes ``dicom/<folder>/``, ``truth/<patient_id>/`` and
        ``annotations/<rater>/<patient_id>_minip-<m>.json``.

    Parameters
    ----------
    row : dict
        The subject's cohort row.
    settings : SynthSettings
        Preset, seed, slab and step.
    out : Path
        The cohort folder.

    Returns
    -------
    SubjectResult
        Its annotated and analysis slices and its truth tables.
    """
    template = load_template()
    preset = settings.preset
    pid = str(row["patient_id"])
    index = int(row["index"])
    rng = subject_rng(settings.seed, index, 0)
    pose = draw_pose(rng)
    warp = draw_warp(subject_rng(settings.seed, index, 5))
    site = SITES[str(row.get("site", DEFAULT_SITES[0]))]
    grid = swi_grid(preset, pose, rng, site.matrix_scale, warp, site.slice_mm)
    spacing = grid.spacing

    maps = subject_maps(grid, pose, template, warp)
    brain = maps["icv"] > 0.5
    ventricles = (maps["ventricles"] > 0.5) & brain
    side = np.where(maps["x"] < 0, 1, 2).astype(np.uint8)
    hemi = np.where(brain, side, 0).astype(np.uint8)
    window = slab_window(settings.slab_mm, settings.step_mm, spacing[2])
    annotated, main, k_range = choose_slices(brain, ventricles, window, row["role"], rng)
    analysis = main if row["role"] == "association" else None

    # The labelled tube is at least wide enough to stay 8-connected on the MinIP grid.
    floor = float(np.hypot(max(spacing[:2]) / 2, spacing[2] / 2))
    ctx = brain_depth_context(brain, hemi, ventricles, window, spacing)
    veins, unplaced = place_veins(row, ctx, window, main, grid.shape[2], rng, label_floor=floor)
    veins += medullary_veins(ctx, k_range, rng)
    for name, line, radius in deep_vein_paths(rng):
        course = (
            "midline" if abs(line[:, 0].mean()) < 1.0 else ("left" if line[0, 0] < 0 else "right")
        )
        points = grid.ras_to_mm(pose.to_ras(warp.invert(line)))
        veins.append(Vein("deep", course, points, radius * pose.scale, group=name))
    sss = grid.ras_to_mm(pose.to_ras(warp.invert(template.sss)))
    veins.append(Vein("sss", "midline", sss, float(template.sss_radius.mean())))

    scv = TubeRaster(grid.shape, spacing)
    other = TubeRaster(grid.shape, spacing)
    for vein in veins:
        if vein.kind == "scv":
            scv.add(vein.points, vein.profile(), label=vein.label, label_radius_floor=floor)
            for branch in vein.tributaries:
                scv.add(branch.points, branch.radii, label=vein.label, label_radius_floor=floor)
        elif vein.kind == "sss":
            other.add(vein.points, np.asarray(template.sss_radius) * pose.scale)
        else:
            other.add(vein.points, vein.radius)

    images = render_swi(grid, maps, scv, other, subject_rng(settings.seed, index, 1), site)
    flair_rng = subject_rng(settings.seed, index, 2)
    flair_space = flair_grid(preset, pose, grid, flair_rng, warp)
    flair, lesions = render_flair(flair_space, pose, template, row, flair_rng, warp)

    # --- DICOM -----------------------------------------------------------------------------
    study = fake_study(
        pid, row["sex"], int(row["age"]), subject_rng(settings.seed, index, 3), settings.seed
    )
    folder = out / "dicom" / f"PA{index + 1:04d}" / "ST0001"
    series = swi_series(site)  # as the site's vendor exports them (GE, Philips: no magnitude)
    write_series(folder / "SE0003", to_uint12(flair), flair_space, study, flair_series(site))
    for kind, spec in series.items():
        target = folder / f"SE{spec.number:04d}"
        if kind == "mip":
            mip, mip_grid = scanner_mip(images["swi"], grid)
            write_series(target, to_uint12(mip), mip_grid, study, spec)
        elif kind == "phase":
            write_series(target, phase_to_stored(images["phase"], site.vendor), grid, study, spec)
        else:
            write_series(target, to_uint12(images[kind]), grid, study, spec)

    # --- truth, in the RAS+ (canonical) orientation that derivatives use ---------------------
    def canonical(volume: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(volume[::-1, ::-1, :])

    truth = out / "truth" / pid
    affine = grid.canonical_affine
    minip_affine = window.affine(affine)
    labels_c = canonical(scv.label)
    brain_c = canonical(brain)
    side_c = canonical(side)
    labels_minip = np.zeros((*labels_c.shape[:2], window.n_projections(grid.shape[2])), np.int16)
    projected = maximum_intensity_projection(labels_c, window)
    for m in annotated:
        labels_minip[:, :, m] = projected[:, :, m]
    brain_minip = minimum_intensity_projection(brain_c.astype(np.uint8), window)
    centre_side = np.stack(
        [side_c[:, :, int(np.floor(window.centre(m)))] for m in range(labels_minip.shape[2])],
        axis=2,
    )
    hemi_minip = np.where(brain_minip > 0, centre_side, 0).astype(np.uint8)
    io.save_nifti(truth / "brain_mask.nii.gz", brain_c.astype(np.uint8), affine)
    io.save_nifti(
        truth / "hemispheres.nii.gz", np.where(brain_c, side_c, 0).astype(np.uint8), affine
    )
    io.save_nifti(truth / "ventricles.nii.gz", canonical(ventricles).astype(np.uint8), affine)
    io.save_nifti(truth / "veins.nii.gz", labels_c, affine)
    io.save_nifti(truth / "minip_brain_mask.nii.gz", brain_minip.astype(np.uint8), minip_affine)
    io.save_nifti(truth / "minip_hemispheres.nii.gz", hemi_minip, minip_affine)
    io.save_nifti(truth / "minip_veins.nii.gz", labels_minip, minip_affine)
    pixel = (spacing[0], spacing[1])
    vessels, morph = truth_tables(
        pid, row["role"], labels_minip, hemi_minip, pixel, annotated, analysis, veins
    )
    io.write_text(truth / "vessels.tsv", vessels.to_csv(sep="\t", index=False, na_rep="n/a"))
    io.write_text(truth / "morphometry.tsv", morph.to_csv(sep="\t", index=False, na_rep="n/a"))
    centre_ras = grid.mm_to_ras(np.zeros((1, 3)))[0]
    io.write_json(
        truth / "geometry.json",
        {
            "patient_id": pid,
            "role": row["role"],
            "pose": {"angles_deg": pose.angles_deg, "scale": pose.scale, "shift_mm": pose.shift_mm},
            "swi_grid": {
                "shape": grid.shape,
                "spacing_mm": grid.spacing,
                "tilt_deg": grid.tilt_deg,
                "centre_lps_mm": grid.centre_lps,
                "ras_affine": grid.ras_affine,
                "canonical_affine": affine,
                "first_voxel_ras_mm": centre_ras,
            },
            "flair_grid": {
                "shape": flair_space.shape,
                "spacing_mm": flair_space.spacing,
                "thickness_mm": flair_space.thickness,
                "ras_affine": flair_space.ras_affine,
            },
            "minip": {
                "slab_mm": settings.slab_mm,
                "step_mm": settings.step_mm,
                "window_slices": window.window,
                "step_slices": window.step,
                "affine": minip_affine,
                "n_slices": int(labels_minip.shape[2]),
            },
            "ventricle_slices": list(k_range),
            "unplaced_main_slab_veins": unplaced,
            "flair_lesions": lesions,
            "annotated_minip_slices": annotated,
            "analysis_minip_slice": analysis,
            "veins": [
                {
                    "kind": v.kind,
                    "hemisphere": v.hemisphere,
                    "label": v.label,
                    "group": v.group,
                    "radius_mm": round(v.radius, 4),
                    "design_tortuosity": None
                    if np.isnan(v.design_tortuosity)
                    else round(v.design_tortuosity, 4),
                    "centerline_ras_mm": np.round(grid.mm_to_ras(v.points[::4]), 2),
                    **({"tree": tree_graph(v, grid.mm_to_ras)} if v.kind == "scv" else {}),
                }
                for v in veins
            ],
        },
    )

    # --- annotations: what two raters outline on each annotated MinIP slice ------------------
    ann_rng = subject_rng(settings.seed, index, 4)
    for m in annotated:
        image = labels_minip[::-1, ::-1, m].T  # display: rows anterior->posterior, radiological
        stem = f"{pid}_minip-{m:03d}"
        for rater in annotate.RATERS:
            shapes, _ = annotate.outline_vessels(image, (spacing[1], spacing[0]), rater, ann_rng)
            document = annotate.labelme_document(
                shapes,
                f"{stem}.png",
                image.shape[0],
                image.shape[1],
                {
                    "patient_id": pid,
                    "minip_slice": m,
                    "slab_mm": settings.slab_mm,
                    "step_mm": settings.step_mm,
                    "rater": rater.name,
                    "orientation": "rows anterior to posterior, columns patient right to left",
                },
            )
            io.write_json(out / "annotations" / rater.name / f"{stem}.json", document)
    return SubjectResult(pid, annotated, analysis, vessels, morph, unplaced)
