"""Labelme shapes to a pixel mask, in display coordinates.

Labelme points are ``[x, y] = [column, row]`` with the centre of pixel ``(row, col)`` at
``(col, row)``. A polygon labels the pixels whose centres lie inside it; a line strip labels the
pixels whose centres lie within half its width of the line.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from skimage.draw import polygon2mask

__all__ = ["Rasterized", "rasterize_shapes"]


def _polygon(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:

    return polygon2mask(shape, points[:, ::-1])  # (row, col) vertices


def _thick_line(points: np.ndarray, shape: tuple[int, int], width: float) -> np.ndarray:
    """Pixels whose centres lie within ``width / 2`` of the polyline ``points`` (x, y)."""
    mask = np.zeros(shape, bool)
    radius = width / 2.0
    if len(points) == 1:
        points = np.vstack([points, points])
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        c0 = max(int(np.floor(min(x0, x1) - radius)), 0)
        c1 = min(int(np.ceil(max(x0, x1) + radius)), shape[1] - 1)
        r0 = max(int(np.floor(min(y0, y1) - radius)), 0)
        r1 = min(int(np.ceil(max(y0, y1) + radius)), shape[0] - 1)
        if c0 > c1 or r0 > r1:
            continue
        rr, cc = np.mgrid[r0 : r1 + 1, c0 : c1 + 1]
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        t = np.zeros(rr.shape) if length2 == 0 else ((cc - x0) * dx + (rr - y0) * dy) / length2
        t = np.clip(t, 0.0, 1.0)
        distance = np.hypot(cc - (x0 + t * dx), rr - (y0 + t * dy))
        mask[r0 : r1 + 1, c0 : c1 + 1] |= distance <= radius + 1e-9
    return mask


@dataclass
class Rasterized:
    """Result of rasterising one Labelme document."""

    mask: np.ndarray
    used: int = 0
    skipped: list[str] = field(default_factory=list)


def rasterize_shapes(
    shapes: list[dict],
    shape: tuple[int, int],
    labels: tuple[str, ...] = ("vein",),
    line_width: float | None = None,
    source: str = "",
) -> Rasterized:
    """Rasterise Labelme ``shapes`` with a label in ``labels`` into a display-oriented mask.

    Polygons, rectangles and circles are filled; ``line``/``linestrip`` shapes need
    ``line_width`` (pixels). Shapes of other labels are skipped and reported; a line without a
    width or a point-like shape is an error naming ``source``.

    Parameters
    ----------
    shapes : list of dict
        The ``shapes`` of a Labelme document.
    shape : tuple of int
        The image's (rows, columns).
    labels : tuple of str
        Labels that mark veins.
    line_width : float, optional
        Width in pixels of line shapes.
    source : str
        The file, named in errors.

    Returns
    -------
    Rasterized
        The mask, the number of shapes used and the skipped ones.

    Raises
    ------
    ValueError
        A shape without valid points, or of a kind that cannot outline a vein.
    """
    result = Rasterized(np.zeros(shape, bool))
    for number, item in enumerate(shapes, 1):
        label = str(item.get("label", ""))
        kind = str(item.get("shape_type") or "polygon")
        if label not in labels:
            result.skipped.append(f"shape {number} labelled {label!r}")
            continue
        try:
            points = np.asarray(item["points"], dtype=float).reshape(-1, 2)
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"{source}: shape {number} has no valid points; re-save the file in Labelme"
            ) from None
        if not np.isfinite(points).all():
            raise ValueError(f"{source}: shape {number} has non-finite points")
        if kind == "polygon":
            if len(points) < 3:
                raise ValueError(
                    f"{source}: polygon {number} has {len(points)} point(s); a polygon needs 3"
                )
            part = _polygon(points, shape)
        elif kind == "rectangle":
            (x0, y0), (x1, y1) = points[0], points[-1]
            corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
            part = _polygon(corners, shape)
        elif kind == "circle":
            (cx, cy), (px, py) = points[0], points[-1]
            rr, cc = np.mgrid[: shape[0], : shape[1]]
            part = np.hypot(cc - cx, rr - cy) <= np.hypot(px - cx, py - cy) + 1e-9
        elif kind in ("line", "linestrip"):
            if line_width is None:
                raise ValueError(
                    f"{source}: shape {number} is a {kind}; give its width in pixels with "
                    "--line-width to rasterise line strips"
                )
            part = _thick_line(points, shape, line_width)
        else:
            raise ValueError(
                f"{source}: shape {number} is a {kind!r}; vein outlines must be polygons, "
                "rectangles, circles or line strips"
            )
        result.mask |= part
        result.used += 1
    return result
