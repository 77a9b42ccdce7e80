"""What the truth records: vein trees redrawn to target, their graphs, the vessel tables.

Trees of the main slab are measured on its MinIP exactly as the truth will be, and redrawn until
they measure their targets; every superficial vein is kept as a graph; the true MinIP masks are
measured into the per-vessel and per-hemisphere truth tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from scvbench.core.morphometry import measure, summarize, vessel_columns
from scvbench.steps.synth.render import TubeRaster
from scvbench.steps.synth.trees import PlacedTree, retrace
from scvbench.steps.synth.veins import PlacementContext, Vein

__all__ = ["calibrate", "measure_tree", "tree_graph", "truth_tables"]


def measure_tree(
    tree: PlacedTree, spacing, slab: range, label_floor: float
) -> tuple[float, float] | None:
    """Tortuosity and diameter of a tree as the truth will measure it on the slab's MinIP.

    The tree is drawn with the truth's own rasteriser into a crop of the slab's slices, projected
    and measured as :func:`scvbench.core.morphometry.measure` measures it (the largest component).

    Parameters
    ----------
    tree : PlacedTree
        A placed tree.
    spacing : sequence of float
        Voxel size, mm.
    slab : range
        The slices of the MinIP slab.
    label_floor : float
        The truth's smallest label radius, mm.

    Returns
    -------
    tuple of float or None
        ``(tortuosity, diameter_mm)``, or None when nothing measurable was drawn.
    """
    spacing = np.asarray(spacing, dtype=float)
    parts = [(tree.points, tree.radii)] + [(b.points, b.radii) for b in tree.tributaries]
    every = np.vstack([p for p, _ in parts])
    reach = float(max(r.max() for _, r in parts)) + label_floor + 2 * spacing[:2].max()
    lo = np.floor((every[:, :2].min(0) - reach) / spacing[:2]).astype(int)
    hi = np.ceil((every[:, :2].max(0) + reach) / spacing[:2]).astype(int)
    origin = np.array([lo[0], lo[1], slab.start]) * spacing
    raster = TubeRaster((int(hi[0] - lo[0] + 1), int(hi[1] - lo[1] + 1), len(slab)), spacing)
    for points, radii in parts:
        raster.add(points - origin, radii, label=1, label_radius_floor=label_floor)
    # measured as the truth is, in the RAS+ orientation (columns and rows reversed): thinning is
    # not symmetric under flips, so the same vessel flipped can measure a little differently
    projected = raster.label.max(axis=2)[::-1, ::-1] > 0
    columns = vessel_columns(projected, spacing=tuple(spacing[:2]))
    if len(columns["vessel"]) == 0:
        return None
    largest = int(np.argmax(columns["n_pixels"]))  # the first of equals, as idxmax
    if not np.isfinite(columns["tortuosity"][largest]):
        return None
    return float(columns["tortuosity"][largest]), float(columns["diameter_mm"][largest])


def calibrate(
    ctx: PlacementContext,
    tree: PlacedTree,
    tortuosity: float,
    diameter: float,
    slab: range,
    label_floor: float,
    rounds: int = 6,
) -> tuple[PlacedTree, float, tuple[float, float] | None]:
    """Redraw a tree until its measured tortuosity and diameter are on target.

    Each round corrects the trunk's design tortuosity by the measured error and scales the radii
    by the measured diameter ratio (a round that does not fit, or measures worse, halves the
    step); the best of at most ``rounds`` drawings is kept.

    Parameters
    ----------
    ctx : PlacementContext
        Brain depth and hemispheres.
    tree : PlacedTree
        The tree as placed.
    tortuosity, diameter : float
        The targets the truth should measure.
    slab : range
        The slices of the MinIP slab.
    label_floor : float
        The truth's smallest label radius, mm.
    rounds : int
        Redrawings at most.

    Returns
    -------
    tuple
        The tree, the trunk's design tortuosity that produced it, and what :func:`measure_tree`
        gives for it (None: nothing measurable).
    """
    got = measure_tree(tree, ctx.spacing, slab, label_floor)
    if got is None:
        return tree, tortuosity, None

    def error(m: tuple[float, float]) -> float:
        # tortuosity first: a diameter below the label floor cannot be reached at all
        return abs(m[0] - tortuosity) / 0.01 + abs(m[1] - diameter) / 0.06

    best, best_design, best_got, best_error = tree, tortuosity, got, error(got)
    start = tree.base_radius
    design, step = tortuosity, 1.0
    for _ in range(rounds):
        if abs(got[0] - tortuosity) < 0.004 and abs(got[1] / diameter - 1.0) < 0.01:
            break
        trial = max(design + step * (tortuosity - got[0]), 1.0)
        # Radii stay within 0.75-1.35 x the design: where the label floor (coarse pixels) makes
        # the measured width, shrinking the tube further would only fade it in the image.
        ratio = float(
            np.clip(
                (diameter / got[1]) ** step,
                0.75 * start / tree.base_radius,
                1.35 * start / tree.base_radius,
            )
        )
        redrawn = retrace(ctx, tree, trial, ratio)
        measured = (
            None if redrawn is None else measure_tree(redrawn, ctx.spacing, slab, label_floor)
        )
        if measured is None:
            step *= 0.5
            continue
        if error(measured) < best_error:
            best, best_design, best_got, best_error = redrawn, trial, measured, error(measured)
        else:
            step *= 0.5
        tree, design, got = redrawn, trial, measured
    return best, best_design, best_got


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


def truth_tables(
    patient_id: str,
    role: str,
    labels_minip: np.ndarray,
    hemi_minip: np.ndarray,
    spacing: tuple[float, float],
    annotated: list[int],
    analysis: int | None,
    veins: list[Vein],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measure the true MinIP masks: per-vessel rows (with design values) and summaries.

    Parameters
    ----------
    patient_id, role : str
        The subject and its role.
    labels_minip : ndarray of int
        The true veins on the MinIP grid, one label each.
    hemi_minip : ndarray
        Hemispheres on the MinIP grid.
    spacing : tuple of float
        Pixel size in mm.
    annotated : list of int
        The annotated slices.
    analysis : int or None
        The analysis slice.
    veins : list of Vein
        The designed veins.

    Returns
    -------
    vessels : DataFrame
        One row per measured vessel, with its design values.
    morphometry : DataFrame
        One row per slice and hemisphere.
    """
    by_label = {v.label: v for v in veins if v.kind == "scv"}
    vessel_tables = []
    summaries = []
    for m in annotated:
        image = labels_minip[:, :, m]
        table = measure(image > 0, spacing=spacing, hemispheres=hemi_minip[:, :, m])
        labels = [int(image[r, c]) for r, c in zip(table["row"], table["col"], strict=True)]
        table["design_label"] = labels
        table["design_tortuosity"] = [
            by_label[x].design_tortuosity if x in by_label else np.nan for x in labels
        ]
        table["design_diameter_mm"] = [
            2 * by_label[x].radius if x in by_label else np.nan for x in labels
        ]
        table["target_tortuosity"] = [
            by_label[x].target_tortuosity if x in by_label else np.nan for x in labels
        ]
        table["target_diameter_mm"] = [
            by_label[x].target_diameter if x in by_label else np.nan for x in labels
        ]
        table.insert(0, "minip_slice", m)
        table.insert(0, "patient_id", patient_id)
        vessel_tables.append(table)
        summary = summarize(table)
        summary.insert(0, "analysis", m == analysis)
        summary.insert(0, "minip_slice", m)
        summary.insert(0, "role", role)
        summary.insert(0, "patient_id", patient_id)
        summaries.append(summary)
    return pd.concat(vessel_tables, ignore_index=True), pd.concat(summaries, ignore_index=True)
