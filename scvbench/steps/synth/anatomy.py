"""The anatomical backdrop: the MNI152 2009a template and tissue maps that nilearn ships.

Nothing is downloaded: the three 1 mm maps (T1, grey and white matter probability) are files
inside the nilearn package. From them this module derives, once per process, the maps every
synthetic head is resampled from: intracranial mask, CSF, skull and scalp shells (the template
is skull-stripped, so the head around the brain is built from distance shells), lateral
ventricles, the SWI magnitude and FLAIR tissue signals, magnetic susceptibility, candidate
places for deep white-matter lesions, and the course of the superior sagittal sinus.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import nibabel as nib
import numpy as np
from scipy import ndimage

__all__ = ["DEEP_VEINS", "Template", "deep_vein_paths", "load_template"]

_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}

# Tissue signals relative to white matter on the SWI magnitude (TR 28 ms, TE 20 ms, flip 15 deg)
# and on T2-FLAIR; susceptibility in ppm relative to CSF. Veins are added per subject.
SWI_SIGNAL = {"csf": 0.95, "gm": 0.60, "wm": 0.72, "skull": 0.06, "scalp": 0.55}
FLAIR_SIGNAL = {"csf": 0.08, "gm": 0.62, "wm": 0.48, "skull": 0.04, "scalp": 0.52}
CHI_PPM = {"gm": 0.04, "wm": -0.03}

# Shells outside the intracranial mask, in mm: dura/CSF, skull, scalp.
_SHELLS_MM = (1.5, 7.0, 13.0)

# Iron-rich deep grey matter (MNI centre mm, semi-axes mm, extra susceptibility ppm, fraction of
# the magnitude lost to T2* shortening at 3 T, TE 20 ms): pallidum darkest, then the red nucleus
# and substantia nigra, the putamen and the caudate (Haacke et al. 2005, Langkammer et al. 2012:
# 0.1-0.2 ppm in the pallidum, about 0.1 in the nigra and red nucleus, 0.05 in the striatum).
IRON = {
    "globus_pallidus": ((19.0, -4.0, 0.0), (4.5, 9.0, 5.5), 0.18, 0.30),
    "putamen": ((25.0, 3.0, 2.0), (5.5, 14.0, 8.0), 0.07, 0.12),
    "caudate_head": ((13.0, 12.0, 10.0), (4.0, 7.0, 7.0), 0.05, 0.08),
    "red_nucleus": ((5.0, -19.0, -9.0), (3.2, 3.5, 3.5), 0.15, 0.25),
    "substantia_nigra": ((10.0, -16.0, -12.0), (3.0, 7.0, 2.5), 0.15, 0.25),
}
# Air spaces next to the brain (MNI centre, semi-axes): their susceptibility difference with
# tissue (about +9.4 ppm) bends the field at the frontal and temporal base, where SWI loses signal.
AIR = {
    "frontal_sinus": ((0.0, 79.0, 0.0), (13.0, 6.0, 11.0)),
    "ethmoid_cells": ((0.0, 45.0, -28.0), (14.0, 13.0, 9.0)),
    "sphenoid_sinus": ((0.0, 8.0, -34.0), (11.0, 10.0, 8.0)),
    "mastoid_air_cells": ((48.0, -32.0, -38.0), (9.0, 10.0, 9.0)),
}
AIR_CHI_PPM = 9.4

# The deep veins around the lateral ventricles (MNI control points, mm, and radius, mm; paired
# veins are mirrored across the midline). Approximate courses after standard neuroanatomy: the
# septal and thalamostriate veins meet at the foramen of Monro, the internal cerebral veins run
# back above the thalami to the great vein of Galen, the basal veins wind around the midbrain,
# and the straight sinus continues to the torcular. None is a superficial vein.
DEEP_VEINS = {
    "septal": ([(4, 24, 12), (3, 12, 12), (2.5, 2, 12)], 0.45, True),
    "thalamostriate": ([(18, -22, 22), (14, -12, 18), (8, -4, 13), (3, 0, 12)], 0.7, True),
    "internal_cerebral": ([(2.5, 0, 12), (3, -12, 15), (2.5, -26, 14), (1.5, -38, 9)], 1.1, True),
    "basal_rosenthal": ([(20, 2, -12), (22, -14, -8), (14, -30, -2), (4, -40, 6)], 0.9, True),
    "great_cerebral": ([(0, -38, 8), (0, -46, 6), (0, -52, 2)], 2.0, False),
    "straight_sinus": ([(0, -52, 2), (0, -75, -2), (0, -95, -2)], 2.5, False),
}


def deep_vein_paths(rng: np.random.Generator) -> list[tuple[str, np.ndarray, float]]:
    """One subject's deep veins in template mm: control points jittered by 1.5 mm, smoothed.

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's random stream.

    Returns
    -------
    list of (str, ndarray, float)
        Name, ``(n, 3)`` centre line (template mm, 0.5 mm steps) and radius of each vein.
    """
    out = []
    for name, (points, radius, paired) in DEEP_VEINS.items():
        for sign in (1.0, -1.0) if paired else (1.0,):
            control = np.asarray(points, float) * np.array([sign, 1.0, 1.0])
            control = control + rng.normal(0.0, 1.5, control.shape)
            s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(control, axis=0), axis=1))])
            t = np.arange(0.0, s[-1], 0.5)
            line = np.stack([np.interp(t, s, control[:, d]) for d in range(3)], axis=1)
            line = ndimage.gaussian_filter1d(line, 4.0, axis=0, mode="nearest")
            out.append((name, line, radius * float(rng.uniform(0.85, 1.15))))
    return out


@dataclass(frozen=True)
class Template:
    """Template-space maps on the MNI152 1 mm grid (RAS, affine ``affine``).

    All arrays are float32 of shape ``shape`` unless noted.
    """

    affine: np.ndarray
    swi: np.ndarray  # SWI magnitude tissue signal (white matter = 0.72)
    flair: np.ndarray  # FLAIR tissue signal
    chi: np.ndarray  # susceptibility, ppm
    icv: np.ndarray  # intracranial (brain + CSF) fraction, the "brain mask" of the study
    ventricles: np.ndarray  # lateral ventricles, fraction
    pv_caps: np.ndarray  # periventricular caps around the frontal and occipital horns, fraction
    dwm_candidates: np.ndarray  # (n, 3) MNI mm of deep white-matter voxels far from ventricles
    sss: np.ndarray  # (n, 3) MNI mm centerline of the superior sagittal sinus
    sss_radius: np.ndarray  # (n,) mm

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape."""
        return self.swi.shape  # type: ignore[return-value]


def _load(name: str) -> tuple[np.ndarray, np.ndarray]:

    path = resources.files("nilearn") / "datasets" / "data" / _FILES[name]
    with resources.as_file(path) as real:
        image = nib.load(real)
        return np.asarray(image.dataobj, dtype=np.float32) / 255.0, image.affine


def _axis_mm(affine: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Template mm along one axis, shaped to broadcast (the template affine is diagonal)."""
    values = affine[axis, axis] * np.arange(shape[axis], dtype=np.float32) + affine[axis, 3]
    view = [1, 1, 1]
    view[axis] = shape[axis]
    return values.reshape(view)


def _coarse_distance(mask: np.ndarray, factor: int = 2) -> np.ndarray:
    """Distance (mm, 1 mm voxels) to ``mask`` computed on a grid ``factor`` times coarser.

    Only used for smooth shells and candidate regions, where a voxel of error does not matter,
    at an eighth of the cost of the full-resolution transform.
    """
    coarse = mask[::factor, ::factor, ::factor]
    distance = (ndimage.distance_transform_edt(~coarse) * factor).astype(np.float32)
    # Linear interpolation back to the full grid (coarse voxel n sits at full voxel n * factor).
    scale = np.full(3, 1.0 / factor)
    return ndimage.affine_transform(
        distance,
        scale,
        output_shape=mask.shape,
        order=1,
        mode="nearest",
        output=np.float32,
        prefilter=False,
    )


def _ellipsoids(
    affine: np.ndarray, shape: tuple[int, ...], centre, axes, mirror: bool = True
) -> np.ndarray:
    """A soft-edged ellipsoid (and its mirror image across the midline) on the template grid."""
    out = np.zeros(shape, np.float32)
    inv = np.linalg.inv(affine)
    for sign in (1.0, -1.0) if (mirror and centre[0] != 0) else (1.0,):
        c = np.array([sign * centre[0], centre[1], centre[2]])
        lo = np.floor(inv[:3, :3] @ (c - 1.2 * np.asarray(axes)) + inv[:3, 3]).astype(int)
        hi = np.ceil(inv[:3, :3] @ (c + 1.2 * np.asarray(axes)) + inv[:3, 3]).astype(int)
        lo, hi = np.maximum(np.minimum(lo, hi), 0), np.minimum(np.maximum(lo, hi) + 1, shape)
        if np.any(hi <= lo):
            continue
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        grids = np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij")
        mm = [affine[d, d] * grids[d] + affine[d, 3] for d in range(3)]
        r = np.sqrt(sum(((mm[d] - c[d]) / axes[d]) ** 2 for d in range(3)))
        np.maximum(out[box], np.clip((1.15 - r) / 0.3, 0.0, 1.0), out=out[box])
    return out


def _ventricles(csf: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Lateral ventricles: the large CSF components in a box around the MNI centre."""
    x = _axis_mm(affine, csf.shape, 0)
    y = _axis_mm(affine, csf.shape, 1)
    z = _axis_mm(affine, csf.shape, 2)
    box = (np.abs(x) < 32) & (y > -48) & (y < 38) & (z > -8) & (z < 38)
    labels, n = ndimage.label((csf > 0.55) & box)
    if n == 0:
        return np.zeros_like(csf)
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.argsort(sizes)[::-1][:2] + 1
    mask = np.isin(labels, keep)
    mask = ndimage.binary_closing(mask, iterations=1)
    return mask.astype(np.float32)


def _sss_course(icv: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Trace the superior sagittal sinus along the inner skull in the mid-sagittal plane."""
    inv = np.linalg.inv(affine)
    centre = np.array([0.0, -18.0, 12.0])
    points = []
    for angle in np.deg2rad(np.arange(-12.0, 193.0, 2.0)):
        direction = np.array([0.0, np.cos(angle), np.sin(angle)])
        radius = 20.0
        while radius < 140:
            p = centre + radius * direction
            i, j, k = np.rint(inv[:3, :3] @ p + inv[:3, 3]).astype(int)
            inside = (
                0 <= i < icv.shape[0]
                and 0 <= j < icv.shape[1]
                and 0 <= k < icv.shape[2]
                and icv[i, j, k] > 0.5
            )
            if not inside:
                break
            radius += 0.5
        points.append(centre + (radius + 2.5) * direction)
    points = np.asarray(points)
    points[:, 1:] = ndimage.gaussian_filter1d(points[:, 1:], 2.0, axis=0, mode="nearest")
    # The sinus widens from front to back (about 2 to 4.5 mm radius).
    radius = np.linspace(2.0, 4.5, len(points))
    return points, radius


@functools.cache
def load_template() -> Template:
    """Build (once per process) and return the template-space maps.

    Returns
    -------
    Template
        Tissue, CSF, ventricle and hemisphere maps on the 1 mm template grid.
    """
    t1, affine = _load("t1")
    gm, _ = _load("gm")
    wm, _ = _load("wm")
    icv_mask = ndimage.binary_fill_holes(ndimage.binary_closing(t1 > 0.02, iterations=2))
    icv = ndimage.gaussian_filter(icv_mask.astype(np.float32), 0.6)
    gm = np.minimum(gm, icv)
    wm = np.minimum(wm, icv - gm)
    csf = np.clip(icv - gm - wm, 0.0, 1.0)
    outside = _coarse_distance(icv_mask)
    dura = ((outside > 0) & (outside <= _SHELLS_MM[0])).astype(np.float32)
    skull = ((outside > _SHELLS_MM[0]) & (outside <= _SHELLS_MM[1])).astype(np.float32)
    scalp = ((outside > _SHELLS_MM[1]) & (outside <= _SHELLS_MM[2])).astype(np.float32)
    skull, scalp, dura = (ndimage.gaussian_filter(m, 0.7) for m in (skull, scalp, dura))
    csf_all = csf + dura
    swi = (
        SWI_SIGNAL["csf"] * csf_all
        + SWI_SIGNAL["gm"] * gm
        + SWI_SIGNAL["wm"] * wm
        + SWI_SIGNAL["skull"] * skull
        + SWI_SIGNAL["scalp"] * scalp
    )
    flair = (
        FLAIR_SIGNAL["csf"] * csf_all
        + FLAIR_SIGNAL["gm"] * gm
        + FLAIR_SIGNAL["wm"] * wm
        + FLAIR_SIGNAL["skull"] * skull
        + FLAIR_SIGNAL["scalp"] * scalp
    )
    chi = CHI_PPM["gm"] * gm + CHI_PPM["wm"] * wm
    for centre, axes, extra_chi, loss in IRON.values():
        nucleus = _ellipsoids(affine, t1.shape, centre, axes) * np.minimum(gm + wm, 1.0)
        chi += extra_chi * nucleus
        swi *= 1.0 - loss * nucleus
    air = np.zeros_like(icv)
    for centre, axes in AIR.values():
        air = np.maximum(air, _ellipsoids(affine, t1.shape, centre, axes))
    air *= outside > _SHELLS_MM[0]  # in bone, never in the brain or its CSF
    chi += AIR_CHI_PPM * air
    swi *= 1.0 - air
    flair *= 1.0 - air
    ventricles = _ventricles(csf, affine)
    vent_mask = ventricles > 0.5
    near = _coarse_distance(vent_mask)
    y = np.broadcast_to(_axis_mm(affine, t1.shape, 1), t1.shape)
    ys = y[vent_mask]
    front, back = (np.percentile(ys, 90), np.percentile(ys, 10)) if ys.size else (0.0, 0.0)
    caps = (near > 0) & (near <= 3.0) & ((y > front) | (y < back)) & (wm > 0.3)
    pv_caps = ndimage.gaussian_filter(caps.astype(np.float32), 0.8)
    deep = (wm > 0.9) & (near > 8.0) & (_coarse_distance(~(wm > 0.5)) > 4.0)
    candidates = np.argwhere(deep)[::7].astype(float)
    dwm_candidates = candidates @ affine[:3, :3].T + affine[:3, 3]
    sss, sss_radius = _sss_course(icv_mask, affine)
    return Template(
        affine=affine,
        swi=swi.astype(np.float32),
        flair=flair.astype(np.float32),
        chi=chi.astype(np.float32),
        icv=icv.astype(np.float32),
        ventricles=ventricles,
        pv_caps=pv_caps.astype(np.float32),
        dwm_candidates=dwm_candidates,
        sss=sss,
        sss_radius=sss_radius,
    )
