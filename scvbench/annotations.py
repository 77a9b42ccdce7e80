"""Labelme round trip: PNG exports of MinIP slices and import of the outlines as vein masks.

Display convention (the PNG a rater sees, and Labelme's image coordinates): rows run from
anterior to posterior and columns from the patient's right to left (radiological view), that is
``image = minip[::-1, ::-1, m].T`` for a MinIP in RAS+ voxel order. Labelme points are
``[x, y] = [column, row]`` with the centre of pixel ``(row, col)`` at ``(col, row)``. A polygon
labels the pixels whose centres lie inside it; a line strip labels the pixels whose centres lie
within half its width of the line.
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scvbench import io
from scvbench.errors import ScvbenchError

__all__ = [
    "EXPORT_NAME",
    "from_display",
    "rasterize_shapes",
    "to_display",
    "window_to_uint8",
    "write_png",
]

log = logging.getLogger(__name__)

#: PNG export name of MinIP slice ``m`` of a participant (also the Labelme ``imagePath``).
EXPORT_NAME = "sub-{label}_minip-{slice:03d}.png"
_NAME = re.compile(r"^(?P<who>.+?)_minip-(?P<slice>\d+)$")


def to_display(image: np.ndarray) -> np.ndarray:
    """A MinIP slice (``i`` = left to right, ``j`` = posterior to anterior) as displayed.

    Examples
    --------
    >>> to_display(np.arange(6).reshape(3, 2)).tolist()
    [[5, 3, 1], [4, 2, 0]]
    """
    return np.asarray(image)[::-1, ::-1].T


def from_display(image: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_display`.

    Examples
    --------
    >>> a = np.arange(12).reshape(4, 3)
    >>> bool((from_display(to_display(a)) == a).all())
    True
    """
    return np.asarray(image).T[::-1, ::-1]


def window_to_uint8(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``[low, high]`` linearly to 0-255 (clipped): the fixed display window of an export."""
    scale = 255.0 / max(float(high) - float(low), 1e-12)
    return np.clip(np.rint((np.asarray(image, float) - low) * scale), 0, 255).astype(np.uint8)


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an 8-bit grayscale PNG atomically."""
    from PIL import Image

    with io.atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image), mode="L").save(tmp, format="PNG")


def _polygon(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from skimage.draw import polygon2mask

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
            raise ScvbenchError(
                f"{source}: shape {number} has no valid points; re-save the file in Labelme"
            ) from None
        if not np.isfinite(points).all():
            raise ScvbenchError(f"{source}: shape {number} has non-finite points")
        if kind == "polygon":
            if len(points) < 3:
                raise ScvbenchError(
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
                raise ScvbenchError(
                    f"{source}: shape {number} is a {kind}; give its width in pixels with "
                    "--line-width to rasterise line strips"
                )
            part = _thick_line(points, shape, line_width)
        else:
            raise ScvbenchError(
                f"{source}: shape {number} is a {kind!r}; vein outlines must be polygons, "
                "rectangles, circles or line strips"
            )
        result.mask |= part
        result.used += 1
    return result


def parse_name(stem: str) -> tuple[str, int] | None:
    """``(who, slice)`` from a name like ``sub-001_minip-012`` or ``P0223674_minip-012``.

    Examples
    --------
    >>> parse_name("sub-001_minip-012")
    ('sub-001', 12)
    >>> parse_name("notes") is None
    True
    """
    match = _NAME.match(stem)
    if match is None:
        return None
    return match["who"], int(match["slice"])


def read_labelme(path: Path) -> dict:
    """Load a Labelme JSON document, or raise one clear error naming the file."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ScvbenchError(f"{path}: not a readable Labelme JSON file ({err})") from None
    if not isinstance(document, dict) or not isinstance(document.get("shapes"), list):
        raise ScvbenchError(f"{path}: not a Labelme file (no 'shapes' list)")
    return document
