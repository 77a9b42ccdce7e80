"""A random smooth diffeomorphism of the template per subject: brains that differ.

Every subject's anatomy is the template pulled back through ``phi = exp(v)``, the flow of a
stationary velocity field ``v`` drawn on a 4 mm grid in template space (scaling and squaring;
Arsigny et al. 2006, as in SynthSeg-style domain randomisation). ``v`` sums three parts:

- a **shape** part: smooth noise with a 25 mm correlation and about 2 mm amplitude (the head
  longer, wider, the occiput fuller), mirror-symmetric about the midline plus a third as much
  asymmetry, so the interhemispheric plane bends by a millimetre or two, as in healthy brains;
- a **folding** part: noise with a 6 mm correlation and about 1 mm amplitude inside the brain
  (gyri and sulci shift and bend);
- a **ventricle** part: a radial flow around the lateral ventricles with a linear scale of -5 %
  to +8 % at their centre, fading with distance (ventricles widen with age).

The template value at ``phi(y)`` appears at ``y``; a template landmark ``p`` (the sinus's course,
a deep vein, a lesion site) appears at ``phi^-1(p) = exp(-v)(p)``. Both maps are diffeomorphic
(positive Jacobian) because the field is smooth and small; ``tests/test_synth_warp.py`` checks
that ``phi(phi^-1(p)) = p`` and the Jacobian.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from scvbench.steps.synth.kernels import field_at

__all__ = ["Warp", "draw_warp", "identity_warp"]

_SPACING_MM = 4.0
_STEPS = 6  # scaling and squaring: v / 2^6, composed 6 times


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma_mm: float) -> np.ndarray:
    """Three components of smooth noise with unit standard deviation."""
    sigma = sigma_mm / _SPACING_MM
    out = np.stack([ndimage.gaussian_filter(rng.normal(size=shape), sigma) for _ in range(3)])
    return out / max(float(out.std()), 1e-12)


def _exponential(velocity: np.ndarray) -> np.ndarray:
    """Displacement (mm) of ``exp(v)`` on the grid, by scaling and squaring."""
    shape = velocity.shape[1:]
    grid = np.stack(np.meshgrid(*(np.arange(n, dtype=float) for n in shape), indexing="ij"))
    u = velocity / 2**_STEPS
    for _ in range(_STEPS):
        at = (grid + u / _SPACING_MM).reshape(3, -1)
        u = u + field_at(u, at).reshape(u.shape)
    return u


@dataclass
class Warp:
    """Forward and inverse displacements (mm) on a 4 mm grid over the template's box."""

    origin: np.ndarray  # template mm of grid index 0
    forward: np.ndarray  # (3, nx, ny, nz): phi(y) = y + forward(y)
    inverse: np.ndarray  # (3, nx, ny, nz): phi^-1(p) = p + inverse(p)

    @property
    def spacing(self) -> float:
        """The displacement grid's spacing, mm."""
        return _SPACING_MM

    def _index(self, points_mm: np.ndarray) -> np.ndarray:
        return ((np.asarray(points_mm, float) - self.origin) / _SPACING_MM).T

    def apply(self, points_mm: np.ndarray) -> np.ndarray:
        """``phi``: where in the template the subject's point ``y`` samples, ``(n, 3)`` mm."""
        points = np.asarray(points_mm, float)
        return points + field_at(self.forward, self._index(points)).T

    def invert(self, points_mm: np.ndarray) -> np.ndarray:
        """``phi^-1``: where a template landmark lies in the subject, ``(n, 3)`` mm."""
        points = np.asarray(points_mm, float)
        return points + field_at(self.inverse, self._index(points)).T

    def jacobian_determinant(self) -> np.ndarray:
        """det(d phi / d y) on the grid (positive everywhere for a diffeomorphism)."""
        grads = [np.gradient(self.forward[d], _SPACING_MM) for d in range(3)]
        jac = np.empty((*self.forward.shape[1:], 3, 3))
        for r in range(3):
            for c in range(3):
                jac[..., r, c] = grads[r][c] + (1.0 if r == c else 0.0)
        return np.linalg.det(jac)


def _box() -> tuple[np.ndarray, tuple[int, int, int]]:
    # symmetric in x, so that flipping the grid's first axis mirrors x -> -x
    lo, hi = np.array([-100.0, -136.0, -76.0]), np.array([100.0, 100.0, 116.0])
    return lo, tuple(int(n) for n in np.ceil((hi - lo) / _SPACING_MM) + 1)


def identity_warp() -> Warp:
    """The warp that changes nothing.

    Returns
    -------
    Warp
        Zero displacements.
    """
    origin, shape = _box()
    zero = np.zeros((3, *shape))
    return Warp(origin, zero, zero.copy())


def draw_warp(
    rng: np.random.Generator,
    ventricle_centre_mm=(0.0, -10.0, 15.0),
    shape_mm: float = 2.0,
    folding_mm: float = 1.0,
) -> Warp:
    """Draw one subject's warp.

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's random stream.
    ventricle_centre_mm : sequence of float
        Template mm around which the ventricle part acts.
    shape_mm, folding_mm : float
        Standard deviations of the shape and folding displacements.

    Returns
    -------
    Warp
        Forward and inverse maps.
    """
    origin, shape = _box()
    axes = [origin[d] + _SPACING_MM * np.arange(shape[d]) for d in range(3)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    # The shape change is mostly mirror-symmetric (the midline stays a plane, as in healthy
    # brains) with a smaller asymmetric part (petalia: one frontal or occipital pole fuller).
    field = _smooth_field(rng, shape, 25.0)
    mirrored = field[:, ::-1] * np.array([-1.0, 1.0, 1.0])[:, None, None, None]
    velocity = shape_mm * (0.5 * (field + mirrored) + 0.3 * _smooth_field(rng, shape, 25.0))
    brain = np.exp(-(((x / 70) ** 2 + ((y + 18) / 95) ** 2 + ((z - 15) / 75) ** 2) ** 4))
    velocity += folding_mm * _smooth_field(rng, shape, 6.0) * brain
    # Ventricles: a radial flow out of (growth) or into (shrinkage) their centre, fading with
    # distance; a linear scale factor s changes their volume by about (1 + s)^3.
    growth = float(rng.uniform(-0.05, 0.08))
    c = np.asarray(ventricle_centre_mm, float)
    offsets = np.stack([x - c[0], y - c[1], z - c[2]])
    falloff = np.exp(-np.sum((offsets / np.array([22.0, 35.0, 18.0])[:, None, None, None]) ** 2, 0))
    velocity -= growth * offsets * falloff  # the template is sampled nearer the centre: grows
    return Warp(origin, _exponential(velocity), _exponential(-velocity))
