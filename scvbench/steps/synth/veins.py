"""Vein centre lines in the slab's ``grid_mm`` frame.

Superficial cerebral veins are drawn as sinuous curves lying in the cortex band of one
hemisphere, nearly parallel to the axial plane, with a prescribed tortuosity (arc length over
chord of the in-plane curve) and diameter. Deep medullary veins run radially from the lateral
ventricles through the white matter; they are thin distractors that belong to no SCV label.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

__all__ = [
    "PlacementContext",
    "Vein",
    "deep_medullary_veins",
    "place_superficial_vein",
    "sinuous_curve",
]


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

    @property
    def z_range(self) -> tuple[float, float]:
        """Extent along the slice axis, mm."""
        return float(self.points[:, 2].min()), float(self.points[:, 2].max())


def _profile(amplitude: float, m: int, b: float, u: np.ndarray) -> np.ndarray:
    return amplitude * (np.sin(np.pi * m * u) + b * np.sin(np.pi * (m + 1) * u))


def _unit_curve(m: int, b: float, tortuosity: float, u: np.ndarray) -> np.ndarray:
    du = np.diff(u)
    lo, hi = 0.0, 2.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if np.sum(np.hypot(du, np.diff(_profile(mid, m, b, u)))) < tortuosity:
            lo = mid
        else:
            hi = mid
    return _profile(0.5 * (lo + hi), m, b, u)


def sinuous_curve(
    tortuosity: float, rng: np.random.Generator, max_amplitude: float = 0.12, n: int = 240
) -> np.ndarray:
    """A planar curve from ``(0, 0)`` to ``(1, 0)`` whose length is ``tortuosity``.

    The offset is ``A * (sin(pi m u) + b sin(pi (m + 1) u))`` for ``u`` in [0, 1] with a random
    second harmonic ``b``; ``A`` is solved by bisection. Veins bend in wide arcs when they can, so
    ``m`` (half waves) starts at 1 or 2 and grows until the offset stays within
    ``max_amplitude`` (a fraction of the chord): a tortuous vein in a thin cortex band meanders.
    Scale the result by the chord length.

    Parameters
    ----------
    tortuosity : float
        Length over chord (1 or more).
    rng : numpy.random.Generator
        The subject's random stream.
    max_amplitude : float
        Largest lateral swing, as a fraction of the chord.
    n : int
        Points of the curve.

    Returns
    -------
    ndarray
        (n, 2) points.
    """
    target = max(float(tortuosity), 1.0)
    b = float(rng.uniform(-0.3, 0.3))
    u = np.linspace(0.0, 1.0, n)
    m = int(rng.integers(1, 3))
    v = _unit_curve(m, b, target, u)
    while m < 8 and np.abs(v).max() > max_amplitude:
        m += 1
        v = _unit_curve(m, b, target, u)
    sign = 1.0 if rng.uniform() < 0.5 else -1.0
    return np.stack([u, sign * v], axis=1)


@dataclass
class PlacementContext:
    """What placement needs to know about one subject's anatomy on the slab grid."""

    brain: np.ndarray  # bool (i, j, k)
    hemi: np.ndarray  # int8 (i, j, k): 1 left, 2 right, 0 outside
    ventricles: np.ndarray  # bool (i, j, k)
    spacing: tuple[float, float, float]
    _depth: dict = field(default_factory=dict)
    _midline: dict = field(default_factory=dict)

    def depth(self, k: int) -> np.ndarray:
        """Distance (mm) from each in-brain pixel of slice ``k`` to the brain surface."""
        if k not in self._depth:
            self._depth[k] = ndimage.distance_transform_edt(
                self.brain[:, :, k], sampling=self.spacing[:2]
            )
        return self._depth[k]

    def to_other_hemisphere(self, k: int, code: int) -> np.ndarray:
        """Distance (mm) from each pixel of slice ``k`` to the other hemisphere."""
        key = (k, code)
        if key not in self._midline:
            other = self.hemi[:, :, k] == (3 - code)
            self._midline[key] = ndimage.distance_transform_edt(~other, sampling=self.spacing[:2])
        return self._midline[key]

    def slice_of(self, z_mm: float) -> int:
        """Nearest slice index of a ``grid_mm`` height."""
        return int(np.clip(round(z_mm / self.spacing[2]), 0, self.brain.shape[2] - 1))

    def pixel(self, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest pixel indices of ``grid_mm`` in-plane points (clipped to the grid)."""
        i = np.clip(np.rint(xy[:, 0] / self.spacing[0]).astype(int), 0, self.brain.shape[0] - 1)
        j = np.clip(np.rint(xy[:, 1] / self.spacing[1]).astype(int), 0, self.brain.shape[1] - 1)
        return i, j


def place_superficial_vein(
    ctx: PlacementContext,
    code: int,
    z_level: float,
    z_half_range: float,
    tortuosity: float,
    radius: float,
    others: list[Vein],
    rng: np.random.Generator,
    depth_range: tuple[float, float] = (1.0, 13.0),
    attempts: int = 120,
    crowding: int = 5,
) -> np.ndarray | None:
    """Find a place for one superficial vein in hemisphere ``code`` (1 left, 2 right).

    The curve lies within ``z_half_range`` mm of ``z_level`` (slab mm), inside the cortex band
    (``depth_range`` mm under the brain surface), at least 8 mm from the other hemisphere, and at
    least 2 mm (edge to edge) from every vein in ``others`` whose height range is within 22 mm.
    ``crowding`` (the number of veins this hemisphere's slab must hold) shortens the chords so that
    they fit along the cortex; after 40 failed attempts the vein may also turn up to 60 degrees
    away from the surface's tangent. Returns the centre line in ``grid_mm`` or ``None`` when no
    place was found.

    Parameters
    ----------
    ctx : PlacementContext
        Brain depth and hemispheres.
    code : int
        The hemisphere.
    z_level, z_half_range : float
        Where along the slice axis, in mm.
    tortuosity, radius : float
        The vein's design.
    others : list of Vein
        Veins already placed (not crossed).
    rng : numpy.random.Generator
        The subject's random stream.
    depth_range : tuple of float
        Depth below the brain surface in mm.
    attempts : int
        Tries before giving up.
    crowding : int
        The number of veins this hemisphere's slab must hold (shortens the chords).

    Returns
    -------
    ndarray or None
        The centre line (n, 3) in mm, or None when no place was found.
    """
    k = ctx.slice_of(z_level)
    depth = ctx.depth(k)
    midline = ctx.to_other_hemisphere(k, code)
    hemi = ctx.hemi[:, :, k] == code
    anchors = np.argwhere(
        hemi & (depth >= depth_range[0] + 2.5) & (depth <= depth_range[0] + 6.5) & (midline >= 14.0)
    )
    if len(anchors) == 0:
        return None
    gx, gy = np.gradient(ndimage.gaussian_filter(depth, 2.0), *ctx.spacing[:2])
    nearby = [v for v in others if abs(np.mean(v.z_range) - z_level) < 22.0]
    trees = [(cKDTree(v.points[:, :2]), v.radius) for v in nearby]
    for attempt in range(attempts):
        shrink = 0.85 ** (attempt // 30)
        a = anchors[rng.integers(len(anchors))]
        normal = np.array([gx[a[0], a[1]], gy[a[0], a[1]]])
        if np.linalg.norm(normal) < 1e-6:
            continue
        normal /= np.linalg.norm(normal)
        tangent = np.array([-normal[1], normal[0]])
        spread = 25.0 if attempt < 40 else 60.0
        angle = np.deg2rad(rng.uniform(-spread, spread))
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        direction = rot @ tangent
        side = np.array([-direction[1], direction[0]])
        longest = float(np.clip(170.0 / max(crowding, 1), 16.0, 36.0))
        chord = rng.uniform(12.0, longest) * shrink
        # Keep the meander within about 3.5 mm of the chord: the cortex band is thin.
        local = sinuous_curve(tortuosity, rng, max_amplitude=3.5 / chord) * chord
        centre = a * np.asarray(ctx.spacing[:2])
        xy = centre + np.outer(local[:, 0] - chord / 2, direction) + np.outer(local[:, 1], side)
        slope = rng.uniform(-0.06, 0.06)
        offset = rng.uniform(-1.0, 1.0) * max(z_half_range - abs(slope) * chord / 2 - radius, 0)
        z = z_level + offset + slope * (local[:, 0] - chord / 2)
        if np.any(np.abs(z - z_level) > z_half_range - radius):
            continue
        i, j = ctx.pixel(xy)
        ks = np.clip(np.rint(z / ctx.spacing[2]).astype(int), 0, ctx.brain.shape[2] - 1)
        if not np.all(ctx.hemi[i, j, ks] == code):
            continue
        d = np.empty(len(ks))
        for kk in np.unique(ks):
            sel = ks == kk
            d[sel] = ctx.depth(int(kk))[i[sel], j[sel]]
        if np.any(d < depth_range[0] + radius) or np.any(d > depth_range[1]):
            continue
        if np.any(midline[i, j] < 8.0):
            continue
        clash = False
        for tree, r_other in trees:
            dist, _ = tree.query(xy)
            if np.any(dist < radius + r_other + 2.0):
                clash = True
                break
        if clash:
            continue
        return np.column_stack([xy, z])
    return None


def deep_medullary_veins(
    ctx: PlacementContext,
    code: int,
    slices: np.ndarray,
    count: int,
    rng: np.random.Generator,
) -> list[np.ndarray]:
    """Thin radial veins from the ventricle wall into the deep white matter of one hemisphere.

    Each runs outwards, away from the ventricle, and stops at least 14 mm under the brain surface
    (so it never meets a superficial vein).

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
    for _ in range(count * 4):
        if len(lines) >= count or len(slices) == 0:
            break
        k = int(rng.choice(slices))
        vent = ctx.ventricles[:, :, k] & (ctx.hemi[:, :, k] == code)
        if vent.sum() < 5:
            continue
        wall = np.argwhere(vent & ~ndimage.binary_erosion(vent))
        start = wall[rng.integers(len(wall))] * np.asarray(ctx.spacing[:2])
        centroid = np.argwhere(vent).mean(0) * np.asarray(ctx.spacing[:2])
        both = ctx.ventricles[:, :, k]
        midline_centre = np.argwhere(both).mean(0) * np.asarray(ctx.spacing[:2])
        direction = start - centroid
        if np.linalg.norm(direction) < 1e-6:
            continue
        direction /= np.linalg.norm(direction)
        # Medullary veins fan out laterally; skip wall points facing the midline.
        lateral = centroid - midline_centre
        if np.dot(direction, lateral / max(np.linalg.norm(lateral), 1e-6)) < 0.3:
            continue
        angle = np.deg2rad(rng.uniform(-20, 20))
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        direction = rot @ direction
        depth = ctx.depth(k)
        steps = np.arange(2.0, 30.0, 0.5)
        xy = start + np.outer(steps, direction)
        i, j = ctx.pixel(xy)
        ok = depth[i, j] >= 14.0
        if not ok[0]:
            continue
        stop = np.argmin(ok) if not ok.all() else len(ok)
        if stop < 12:
            continue
        xy = xy[:stop]
        bend = rng.uniform(-0.08, 0.08) * (steps[:stop] - steps[0]) ** 2 / max(steps[stop - 1], 1)
        xy = xy + np.outer(bend, [-direction[1], direction[0]])
        z = np.full(len(xy), k * ctx.spacing[2]) + rng.uniform(-0.4, 0.4)
        lines.append(np.column_stack([xy, z]))
    return lines
