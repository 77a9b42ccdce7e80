"""Superficial veins on the cortex: where they may lie, their course, the sinus they drain to."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from scvbench.steps.synth.path_kernels import course_gain, course_tortuosity, walk_surface
from scvbench.steps.synth.veins import PlacementContext

__all__ = ["SINUSES", "Course", "drainage", "fits", "surface_maps", "surface_path"]

#: The sinuses superficial veins drain into, by the region of the hemisphere they lie in.
SINUSES = {
    "superior": "superior sagittal sinus",
    "middle": "sylvian fissure (superficial middle cerebral vein)",
    "inferior": "transverse sinus",
}


def _extent(ctx: PlacementContext, k: int, code: int) -> tuple[float, ...] | None:
    """Front and back (2nd and 98th percentile), midline and lateral edge of slice ``k``, mm."""
    spacing = np.asarray(ctx.spacing[:2])
    hemi = np.argwhere(ctx.hemi[:, :, k] == code) * spacing
    both = np.argwhere(ctx.hemi[:, :, k] > 0) * spacing
    if len(hemi) == 0 or len(both) == 0:
        return None
    y_lo, y_hi = np.percentile(both[:, 1], [2, 98])
    midline_x = float(np.median(both[:, 0]))
    lateral_x = float(hemi[np.argmax(np.abs(hemi[:, 0] - midline_x)), 0])
    return float(y_lo), float(y_hi), midline_x, lateral_x


def drainage(ctx: PlacementContext, code: int, k: int, xy: np.ndarray) -> tuple[str, np.ndarray]:
    """The sinus a vein at ``xy`` (slice ``k``, hemisphere ``code``) drains toward, and where.

    The hemisphere's in-plane extent is split along the anterior-posterior axis (the grid's
    second axis, increasing posteriorly): the posterior quarter drains backwards to the
    transverse sinus, the lateral middle third into the sylvian fissure, the rest medially to the
    superior sagittal sinus (the midline at the vein's level).

    Parameters
    ----------
    ctx : PlacementContext
        Brain and hemispheres.
    code : int
        Hemisphere (1 left, 2 right).
    k : int
        Slice.
    xy : ndarray
        The vein's centre, in-plane ``grid_mm``.

    Returns
    -------
    tuple
        The region's key in :data:`SINUSES` and the in-plane point the vein drains toward.
    """
    extent = ctx.memo(("extent", k, code), lambda: _extent(ctx, k, code))
    if extent is None:
        return "superior", xy.copy()
    y_lo, y_hi, midline_x, lateral_x = extent
    frac = (xy[1] - y_lo) / max(y_hi - y_lo, 1e-6)
    lateral = abs(xy[0] - midline_x) / max(abs(lateral_x - midline_x), 1e-6)
    if frac > 0.75:
        return "inferior", np.array([lateral_x, y_hi])
    if 0.3 <= frac <= 0.7 and lateral > 0.55:
        return "middle", np.array([lateral_x, 0.5 * (y_lo + y_hi)])
    return "superior", np.array([midline_x, xy[1]])


def fits(
    ctx: PlacementContext,
    points: np.ndarray,
    code: int,
    radius: float,
    depth_range: tuple[float, float],
    neighbours: list[tuple[cKDTree, float]],
    gap: float = 2.0,
) -> bool:
    """Whether a centre line lies where a superficial vein may.

    Every point must be in hemisphere ``code``, between ``depth_range[0] + radius`` and
    ``depth_range[1]`` mm under the brain surface, at least 8 mm from the other hemisphere and
    ``gap`` mm (edge to edge) from every neighbouring vein.

    Parameters
    ----------
    ctx : PlacementContext
        Brain depth and hemispheres.
    points : ndarray
        ``(n, 3)`` centre line, ``grid_mm``.
    code : int
        Hemisphere.
    radius : float
        The vein's radius, mm.
    depth_range : tuple of float
        Allowed depth under the surface, mm.
    neighbours : list of (cKDTree, float)
        In-plane trees of other veins' points and their radii.
    gap : float
        Smallest distance between vessel walls, mm.

    Returns
    -------
    bool
        True where it fits.
    """
    i, j = ctx.pixel(points[:, :2])
    ks = np.clip(np.rint(points[:, 2] / ctx.spacing[2]).astype(int), 0, ctx.brain.shape[2] - 1)
    if not np.all(ctx.hemi[i, j, ks] == code):
        return False
    for kk in np.unique(ks):
        sel = ks == kk
        d = ctx.depth(int(kk))[i[sel], j[sel]]
        if np.any(d < depth_range[0] + radius) or np.any(d > depth_range[1]):
            return False
        if np.any(ctx.to_other_hemisphere(int(kk), code)[i[sel], j[sel]] < 8.0):
            return False
    (x_lo, y_lo), (x_hi, y_hi) = points[:, :2].min(0), points[:, :2].max(0)
    for tree, r_other in neighbours:
        reach = radius + r_other + gap
        (tx_lo, ty_lo), (tx_hi, ty_hi) = tree.mins, tree.maxes
        if tx_lo > x_hi + reach or ty_lo > y_hi + reach or tx_hi < x_lo - reach:
            continue  # boxes farther apart than the gap: no point can be closer
        if ty_hi < y_lo - reach:
            continue
        dist, _ = tree.query(points[:, :2])
        if np.any(dist < reach):
            return False
    return True


@dataclass
class Course:
    """Where a trunk runs: a path along the cortex and a swing about it, redrawn by :meth:`trace`.

    ``base`` follows the brain surface at a fixed depth; the trunk is ``base + a * noise * normal``
    with the gain ``a`` solved by bisection for the tortuosity (length over the straight distance
    between the trunk's ends), within ``max_offset`` mm of the base.
    """

    base: np.ndarray  # (n, 2) in-plane grid_mm, tip first
    normal: np.ndarray  # (n, 2) unit normals of the base
    noise: np.ndarray  # (n,) pinned at both ends
    z: np.ndarray  # (n,) grid_mm along the slice axis
    max_offset: float

    def _tortuosity(self, gain: float) -> float:
        return course_tortuosity(self.base, self.normal, self.noise, float(gain))

    def trace(self, tortuosity: float) -> np.ndarray | None:
        """The trunk's centre line (tip first), or None when it cannot have this tortuosity."""
        target = max(float(tortuosity), 1.0)
        hi = self.max_offset / max(float(np.abs(self.noise).max()), 1e-9)
        if self._tortuosity(0.0) > target + 0.002 or self._tortuosity(hi) < target:
            return None
        gain = course_gain(self.base, self.normal, self.noise, target, hi, 32)
        xy = self.base + (gain * self.noise)[:, None] * self.normal
        return np.column_stack([xy, self.z])


def surface_path(
    ctx: PlacementContext,
    k: int,
    start: np.ndarray,
    direction: np.ndarray,
    length: float,
    depth: float,
    step: float = 0.5,
) -> np.ndarray:
    """A path of ``length`` mm centred on ``start`` that follows the brain surface at ``depth`` mm.

    Traced both ways from ``start`` along the depth map's isolines of slice ``k`` (steered back
    toward ``depth`` at every step), so a long vein bends with the cortex instead of cutting
    across it.

    Parameters
    ----------
    ctx : PlacementContext
        Brain depth.
    k : int
        Slice.
    start : ndarray
        In-plane ``grid_mm`` point.
    direction : ndarray
        Initial unit direction (roughly along the surface).
    length : float
        Path length, mm.
    depth : float
        Depth under the surface to follow, mm.
    step : float
        Step, mm.

    Returns
    -------
    ndarray
        ``(n, 2)`` points in ``grid_mm``.
    """
    spacing = np.asarray(ctx.spacing[:2], float)
    direction = np.asarray(direction, float)
    field, gx, gy = ctx.memo(("surface", k), lambda: surface_maps(ctx, k))

    n_steps = int(length / 2 / step)
    start = np.asarray(start, float)
    back = walk_surface(field, gx, gy, spacing, start, -direction, n_steps, step, depth)
    ahead = walk_surface(field, gx, gy, spacing, start, direction, n_steps, step, depth)
    return np.vstack([back[::-1], start[None], ahead])


def surface_maps(ctx: PlacementContext, k: int) -> tuple[np.ndarray, ...]:
    """Smoothed depth of slice ``k`` and its gradient.

    Parameters
    ----------
    ctx : PlacementContext
        Brain depth.
    k : int
        Slice.

    Returns
    -------
    tuple of ndarray
        Depth (mm, smoothed over 2 pixels) and its two in-plane derivatives (mm per mm).
    """
    field = ndimage.gaussian_filter(ctx.depth(k), 2.0)
    return (field, *np.gradient(field, *ctx.spacing[:2]))
