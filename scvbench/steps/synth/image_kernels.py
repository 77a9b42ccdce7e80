"""Compiled (numba) kernels of image formation: the per-voxel loops of drawing and SWI physics.

- :func:`sweep_tube`: a tube drawn as the union of spheres along a densely sampled centre line,
  with partial-volume occupancy and labels, visiting only the voxels near each centre point
  (replaces a k-d tree query of every voxel of a bounding box).
- :func:`phase_mask_swi`: the homodyne phase, the negative-phase mask and the SWI magnitude in
  one pass, back in slices-last order (no complex temporaries).

Each kernel is compiled once per machine (``cache=True``) and is deterministic.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["phase_mask_swi", "sweep_tube"]


@numba.njit(cache=True)
def sweep_tube(fraction, label, points, radii, spacing, edge, label_floor, label_value):
    """Draw spheres of ``radii`` at ``points`` (grid mm) into ``fraction`` and ``label``.

    A voxel centre at distance ``d`` from a point of radius ``r`` is occupied
    ``clip((r - d) / edge + 0.5, 0, 1)`` (a linear partial-volume ramp one in-plane pixel wide);
    each voxel keeps its largest occupancy, and takes ``label_value`` (when not 0) where
    ``d <= max(r, label_floor)`` for some point.

    Parameters
    ----------
    fraction : ndarray
        float32 occupancy volume, changed in place.
    label : ndarray
        int16 label volume, changed in place.
    points : ndarray
        ``(n, 3)`` centre points in grid mm (densely sampled: spheres overlap).
    radii : ndarray
        ``(n,)`` radius per point, mm.
    spacing : ndarray
        Voxel size (3,), mm.
    edge : float
        Width of the partial-volume ramp, mm.
    label_floor : float
        Smallest labelling radius, mm.
    label_value : int
        Label drawn (0: none).

    Returns
    -------
    None
        ``fraction`` and ``label`` hold the tube.
    """
    nx, ny, nz = fraction.shape
    sx, sy, sz = spacing[0], spacing[1], spacing[2]
    for p in range(points.shape[0]):
        x, y, z = points[p, 0], points[p, 1], points[p, 2]
        r = radii[p]
        lab = max(r, label_floor) if label_value != 0 else -1.0
        reach = max(r + 0.5 * edge, lab)
        if reach <= 0.0:
            continue
        i0, i1 = max(math.ceil((x - reach) / sx), 0), min(math.floor((x + reach) / sx), nx - 1)
        j0, j1 = max(math.ceil((y - reach) / sy), 0), min(math.floor((y + reach) / sy), ny - 1)
        k0, k1 = max(math.ceil((z - reach) / sz), 0), min(math.floor((z + reach) / sz), nz - 1)
        reach2 = reach * reach
        for i in range(i0, i1 + 1):
            dx = i * sx - x
            for j in range(j0, j1 + 1):
                dy = j * sy - y
                dxy = dx * dx + dy * dy
                if dxy > reach2:
                    continue
                for k in range(k0, k1 + 1):
                    dz = k * sz - z
                    d2 = dxy + dz * dz
                    if d2 > reach2:
                        continue
                    d = math.sqrt(d2)
                    occupancy = min(max((r - d) / edge + 0.5, 0.0), 1.0)
                    if occupancy > fraction[i, j, k]:
                        fraction[i, j, k] = occupancy
                    if d <= lab:
                        label[i, j, k] = label_value


@numba.njit(cache=True)
def _cross(planes, low):
    """Real and imaginary parts of ``planes * conj(low)``."""
    re = np.empty(planes.shape, np.float32)
    im = np.empty(planes.shape, np.float32)
    flat_s, flat_w = planes.ravel(), low.ravel()
    flat_re, flat_im = re.ravel(), im.ravel()
    for n in range(flat_s.size):
        s, w = flat_s[n], flat_w[n]
        flat_re[n] = s.real * w.real + s.imag * w.imag
        flat_im[n] = s.imag * w.real - s.real * w.imag
    return re, im


@numba.njit(cache=True)
def _masked(planes, phase, power):
    """SWI ``|planes| * mask ** power`` and the phase, back in slices-last order."""
    nz, ny, nx = planes.shape
    swi = np.empty((nx, ny, nz), np.float32)
    phase_out = np.empty((nx, ny, nz), np.float32)
    pi = np.float32(math.pi)
    block = 32  # tiles of rows and columns: the transposed writes stay in cache
    for j0 in range(0, ny, block):
        for i0 in range(0, nx, block):
            for k in range(nz):
                for j in range(j0, min(j0 + block, ny)):
                    for i in range(i0, min(i0 + block, nx)):
                        s = planes[k, j, i]
                        a = phase[k, j, i]
                        mask = (pi + a) / pi if a < 0 else np.float32(1.0)
                        swi[i, j, k] = np.sqrt(s.real * s.real + s.imag * s.imag) * mask**power
                        phase_out[i, j, k] = a
    return swi, phase_out


def phase_mask_swi(planes: np.ndarray, low: np.ndarray, power: int) -> tuple[np.ndarray, ...]:
    """SWI from slice-first complex planes and their homodyne low-pass.

    The high-passed phase is ``angle(planes * conj(low))`` (numpy's vectorised ``arctan2``); the
    mask is ``(pi + phase) / pi`` where it is negative and 1 elsewhere; the SWI is
    ``|planes| * mask ** power``, returned slices last.

    Parameters
    ----------
    planes, low : ndarray
        ``(nz, ny, nx)`` complex64 signal and its low-pass (slices first, rows, columns).
    power : int
        Times the mask is applied.

    Returns
    -------
    swi : ndarray
        ``(nx, ny, nz)`` float32.
    phase : ndarray
        ``(nx, ny, nz)`` float32 high-passed phase.
    """
    re, im = _cross(np.ascontiguousarray(planes), np.ascontiguousarray(low, np.complex64))
    return _masked(planes, np.arctan2(im, re), int(power))
