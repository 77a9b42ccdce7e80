"""Thresholded Euclidean distances of a binary image: ``EDT(mask) > mm`` without the transform.

The brain-mask and ventricle steps only ask whether a voxel lies more than ``mm`` (anisotropic
voxel size) from the mask's background, never for the distance itself.
:func:`farther_than` answers that exactly as thresholding
``scipy.ndimage.distance_transform_edt(mask, sampling=spacing)`` does, at a fraction of its cost:

1. A voxel whose axis-aligned box of half-size ``floor(mm / spacing) + 1`` holds no background
   is farther than ``mm`` from all of it (any background voxel outside the box is farther than
   ``mm`` along one axis alone). Three 1-D minimum filters find these voxels.
2. The others (a shell at the mask's edge) are checked against the background voxels of the
   ball of radius ``mm``, visited nearest first, so a voxel next to the background stops at once.

Distances are computed as SciPy computes them, ``sqrt(((di*s0)**2 + (dj*s1)**2) + (dk*s2)**2)``
in float64, so the same voxels pass the threshold (the tests compare both on random masks and
brain masks).
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import ndimage

__all__ = ["ball_offsets", "deeper_than", "farther_than"]


def _reach(mm: float, step: float) -> int:
    """Voxels along an axis that may lie within ``mm`` (one more than needed: never too few)."""
    return int(np.floor(mm / step)) + 1


def ball_offsets(spacing, mm: float) -> np.ndarray:
    """Integer voxel offsets whose SciPy-style Euclidean length is at most ``mm``, nearest first.

    Parameters
    ----------
    spacing : sequence of float
        Voxel size along each axis (mm).
    mm : float
        The radius.

    Returns
    -------
    ndarray
        ``(n, ndim)`` int64 offsets, sorted by length (the zero offset first).
    """
    spacing = np.asarray(spacing, np.float64)
    reach = [_reach(mm, s) for s in spacing]
    grids = np.meshgrid(*(np.arange(-r, r + 1) for r in reach), indexing="ij")
    offsets = np.stack([g.ravel() for g in grids], axis=1).astype(np.int64)
    squares = (offsets.astype(np.float64) * spacing) ** 2
    length = np.sqrt(np.add.reduce(squares, axis=1))
    keep = length <= mm
    order = np.argsort(length[keep], kind="stable")
    return np.ascontiguousarray(offsets[keep][order])


@numba.njit(cache=True)
def _ball_clear(mask, candidates, offsets):
    """1 where no background voxel of ``mask`` (3-D) lies at any of ``offsets`` from a candidate."""
    nx, ny, nz = mask.shape
    out = np.zeros(len(candidates), np.uint8)
    for c in range(len(candidates)):
        i, j, k = candidates[c, 0], candidates[c, 1], candidates[c, 2]
        clear = 1
        for o in range(len(offsets)):
            a, b, d = i + offsets[o, 0], j + offsets[o, 1], k + offsets[o, 2]
            if a < 0 or b < 0 or d < 0 or a >= nx or b >= ny or d >= nz:
                continue  # outside the image is not background (as SciPy's transform)
            if not mask[a, b, d]:
                clear = 0
                break
        out[c] = clear
    return out


def farther_than(mask: np.ndarray, spacing, mm: float) -> np.ndarray:
    """Voxels of ``mask`` more than ``mm`` from its background (Euclidean, in mm).

    Equal to ``scipy.ndimage.distance_transform_edt(mask, sampling=spacing) > mm`` for a mask
    with some background (2-D or 3-D; a 2-D mask is a single slice of 3-D).

    Parameters
    ----------
    mask : ndarray of bool
        2-D or 3-D mask.
    spacing : sequence of float
        Voxel size per axis (mm).
    mm : float
        The distance, >= 0.

    Returns
    -------
    ndarray of bool
        The voxels farther than ``mm``.
    """
    mask = np.asarray(mask, bool)
    spacing = tuple(float(s) for s in spacing)
    if mask.ndim not in (2, 3) or len(spacing) != mask.ndim:
        raise ValueError(f"a 2-D or 3-D mask with one spacing per axis, got {mask.shape}")
    if mask.all() or not mask.any():  # no background: SciPy's transform has no reference
        return ndimage.distance_transform_edt(mask, sampling=spacing) > mm
    volume = mask if mask.ndim == 3 else mask[:, :, None]
    steps = spacing if mask.ndim == 3 else (*spacing, 1.0)
    offsets = ball_offsets(spacing, mm)
    if mask.ndim == 2:
        offsets = np.concatenate([offsets, np.zeros((len(offsets), 1), np.int64)], axis=1)
    # 1. no background in the box around the voxel: clear (the box holds the ball)
    boxed = volume.view(np.uint8)
    for axis, step in enumerate(steps):
        reach = _reach(mm, step) if mask.ndim == 3 or axis < 2 else 0
        if reach:
            boxed = ndimage.minimum_filter1d(boxed, 2 * reach + 1, axis=axis, mode="nearest")
    out = boxed.astype(bool)
    # 2. the rest of the mask: look for background inside the ball, nearest first
    candidates = np.argwhere(volume & ~out)
    if len(candidates):
        clear = _ball_clear(np.ascontiguousarray(volume), candidates, offsets)
        out[tuple(candidates[clear.astype(bool)].T)] = True
    return out if mask.ndim == 3 else out[:, :, 0]


def deeper_than(mask: np.ndarray, spacing, mm: float) -> np.ndarray:
    """Pixels of a 2-D mask more than ``mm`` from its background (Euclidean, in mm).

    Where the radius spans many pixels (the ventricles' 12 mm depth) the transform on the box
    beats :func:`farther_than`'s ball.

    The distance transform runs on the mask's bounding box, widened by one pixel of background
    where the box does not reach the image's edge: every pixel's nearest background pixel is
    in that box (a farther one, moved into the box, only comes nearer), so the distances are
    those of the whole image, on a fraction of its pixels.
    """
    out = np.zeros(mask.shape, bool)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return out
    r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, mask.shape[0])
    c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, mask.shape[1])
    box = ndimage.distance_transform_edt(mask[r0:r1, c0:c1], sampling=spacing)
    out[r0:r1, c0:c1] = box > mm
    return out
