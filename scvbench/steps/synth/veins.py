"""Vein centre lines in the slab's ``grid_mm`` frame.

The vessel record (:class:`Vein`, with its tributaries), the placement context of a subject,
the irregular curves superficial veins are made of (:func:`smooth_noise`,
:func:`stochastic_curve`; trees are assembled in :mod:`scvbench.steps.synth.trees`), and the
distractors: deep medullary veins running from the lateral ventricles through the white matter
and subependymal veins along the ventricle walls, which belong to no SCV label.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from scvbench.steps.synth.path_kernels import (
    course_gain,
    course_tortuosity,
    distance_map,
    mix_noise,
)

__all__ = [
    "PlacementContext",
    "Tributary",
    "Vein",
    "curvature",
    "deep_medullary_veins",
    "smooth_noise",
    "stochastic_curve",
    "subependymal_veins",
]


@dataclass
class Tributary:
    """A branch of a vein tree: centre line from its tip to the junction, radius per point."""

    points: np.ndarray
    radii: np.ndarray
    joins_at: int  # index of the junction on the parent's points


@dataclass
class Vein:
    """One vessel: centre line in ``grid_mm`` (n, 3), radius in mm and bookkeeping."""

    kind: str  # "scv", "dmv" or "sss"
    hemisphere: str  # "left", "right" or "midline"
    points: np.ndarray
    radius: float
    design_tortuosity: float = float("nan")
    label: int = 0
    group: str = ""  # "analysis" for SCVs placed for the main annotated slice
    radii: np.ndarray | None = None  # per point of ``points`` (tapering), or None: ``radius``
    tributaries: list = field(default_factory=list)  # Tributary, joining this vein
    drains_to: str = ""  # the sinus a superficial vein drains into
    target_tortuosity: float = float("nan")  # what the truth should measure
    target_diameter: float = float("nan")

    def profile(self) -> np.ndarray:
        """Radius at every point of ``points`` (mm)."""
        if self.radii is None:
            return np.full(len(self.points), self.radius)
        return self.radii

    @property
    def z_range(self) -> tuple[float, float]:
        """Extent along the slice axis, mm."""
        return float(self.points[:, 2].min()), float(self.points[:, 2].max())


def smooth_noise(rng: np.random.Generator, n: int, correlation: float) -> np.ndarray:
    """Smooth Gaussian noise pinned to 0 at both ends, standard deviation 1.

    Two scales are mixed (``correlation`` and a third of it, the finer one at a random weight), so
    that a vein swings widely and also wiggles, irregularly and without a period.

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's random stream.
    n : int
        Samples.
    correlation : float
        Correlation length of the coarse scale as a fraction of the whole (0-1).

    Returns
    -------
    ndarray
        ``n`` values, 0 at both ends.
    """
    weight = rng.uniform(0.1, 0.35)
    white, widths = [], []
    for scale in (correlation, correlation / 3.0):
        sigma = max(scale * n / 2.5, 1.0)
        reach = int(4.0 * sigma + 0.5)
        # white noise long enough that every kept sample sees the whole kernel
        white.append(rng.normal(size=n + 2 * reach))
        widths.append((sigma, reach))
    return mix_noise(white[0], *widths[0], white[1], *widths[1], weight)


def stochastic_curve(
    tortuosity: float, noise: np.ndarray, max_offset: float = np.inf
) -> np.ndarray | None:
    """A planar curve from ``(0, 0)`` to ``(1, 0)`` whose length is ``tortuosity``.

    The curve's distance from its chord is ``a * noise`` (:func:`smooth_noise`, a smooth Gaussian
    process pinned at both ends): its curvature varies irregularly, as a vein bends around sulci
    and other vessels, with no period. The gain ``a`` is solved by bisection for the length.
    Scale the result by the chord length.

    Parameters
    ----------
    tortuosity : float
        Length over chord (1 or more).
    noise : ndarray
        The offset process, one value per point.
    max_offset : float
        Largest allowed distance from the chord, as a fraction of it.

    Returns
    -------
    ndarray or None
        ``(len(noise), 2)`` points, or None when the length needs a swing wider than
        ``max_offset`` (then a process with a shorter correlation, more bends, is needed).
    """
    target = max(float(tortuosity), 1.0)
    x = np.linspace(0.0, 1.0, len(noise))
    peak = float(np.abs(noise).max())
    hi = max_offset / peak if np.isfinite(max_offset) else 10.0
    base = np.column_stack([x, np.zeros_like(x)])
    normal = np.column_stack([np.zeros_like(x), np.ones_like(x)])
    noise = np.asarray(noise, float)
    if course_tortuosity(base, normal, noise, hi) < target:
        return None
    gain = course_gain(base, normal, noise, target, hi, 50)
    return np.column_stack([x, gain * noise])


def curvature(points: np.ndarray) -> np.ndarray:
    """Signed curvature (1/mm) along a planar polyline sampled at equal steps.

    Parameters
    ----------
    points : ndarray
        ``(n, 2)`` points (or ``(n, 3)``; the third column is ignored).

    Returns
    -------
    ndarray
        ``n - 2`` curvature values.
    """
    xy = np.asarray(points, float)[:, :2]
    d = np.diff(xy, axis=0)
    heading = np.unwrap(np.arctan2(d[:, 1], d[:, 0]))
    step = np.linalg.norm(d, axis=1)
    return np.diff(heading) / (0.5 * (step[1:] + step[:-1]))


@dataclass
class PlacementContext:
    """What placement needs to know about one subject's anatomy on the slab grid."""

    brain: np.ndarray  # bool (i, j, k)
    hemi: np.ndarray  # int8 (i, j, k): 1 left, 2 right, 0 outside
    ventricles: np.ndarray  # bool (i, j, k)
    spacing: tuple[float, float, float]
    _depth: dict = field(default_factory=dict)
    _midline: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # per-slice maps other modules derive once

    def memo(self, key: tuple, make):
        """``make()`` computed once per ``key`` for this subject."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]

    def _box(self, k: int) -> tuple[slice, slice] | None:
        """The brain's bounding box on slice ``k`` with a one-pixel margin (None: no brain)."""
        return self.memo(("box", k), lambda: _padded_box(self.brain[:, :, k]))

    def depth(self, k: int) -> np.ndarray:
        """Distance (mm) from each in-brain pixel of slice ``k`` to the brain surface.

        Computed on the brain's box with a one-pixel margin: the margin is all background, so
        the nearest background pixel of every brain pixel lies in the box (exact).
        """
        if k not in self._depth:
            out = np.zeros(self.brain.shape[:2])
            box = self._box(k)
            if box is not None:
                out[box] = distance_map(self.brain[(*box, k)], *self.spacing[:2])
            self._depth[k] = out
        return self._depth[k]

    def to_other_hemisphere(self, k: int, code: int) -> np.ndarray:
        """Distance (mm) from each pixel of slice ``k`` to the other hemisphere.

        Exact inside the brain's box (one-pixel margin), which holds every hemisphere pixel;
        outside it (no hemisphere there) the distance is infinite.
        """
        key = (k, code)
        if key not in self._midline:
            out = np.full(self.brain.shape[:2], np.inf)
            box = self._box(k)
            if box is not None:
                other = self.hemi[(*box, k)] == (3 - code)
                if other.any():
                    out[box] = distance_map(~other, *self.spacing[:2])
            self._midline[key] = out
        return self._midline[key]

    def slice_of(self, z_mm: float) -> int:
        """Nearest slice index of a ``grid_mm`` height."""
        return int(np.clip(round(z_mm / self.spacing[2]), 0, self.brain.shape[2] - 1))

    def pixel(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest pixel indices of ``grid_mm`` in-plane points (clipped to the grid)."""
        i = np.clip(np.rint(xy[:, 0] / self.spacing[0]).astype(int), 0, self.brain.shape[0] - 1)
        j = np.clip(np.rint(xy[:, 1] / self.spacing[1]).astype(int), 0, self.brain.shape[1] - 1)
        return i, j


def _padded_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    """Bounding box of a 2-D mask grown by one pixel on every side (clipped), or None."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if len(rows) == 0:
        return None
    return (
        slice(max(rows[0] - 1, 0), min(rows[-1] + 2, mask.shape[0])),
        slice(max(cols[0] - 1, 0), min(cols[-1] + 2, mask.shape[1])),
    )


def deep_medullary_veins(
    ctx: PlacementContext,
    code: int,
    slices: np.ndarray,
    count: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Thin radial veins from the ventricle wall into the deep white matter of one hemisphere.

    Each runs outwards, away from the ventricle, with a gentle arc and wiggle, and stops at least
    12 mm under the brain surface (so it never meets a superficial vein).

    Parameters
    ----------
    ctx : PlacementContext
        Brain depth and hemispheres.
    code : int
        The hemisphere.
    slices : ndarray of int
        Slices where they may lie.
    count : int
        How many.
    rng : numpy.random.Generator
        The subject's random stream.

    Returns
    -------
    list of ndarray
        Centre lines (n, 3) in mm.
    """
    lines = []
    for _ in range(count * 10):
        if len(lines) >= count or len(slices) == 0:
            break
        k = int(rng.choice(slices))
        vent, wall, centroid, midline_centre = ctx.memo(
            ("wall", k, code), lambda k=k: _wall(ctx, k, code)
        )
        if len(wall) < 5:
            continue
        start = wall[rng.integers(len(wall))] * np.asarray(ctx.spacing[:2])
        direction = start - centroid
        if np.linalg.norm(direction) < 1e-6:
            continue
        direction /= np.linalg.norm(direction)
        # Medullary veins fan out laterally; skip wall points facing the midline.
        lateral = centroid - midline_centre
        if np.dot(direction, lateral / max(np.linalg.norm(lateral), 1e-6)) < 0.3:
            continue
        angle = np.deg2rad(rng.uniform(-35, 35))
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        direction = rot @ direction
        depth = ctx.depth(k)
        steps = np.arange(1.0, 36.0, 0.5)
        xy = start + np.outer(steps, direction)
        i, j = ctx.pixel(xy)
        ok = (depth[i, j] >= 12.0) & (ctx.hemi[i, j, k] == code) & ~vent[i, j]
        if not ok[0]:
            continue
        stop = np.argmin(ok) if not ok.all() else len(ok)
        if stop < 10:
            continue
        xy = xy[:stop]
        run = steps[:stop] - steps[0]
        # a gentle arc and a slight irregular wiggle, as they course through the white matter
        bend = rng.uniform(-0.1, 0.1) * run**2 / max(run[-1], 1)
        wiggle = 0.35 * smooth_noise(rng, len(run), 0.3)
        xy = xy + np.outer(bend + wiggle, [-direction[1], direction[0]])
        z = k * ctx.spacing[2] + rng.uniform(-0.4, 0.4) + rng.uniform(-0.15, 0.15) * run
        lines.append(np.column_stack([xy, z]))
    return lines


def _wall(ctx: PlacementContext, k: int, code: int):
    """A ventricle's mask, wall pixels, centroid (mm) and both ventricles' centroid (mm).

    Found on the brain's box and the wall on the ventricle's box, each with a one-pixel margin
    outside the mask (the same pixels as on the whole slice).
    """
    spacing = np.asarray(ctx.spacing[:2])
    vent = np.zeros(ctx.brain.shape[:2], bool)
    none = vent, np.zeros((0, 2), int), None, None
    brain_box = ctx._box(k)  # the ventricles lie in the brain
    if brain_box is None:
        return none
    region = (*brain_box, k)
    inside = ctx.ventricles[region] & (ctx.hemi[region] == code)
    vent[brain_box] = inside
    box = _padded_box(inside)
    if box is None or inside[box].sum() < 5:
        return none
    start = np.array([brain_box[0].start, brain_box[1].start])
    sub, offset = inside[box], start + np.array([box[0].start, box[1].start])
    wall = np.argwhere(sub & ~ndimage.binary_erosion(sub)) + offset
    centroid = (np.argwhere(sub) + offset).mean(0) * spacing
    midline_centre = (np.argwhere(ctx.ventricles[region]) + start).mean(0) * spacing
    return vent, wall, centroid, midline_centre


def subependymal_veins(
    ctx: PlacementContext, code: int, slices: np.ndarray, count: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Veins along the lateral wall of one lateral ventricle, where medullary veins end.

    Each follows the wall 1-2 mm outside it over 40-80 degrees of the ventricle's outline.

    Parameters
    ----------
    ctx : PlacementContext
        Brain, hemispheres and ventricles.
    code : int
        The hemisphere.
    slices : ndarray of int
        Slices where they may lie.
    count : int
        How many.
    rng : numpy.random.Generator
        The subject's random stream.

    Returns
    -------
    list of ndarray
        Centre lines (n, 3) in mm.
    """
    spacing = np.asarray(ctx.spacing[:2])
    lines = []
    for _ in range(count * 10):
        if len(lines) >= count or len(slices) == 0:
            break
        k = int(rng.choice(slices))
        vent, wall, centroid, _ = ctx.memo(("wall", k, code), lambda k=k: _wall(ctx, k, code))
        if len(wall) == 0 or vent.sum() < 20:
            continue
        wall = wall * spacing
        radial = wall - centroid
        angle = np.arctan2(radial[:, 1], radial[:, 0])
        middle, half = rng.uniform(-np.pi, np.pi), np.deg2rad(rng.uniform(20, 40))
        sel = np.abs(np.angle(np.exp(1j * (angle - middle)))) < half
        if sel.sum() < 6:
            continue
        order = np.argsort(np.angle(np.exp(1j * (angle[sel] - middle))))
        points = wall[sel][order]
        outward = radial[sel][order]
        outward /= np.maximum(np.linalg.norm(outward, axis=1, keepdims=True), 1e-6)
        points = points + outward * rng.uniform(1.0, 2.0)
        points = ndimage.gaussian_filter1d(points, 2.0, axis=0, mode="nearest")
        i, j = ctx.pixel(points)
        if not np.all(ctx.hemi[i, j, k] == code) or np.any(vent[i, j]):
            continue
        z = np.full(len(points), k * ctx.spacing[2] + rng.uniform(-0.4, 0.4))
        lines.append(np.column_stack([points, z]))
    return lines
