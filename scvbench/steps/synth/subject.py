"""One synthetic subject: anatomy, veins, SWI and FLAIR series, truth and annotations."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from scvbench import io
from scvbench.core.mip import (
    SlabWindow,
    maximum_intensity_projection,
    minimum_intensity_projection,
    slab_window,
)
from scvbench.core.morphometry import measure, summarize
from scvbench.steps.synth import annotate
from scvbench.steps.synth.anatomy import SWI_SIGNAL, Template, load_template
from scvbench.steps.synth.dicom import SeriesSpec, write_series
from scvbench.steps.synth.geometry import HeadPose, ScannerGrid, draw_pose
from scvbench.steps.synth.phi import fake_study
from scvbench.steps.synth.presets import FLAIR_FOV_MM, SWI_FOV_MM, Preset
from scvbench.steps.synth.render import (
    GAMMA_HZ_PER_T,
    TubeRaster,
    bias_field,
    dipole_field_ppm,
    resample,
    swi_from_complex,
)
from scvbench.steps.synth.veins import (
    PlacementContext,
    Vein,
    deep_medullary_veins,
    place_superficial_vein,
)

log = logging.getLogger(__name__)

__all__ = ["PROTOCOL", "SubjectResult", "SynthSettings", "synthesize_subject"]

#: The study's acquisition protocol (Siemens Skyra 3 T).
PROTOCOL = {
    "B0_T": 3.0,
    "swi": {
        "TR_ms": 28.0,
        "TE_ms": 20.0,
        "flip_deg": 15.0,
        "slice_mm": 1.0,
        "matrix": [352, 352],
        "fov_mm": list(SWI_FOV_MM),
    },
    "flair": {
        "TR_ms": 8500.0,
        "TE_ms": 81.0,
        "TI_ms": 2500.0,
        "flip_deg": 150.0,
        "slice_mm": 5.0,
        "gap_mm": 1.0,
        "matrix": [320, 224],
        "fov_mm": list(FLAIR_FOV_MM),
    },
}

VEIN_CHI_PPM = 0.38  # deoxygenated blood vs tissue (Hct 0.4, Y 0.6)
VEIN_SIGNAL = 0.25  # intravascular signal left at TE 20 ms, relative to the tissue around
SCANNER_MIP_MM = 8.0
# Measuring a rasterised vein on the MinIP (the 2-D projection of a 3-D tube, slab partial volume,
# the chain-code length, the tips' end fits) reads tortuosity about 0.015 lower and diameter
# about 0.06 mm lower than the designed tube at the study's 0.55 x 0.625 mm pixels (116 vessels of
# 6 paper-preset subjects, seed 11: mean -0.0147 and -0.065 mm); the designed tubes are offset so
# that the measured truth lands on the targets (tests/test_morphometry_truth.py).
TORTUOSITY_MEASUREMENT_BIAS = -0.015
DIAMETER_MEASUREMENT_BIAS_MM = -0.06

_HEMI_CODES = {"left": 1, "right": 2}


@dataclass(frozen=True)
class SynthSettings:
    """Cohort-wide settings a subject needs."""

    preset: Preset
    seed: int
    slab_mm: float = 20.0
    step_mm: float = 1.0


@dataclass
class SubjectResult:
    """What the cohort writer collects from one subject."""

    patient_id: str
    annotated_slices: list[int]
    analysis_slice: int | None
    vessels: pd.DataFrame
    morphometry: pd.DataFrame


def _subject_rng(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EB, int(index), stream]))


def _swi_grid(preset: Preset, pose: HeadPose, rng: np.random.Generator) -> ScannerGrid:
    anchor = pose.to_ras(np.array([[0.0, -17.0, 11.0]]))[0]
    centre_lps = anchor * np.array([-1.0, -1.0, 1.0]) + rng.uniform(-3, 3, 3)
    rows, cols = preset.swi_matrix
    row_mm, col_mm = preset.swi_pixel_mm
    return ScannerGrid(
        shape=(cols, rows, preset.swi_slices),
        spacing=(col_mm, row_mm, 1.0),
        centre_lps=tuple(float(v) for v in centre_lps),
        tilt_deg=float(rng.uniform(-6, 6)),
        thickness=1.0,
    )


def _flair_grid(
    preset: Preset, pose: HeadPose, swi: ScannerGrid, rng: np.random.Generator
) -> ScannerGrid:
    anchor = pose.to_ras(np.array([[0.0, -17.0, 16.0]]))[0]
    centre_lps = anchor * np.array([-1.0, -1.0, 1.0]) + rng.uniform(-2, 2, 3)
    rows, cols = preset.flair_matrix
    row_mm, col_mm = preset.flair_pixel_mm
    return ScannerGrid(
        shape=(cols, rows, preset.flair_slices),
        spacing=(col_mm, row_mm, 6.0),
        centre_lps=tuple(float(v) for v in centre_lps),
        tilt_deg=swi.tilt_deg + float(rng.uniform(-2, 2)),
        thickness=5.0,
    )


def _template_x(grid: ScannerGrid, pose: HeadPose, template: Template) -> np.ndarray:
    """Template x (mm, left < 0) of every voxel of ``grid``: the true mid-sagittal split."""
    m = np.linalg.inv(pose.matrix) @ grid.ras_affine
    i, j, k = (np.arange(n, dtype=np.float32) for n in grid.shape)
    return (
        m[0, 0] * i[:, None, None]
        + m[0, 1] * j[None, :, None]
        + m[0, 2] * k[None, None, :]
        + m[0, 3]
    ).astype(np.float32)


def _choose_slices(
    brain: np.ndarray,
    ventricles: np.ndarray,
    window: SlabWindow,
    role: str,
    rng: np.random.Generator,
) -> tuple[list[int], int, tuple[int, int]]:
    """Annotated MinIP slices (3 for development, the analysis slice for association)."""
    n_proj = window.n_projections(brain.shape[2])
    has_vent = np.flatnonzero(ventricles.any(axis=(0, 1)))
    k_lo, k_hi = (int(has_vent.min()), int(has_vent.max())) if has_vent.size else (0, 0)
    centres = np.array([window.centre(m) for m in range(n_proj)])
    candidates = np.flatnonzero((centres >= k_lo) & (centres <= k_hi))
    if candidates.size == 0:
        candidates = np.array([int(np.argmin(np.abs(centres - (k_lo + k_hi) / 2)))])
    area = brain.sum(axis=(0, 1)).astype(float)
    section = np.array([area[int(np.floor(c)) : int(np.ceil(c)) + 1].mean() for c in centres])
    if role == "association":
        best = int(candidates[np.argmax(section[candidates])])
        return [best], best, (k_lo, k_hi)
    chosen: list[int] = []
    for _ in range(200):
        pick = int(rng.choice(candidates))
        if all(abs(pick - c) >= 3 for c in chosen):
            chosen.append(pick)
        if len(chosen) == 3:
            break
    for pick in candidates:  # too narrow a range for the spacing: fill up
        if len(chosen) == 3:
            break
        if int(pick) not in chosen:
            chosen.append(int(pick))
    chosen.sort()
    return chosen, chosen[len(chosen) // 2], (k_lo, k_hi)


def _vessel_values(
    mean: float, n: int, spread: float, rng: np.random.Generator, floor: float
) -> np.ndarray:
    """Per-vessel values whose mean over the ``n`` vessels equals ``mean`` (above ``floor``)."""
    factors = np.exp(rng.normal(0.0, spread, n))
    excess = (mean - floor) * factors / factors.mean()
    return floor + excess


def _place_veins(
    row: dict,
    ctx: PlacementContext,
    window: SlabWindow,
    main: int,
    n_slices: int,
    rng: np.random.Generator,
) -> list[Vein]:
    dz = ctx.spacing[2]
    centre_mm = window.centre(main) * dz
    half = (window.window - 1) / 2 * dz
    veins: list[Vein] = []
    label = 0
    for hemi in ("right", "left"):
        code = _HEMI_CODES[hemi]
        n = int(row[f"count_{hemi}"])
        tort = _vessel_values(row[f"tortuosity_{hemi}"], n, 0.3, rng, 1.0)
        diam = _vessel_values(row[f"diameter_{hemi}"], n, 0.12, rng, 0.0)
        tort = np.maximum(tort - TORTUOSITY_MEASUREMENT_BIAS, 1.0)
        diam = diam - DIAMETER_MEASUREMENT_BIAS_MM
        for t, d in zip(tort, diam, strict=True):
            points = place_superficial_vein(
                ctx, code, centre_mm, half - 0.5, t, d / 2, veins, rng, attempts=300, crowding=n
            )
            if points is None:
                log.debug("%s: no room for a %s vein", row["patient_id"], hemi)
                continue
            label += 1
            veins.append(Vein("scv", hemi, points, d / 2, float(t), label, "analysis"))
    # More superficial veins above and below the main slab, for the rest of the volume.
    top = (n_slices - 1) * dz
    gap = half + 2.5
    zones = [(2.0, centre_mm - gap), (centre_mm + gap, top - 2.0)]
    span = sum(max(b - a, 0.0) for a, b in zones)
    for hemi in ("right", "left"):
        code = _HEMI_CODES[hemi]
        n = min(12, round(row[f"count_{hemi}"] * span / 20.0 * rng.uniform(0.6, 0.9)))
        for _ in range(n):
            lengths = np.array([max(b - a, 0.0) for a, b in zones])
            if lengths.sum() <= 0:
                break
            zone = zones[int(rng.choice(len(zones), p=lengths / lengths.sum()))]
            z = rng.uniform(*zone)
            t = float(_vessel_values(row[f"tortuosity_{hemi}"], 1, 0.3, rng, 1.0)[0])
            t = max(t - TORTUOSITY_MEASUREMENT_BIAS, 1.0)
            d = float(row[f"diameter_{hemi}"] * np.exp(rng.normal(0, 0.12)))
            d -= DIAMETER_MEASUREMENT_BIAS_MM
            points = place_superficial_vein(
                ctx, code, z, 1.5 + d / 2, t, d / 2, veins, rng, attempts=40
            )
            if points is None:
                continue
            label += 1
            veins.append(Vein("scv", hemi, points, d / 2, t, label, "other"))
    return veins


def _dmv(ctx: PlacementContext, k_range: tuple[int, int], rng: np.random.Generator) -> list[Vein]:
    slices = np.arange(k_range[0], k_range[1] + 1)
    veins = []
    for hemi, code in _HEMI_CODES.items():
        for points in deep_medullary_veins(ctx, code, slices, int(rng.integers(5, 11)), rng):
            veins.append(Vein("dmv", hemi, points, float(rng.uniform(0.25, 0.4))))
    return veins


def _to_uint12(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 4095).astype(np.uint16)


def _phase_to_uint12(phase: np.ndarray) -> np.ndarray:
    # Siemens: stored 0..4095 with slope 2, intercept -4096 maps to -4096..4094 = -pi..pi.
    return np.clip(np.rint((phase / np.pi * 4096.0 + 4096.0) / 2.0), 0, 4095).astype(np.uint16)


def _swi_series() -> dict[str, SeriesSpec]:
    common = dict(
        protocol="t2_swi_tra_p2_1.0mm",
        sequence_name="*swi3d1r",
        scanning_sequence="GR",
        sequence_variant="SP",
        acquisition_type="3D",
        repetition_time=28.0,
        echo_time=20.0,
        flip_angle=15.0,
        time_offset_s=420,
        bandwidth=120.0,
    )
    return {
        "mag": SeriesSpec(
            5,
            "Mag_Images",
            image_type=("ORIGINAL", "PRIMARY", "M", "ND", "NORM"),
            window=(700, 1400),
            **common,
        ),
        "phase": SeriesSpec(
            6,
            "Pha_Images",
            image_type=("ORIGINAL", "PRIMARY", "P", "ND"),
            rescale=(2.0, -4096.0),
            window=(0, 8192),
            **common,
        ),
        "mip": SeriesSpec(
            7,
            "mIP_Images(SW)",
            image_type=("DERIVED", "PRIMARY", "MNIP", "ND", "NORM"),
            window=(500, 1000),
            **common,
        ),
        "swi": SeriesSpec(
            8,
            "SWI_Images",
            image_type=("DERIVED", "PRIMARY", "M", "SWI", "NORM", "DIS2D"),
            window=(600, 1200),
            **common,
        ),
    }


FLAIR_SERIES = SeriesSpec(
    3,
    "t2_tirm_tra_dark-fluid_5mm",
    protocol="t2_tirm_tra_dark-fluid_5mm",
    image_type=("ORIGINAL", "PRIMARY", "M", "NORM", "DIS2D"),
    sequence_name="*tir2d1_16",
    scanning_sequence="SE\\IR",
    sequence_variant="SK\\SP\\MP\\OSP",
    acquisition_type="2D",
    repetition_time=8500.0,
    echo_time=81.0,
    flip_angle=150.0,
    inversion_time=2500.0,
    window=(900, 1800),
    time_offset_s=120,
    phase_direction="ROW",
    bandwidth=287.0,
)


def _render_swi(
    grid: ScannerGrid,
    pose: HeadPose,
    template: Template,
    scv: TubeRaster,
    other: TubeRaster,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    tissue = resample(template.swi, grid, pose, template.affine)
    chi = resample(template.chi, grid, pose, template.affine)
    vessel = np.maximum(scv.fraction, other.fraction)
    magnitude = tissue * (1.0 - (1.0 - VEIN_SIGNAL) * vessel)
    chi += VEIN_CHI_PPM * vessel
    b0 = grid.axes[:, 2]  # scanner z (LPS) expressed in the grid's axes
    field = dipole_field_ppm(chi, grid.spacing, b0)
    te_s = PROTOCOL["swi"]["TE_ms"] / 1000.0
    # Right-handed convention: phase = -gamma * dB * TE (paramagnetic, parallel veins negative).
    phase = -2.0 * np.pi * GAMMA_HZ_PER_T * PROTOCOL["B0_T"] * 1e-6 * te_s * field
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in grid.shape]
    x, y, z = np.meshgrid(*axes, indexing="ij", sparse=True)
    c = rng.normal(0.0, 1.0, 6)
    background = 3.0 * (
        c[0] * x + c[1] * y + c[2] * z + c[3] * x * x + c[4] * y * y + c[5] * z * z
    ) + rng.uniform(-np.pi, np.pi)
    gain = 1400.0 / SWI_SIGNAL["wm"] * rng.uniform(0.9, 1.1)
    snr = rng.uniform(25.0, 40.0)
    amplitude = gain * magnitude * bias_field(grid.shape, rng)
    signal = amplitude * np.exp(1j * (phase + background)).astype(np.complex64)
    sigma = gain * SWI_SIGNAL["wm"] / snr
    noise = rng.normal(0.0, sigma, (2, *grid.shape)).astype(np.float32)
    signal = (signal + noise[0] + 1j * noise[1]).astype(np.complex64)
    swi, _ = swi_from_complex(signal, grid.spacing)
    mag = np.abs(signal)
    return {"mag": mag, "phase": np.angle(signal).astype(np.float32), "swi": swi}


def _render_flair(
    grid: ScannerGrid, pose: HeadPose, template: Template, row: dict, rng: np.random.Generator
) -> tuple[np.ndarray, list[dict]]:
    """Render the FLAIR; return it with the deep white-matter lesions drawn (RAS mm, radius)."""
    offsets = np.linspace(-2.0, 2.0, 5) / grid.spacing[2]
    base = np.mean(
        [resample(template.flair, grid, pose, template.affine, slice_offset=o) for o in offsets],
        axis=0,
    )
    if int(row["fazekas_pv"]) >= 1:
        caps = np.mean(
            [
                resample(template.pv_caps, grid, pose, template.affine, slice_offset=o)
                for o in offsets
            ],
            axis=0,
        )
        base = base + (0.92 - base) * np.clip(caps * 1.5, 0, 1)
    drawn: list[dict] = []
    if int(row["fazekas_dwm"]) >= 1:
        lesions = TubeRaster(grid.shape, grid.spacing)
        n = int(rng.integers(2, 7))
        picks = template.dwm_candidates[rng.choice(len(template.dwm_candidates), n, replace=False)]
        for centre in grid.ras_to_mm(pose.to_ras(picks)):
            # Punctate foci seen on a 5 mm slice: centred within 1 mm of a slice's mid-plane.
            dz = grid.spacing[2]
            centre[2] = np.clip(round(centre[2] / dz), 0, grid.shape[2] - 1) * dz
            centre[2] += rng.uniform(-1.0, 1.0)
            radius = float(rng.uniform(1.5, 2.8))
            lesions.add(np.stack([centre, centre + 1e-3]), radius)
            drawn.append(
                {
                    "centre_ras_mm": np.round(grid.mm_to_ras(centre[None])[0], 2),
                    "radius_mm": round(radius, 3),
                }
            )
        base = base + (0.95 - base) * lesions.fraction
    gain = 1300.0 / 0.62 * rng.uniform(0.9, 1.1)
    amplitude = gain * base * bias_field(grid.shape, rng, strength=0.12)
    sigma = gain * 0.48 / rng.uniform(18.0, 28.0)
    noise = rng.normal(0.0, sigma, (2, *grid.shape)).astype(np.float32)
    return np.hypot(amplitude + noise[0], noise[1]), drawn


def _truth_tables(
    patient_id: str,
    role: str,
    labels_minip: np.ndarray,
    hemi_minip: np.ndarray,
    spacing: tuple[float, float],
    annotated: list[int],
    analysis: int | None,
    veins: list[Vein],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measure the true MinIP masks: per-vessel rows (with design values) and summaries."""
    by_label = {v.label: v for v in veins if v.kind == "scv"}
    vessel_tables = []
    summaries = []
    for m in annotated:
        image = labels_minip[:, :, m]
        table = measure(image > 0, spacing=spacing, hemispheres=hemi_minip[:, :, m])
        labels = [int(image[r, c]) for r, c in zip(table["row"], table["col"], strict=True)]
        table["design_label"] = labels
        table["design_tortuosity"] = [
            by_label[x].design_tortuosity if x in by_label else np.nan for x in labels
        ]
        table["design_diameter_mm"] = [
            2 * by_label[x].radius if x in by_label else np.nan for x in labels
        ]
        table.insert(0, "minip_slice", m)
        table.insert(0, "patient_id", patient_id)
        vessel_tables.append(table)
        summary = summarize(table)
        summary.insert(0, "analysis", m == analysis)
        summary.insert(0, "minip_slice", m)
        summary.insert(0, "role", role)
        summary.insert(0, "patient_id", patient_id)
        summaries.append(summary)
    return pd.concat(vessel_tables, ignore_index=True), pd.concat(summaries, ignore_index=True)


def _brain_depth_context(
    brain: np.ndarray, hemi: np.ndarray, ventricles: np.ndarray, window: SlabWindow, spacing
) -> PlacementContext:
    # A vein is visible on a MinIP only where every slice of the slab is brain (elsewhere the dark
    # skull wins the minimum), so placement measures depth in the brain common to a slab.
    common = ndimage.minimum_filter1d(
        brain.astype(np.uint8), size=window.window, axis=2, mode="nearest"
    ).astype(bool)
    return PlacementContext(
        brain=common,
        hemi=np.where(common, hemi, 0).astype(np.int8),
        ventricles=ventricles,
        spacing=tuple(spacing),
    )


def _scanner_mip(swi: np.ndarray, grid: ScannerGrid) -> tuple[np.ndarray, ScannerGrid]:
    """The scanner's own thin-slab mIP series (8 mm, not overlapping), as Siemens exports it."""
    window = slab_window(SCANNER_MIP_MM, SCANNER_MIP_MM, grid.spacing[2])
    mip = minimum_intensity_projection(swi, window)
    first = window.centre(0) - (grid.shape[2] - 1) / 2
    lps = grid.lps_affine
    centre = np.asarray(grid.centre_lps) + lps[:3, 2] * (
        first + (mip.shape[2] - 1) * window.step / 2
    )
    mip_grid = ScannerGrid(
        shape=mip.shape,
        spacing=(grid.spacing[0], grid.spacing[1], window.step * grid.spacing[2]),
        centre_lps=tuple(float(v) for v in centre),
        tilt_deg=grid.tilt_deg,
        thickness=SCANNER_MIP_MM,
    )
    return mip, mip_grid


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
    """
    template = load_template()
    preset = settings.preset
    pid = str(row["patient_id"])
    index = int(row["index"])
    rng = _subject_rng(settings.seed, index, 0)
    pose = draw_pose(rng)
    grid = _swi_grid(preset, pose, rng)
    spacing = grid.spacing

    icv = resample(template.icv, grid, pose, template.affine)
    brain = icv > 0.5
    ventricles = (resample(template.ventricles, grid, pose, template.affine) > 0.5) & brain
    side = np.where(_template_x(grid, pose, template) < 0, 1, 2).astype(np.uint8)
    hemi = np.where(brain, side, 0).astype(np.uint8)
    window = slab_window(settings.slab_mm, settings.step_mm, spacing[2])
    annotated, main, k_range = _choose_slices(brain, ventricles, window, row["role"], rng)
    analysis = main if row["role"] == "association" else None

    ctx = _brain_depth_context(brain, hemi, ventricles, window, spacing)
    veins = _place_veins(row, ctx, window, main, grid.shape[2], rng)
    veins += _dmv(ctx, k_range, rng)
    sss = grid.ras_to_mm(pose.to_ras(template.sss))
    veins.append(Vein("sss", "midline", sss, float(template.sss_radius.mean())))

    # The labelled tube is at least wide enough to stay 8-connected on the MinIP grid.
    floor = float(np.hypot(max(spacing[:2]) / 2, spacing[2] / 2))
    scv = TubeRaster(grid.shape, spacing)
    other = TubeRaster(grid.shape, spacing)
    for vein in veins:
        if vein.kind == "scv":
            scv.add(vein.points, vein.radius, label=vein.label, label_radius_floor=floor)
        elif vein.kind == "sss":
            other.add(vein.points, np.asarray(template.sss_radius) * pose.scale)
        else:
            other.add(vein.points, vein.radius)

    images = _render_swi(grid, pose, template, scv, other, _subject_rng(settings.seed, index, 1))
    flair_rng = _subject_rng(settings.seed, index, 2)
    flair_grid = _flair_grid(preset, pose, grid, flair_rng)
    flair, lesions = _render_flair(flair_grid, pose, template, row, flair_rng)

    # --- DICOM -----------------------------------------------------------------------------
    study = fake_study(
        pid, row["sex"], int(row["age"]), _subject_rng(settings.seed, index, 3), settings.seed
    )
    folder = out / "dicom" / f"PA{index + 1:04d}" / "ST0001"
    series = _swi_series()
    write_series(folder / "SE0003", _to_uint12(flair), flair_grid, study, FLAIR_SERIES)
    write_series(folder / "SE0005", _to_uint12(images["mag"]), grid, study, series["mag"])
    write_series(folder / "SE0006", _phase_to_uint12(images["phase"]), grid, study, series["phase"])
    mip, mip_grid = _scanner_mip(images["swi"], grid)
    write_series(folder / "SE0007", _to_uint12(mip), mip_grid, study, series["mip"])
    write_series(folder / "SE0008", _to_uint12(images["swi"]), grid, study, series["swi"])

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
    vessels, morph = _truth_tables(
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
                "shape": flair_grid.shape,
                "spacing_mm": flair_grid.spacing,
                "thickness_mm": flair_grid.thickness,
                "ras_affine": flair_grid.ras_affine,
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
                }
                for v in veins
            ],
        },
    )

    # --- annotations: what two raters outline on each annotated MinIP slice ------------------
    ann_rng = _subject_rng(settings.seed, index, 4)
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
    return SubjectResult(pid, annotated, analysis, vessels, morph)
