"""Compiled (numba) kernels of image formation: the per-voxel loops of drawing and SWI physics.

- :func:`sweep_tube`: a tube drawn as the union of spheres along a densely sampled centre line,
  with partial-volume occupancy and labels, visiting only the voxels near each centre point
  (replaces a k-d tree query of every voxel of a bounding box).
- :func:`vessel_contrast`, :func:`phase_terms`, :func:`assemble_signal`, :func:`complex_planes`:
  the SWI's complex signal from tissue, veins, field, bias and noise in a few passes (the
  phase's sine and cosine left to numpy's vectorised functions).
- :func:`apply_dipole`: the dipole kernel applied to a susceptibility spectrum in place.
- :func:`phase_mask_swi`: the homodyne phase (numpy's vectorised ``arctan2``), the negative-phase
  mask and the SWI magnitude, back in slices-last order.

Each kernel is compiled once per machine (``cache=True``) and is deterministic.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = [
    "apply_dipole",
    "assemble_signal",
    "complex_planes",
    "phase_mask_swi",
    "phase_terms",
    "sweep_tube",
    "vessel_contrast",
]


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


@numba.njit(cache=True)
def vessel_contrast(tissue, chi, scv, other, loss, vein_chi):
    """Magnitude ``tissue * (1 - loss * v)`` and susceptibility ``chi + vein_chi * v`` with veins.

    ``v`` is the larger of the two vessel occupancies (superficial and other veins).

    Parameters
    ----------
    tissue, chi, scv, other : ndarray
        float32 volumes of one shape.
    loss, vein_chi : float
        Intravascular signal lost and the veins' susceptibility (ppm).

    Returns
    -------
    tuple of ndarray
        Magnitude and susceptibility, float32.
    """
    magnitude = np.empty(tissue.shape, np.float32)
    total = np.empty(tissue.shape, np.float32)
    a, b, c, d = tissue.ravel(), chi.ravel(), scv.ravel(), other.ravel()
    m, t = magnitude.ravel(), total.ravel()
    fl, fc = np.float32(loss), np.float32(vein_chi)
    for n in range(a.size):
        v = max(c[n], d[n])
        m[n] = a[n] * (np.float32(1.0) - fl * v)
        t[n] = b[n] + fc * v
    return magnitude, total


@numba.njit(cache=True, inline="always")
def _abs_sinc(u):
    """``|sin(u) / u|``: its Taylor series below 0.01 (error under 1e-14), the sine above."""
    if abs(u) < np.float32(0.01):
        u2 = u * u
        return np.float32(1.0) - u2 * np.float32(1.0 / 6.0) + u2 * u2 * np.float32(1.0 / 120.0)
    return np.float32(abs(math.sin(u) / u))


@numba.njit(cache=True)
def phase_terms(field, rad_per_ppm, bx, by, bz, cyc_per_ppm):
    """The signal's phase and its intravoxel dephasing.

    ``theta = rad_per_ppm * field + bx[i] + by[j] + bz[k]``; the dephasing is the product over
    the axes of ``|sinc(cyc_per_ppm * g_a)|`` (``sin(pi x) / (pi x)``) with ``g_a`` the field's
    difference along axis ``a`` (central, one-sided at the edges, as :func:`numpy.gradient`).

    Parameters
    ----------
    field : ndarray
        float32 field perturbation, ppm.
    rad_per_ppm, cyc_per_ppm : float
        Phase (radians) and dephasing (cycles) per ppm.
    bx, by, bz : ndarray
        float32 background phase per axis.

    Returns
    -------
    theta : ndarray
        float32 phase.
    dephasing : ndarray
        float32 factor (0-1) on the magnitude.
    """
    nx, ny, nz = field.shape
    theta = np.empty((nx, ny, nz), np.float32)
    loss = np.empty((nx, ny, nz), np.float32)
    rad = np.float32(rad_per_ppm)
    scale = np.float32(math.pi * cyc_per_ppm)
    for i in range(nx):
        il, ih = max(i - 1, 0), min(i + 1, nx - 1)
        si = scale / np.float32(max(ih - il, 1))
        for j in range(ny):
            jl, jh = max(j - 1, 0), min(j + 1, ny - 1)
            sj = scale / np.float32(max(jh - jl, 1))
            for k in range(nz):
                kl, kh = max(k - 1, 0), min(k + 1, nz - 1)
                sk = scale / np.float32(max(kh - kl, 1))
                theta[i, j, k] = rad * field[i, j, k] + bx[i] + by[j] + bz[k]
                u0 = si * (field[ih, j, k] - field[il, j, k])
                u1 = sj * (field[i, jh, k] - field[i, jl, k])
                u2 = sk * (field[i, j, kh] - field[i, j, kl])
                loss[i, j, k] = _abs_sinc(u0) * _abs_sinc(u1) * _abs_sinc(u2)
    return theta, loss


@numba.njit(cache=True)
def assemble_signal(magnitude, bias, dephasing, cos_t, sin_t, noise, sigma):
    """Real and imaginary parts and modulus of the complex signal.

    ``amplitude = magnitude * bias * dephasing``; ``re = amplitude * cos(theta) +
    sigma * noise[0]``, ``im = amplitude * sin(theta) + sigma * noise[1]``.

    Parameters
    ----------
    magnitude, bias, dephasing, cos_t, sin_t : ndarray
        float32 volumes of one shape.
    noise : ndarray
        ``(2, ...)`` float32 standard normal noise.
    sigma : float
        Noise level.

    Returns
    -------
    tuple of ndarray
        ``re``, ``im`` and ``|re + i im|``, float32.
    """
    shape = magnitude.shape
    re = np.empty(shape, np.float32)
    im = np.empty(shape, np.float32)
    modulus = np.empty(shape, np.float32)
    mag, bf, dp = magnitude.ravel(), bias.ravel(), dephasing.ravel()
    ct, st = cos_t.ravel(), sin_t.ravel()
    n0, n1 = noise[0].ravel(), noise[1].ravel()
    r, m, q = re.ravel(), im.ravel(), modulus.ravel()
    sd = np.float32(sigma)
    for n in range(mag.size):
        amplitude = mag[n] * bf[n] * dp[n]
        a = amplitude * ct[n] + sd * n0[n]
        b = amplitude * st[n] + sd * n1[n]
        r[n], m[n] = a, b
        q[n] = np.sqrt(a * a + b * b)
    return re, im, modulus


@numba.njit(cache=True)
def complex_planes(re, im):
    """``re + i im`` slices first: ``out[k, j, i] = re[i, j, k] + i im[i, j, k]`` (complex64).

    Parameters
    ----------
    re, im : ndarray
        ``(nx, ny, nz)`` float32.

    Returns
    -------
    ndarray
        ``(nz, ny, nx)`` complex64, each slice contiguous.
    """
    nx, ny, nz = re.shape
    out = np.empty((nz, ny, nx), np.complex64)
    block = 32
    for i0 in range(0, nx, block):
        for j0 in range(0, ny, block):
            for i in range(i0, min(i0 + block, nx)):
                for j in range(j0, min(j0 + block, ny)):
                    for k in range(nz):
                        out[k, j, i] = complex(re[i, j, k], im[i, j, k])
    return out


@numba.njit(cache=True)
def apply_dipole(spectrum, kx, ky, kz, b):
    """Multiply a half spectrum (``rfftn``) in place by the dipole kernel ``1/3 - (k.b)^2/|k|^2``.

    The kernel is 0 at ``k = 0`` (the field's mean is unknown).

    Parameters
    ----------
    spectrum : ndarray
        ``(nx, ny, nz // 2 + 1)`` complex64 spectrum, changed in place.
    kx, ky, kz : ndarray
        float32 spatial frequencies of the three axes.
    b : ndarray
        Unit vector of B0 in the grid's axes.

    Returns
    -------
    None
        ``spectrum`` holds the field's spectrum.
    """
    third = np.float32(1.0 / 3.0)
    b0, b1, b2 = np.float32(b[0]), np.float32(b[1]), np.float32(b[2])
    for i in range(spectrum.shape[0]):
        for j in range(spectrum.shape[1]):
            for k in range(spectrum.shape[2]):
                k2 = kx[i] * kx[i] + ky[j] * ky[j] + kz[k] * kz[k]
                if k2 == 0:
                    spectrum[i, j, k] = 0
                    continue
                kb = kx[i] * b0 + ky[j] * b1 + kz[k] * b2
                spectrum[i, j, k] *= third - kb * kb / k2
