"""Simulated raters who outline veins in Labelme, with realistic disagreement.

Each rater sees one MinIP slice and outlines every vein they notice as a polygon. They miss faint
veins (thin or short ones) at a rater-specific rate and trace boundaries with a smooth jitter of a
fraction of a pixel. Polygons are in Labelme's image coordinates: ``x`` = column, ``y`` = row, the
centre of pixel ``(row, col)`` at ``(col, row)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import measure

from scvbench.defaults import DEFAULTS

__all__ = ["RATERS", "Rater", "labelme_document", "outline_vessels"]

LABELME_VERSION = "5.5.0"


@dataclass(frozen=True)
class Rater:
    """How one simulated rater behaves."""

    name: str
    miss_faint: float  # probability of missing the faintest veins
    jitter_px: float  # standard deviation of the boundary jitter
    bias_px: float  # systematic outward (+) or inward (-) offset of the outline


_REFERENCE, _SECOND = DEFAULTS.raters
RATERS = (
    Rater(_REFERENCE, miss_faint=0.10, jitter_px=0.25, bias_px=0.0),
    Rater(_SECOND, miss_faint=0.30, jitter_px=0.35, bias_px=0.15),
)


def _visibility(component: np.ndarray, spacing: tuple[float, float]) -> float:
    """A 0-1 conspicuity score: thin, short veins are faint."""
    area = component.sum() * spacing[0] * spacing[1]
    width = area / max(np.sqrt(area), 1e-6)
    return float(np.clip(area / 40.0, 0.0, 1.0) * np.clip(width / 3.0, 0.3, 1.0))


def _outline(component: np.ndarray, rater: Rater, rng: np.random.Generator) -> np.ndarray | None:
    padded = np.pad(component.astype(float), 1)
    contours = measure.find_contours(padded, 0.5)
    if not contours:
        return None
    contour = max(contours, key=len) - 1.0  # (row, col) in image pixels
    if len(contour) < 4:
        return None
    centre = contour.mean(0)
    tangent = np.gradient(contour, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    norm = np.linalg.norm(normal, axis=1, keepdims=True)
    normal = np.divide(normal, norm, out=np.zeros_like(normal), where=norm > 0)
    # Orient normals outwards (contour winding differs between components).
    if np.mean(np.sum((contour - centre) * normal, axis=1)) < 0:
        normal = -normal
    noise = ndimage.gaussian_filter1d(rng.normal(0.0, 1.0, len(contour)), 2.0, mode="wrap")
    noise *= rater.jitter_px / max(noise.std(), 1e-6)
    moved = contour + normal * (noise + rater.bias_px)[:, None]
    simplified = measure.approximate_polygon(moved, tolerance=0.35)
    if len(simplified) < 4:
        simplified = moved
    if np.allclose(simplified[0], simplified[-1]):
        simplified = simplified[:-1]
    return simplified


def outline_vessels(
    labels: np.ndarray,
    spacing: tuple[float, float],
    rater: Rater,
    rng: np.random.Generator,
) -> tuple[list[dict], list[int]]:
    """Return ``(shapes, outlined_ids)``: Labelme shapes for the vessels a rater outlines.

    ``labels`` is an image (rows x columns) of vessel ids, 0 = background.

    Parameters
    ----------
    labels : ndarray of int
        The true vessels of one MinIP slice, one label each, in display orientation.
    spacing : tuple of float
        Pixel size in mm.
    rater : Rater
        How the rater misses faint veins and where the outline lands.
    rng : numpy.random.Generator
        The subject's random stream.

    Returns
    -------
    shapes : list of dict
        Labelme polygons.
    outlined_ids : list of int
        The vessel labels outlined.
    """
    shapes = []
    outlined = []
    boxes = ndimage.find_objects(labels)
    for vessel in [int(v) for v in np.unique(labels) if v != 0]:
        box = boxes[vessel - 1]  # the vessel's bounding box: its outline is the same as on the
        component = labels[box] == vessel  # whole image, shifted (find_contours is local)
        faint = 1.0 - _visibility(component, spacing)
        if rng.uniform() < rater.miss_faint * faint * 2.0:
            continue
        polygon = _outline(component, rater, rng)
        if polygon is None:
            continue
        polygon = polygon + np.array([box[0].start, box[1].start])
        points = [[round(float(c), 2), round(float(r), 2)] for r, c in polygon]
        shapes.append(
            {
                "label": "vein",
                "points": points,
                "group_id": None,
                "description": "",
                "shape_type": "polygon",
                "flags": {},
                "mask": None,
            }
        )
        outlined.append(vessel)
    return shapes, outlined


def labelme_document(
    shapes: list[dict], image_path: str, height: int, width: int, extra: dict
) -> dict:
    """A Labelme JSON document (no embedded image) with scvbench's provenance under ``scvbench``.

    Parameters
    ----------
    shapes : list of dict
        Labelme shapes.
    image_path : str
        The exported PNG's name.
    height, width : int
        The image size.
    extra : dict
        scvbench's provenance (slice, slab, rater).

    Returns
    -------
    dict
        The document as Labelme writes it; a slice the rater saw no vein on carries the file
        flag ``no_vein`` (which ``annotations import`` requires of a file without outlines).
    """
    return {
        "version": LABELME_VERSION,
        "flags": {"no_vein": True} if not shapes else {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": int(height),
        "imageWidth": int(width),
        "scvbench": extra,
    }
