"""Compiled (numba) kernels of vein placement: loops run thousands of times per subject.

- :func:`walk_surface`: a path that follows an isoline of a depth map, one step at a time.
- :func:`course_tortuosity`, :func:`course_gain`: a trunk's tortuosity for one gain of its swing
  and the bisection for the gain that gives a target.
- :func:`mix_noise`: the smooth two-scale swing process, pinned at both ends.
- :func:`path_normals`: unit normals of an in-plane path.
- :func:`distance_map`: the exact Euclidean distance transform of a slice with anisotropic pixels
  (Felzenszwalb and Huttenlocher's lower envelope of parabolas; equals
  ``scipy.ndimage.distance_transform_edt``, about 3x faster on a brain slice).

Each kernel is compiled once per machine (``cache=True``) and is deterministic.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "course_gain",
    "course_tortuosity",
    "distance_map",
    "mix_noise",
    "path_normals",
    "walk_surface",
]


@numba.njit(cache=True, inline="always")
def _clamp(index, upper):
    return min(max(index, 0), upper)


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


@numba.njit(cache=True)
def course_gain(base, normal, noise, target, high, iterations):
    """The swing gain in ``[0, high]`` at which :func:`course_tortuosity` reaches ``target``.

    Bisection (the tortuosity grows with the gain); the middle of the last interval.

    Parameters
    ----------
    base, normal, noise : ndarray
        As for :func:`course_tortuosity`.
    target : float
        The tortuosity wanted.
    high : float
        The largest gain allowed.
    iterations : int
        Bisection steps.

    Returns
    -------
    float
        The gain.
    """
    low = 0.0
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        if course_tortuosity(base, normal, noise, middle) < target:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


@numba.njit(cache=True)
def _smoothed(white, sigma, reach):
    """``white`` convolved with a normalised Gaussian of ``sigma`` samples ('valid'), std 1."""
    taps = np.exp(-0.5 * (np.arange(-reach, reach + 1) / sigma) ** 2)
    taps /= taps.sum()
    n = white.shape[0] - 2 * reach
    out = np.zeros(n)
    for i in range(n):
        acc = 0.0
        for t in range(2 * reach + 1):
            acc += white[i + t] * taps[2 * reach - t]
        out[i] = acc
    return out / max(out.std(), 1e-9)


@numba.njit(cache=True)
def mix_noise(coarse, sigma_coarse, reach_coarse, fine, sigma_fine, reach_fine, weight):
    """Two smoothed white noises mixed, pinned to 0 at both ends, standard deviation 1.

    Parameters
    ----------
    coarse, fine : ndarray
        White noise, ``n + 2 * reach`` samples each.
    sigma_coarse, sigma_fine : float
        Gaussian widths, samples.
    reach_coarse, reach_fine : int
        Kernel half-widths, samples.
    weight : float
        Weight of the fine scale.

    Returns
    -------
    ndarray
        ``n`` values.
    """
    out = _smoothed(coarse, sigma_coarse, reach_coarse)
    out += weight * _smoothed(fine, sigma_fine, reach_fine)
    n = out.shape[0]
    first, last = out[0], out[n - 1]
    for i in range(n):
        out[i] -= first + (last - first) * (i / max(n - 1, 1))
    return out / max(out.std(), 1e-9)


@numba.njit(cache=True)
def path_normals(path):
    """Unit normals (the tangent turned left) of an in-plane path.

    The tangent is the central difference (one-sided at the ends), as :func:`numpy.gradient`.

    Parameters
    ----------
    path : ndarray
        ``(n, 2)`` points, ``n >= 2``.

    Returns
    -------
    ndarray
        ``(n, 2)`` unit vectors.
    """
    n = path.shape[0]
    out = np.empty((n, 2))
    for p in range(n):
        lo, hi = max(p - 1, 0), min(p + 1, n - 1)
        tx = (path[hi, 0] - path[lo, 0]) / (hi - lo)
        ty = (path[hi, 1] - path[lo, 1]) / (hi - lo)
        norm = max(math.sqrt(tx * tx + ty * ty), 1e-9)
        out[p, 0] = -ty / norm
        out[p, 1] = tx / norm
    return out


@numba.njit(cache=True)
def distance_map(mask, spacing_0, spacing_1):
    """Distance (mm) from every True pixel of a 2-D mask to the nearest False pixel (0 on False).

    Exact Euclidean distances with pixels ``spacing_0`` by ``spacing_1`` mm: a 1-D pass down each
    column, then the lower envelope of parabolas along each row (Felzenszwalb and Huttenlocher
    2012). A mask with no False pixel gives very large distances.

    Parameters
    ----------
    mask : ndarray of bool
        ``(n0, n1)`` mask.
    spacing_0, spacing_1 : float
        Pixel size along the two axes, mm.

    Returns
    -------
    ndarray
        ``(n0, n1)`` float64 distances.
    """
    n0, n1 = mask.shape
    far = 1e20
    column = np.empty((n0, n1))
    for j in range(n1):
        last = -1
        for i in range(n0):
            if not mask[i, j]:
                last = i
                column[i, j] = 0.0
            else:
                column[i, j] = (i - last) * spacing_0 if last >= 0 else far
        last = -1
        for i in range(n0 - 1, -1, -1):
            if not mask[i, j]:
                last = i
            elif last >= 0:
                column[i, j] = min(column[i, j], (last - i) * spacing_0)
    out = np.empty((n0, n1))
    f = np.empty(n1)
    v = np.empty(n1, np.int64)
    z = np.empty(n1 + 1)
    for i in range(n0):
        for q in range(n1):
            f[q] = column[i, q] * column[i, q]
        k = 0
        v[0] = 0
        z[0], z[1] = -np.inf, np.inf
        for q in range(1, n1):
            yq = q * spacing_1
            while True:
                p = v[k]
                yp = p * spacing_1
                cross = ((f[q] + yq * yq) - (f[p] + yp * yp)) / (2.0 * (yq - yp))
                if cross <= z[k] and k > 0:
                    k -= 1
                else:
                    break
            if cross <= z[k]:  # k == 0: the new parabola hides the first one entirely
                v[0] = q
                continue
            k += 1
            v[k] = q
            z[k] = cross
            z[k + 1] = np.inf
        k = 0
        for q in range(n1):
            yq = q * spacing_1
            while z[k + 1] < yq:
                k += 1
            p = v[k]
            d = (q - p) * spacing_1
            out[i, q] = math.sqrt(d * d + f[p])
    return out
