"""A subject's scanner grids and images: SWI from the complex signal, FLAIR with lesions."""

from __future__ import annotations

import logging

import numpy as np

from scvbench.steps.synth.anatomy import SWI_SIGNAL, Template
from scvbench.steps.synth.geometry import HeadPose, ScannerGrid
from scvbench.steps.synth.presets import FLAIR_FOV_MM, SWI_FOV_MM, Preset
from scvbench.steps.synth.render import (
    GAMMA_HZ_PER_T,
    TubeRaster,
    bias_field,
    dipole_field_ppm,
    resample,
    swi_from_complex,
    template_coordinates,
)
from scvbench.steps.synth.sites import SITES, Site
from scvbench.steps.synth.warp import Warp

log = logging.getLogger(__name__)

__all__ = [
    "PROTOCOL",
    "VEIN_CHI_PPM",
    "VEIN_SIGNAL",
    "dephasing",
    "flair_grid",
    "render_flair",
    "render_swi",
    "swi_grid",
    "template_x",
]

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


def _landmarks(points: np.ndarray, warp: Warp | None) -> np.ndarray:
    """Template landmarks where they lie in the subject (through the inverse warp)."""
    return points if warp is None else warp.invert(points)


def swi_grid(
    preset: Preset,
    pose: HeadPose,
    rng: np.random.Generator,
    matrix_scale: float = 1.0,
    warp: Warp | None = None,
) -> ScannerGrid:
    """The SWI acquisition grid: the study's FOV and the preset's matrix, positioned on the head.

    Parameters
    ----------
    preset : Preset
        Matrix and slices of the cohort.
    pose : HeadPose
        The head.
    rng : numpy.random.Generator
        The subject's random stream.
    matrix_scale : float
        The site's matrix relative to the preset's (same field of view; even sizes).
    warp : Warp, optional
        The subject's warp of the template.

    Returns
    -------
    ScannerGrid
        The SWI slab, placed around the lateral ventricles.
    """
    anchor = pose.to_ras(_landmarks(np.array([[0.0, -17.0, 11.0]]), warp))[0]
    centre_lps = anchor * np.array([-1.0, -1.0, 1.0]) + rng.uniform(-3, 3, 3)
    rows, cols = preset.swi_matrix
    row_mm, col_mm = preset.swi_pixel_mm
    if matrix_scale != 1.0:
        rows, cols = (2 * round(n * matrix_scale / 2) for n in (rows, cols))
        row_mm, col_mm = SWI_FOV_MM[0] / rows, SWI_FOV_MM[1] / cols
    return ScannerGrid(
        shape=(cols, rows, preset.swi_slices),
        spacing=(col_mm, row_mm, 1.0),
        centre_lps=tuple(float(v) for v in centre_lps),
        tilt_deg=float(rng.uniform(-6, 6)),
        thickness=1.0,
    )


def flair_grid(
    preset: Preset,
    pose: HeadPose,
    swi: ScannerGrid,
    rng: np.random.Generator,
    warp: Warp | None = None,
) -> ScannerGrid:
    """The FLAIR acquisition grid, sharing the head pose of the SWI.

    Parameters
    ----------
    preset : Preset
        Matrix and slices of the cohort.
    pose : HeadPose
        The head.
    swi : ScannerGrid
        The SWI grid, whose slab the FLAIR covers.
    rng : numpy.random.Generator
        The subject's random stream.
    warp : Warp, optional
        The subject's warp of the template.

    Returns
    -------
    ScannerGrid
        The FLAIR slices.
    """
    anchor = pose.to_ras(_landmarks(np.array([[0.0, -17.0, 16.0]]), warp))[0]
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


def template_x(
    grid: ScannerGrid, pose: HeadPose, template: Template, warp: Warp | None = None
) -> np.ndarray:
    """Template x (mm, left < 0) of every voxel of ``grid``: the true mid-sagittal split.

    Parameters
    ----------
    grid : ScannerGrid
        A scanner grid.
    pose : HeadPose
        The head.
    template : Template
        The template.
    warp : Warp, optional
        The subject's warp of the template (the split follows it).

    Returns
    -------
    ndarray
        Template x in mm per voxel.
    """
    if warp is not None:
        coords = template_coordinates(grid, pose, template.affine, warp)
        return (template.affine[0, 0] * coords[0] + template.affine[0, 3]).astype(np.float32)
    m = np.linalg.inv(pose.matrix) @ grid.ras_affine
    i, j, k = (np.arange(n, dtype=np.float32) for n in grid.shape)
    return (
        m[0, 0] * i[:, None, None]
        + m[0, 1] * j[None, :, None]
        + m[0, 2] * k[None, None, :]
        + m[0, 3]
    ).astype(np.float32)


def render_swi(
    grid: ScannerGrid,
    pose: HeadPose,
    template: Template,
    scv: TubeRaster,
    other: TubeRaster,
    rng: np.random.Generator,
    site: Site = SITES["siemens-3t"],
    warp: Warp | None = None,
) -> dict[str, np.ndarray]:
    """Magnitude, phase and scanner SWI of the subject on the SWI grid, as ``site`` acquires it.

    Parameters
    ----------
    grid : ScannerGrid
        The SWI grid.
    pose : HeadPose
        The head.
    template : Template
        The anatomy.
    scv, other : TubeRaster
        The superficial veins and the other veins (sinus, medullary veins).
    rng : numpy.random.Generator
        The subject's random stream.
    site : Site
        Field strength, echo time and SNR (default: the study's Siemens 3 T).
    warp : Warp, optional
        The subject's warp of the template.

    Returns
    -------
    dict
        ``mag``, ``phase`` (radians) and ``swi`` volumes (float32).
    """
    tissue = resample(template.swi, grid, pose, template.affine, warp=warp)
    chi = resample(template.chi, grid, pose, template.affine, warp=warp)
    vessel = np.maximum(scv.fraction, other.fraction)
    # Intravascular signal decays as exp(-R2* TE), R2* taken proportional to the field.
    vein_signal = VEIN_SIGNAL ** ((site.te_ms / 20.0) * (site.field_t / 3.0))
    magnitude = tissue * (1.0 - (1.0 - vein_signal) * vessel)
    chi += VEIN_CHI_PPM * vessel
    b0 = grid.axes[:, 2]  # scanner z (LPS) expressed in the grid's axes
    field = dipole_field_ppm(chi, grid.spacing, b0)
    te_s = site.te_ms / 1000.0
    # Right-handed convention: phase = -gamma * dB * TE (paramagnetic, parallel veins negative).
    phase = -2.0 * np.pi * GAMMA_HZ_PER_T * site.field_t * 1e-6 * te_s * field
    axes = [np.linspace(-1.0, 1.0, n, dtype=np.float32) for n in grid.shape]
    x, y, z = np.meshgrid(*axes, indexing="ij", sparse=True)
    c = rng.normal(0.0, 1.0, 6)
    background = 3.0 * (
        c[0] * x + c[1] * y + c[2] * z + c[3] * x * x + c[4] * y * y + c[5] * z * z
    ) + rng.uniform(-np.pi, np.pi)
    gain = 1400.0 / SWI_SIGNAL["wm"] * rng.uniform(0.9, 1.1)
    snr = rng.uniform(*site.snr)
    amplitude = gain * magnitude * bias_field(grid.shape, rng) * dephasing(field, site)
    signal = amplitude * np.exp(1j * (phase + background)).astype(np.complex64)
    sigma = gain * SWI_SIGNAL["wm"] / snr
    noise = rng.normal(0.0, sigma, (2, *grid.shape)).astype(np.float32)
    signal = (signal + noise[0] + 1j * noise[1]).astype(np.complex64)
    swi, _ = swi_from_complex(signal, grid.spacing)
    mag = np.abs(signal)
    return {"mag": mag, "phase": np.angle(signal).astype(np.float32), "swi": swi}


def dephasing(field_ppm: np.ndarray, site: Site) -> np.ndarray:
    """Signal left after intravoxel dephasing in the field's gradients (air-tissue signal loss).

    Across a voxel the field changes by ``g`` ppm along each axis; the phase then spreads over
    ``2 pi gamma B0 g TE`` and the voxel's signal is the product over the axes of
    ``|sinc(gamma B0 g TE)|``: near the frontal sinus and the skull base SWI goes dark, more so
    at high field and long echo times.

    Parameters
    ----------
    field_ppm : ndarray
        Field perturbation, ppm of B0, on the acquisition grid.
    site : Site
        Field strength and echo time.

    Returns
    -------
    ndarray
        Factor (0-1) on the magnitude.
    """
    cycles_per_ppm = GAMMA_HZ_PER_T * site.field_t * 1e-6 * site.te_ms / 1000.0
    out = np.ones(field_ppm.shape, np.float32)
    for axis in range(3):
        out *= np.abs(np.sinc(cycles_per_ppm * np.gradient(field_ppm, axis=axis)))
    return out


def render_flair(
    grid: ScannerGrid,
    pose: HeadPose,
    template: Template,
    row: dict,
    rng: np.random.Generator,
    warp: Warp | None = None,
) -> tuple[np.ndarray, list[dict]]:
    """Render the FLAIR; return it with the deep white-matter lesions drawn (RAS mm, radius).

    Parameters
    ----------
    grid : ScannerGrid
        The FLAIR grid.
    pose : HeadPose
        The head.
    template : Template
        The anatomy.
    row : dict
        The subject's cohort row (its Fazekas rating).
    rng : numpy.random.Generator
        The subject's random stream.
    warp : Warp, optional
        The subject's warp of the template.

    Returns
    -------
    flair : ndarray
        The FLAIR volume.
    lesions : list of dict
        Centre (RAS mm) and radius of each lesion drawn.
    """
    offsets = np.linspace(-2.0, 2.0, 5) / grid.spacing[2]
    base = np.mean(
        [
            resample(template.flair, grid, pose, template.affine, slice_offset=o, warp=warp)
            for o in offsets
        ],
        axis=0,
    )
    if int(row["fazekas_pv"]) >= 1:
        caps = np.mean(
            [
                resample(template.pv_caps, grid, pose, template.affine, slice_offset=o, warp=warp)
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
        for centre in grid.ras_to_mm(pose.to_ras(_landmarks(picks, warp))):
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
