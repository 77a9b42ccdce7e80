"""Superficial vein trees on the cortex: a trunk draining toward a sinus, tributaries, tapering.

A superficial cerebral vein runs in the sulci and along the pial surface toward its sinus: the
superior group medially toward the superior sagittal sinus, the superficial middle cerebral vein
laterally into the sylvian fissure, the inferior group backwards toward the transverse sinus.
Here each labelled vein is a tree in the cortex band of one hemisphere, near the axial plane of
the MinIP slab:

- a **trunk** that follows the brain surface at a depth of 3-6.5 mm (:func:`surface_path`, so a
  long vein bends with the cortex) and swings about that path by a smooth Gaussian process
  (:func:`veins.smooth_noise`: irregular curvature, no period) whose gain gives the designed
  tortuosity; its root (the draining end, its last point) is the end nearer the sinus of its
  region;
- 0-2 **tributaries** joining the trunk at branch points, each shorter than the trunk on either
  side of its junction (so the vessel's measured length, the longest end-to-end path, stays the
  trunk's, as the study measured one vessel);
- **radii** tapering from the root to the tips (0.7 of the root radius at the tip), with Murray's
  law at every junction: the trunk's radius downstream of a tributary of radius r_t is
  (r_up^3 + r_t^3)^(1/3).

The truth keeps each tree as a graph (:func:`tree_graph`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from scvbench.steps.synth.cortex import (
    SINUSES,
    Course,
    drainage,
    fits,
    surface_maps,
    surface_path,
)
from scvbench.steps.synth.path_kernels import path_normals
from scvbench.steps.synth.veins import (
    PlacementContext,
    Tributary,
    Vein,
    smooth_noise,
    stochastic_curve,
)

__all__ = ["PlacedTree", "place_tree", "pruned", "retrace"]

_TIP_TAPER = 0.7  # radius at the tip as a fraction of the root's, before Murray steps


def _rotate(vector: np.ndarray, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ vector


def _neighbours(others: list[Vein], z_level: float) -> list[tuple[cKDTree, float]]:
    out = []
    for vein in others:
        if abs(np.mean(vein.z_range) - z_level) >= 22.0:
            continue
        out.append((cKDTree(vein.points[:, :2]), float(vein.profile().max())))
        for branch in vein.tributaries:
            out.append((cKDTree(branch.points[:, :2]), float(branch.radii.max())))
    return out


def _trunk_radii(points: np.ndarray, radius: float) -> np.ndarray:
    """Linear taper from ``radius`` at the root (last point) to 0.7 of it at the tip."""
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points[:, :2], axis=0), axis=1))])
    return radius * (_TIP_TAPER + (1.0 - _TIP_TAPER) * s / max(s[-1], 1e-9))


def _murray(trunk_radii: np.ndarray, tributaries: list[Tributary]) -> np.ndarray:
    """Widen the trunk downstream of each junction so that r_down^3 = r_up^3 + r_t^3."""
    out = trunk_radii.copy()
    for branch in tributaries:
        j = branch.joins_at
        r_up, r_t = out[j], float(branch.radii[-1])
        out[j:] *= ((r_up**3 + r_t**3) ** (1.0 / 3.0)) / r_up
    return out


def _grow_tributaries(
    ctx: PlacementContext,
    code: int,
    trunk: np.ndarray,
    trunk_radii: np.ndarray,
    wanted: int,
    depth_range: tuple[float, float],
    neighbours: list[tuple[cKDTree, float]],
    z_limits: tuple[float, float],
    rng: np.random.Generator,
) -> list[Tributary]:
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(trunk[:, :2], axis=0), axis=1))])
    total = s[-1]
    trunk_tree = cKDTree(trunk[:, :2])
    branches: list[Tributary] = []
    for _ in range(wanted * 12):
        if len(branches) >= wanted:
            break
        j = int(np.searchsorted(s, rng.uniform(0.3, 0.7) * total))
        j = int(np.clip(j, 2, len(trunk) - 3))
        room = min(s[j], total - s[j])
        length = rng.uniform(0.25, 0.55) * room
        if length < 4.0:
            continue
        tangent = trunk[j + 2, :2] - trunk[j - 2, :2]
        tangent /= max(np.linalg.norm(tangent), 1e-9)
        # a tributary arrives from upstream: it leaves the junction backwards, at an angle
        away = _rotate(-tangent, rng.choice([-1.0, 1.0]) * rng.uniform(35.0, 70.0))
        local = stochastic_curve(
            rng.uniform(1.03, 1.3), smooth_noise(rng, 120, rng.uniform(0.2, 0.4)), 0.2
        )
        if local is None:
            continue
        local = local * length
        side = np.array([-away[1], away[0]])
        xy = trunk[j, :2] + np.outer(local[:, 0], away) + np.outer(local[:, 1], side)
        z = trunk[j, 2] + rng.uniform(-0.04, 0.04) * local[:, 0]
        if np.any(z < z_limits[0]) or np.any(z > z_limits[1]):
            continue
        points = np.column_stack([xy, z])[::-1]  # tip first, ending on the trunk
        r_join = float(trunk_radii[j]) * rng.uniform(0.65, 0.9)
        radii = _trunk_radii(points, r_join)
        free = np.linalg.norm(points[:, :2] - trunk[j, :2], axis=1) > 2.5 + trunk_radii[j]
        dist, _ = trunk_tree.query(points[free, :2])
        if free.any() and np.any(dist < trunk_radii.max() + r_join + 1.2):
            continue
        others = neighbours + [(cKDTree(b.points[:, :2]), float(b.radii.max())) for b in branches]
        if not fits(ctx, points, code, r_join, depth_range, others, gap=1.5):
            continue
        branches.append(Tributary(points, radii, j))
    branches.sort(key=lambda b: b.joins_at)
    return branches


@dataclass
class PlacedTree:
    """A placed tree and what :func:`retrace` needs to redraw it."""

    points: np.ndarray
    radii: np.ndarray
    tributaries: list[Tributary]
    drains_to: str
    base_radius: float  # at the root, before Murray steps
    course: Course
    code: int
    depth_range: tuple[float, float]
    neighbours: list


def place_tree(
    ctx: PlacementContext,
    code: int,
    z_level: float,
    z_half_range: float,
    tortuosity: float,
    radius: float,
    others: list[Vein],
    rng: np.random.Generator,
    branches: int = 0,
    depth_range: tuple[float, float] = (1.0, 13.0),
    attempts: int = 120,
    crowding: int = 5,
    shortest: float = 18.0,
) -> PlacedTree | None:
    """Find a place for one vein tree in hemisphere ``code`` (1 left, 2 right).

    The trunk follows the brain surface (:func:`~scvbench.steps.synth.cortex.surface_path`,
    starting within 15 degrees of the surface's tangent, 40 after 40 failed attempts), lies
    within ``z_half_range`` mm of ``z_level`` (slab mm), in the cortex band (``depth_range`` mm
    under the brain surface), at least 8 mm from the other hemisphere and 2 mm (edge to edge)
    from every vein in ``others`` whose height range is within 22 mm. ``crowding`` (the number of
    veins this hemisphere's slab must hold) shortens the trunks so that they fit.

    Parameters
    ----------
    ctx : PlacementContext
        Brain depth and hemispheres.
    code : int
        The hemisphere.
    z_level, z_half_range : float
        Where along the slice axis, in mm.
    tortuosity, radius : float
        The trunk's design (radius at the root, before Murray steps).
    others : list of Vein
        Veins already placed (not crossed).
    rng : numpy.random.Generator
        The subject's random stream.
    branches : int
        Tributaries wanted (fewer where there is no room).
    depth_range : tuple of float
        Depth below the brain surface in mm.
    attempts : int
        Tries before giving up.
    crowding : int
        The number of veins this hemisphere's slab must hold.
    shortest : float
        The shortest trunk drawn, mm (before the shrinking after every 30 failed attempts).

    Returns
    -------
    PlacedTree or None
        The tree, or None when no place was found.
    """
    k = ctx.slice_of(z_level)

    def find_anchors() -> np.ndarray:
        depth = ctx.depth(k)
        midline = ctx.to_other_hemisphere(k, code)
        inside = (ctx.hemi[:, :, k] == code) & (midline >= 14.0)
        return np.argwhere(
            inside & (depth >= depth_range[0] + 2.5) & (depth <= depth_range[0] + 6.5)
        )

    anchors = ctx.memo(("anchors", k, code, depth_range[0]), find_anchors)
    if len(anchors) == 0:
        return None
    _, gx, gy = ctx.memo(("surface", k), lambda: surface_maps(ctx, k))
    neighbours = _neighbours(others, z_level)
    spacing = np.asarray(ctx.spacing[:2])
    for attempt in range(attempts):
        shrink = 0.85 ** (attempt // 30)
        a = anchors[rng.integers(len(anchors))]
        normal = np.array([gx[a[0], a[1]], gy[a[0], a[1]]])
        if np.linalg.norm(normal) < 1e-6:
            continue
        normal /= np.linalg.norm(normal)
        spread = 15.0 if attempt < 40 else 40.0
        direction = _rotate(np.array([-normal[1], normal[0]]), rng.uniform(-spread, spread))
        centre = a * spacing
        region, sink = drainage(ctx, code, k, centre)
        longest = float(np.clip(300.0 / max(crowding, 1), 24.0, 55.0))
        length = rng.uniform(shortest, longest) * shrink
        base = surface_path(ctx, k, centre, direction, length, rng.uniform(3.0, 6.5))
        if len(base) < 12:
            continue
        # the root (the last point) is the end nearer the sinus
        if np.linalg.norm(sink - base[-1]) > np.linalg.norm(sink - base[0]):
            base = base[::-1]
        run = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(base, axis=0), axis=1))])
        slope = rng.uniform(-0.06, 0.06)
        reach = z_half_range - abs(slope) * run[-1] / 2 - radius
        z = z_level + rng.uniform(-1.0, 1.0) * max(reach, 0) + slope * (run - run[-1] / 2)
        # Bends a vessel's width apart or closer vanish in the image: the swing's coarse scale
        # stays 4 mm or more; a tortuous vein swings wider (up to 5 mm off the base).
        correlation = rng.uniform(6.0, 14.0)
        points = None
        for swing in (3.5, 5.0):
            correlation = max(correlation, 4.0)
            while points is None and correlation >= 4.0:
                noise = smooth_noise(rng, len(base), correlation / max(run[-1], 1.0))
                course = Course(base, path_normals(base), noise, z, max_offset=swing)
                # headroom: the calibration may ask for a more tortuous trunk than designed
                if course.trace(1.0 + (tortuosity - 1.0) * 1.4) is not None:
                    points = course.trace(tortuosity)
                correlation *= 0.8
            if points is not None:
                break
        if points is None or np.any(np.abs(points[:, 2] - z_level) > z_half_range - radius):
            continue
        if not fits(ctx, points, code, radius, depth_range, neighbours):
            continue
        radii = _trunk_radii(points, radius)
        limits = (z_level - z_half_range + radius, z_level + z_half_range - radius)
        tributaries = _grow_tributaries(
            ctx, code, points, radii, branches, depth_range, neighbours, limits, rng
        )
        return PlacedTree(
            points,
            _murray(radii, tributaries),
            tributaries,
            SINUSES[region],
            radius,
            course,
            code,
            depth_range,
            neighbours,
        )
    return None


def pruned(tree: PlacedTree) -> PlacedTree:
    """The same tree without its tributaries (the trunk's radii without Murray steps).

    Parameters
    ----------
    tree : PlacedTree
        A placed tree.

    Returns
    -------
    PlacedTree
        Its trunk alone.
    """
    return PlacedTree(
        tree.points,
        _trunk_radii(tree.points, tree.base_radius),
        [],
        tree.drains_to,
        tree.base_radius,
        tree.course,
        tree.code,
        tree.depth_range,
        tree.neighbours,
    )


def retrace(
    ctx: PlacementContext, tree: PlacedTree, tortuosity: float, scale: float
) -> PlacedTree | None:
    """The same tree redrawn for another trunk tortuosity and radii scaled by ``scale``.

    The trunk keeps its course and noise; each tributary moves with its junction and is dropped
    if it no longer fits. Returns None when the trunk does not fit.

    Parameters
    ----------
    ctx : PlacementContext
        Brain depth and hemispheres.
    tree : PlacedTree
        A tree from :func:`place_tree`.
    tortuosity : float
        The trunk's new design tortuosity.
    scale : float
        Factor on every radius.

    Returns
    -------
    PlacedTree or None
        The redrawn tree.
    """
    points = tree.course.trace(tortuosity)
    radius = tree.base_radius * scale
    if points is None or not fits(
        ctx, points, tree.code, radius, tree.depth_range, tree.neighbours
    ):
        return None
    kept = []
    trunk_tree = cKDTree(points[:, :2])
    for branch in tree.tributaries:
        shifted = branch.points + (points[branch.joins_at] - tree.points[branch.joins_at])
        radii = branch.radii * scale
        free = np.linalg.norm(shifted[:, :2] - points[branch.joins_at, :2], axis=1) > 3.0
        dist, _ = trunk_tree.query(shifted[free, :2])
        if free.any() and np.any(dist < radius + radii.max() + 1.0):
            continue
        if fits(
            ctx, shifted, tree.code, float(radii.max()), tree.depth_range, tree.neighbours, 1.5
        ):
            kept.append(Tributary(shifted, radii, branch.joins_at))
    return PlacedTree(
        points,
        _murray(_trunk_radii(points, tree.base_radius * scale), kept),
        kept,
        tree.drains_to,
        tree.base_radius * scale,
        tree.course,
        tree.code,
        tree.depth_range,
        tree.neighbours,
    )
