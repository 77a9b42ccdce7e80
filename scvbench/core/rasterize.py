"""Labelme shapes to a pixel mask, in display coordinates.

Labelme points are ``[x, y] = [column, row]`` with the centre of pixel ``(row, col)`` at
``(col, row)``. Two rules turn an outline into pixels:

- ``labelme`` (the default): as Labelme itself does (``labelme.utils.shape_to_mask``, used by
  ``labelme_json_to_dataset``): PIL draws the polygon filled *and* its outline, so every pixel
  the outline passes through is labelled. A rater who traces a vein's edge gets the vein with
  its edge pixels.
- ``centre``: the pixels whose centres lie inside the polygon (a line strip: within half its
  width of the line). Thinner by about one pixel across a vein.

Shape types: ``polygon``, ``rectangle``, ``oriented_rectangle``, ``circle``, ``line`` and
``linestrip`` (with a width), and ``mask`` (Labelme 5.3+ brush and AI masks: a base64 PNG over
the bounding box ``points``). ``point`` and ``points`` cannot outline a vein: they are skipped
and reported, never silently.
"""

from __future__ import annotations

import base64
import binascii
import io
import itertools
import math
import re
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw
from skimage.draw import polygon2mask

__all__ = ["RULES", "Rasterized", "label_matches", "rasterize_shapes"]

#: The rasterisation rules, by name.
RULES = ("labelme", "centre")
#: How far (pixels) a point may lie outside the image: Labelme keeps points on the canvas.
_MARGIN = 1.0


def label_matches(label: str, wanted: tuple[str, ...]) -> bool:
    """Whether a Labelme label names one of ``wanted``.

    Case and surrounding blanks are ignored, and a number after a space, ``-`` or ``_`` is an
    instance number (``Vein``, ``vein 2``, ``vein_3`` all match ``vein``); nothing else matches.

    Parameters
    ----------
    label : str
        The shape's label.
    wanted : tuple of str
        The labels that mark veins.

    Returns
    -------
    bool
        True when ``label`` is one of ``wanted`` by these rules.

    Examples
    --------
    >>> label_matches(" Vein_2", ("vein",)), label_matches("veins", ("vein",))
    (True, False)
    """
    text = re.sub(r"[\s_-]+\d+$", "", str(label).strip()).casefold()
    return text in {w.strip().casefold() for w in wanted}


def _pil_mask(shape: tuple[int, int], draw) -> np.ndarray:
    image = Image.new("L", (shape[1], shape[0]), 0)
    draw(ImageDraw.Draw(image))
    return np.asarray(image, dtype=bool)


def _polygon(points: np.ndarray, shape: tuple[int, int], rule: str) -> np.ndarray:
    if rule == "centre":
        return polygon2mask(shape, points[:, ::-1])  # (row, col) vertices
    xy = [tuple(map(float, p)) for p in points]
    return _pil_mask(shape, lambda d: d.polygon(xy, outline=1, fill=1))


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


def _line(points: np.ndarray, shape: tuple[int, int], width: float, rule: str) -> np.ndarray:
    if rule == "centre":
        return _thick_line(points, shape, width)
    xy = [tuple(map(float, p)) for p in points]
    return _pil_mask(shape, lambda d: d.line(xy, fill=1, width=max(1, round(width))))


def _circle(points: np.ndarray, shape: tuple[int, int], rule: str) -> np.ndarray:
    (cx, cy), (px, py) = points[0], points[-1]
    radius = math.hypot(px - cx, py - cy)
    if rule == "centre":
        rr, cc = np.mgrid[: shape[0], : shape[1]]
        return np.hypot(cc - cx, rr - cy) <= radius + 1e-9
    box = ((cx - radius, cy - radius), (cx + radius, cy + radius))
    return _pil_mask(shape, lambda d: d.ellipse(box, outline=1, fill=1))


def _mask_shape(item: dict, points: np.ndarray, shape: tuple[int, int], where: str) -> np.ndarray:
    """A Labelme ``mask`` shape: a PNG over the box from ``points[0]`` to ``points[1]``."""
    try:
        data = base64.b64decode(str(item["mask"]), validate=True)
        with Image.open(io.BytesIO(data)) as png:
            size = png.size
            (x1, y1), (x2, y2) = points[:2].astype(int)
            if size != (x2 - x1 + 1, y2 - y1 + 1):
                raise ValueError(
                    f"{where} is a mask of {size[0]}x{size[1]} pixels but its box is "
                    f"{x2 - x1 + 1}x{y2 - y1 + 1}; re-save the file in Labelme"
                )
            part = np.asarray(png.convert("L")) > 0
    except (KeyError, binascii.Error, OSError, Image.DecompressionBombError) as err:
        raise ValueError(f"{where} has no readable base64 PNG mask ({err})") from None
    mask = np.zeros(shape, bool)
    mask[y1 : y2 + 1, x1 : x2 + 1] = part
    return mask


@dataclass
class Rasterized:
    """Result of rasterising one Labelme document."""

    mask: np.ndarray
    used: int = 0
    skipped: list[str] = field(default_factory=list)


def _points(item: dict, where: str, shape: tuple[int, int]) -> np.ndarray:
    try:
        points = np.asarray(item["points"], dtype=float).reshape(-1, 2)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"{where} has no valid points; re-save the file in Labelme") from None
    if len(points) == 0 or not np.isfinite(points).all():
        raise ValueError(f"{where} has no points or non-finite points")
    low, high = -_MARGIN, np.array([shape[1], shape[0]]) - 1 + _MARGIN
    if (points < low).any() or (points > high).any():
        x, y = points[np.argmax(np.max(np.abs(points - high / 2) - high / 2, axis=1))]
        raise ValueError(
            f"{where} has a point at ({x:g}, {y:g}), outside the {shape[1]}x{shape[0]} image; "
            "fix the outline in Labelme"
        )
    return points


def rasterize_shapes(
    shapes: list,
    shape: tuple[int, int],
    labels: tuple[str, ...] = ("vein",),
    line_width: float | None = None,
    source: str = "",
    rule: str = "labelme",
) -> Rasterized:
    """Rasterise Labelme ``shapes`` labelled as in ``labels`` into a display-oriented mask.

    Shapes of other labels, and ``point``/``points`` shapes, are skipped and reported. Lines
    need a width: the shape's own ``line_width`` (or ``width``), else ``line_width``.

    Parameters
    ----------
    shapes : list of dict
        The ``shapes`` of a Labelme document.
    shape : tuple of int
        The image's (rows, columns).
    labels : tuple of str
        Labels that mark veins (matched by :func:`label_matches`).
    line_width : float, optional
        Width in pixels of line shapes that carry none.
    source : str
        The file, named in errors.
    rule : str
        ``labelme`` (Labelme's own rasterisation) or ``centre`` (pixel centres inside).

    Returns
    -------
    Rasterized
        The mask, the number of shapes used and the skipped ones.

    Raises
    ------
    ValueError
        A shape without valid points, outside the image, or of an unknown kind.
    """
    if rule not in RULES:
        raise ValueError(f"unknown rasterisation rule {rule!r}; use one of {', '.join(RULES)}")
    result = Rasterized(np.zeros(shape, bool))
    for number, item in enumerate(shapes, 1):
        where = f"{source}: shape {number}"
        if not isinstance(item, dict):
            raise ValueError(f"{where} is not a Labelme shape (an object with label and points)")
        label = str(item.get("label", ""))
        kind = str(item.get("shape_type") or "polygon")
        if not label_matches(label, labels):
            result.skipped.append(f"shape {number} labelled {label!r}")
            continue
        if kind in ("point", "points"):
            result.skipped.append(f"shape {number} is a {kind}: a point cannot outline a vein")
            continue
        points = _points(item, where, shape)
        if kind in ("polygon", "oriented_rectangle"):
            if len(points) < 3:
                raise ValueError(f"{where} has {len(points)} point(s); a {kind} needs 3 or more")
            part = _polygon(points, shape, rule)
        elif kind == "rectangle":
            (x0, y0), (x1, y1) = points[0], points[-1]
            corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
            part = _polygon(corners, shape, rule)
        elif kind == "circle":
            part = _circle(points, shape, rule)
        elif kind in ("line", "linestrip"):
            width = item.get("line_width", item.get("width", line_width))
            try:
                width = float(width)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{where} is a {kind} without a width; give it in pixels with --line-width "
                    "(Labelme's own export would use 10)"
                ) from None
            if not (math.isfinite(width) and width > 0):
                raise ValueError(f"{where} has line width {width:g}; give a positive width")
            part = _line(points, shape, width, rule)
        elif kind == "mask":
            part = _mask_shape(item, points, shape, where)
        else:
            raise ValueError(
                f"{where} is a {kind!r}; vein outlines must be polygons, rectangles, circles, "
                "line strips or masks"
            )
        result.mask |= part
        result.used += 1
    return result
