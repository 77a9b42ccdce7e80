"""Vessel morphometry on a 2-D vein mask: length, chord, tortuosity and diameter per vessel.

Definitions (all lengths in millimetres, from the pixel ``spacing`` of the image):

- **vessel**: an 8-connected component of the vein mask inside one hemisphere (the mask is split
  at the hemisphere border, so a vessel crossing it counts once on each side). Components whose
  area is below ``min_area_mm2`` (default 2 mm², specks of noise) or whose skeleton is a single
  pixel are dropped.
- **centerline**: the skeleton of the component (``skimage.morphology.skeletonize``) measured as a
  pixel graph with ``skan``; a diagonal step counts ``sqrt(dy**2 + dx**2)`` in mm.
- **length**: the longest of the shortest paths between two skeleton end points (degree-1 pixels);
  side branches do not add to it. **chord**: the straight distance between those two end points.
  **tortuosity** = length / chord.
- A component whose skeleton has no end point (a closed loop) has ``length`` = total skeleton
  length, ``chord`` = 0 and ``tortuosity`` = NaN, and is flagged ``closed_loop``; summaries skip
  NaN tortuosities but count the vessel.
- A vessel is measured as it lies in the image: ``touches_edge`` flags one that reaches the image
  border (it may continue outside the field of view) and ``at_border`` one that the hemisphere
  border cut (it continues in the other hemisphere). Both are kept and counted, as a reader of
  the image would count them; filter on the flags to exclude them.
- **diameter** (the study's definition) = area / total skeleton length, all branches included.
  **diameter_dt** = 2 x mean Euclidean distance transform along the skeleton, minus half a pixel:
  the distance reaches the nearest background pixel centre, half a pixel past the edge, while the
  skeleton of an even-width vessel lies half a pixel off its middle; the two biases offset to
  within half a pixel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.sparse import csgraph

__all__ = ["HEMISPHERES", "VESSEL_COLUMNS", "measure", "measure_slices", "summarize"]

#: Hemisphere codes of a ``desc-hemi_dseg`` image and their names.
HEMISPHERES = {1: "left", 2: "right"}

VESSEL_COLUMNS = [
    "hemisphere",
    "vessel",
    "n_pixels",
    "area_mm2",
    "skeleton_length_mm",
    "length_mm",
    "chord_mm",
    "tortuosity",
    "diameter_mm",
    "diameter_dt_mm",
    "n_endpoints",
    "n_junctions",
    "closed_loop",
    "touches_edge",
    "at_border",
    "row",
    "col",
]

_EIGHT = np.ones((3, 3), dtype=bool)


def _check_spacing(spacing) -> tuple[float, float]:
    spacing = tuple(float(s) for s in np.broadcast_to(np.asarray(spacing, dtype=float), (2,)))
    if not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"spacing must be two positive numbers in mm, got {spacing}")
    return spacing  # type: ignore[return-value]


def _measure_component(
    component: np.ndarray, spacing: tuple[float, float]
) -> dict[str, float] | None:
    from skan import Skeleton
    from skimage.morphology import skeletonize

    skeleton = skeletonize(component)
    if skeleton.sum() < 2:
        return None
    graph = Skeleton(skeleton, spacing=spacing)
    adjacency = graph.graph
    coords = np.asarray(graph.coordinates, dtype=float) * np.asarray(spacing)
    degrees = np.asarray(graph.degrees)
    total = float(adjacency.sum()) / 2.0
    ends = np.flatnonzero(degrees == 1)
    pixels = np.asarray(graph.coordinates)
    if ends.size >= 2:
        all_distances, predecessors = csgraph.dijkstra(
            adjacency, directed=False, indices=ends, return_predecessors=True
        )
        distances = all_distances[:, ends]
        distances[~np.isfinite(distances)] = -1.0
        a, b = np.unravel_index(np.argmax(distances), distances.shape)
        length = float(distances[a, b])
        chord = float(np.linalg.norm(coords[ends[a]] - coords[ends[b]]))
        tortuosity = length / chord if chord > 0 else np.nan
        closed = False
        path = [int(ends[b])]
        while path[-1] != ends[a] and predecessors[a, path[-1]] >= 0:
            path.append(int(predecessors[a, path[-1]]))
        middle = pixels[path[len(path) // 2]]
    else:
        length, chord, tortuosity, closed = total, 0.0, np.nan, True
        middle = pixels[0]
    area = float(component.sum()) * spacing[0] * spacing[1]
    edt = ndimage.distance_transform_edt(np.pad(component, 1), sampling=spacing)[1:-1, 1:-1]
    pixel = float(np.mean(spacing))
    return {
        "area_mm2": area,
        "skeleton_length_mm": total,
        "length_mm": length,
        "chord_mm": chord,
        "tortuosity": tortuosity,
        "diameter_mm": area / total if total > 0 else np.nan,
        "diameter_dt_mm": max(2.0 * float(edt[skeleton].mean()) - 0.5 * pixel, 0.0),
        "n_endpoints": int(ends.size),
        "n_junctions": int(np.sum(degrees > 2)),
        "closed_loop": closed,
        "row": int(middle[0]),
        "col": int(middle[1]),
    }


def measure(
    mask: np.ndarray,
    spacing=1.0,
    hemispheres: np.ndarray | None = None,
    min_area_mm2: float = 2.0,
) -> pd.DataFrame:
    """Measure every vessel of a 2-D vein mask, one row per vessel.

    Parameters
    ----------
    mask : (rows, cols) array_like of bool
        The vein mask of one image (non-zero = vein). Not modified.
    spacing : float or (float, float)
        Pixel spacing (row, column) in mm.
    hemispheres : (rows, cols) array_like of int, optional
        Hemisphere labels, 1 = left and 2 = right; other values are outside both. Without it all
        vessels belong to hemisphere ``"both"``.
    min_area_mm2 : float
        Components smaller than this are dropped as specks.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`VESSEL_COLUMNS`; ``row``/``col`` give the skeleton pixel half-way along
        the vessel's length (a point on the vessel that identifies it in the image).
        An empty mask gives an empty table with those columns.

    Examples
    --------
    >>> m = np.zeros((5, 12), bool); m[2, 1:11] = True
    >>> table = measure(m, spacing=0.5, min_area_mm2=0)
    >>> table[["length_mm", "tortuosity"]].round(2).values.tolist()
    [[4.5, 1.0]]
    """
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    mask = mask != 0
    spacing = _check_spacing(spacing)
    if hemispheres is None:
        regions = {"both": mask}
    else:
        hemispheres = np.asarray(hemispheres)
        if hemispheres.shape != mask.shape:
            raise ValueError(
                f"hemispheres has shape {hemispheres.shape} but mask has {mask.shape}; "
                "they must be on the same grid"
            )
        regions = {name: mask & (hemispheres == code) for code, name in HEMISPHERES.items()}
    rows = []
    pixel_area = spacing[0] * spacing[1]
    height, width = mask.shape
    for name, region in regions.items():
        others = mask & ~region if hemispheres is not None else np.zeros_like(mask)
        labels, count = ndimage.label(region, structure=_EIGHT)
        if count == 0:
            continue
        objects = ndimage.find_objects(labels)
        vessel = 0
        for index, box in enumerate(objects, start=1):
            component = labels[box] == index
            if component.sum() * pixel_area < min_area_mm2:
                continue
            values = _measure_component(component, spacing)
            if values is None:
                continue
            vessel += 1
            r0, r1, c0, c1 = box[0].start, box[0].stop, box[1].start, box[1].stop
            near = others[max(r0 - 1, 0) : r1 + 1, max(c0 - 1, 0) : c1 + 1]
            grown = ndimage.binary_dilation(np.pad(component, 1), structure=_EIGHT)
            grown = grown[
                (1 if r0 == 0 else 0) : grown.shape[0] - (1 if r1 == height else 0),
                (1 if c0 == 0 else 0) : grown.shape[1] - (1 if c1 == width else 0),
            ]
            rows.append(
                {
                    "hemisphere": name,
                    "vessel": vessel,
                    "n_pixels": int(component.sum()),
                    **{k: v for k, v in values.items() if k not in ("row", "col")},
                    "touches_edge": bool(r0 == 0 or c0 == 0 or r1 == height or c1 == width),
                    "at_border": bool((grown & near).any()),
                    "row": values["row"] + box[0].start,
                    "col": values["col"] + box[1].start,
                }
            )
    return pd.DataFrame(rows, columns=VESSEL_COLUMNS)


def summarize(vessels: pd.DataFrame, hemispheres=("left", "right")) -> pd.DataFrame:
    """Summarise a vessel table per hemisphere: count, mean and median diameter and tortuosity.

    Every hemisphere in ``hemispheres`` gets a row, with count 0 and NaN measures when it has no
    vessel. Extra grouping columns of ``vessels`` are not used; group before calling.
    """
    rows = []
    for name in hemispheres:
        part = vessels[vessels["hemisphere"] == name]
        rows.append(
            {
                "hemisphere": name,
                "count": len(part),
                "diameter_mm": part["diameter_mm"].mean() if len(part) else np.nan,
                "tortuosity": part["tortuosity"].mean() if len(part) else np.nan,
                "diameter_median_mm": part["diameter_mm"].median() if len(part) else np.nan,
                "tortuosity_median": part["tortuosity"].median() if len(part) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def measure_slices(
    mask: np.ndarray,
    spacing=1.0,
    hemispheres: np.ndarray | None = None,
    slices=None,
    min_area_mm2: float = 2.0,
) -> pd.DataFrame:
    """:func:`measure` every axial slice ``mask[:, :, k]`` of a 3-D mask; adds a ``slice`` column.

    ``slices`` defaults to the slices with any vein pixel. ``spacing`` is the in-plane pixel
    size (axis 0, axis 1) in mm.
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"mask must be 3-D (rows, cols, slices), got shape {mask.shape}")
    if hemispheres is not None and np.shape(hemispheres) != mask.shape:
        raise ValueError(f"hemispheres has shape {np.shape(hemispheres)} but mask has {mask.shape}")
    if slices is None:
        slices = np.flatnonzero(mask.reshape(-1, mask.shape[2]).any(axis=0))
    tables = []
    for k in slices:
        k = int(k)
        if not 0 <= k < mask.shape[2]:
            raise ValueError(f"slice {k} is outside 0..{mask.shape[2] - 1}")
        hemi = None if hemispheres is None else np.asarray(hemispheres[:, :, k])
        table = measure(mask[:, :, k], spacing, hemi, min_area_mm2)
        table.insert(0, "slice", k)
        tables.append(table)
    if not tables:
        return pd.DataFrame(columns=["slice", *VESSEL_COLUMNS])
    return pd.concat(tables, ignore_index=True)
