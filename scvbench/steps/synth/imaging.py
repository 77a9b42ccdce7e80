"""A subject's scanner grids and images: SWI from the complex signal, FLAIR with lesions."""

from __future__ import annotations

import logging

import numpy as np

from scvbench.steps.synth.anatomy import SWI_SIGNAL, Template
from scvbench.steps.synth.geometry import HeadPose, ScannerGrid
from scvbench.steps.synth.image_kernels import (
    assemble_signal,
    complex_planes,
    phase_terms,
    vessel_contrast,
)
from scvbench.steps.synth.presets import FLAIR_FOV_MM, SWI_FOV_MM, Preset
from scvbench.steps.synth.render import (
    GAMMA_HZ_PER_T,
    TubeRaster,
    bias_field,
    dipole_field_ppm,
    swi_from_planes,
)
from scvbench.steps.synth.sampling import sample_maps
from scvbench.steps.synth.sites import SITES, Site
from scvbench.steps.synth.warp import Warp

log = logging.getLogger(__name__)

__all__ = [
    "PROTOCOL",
    "VEIN_CHI_PPM",
    "VEIN_SIGNAL",
    "flair_grid",
    "render_flair",
    "render_swi",
    "subject_maps",
    "swi_grid",
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
    slice_mm: float = 1.0,
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
    slice_mm : float
        The site's slice thickness and spacing; the slab spans ``preset.swi_slices`` mm.

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
        shape=(cols, rows, round(preset.swi_slices / slice_mm)),
        spacing=(col_mm, row_mm, float(slice_mm)),
        centre_lps=tuple(float(v) for v in centre_lps),
        tilt_deg=float(rng.uniform(-6, 6)),
        thickness=float(slice_mm),
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


def subject_maps(
    grid: ScannerGrid, pose: HeadPose, template: Template, warp: Warp | None = None
) -> dict[str, np.ndarray]:
    """The template's maps that the SWI needs, on the subject's SWI grid, in one pass.

    Parameters
    ----------
    grid : ScannerGrid
        The SWI grid.
    pose : HeadPose
        The head.
    template : Template
        The template.
    warp : Warp, optional
        The subject's warp of the template (everything follows it).

    Returns
    -------
    dict
        ``icv``, ``ventricles`` (fractions), ``swi`` (tissue magnitude), ``chi`` (ppm) and ``x``
        (template x in mm, left < 0: the true mid-sagittal split), float32 on ``grid``.
    """
    names = ("icv", "ventricles", "swi", "chi")
    maps, x = sample_maps(
        [getattr(template, n) for n in names], grid, pose, template.affine, warp, with_x=True
    )
    return {**dict(zip(names, maps, strict=True)), "x": x}


def render_swi(
    grid: ScannerGrid,
    maps: dict[str, np.ndarray],
    scv: TubeRaster,
    other: TubeRaster,
    rng: np.random.Generator,
    site: Site = SITES["siemens-3t"],
) -> dict[str, np.ndarray]:
    """Magnitude, phase and scanner SWI of the subject on the SWI grid, as ``site`` acquires it.

    Parameters
    ----------
    grid : ScannerGrid
        The SWI grid.
    maps : dict
        The subject's anatomy on ``grid`` (:func:`subject_maps`: ``swi`` and ``chi``).
    scv, other : TubeRaster
        The superficial veins and the other veins (sinus, medullary veins).
    rng : numpy.random.Generator
        The subject's random stream.
    site : Site
        Field strength, echo time and SNR (default: the study's Siemens 3 T).

    Returns
    -------
    dict
        ``mag``, ``phase`` (radians) and ``swi`` volumes (float32).
    """
    f32 = np.float32
    # Intravascular signal decays as exp(-R2* TE), R2* taken proportional to the field.
    vein_signal = VEIN_SIGNAL ** ((site.te_ms / 20.0) * (site.field_t / 3.0))
    magnitude, chi = vessel_contrast(
        maps["swi"], maps["chi"], scv.fraction, other.fraction, 1.0 - vein_signal, VEIN_CHI_PPM
    )
    b0 = grid.axes[:, 2]  # scanner z (LPS) expressed in the grid's axes
    field = dipole_field_ppm(chi, grid.spacing, b0)
    # Right-handed convention: phase = -gamma * dB * TE (paramagnetic, parallel veins negative).
    radians_per_ppm = -2.0 * np.pi * GAMMA_HZ_PER_T * site.field_t * 1e-6 * site.te_ms / 1000.0
    # A smooth background phase (coil and shim), quadratic along each axis.
    c = rng.normal(0.0, 1.0, 6)
    constant = rng.uniform(-np.pi, np.pi)
    axes = [np.linspace(-1.0, 1.0, n) for n in grid.shape]
    x, y, z = (
        (3.0 * (c[d] * u + c[d + 3] * u * u) + (constant if d == 2 else 0.0)).astype(f32)
        for d, u in enumerate(axes)
    )
    # Intravoxel dephasing: across a voxel the field changes by g ppm along each axis; the phase
    # spreads over 2 pi gamma B0 g TE and the voxel keeps the product over the axes of
    # |sinc(gamma B0 g TE)| of its signal: near the frontal sinus and the skull base SWI goes
    # dark, more so at high field and long echo times.
    cycles_per_ppm = GAMMA_HZ_PER_T * site.field_t * 1e-6 * site.te_ms / 1000.0
    theta, dephasing = phase_terms(field, radians_per_ppm, x, y, z, cycles_per_ppm)
    gain = 1400.0 / SWI_SIGNAL["wm"] * rng.uniform(0.9, 1.1)
    snr = rng.uniform(*site.snr)
    magnitude *= f32(gain)
    bias = bias_field(grid.shape, rng)
    sigma = gain * SWI_SIGNAL["wm"] / snr
    noise = rng.standard_normal((2, *grid.shape), dtype=f32)
    re, im, mag = assemble_signal(
        magnitude, bias, dephasing, np.cos(theta), np.sin(theta), noise, sigma
    )
    swi, _ = swi_from_planes(complex_planes(re, im), grid.spacing)
    return {"mag": mag, "phase": np.arctan2(im, re), "swi": swi}


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
    # The 5 mm slice averages five sub-planes 1 mm apart.
    offsets = np.linspace(-2.0, 2.0, 5) / grid.spacing[2]
    if int(row["fazekas_pv"]) >= 1:
        (base, caps), _ = sample_maps(
            [template.flair, template.pv_caps], grid, pose, template.affine, warp, offsets
        )
        base = base + (0.92 - base) * np.clip(caps * 1.5, 0, 1)
    else:
        base = sample_maps([template.flair], grid, pose, template.affine, warp, offsets)[0][0]
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
    noise = rng.standard_normal((2, *grid.shape), dtype=np.float32)
    noise *= np.float32(sigma)
    return np.hypot(amplitude + noise[0], noise[1]), drawn
