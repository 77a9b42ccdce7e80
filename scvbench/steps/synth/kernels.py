"""Compiled (numba) kernels of the generator: the loops that numpy would run one point at a time.

- :func:`sample_template`: trilinear sampling of several template maps at once through the
  subject's pose and warp, averaged over sub-planes of a thick slice. One pass over the target
  grid replaces building three coordinate arrays, sampling the warp's displacement per voxel and
  one ``scipy.ndimage.map_coordinates`` call per map (8x fewer passes over memory on the paper
  grid).
- :func:`walk_surface`: a path that follows an isoline of a depth map, one step at a time.
- :func:`course_tortuosity`: a trunk's tortuosity for one gain of its swing (inside a bisection).

Each kernel is compiled once per machine (``cache=True``) and is deterministic.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["course_tortuosity", "sample_template", "walk_surface"]


@numba.njit(cache=True, inline="always")
def _clamp(index, upper):
    return min(max(index, 0), upper)


@numba.njit(cache=True)
def _displacement(forward, origin, spacing, x, y, z, out):
    """Trilinear displacement (mm) of the warp at template mm ``(x, y, z)``; edges replicated."""
    nx, ny, nz = forward.shape[1], forward.shape[2], forward.shape[3]
    fx = (x - origin[0]) / spacing
    fy = (y - origin[1]) / spacing
    fz = (z - origin[2]) / spacing
    fx = min(max(fx, 0.0), nx - 1.0)
    fy = min(max(fy, 0.0), ny - 1.0)
    fz = min(max(fz, 0.0), nz - 1.0)
    i0, j0, k0 = int(fx), int(fy), int(fz)
    i1, j1, k1 = min(i0 + 1, nx - 1), min(j0 + 1, ny - 1), min(k0 + 1, nz - 1)
    wx, wy, wz = fx - i0, fy - j0, fz - k0
    for d in range(3):
        c00 = forward[d, i0, j0, k0] * (1 - wz) + forward[d, i0, j0, k1] * wz
        c01 = forward[d, i0, j1, k0] * (1 - wz) + forward[d, i0, j1, k1] * wz
        c10 = forward[d, i1, j0, k0] * (1 - wz) + forward[d, i1, j0, k1] * wz
        c11 = forward[d, i1, j1, k0] * (1 - wz) + forward[d, i1, j1, k1] * wz
        out[d] = (c00 * (1 - wy) + c01 * wy) * (1 - wx) + (c10 * (1 - wy) + c11 * wy) * wx


@numba.njit(cache=True)
def _sample_kernel(stack, to_mm, forward, origin, spacing, scale, shift, shape, offsets, with_x):
    nx, ny, nz = shape[0], shape[1], shape[2]
    tx, ty, tz, n_maps = stack.shape
    out = np.zeros((n_maps, nx, ny, nz), np.float32)
    xmap = np.zeros((nx, ny, nz) if with_x else (0, 0, 0), np.float32)
    disp = np.zeros(3)
    acc = np.zeros(n_maps)
    warped = forward.shape[1] > 0
    weight = 1.0 / len(offsets)
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                acc[:] = 0.0
                x_sum = 0.0
                for o in offsets:
                    kk = k + o
                    x = to_mm[0, 0] * i + to_mm[0, 1] * j + to_mm[0, 2] * kk + to_mm[0, 3]
                    y = to_mm[1, 0] * i + to_mm[1, 1] * j + to_mm[1, 2] * kk + to_mm[1, 3]
                    z = to_mm[2, 0] * i + to_mm[2, 1] * j + to_mm[2, 2] * kk + to_mm[2, 3]
                    if warped:
                        _displacement(forward, origin, spacing, x, y, z, disp)
                        x += disp[0]
                        y += disp[1]
                        z += disp[2]
                    x_sum += x
                    # template voxel index; outside the template everything is 0
                    fx = (x - shift[0]) / scale[0]
                    fy = (y - shift[1]) / scale[1]
                    fz = (z - shift[2]) / scale[2]
                    if fx <= -1.0 or fy <= -1.0 or fz <= -1.0:
                        continue
                    if fx >= tx or fy >= ty or fz >= tz:
                        continue
                    i0, j0, k0 = math.floor(fx), math.floor(fy), math.floor(fz)
                    wx, wy, wz = fx - i0, fy - j0, fz - k0
                    if (
                        i0 >= 0
                        and j0 >= 0
                        and k0 >= 0
                        and i0 < tx - 1
                        and j0 < ty - 1
                        and k0 < tz - 1
                    ):
                        w000 = (1.0 - wx) * (1.0 - wy)
                        w010 = (1.0 - wx) * wy
                        w100 = wx * (1.0 - wy)
                        w110 = wx * wy
                        for m in range(n_maps):
                            acc[m] += (
                                w000
                                * (
                                    (1.0 - wz) * stack[i0, j0, k0, m]
                                    + wz * stack[i0, j0, k0 + 1, m]
                                )
                                + w010
                                * (
                                    (1.0 - wz) * stack[i0, j0 + 1, k0, m]
                                    + wz * stack[i0, j0 + 1, k0 + 1, m]
                                )
                                + w100
                                * (
                                    (1.0 - wz) * stack[i0 + 1, j0, k0, m]
                                    + wz * stack[i0 + 1, j0, k0 + 1, m]
                                )
                                + w110
                                * (
                                    (1.0 - wz) * stack[i0 + 1, j0 + 1, k0, m]
                                    + wz * stack[i0 + 1, j0 + 1, k0 + 1, m]
                                )
                            )
                        continue
                    for corner in range(8):  # at the template's edge: outside neighbours are 0
                        ci = i0 + (corner >> 2)
                        cj = j0 + ((corner >> 1) & 1)
                        ck = k0 + (corner & 1)
                        if ci < 0 or cj < 0 or ck < 0 or ci >= tx or cj >= ty or ck >= tz:
                            continue
                        w = (
                            (wx if corner >> 2 else 1.0 - wx)
                            * (wy if (corner >> 1) & 1 else 1.0 - wy)
                            * (wz if corner & 1 else 1.0 - wz)
                        )
                        for m in range(n_maps):
                            acc[m] += w * stack[ci, cj, ck, m]
                for m in range(n_maps):
                    out[m, i, j, k] = acc[m] * weight
                if with_x:
                    xmap[i, j, k] = x_sum * weight
    return out, xmap


def sample_template(
    stack: np.ndarray,
    to_mm: np.ndarray,
    template_affine: np.ndarray,
    shape: tuple[int, int, int],
    warp=None,
    offsets=(0.0,),
    with_x: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Template maps on a grid, through an affine map and an optional warp (trilinear).

    Parameters
    ----------
    stack : ndarray
        ``(X, Y, Z, n_maps)`` float32 template maps, the map index last.
    to_mm : ndarray
        4 x 4 map from grid voxel indices to template mm (before the warp).
    template_affine : ndarray
        The template's (diagonal) voxel-to-mm affine.
    shape : tuple of int
        The grid's shape.
    warp : Warp, optional
        The subject's warp: the voxel shows the template at ``phi(y)``.
    offsets : sequence of float
        Shifts along the slice axis (slices) averaged per voxel (sub-planes of a thick slice).
    with_x : bool
        Also return the template x (mm) each voxel samples (averaged like the maps).

    Returns
    -------
    maps : ndarray
        ``(n_maps, *shape)`` float32; 0 outside the template.
    x : ndarray
        ``shape`` float32 template x in mm (empty unless ``with_x``).
    """
    if warp is None:
        forward, origin, spacing = np.zeros((3, 0, 0, 0)), np.zeros(3), 1.0
    else:
        forward, origin, spacing = warp.forward, np.asarray(warp.origin, float), warp.spacing
    return _sample_kernel(
        np.ascontiguousarray(stack, dtype=np.float32),
        np.asarray(to_mm, float)[:3],
        np.ascontiguousarray(forward, dtype=np.float64),
        origin,
        float(spacing),
        np.diag(template_affine)[:3].astype(float),
        np.asarray(template_affine, float)[:3, 3],
        np.asarray(shape, np.int64),
        np.asarray(offsets, float),
        bool(with_x),
    )


@numba.njit(cache=True)
def walk_surface(field, gx, gy, spacing, start, heading, n_steps, step, depth):
    """Trace up to ``n_steps`` steps along the depth map's isoline, steered back to ``depth``.

    Parameters
    ----------
    field, gx, gy : ndarray
        Smoothed depth (mm) of a slice and its two in-plane derivatives.
    spacing : ndarray
        Pixel size (2,), mm.
    start, heading : ndarray
        First point (grid mm) and unit direction (2,).
    n_steps : int
        Largest number of steps.
    step : float
        Step, mm.
    depth : float
        Depth under the surface to follow, mm.

    Returns
    -------
    ndarray
        ``(m, 2)`` points after ``start``, ``m <= n_steps`` (it stops where the gradient vanishes).
    """
    out = np.empty((n_steps, 2))
    px, py = start[0], start[1]
    hx, hy = heading[0], heading[1]
    ui, uj = field.shape[0] - 1, field.shape[1] - 1
    count = 0
    for _ in range(n_steps):
        i = _clamp(int(np.rint(px / spacing[0])), ui)
        j = _clamp(int(np.rint(py / spacing[1])), uj)
        g0, g1 = gx[i, j], gy[i, j]
        norm = math.sqrt(g0 * g0 + g1 * g1)
        if norm < 1e-6:
            break
        in0, in1 = g0 / norm, g1 / norm
        t0, t1 = -in1, in0
        if t0 * hx + t1 * hy < 0:
            t0, t1 = -t0, -t1
        pull = 0.3 * min(max(depth - field[i, j], -2.0), 2.0)
        m0, m1 = t0 + pull * in0, t1 + pull * in1
        length = math.sqrt(m0 * m0 + m1 * m1)
        hx, hy = m0 / length, m1 / length
        px += step * hx
        py += step * hy
        out[count, 0] = px
        out[count, 1] = py
        count += 1
    return out[:count]


@numba.njit(cache=True)
def course_tortuosity(base, normal, noise, gain):
    """Length over end-to-end distance of ``base + gain * noise * normal`` (in-plane).

    Parameters
    ----------
    base, normal : ndarray
        ``(n, 2)`` path and its unit normals.
    noise : ndarray
        ``(n,)`` swing.
    gain : float
        Swing amplitude, mm.

    Returns
    -------
    float
        The tortuosity.
    """
    n = base.shape[0]
    length = 0.0
    px = base[0, 0] + gain * noise[0] * normal[0, 0]
    py = base[0, 1] + gain * noise[0] * normal[0, 1]
    x0, y0 = px, py
    for p in range(1, n):
        x = base[p, 0] + gain * noise[p] * normal[p, 0]
        y = base[p, 1] + gain * noise[p] * normal[p, 1]
        length += math.sqrt((x - px) ** 2 + (y - py) ** 2)
        px, py = x, y
    return length / max(math.sqrt((px - x0) ** 2 + (py - y0) ** 2), 1e-9)
