"""Superficial vein trees on the cortex: a trunk draining toward a sinus, tributaries, tapering.

A superficial cerebral vein runs in the sulci and along the pial surface toward its sinus: the
superior group medially toward the superior sagittal sinus, the superficial middle cerebral vein
laterally into the sylvian fissure, the inferior group backwards toward the transverse sinus.
Here each labelled vein is a tree in the cortex band of one hemisphere, near the axial plane of
the MinIP slab:

- a **trunk** whose centre line is a stochastic curve (:func:`veins.stochastic_curve`: irregular
  curvature, no period) of the designed tortuosity, laid along the cortical surface and oriented
  so that its root (the draining end, its last point) lies toward the sinus of its region;
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
from scipy import ndimage
from scipy.spatial import cKDTree

from scvbench.steps.synth.veins import (
    PlacementContext,
    Tributary,
    Vein,
    smooth_noise,
    stochastic_curve,
)

__all__ = ["SINUSES", "Course", "fits", "place_tree", "pruned", "retrace", "tree_graph"]

#: The sinuses superficial veins drain into, by the region of the hemisphere they lie in.
SINUSES = {
    "superior": "superior sagittal sinus",
    "middle": "sylvian fissure (superficial middle cerebral vein)",
    "inferior": "transverse sinus",
}
_TIP_TAPER = 0.7  # radius at the tip as a fraction of the root's, before Murray steps
_POINTS = 240


def _rotate(vector: np.ndarray, degrees: float) -> np.ndarray:
    a = np.deg2rad(degrees)
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ vector


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
    spacing = np.asarray(ctx.spacing[:2])
    hemi = np.argwhere(ctx.hemi[:, :, k] == code) * spacing
    both = np.argwhere(ctx.hemi[:, :, k] > 0) * spacing
    if len(hemi) == 0 or len(both) == 0:
        return "superior", xy.copy()
    y_lo, y_hi = np.percentile(both[:, 1], [2, 98])
    midline_x = float(np.median(both[:, 0]))
    lateral_x = hemi[np.argmax(np.abs(hemi[:, 0] - midline_x)), 0]
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
    for tree, r_other in neighbours:
        dist, _ = tree.query(points[:, :2])
        if np.any(dist < radius + r_other + gap):
            return False
    return True


@dataclass
class Course:
    """Where and how a trunk runs; :meth:`trace` redraws it for another tortuosity."""

    centre: np.ndarray  # in-plane grid_mm
    direction: np.ndarray  # unit, from tip to root
    chord: float
    noise: np.ndarray
    z_level: float
    slope: float
    offset: float
    max_offset: float

    def trace(self, tortuosity: float) -> np.ndarray | None:
        """The trunk's centre line (tip first), or None when the swing would be too wide."""
        local = stochastic_curve(tortuosity, self.noise, self.max_offset / self.chord)
        if local is None:
            return None
        local = local * self.chord
        side = np.array([-self.direction[1], self.direction[0]])
        along = local[:, 0] - self.chord / 2
        xy = self.centre + np.outer(along, self.direction) + np.outer(local[:, 1], side)
        z = self.z_level + self.offset + self.slope * along
        return np.column_stack([xy, z])


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
        r_join = float(trunk_radii[j]) * rng.uniform(0.55, 0.8)
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
) -> PlacedTree | None:
    """Find a place for one vein tree in hemisphere ``code`` (1 left, 2 right).

    The trunk lies within ``z_half_range`` mm of ``z_level`` (slab mm), in the cortex band
    (``depth_range`` mm under the brain surface) along the surface's tangent (after 40 failed
    attempts up to 60 degrees off it), at least 8 mm from the other hemisphere and 2 mm (edge to
    edge) from every vein in ``others`` whose height range is within 22 mm. ``crowding`` (the
    number of veins this hemisphere's slab must hold) shortens the chords so that they fit.

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

    Returns
    -------
    PlacedTree or None
        The tree, or None when no place was found.
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
    neighbours = _neighbours(others, z_level)
    spacing = np.asarray(ctx.spacing[:2])
    for attempt in range(attempts):
        shrink = 0.85 ** (attempt // 30)
        a = anchors[rng.integers(len(anchors))]
        normal = np.array([gx[a[0], a[1]], gy[a[0], a[1]]])
        if np.linalg.norm(normal) < 1e-6:
            continue
        normal /= np.linalg.norm(normal)
        spread = 25.0 if attempt < 40 else 60.0
        direction = _rotate(np.array([-normal[1], normal[0]]), rng.uniform(-spread, spread))
        centre = a * spacing
        region, sink = drainage(ctx, code, k, centre)
        longest = float(np.clip(170.0 / max(crowding, 1), 16.0, 36.0))
        chord = rng.uniform(12.0, longest) * shrink
        # the root (the last point) is the end nearer the sinus
        ahead, behind = centre + direction * chord / 2, centre - direction * chord / 2
        if np.linalg.norm(sink - ahead) > np.linalg.norm(sink - behind):
            direction = -direction
        slope = rng.uniform(-0.06, 0.06)
        offset = rng.uniform(-1.0, 1.0) * max(z_half_range - abs(slope) * chord / 2 - radius, 0)
        # Bends a vessel's width apart or closer vanish in the image: the coarse scale of the
        # swing stays 4 mm or more; a tortuous vein swings wider (up to 5 mm off its chord).
        correlation = rng.uniform(6.0, 14.0)
        points = None
        for swing in (3.5, 5.0):
            correlation = max(correlation, 4.0)
            while points is None and correlation >= 4.0:
                course = Course(
                    centre,
                    direction,
                    chord,
                    smooth_noise(rng, _POINTS, correlation / chord),
                    z_level,
                    slope,
                    offset,
                    max_offset=swing,
                )
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
    """The same tree without its tributaries (the trunk's radii without Murray steps)."""
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


def tree_graph(vein: Vein, to_ras) -> dict:
    """A vein tree as a graph: nodes (root, junctions, tips) and edges with lengths and radii.

    Parameters
    ----------
    vein : Vein
        A superficial vein (its trunk and tributaries).
    to_ras : callable
        Maps ``(n, 3)`` ``grid_mm`` points to RAS mm.

    Returns
    -------
    dict
        ``nodes`` (``id``, ``kind`` root/junction/tip, ``ras_mm``, ``radius_mm``), ``edges``
        (``from``, ``to`` node ids in the direction of flow, ``length_mm``, ``radius_mm`` at both
        ends, ``centerline_ras_mm`` every fourth point) and ``drains_to``.
    """
    radii = vein.profile()
    nodes: list[dict] = []
    edges: list[dict] = []

    def node(kind: str, point: np.ndarray, radius: float) -> int:
        nodes.append(
            {
                "id": len(nodes),
                "kind": kind,
                "ras_mm": np.round(to_ras(point[None])[0], 2).tolist(),
                "radius_mm": round(float(radius), 4),
            }
        )
        return len(nodes) - 1

    def edge(a: int, b: int, points: np.ndarray, r: np.ndarray) -> None:
        length = float(np.sum(np.linalg.norm(np.diff(points, axis=0), axis=1)))
        edges.append(
            {
                "from": a,
                "to": b,
                "length_mm": round(length, 3),
                "radius_mm": [round(float(r[0]), 4), round(float(r[-1]), 4)],
                "centerline_ras_mm": np.round(to_ras(points[::4]), 2).tolist(),
            }
        )

    cuts = sorted({b.joins_at for b in vein.tributaries})
    previous = node("tip", vein.points[0], radii[0])
    start = 0
    junction_ids = {}
    for j in cuts:
        here = node("junction", vein.points[j], radii[j])
        junction_ids[j] = here
        edge(previous, here, vein.points[start : j + 1], radii[start : j + 1])
        previous, start = here, j
    root = node("root", vein.points[-1], radii[-1])
    edge(previous, root, vein.points[start:], radii[start:])
    for branch in vein.tributaries:
        tip = node("tip", branch.points[0], branch.radii[0])
        edge(tip, junction_ids[branch.joins_at], branch.points, branch.radii)
    return {"drains_to": vein.drains_to, "nodes": nodes, "edges": edges}
