"""Segmentation scores of one 2-D vein mask against a reference, inside the brain mask.

Every score is defined for every input, never NaN; the conventions for empty masks are fixed
here and documented in the README:

- ``accuracy`` (the study's pixel accuracy), ``dice``, ``iou``, ``precision``, ``recall``:
  over the brain's pixels. Both masks empty: 1 for all. Only one empty: Dice and IoU 0; the
  precision of an empty prediction and the recall against an empty reference are 0.
- ``cldice`` (Shit et al. 2021): 2 Tprec Tsens / (Tprec + Tsens) with Tprec = |S(P) & R| / |S(P)|
  and Tsens = |S(R) & P| / |S(R)|, S the skeleton (``skimage.morphology.skeletonize``). Both
  empty: 1; one empty: 0.
- ``hd95_mm``: the 95th percentile Hausdorff distance between the masks' edges (pixels of the
  mask with a background 4-neighbour, as MONAI's ``get_mask_edges``), the larger of the two
  directed 95th percentiles, in mm from ``spacing``, as MONAI's ``compute_hausdorff_distance``
  with ``percentile=95``. ``assd_mm``: the mean of all edge-to-edge distances of both
  directions. Both empty: 0; one empty: the image diagonal in mm (:func:`worst_case`).
- ``betti0_error``: |components(P) - components(R)|, 8-connected (Betti number 0).
- ``count_error``: |vessels(P) - vessels(R)|, vessels as ``scvbench.core.morphometry`` counts them
  (8-connected components of at least ``min_area_mm2``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from scvbench.defaults import DEFAULTS
from scvbench.results import ScoreSummary

__all__ = [
    "SCORES",
    "bootstrap_ci",
    "segmentation_scores",
    "summarise",
    "worst_case",
]

#: Score names in the order of the tables.
SCORES = (
    "accuracy",
    "dice",
    "iou",
    "cldice",
    "precision",
    "recall",
    "hd95_mm",
    "assd_mm",
    "betti0_error",
    "count_error",
)

_EIGHT = np.ones((3, 3), bool)


def _components(mask: np.ndarray, min_pixels: float = 0) -> int:
    return _component_counts(mask, min_pixels)[1 if min_pixels > 1 else 0]


def _component_counts(mask: np.ndarray, min_pixels: float) -> tuple[int, int]:
    """8-connected components of ``mask``: all of them, and those of at least ``min_pixels``."""
    labels, count = ndimage.label(mask, structure=_EIGHT)
    if count == 0:
        return 0, 0
    if min_pixels <= 1:
        return int(count), int(count)
    sizes = np.bincount(labels.ravel())[1:]
    return int(count), int(np.count_nonzero(sizes >= min_pixels))


def _edges(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` with a background 4-neighbour (outside the image is background)."""
    padded = np.pad(mask, 1)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~interior


def _crop(*masks: np.ndarray, margin: int = 2) -> tuple[slice, slice]:
    """The box holding every ``True`` pixel of ``masks``, ``margin`` wider (within the image).

    Every score but the pixel counts is local to the masks: skeletons, edges (the image's border
    counts as background in both), distances between edges and components are the same on this
    box as on the whole image.
    """
    rows = np.flatnonzero(np.logical_or.reduce([m.any(axis=1) for m in masks]))
    cols = np.flatnonzero(np.logical_or.reduce([m.any(axis=0) for m in masks]))
    shape = masks[0].shape
    return (
        slice(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, shape[0])),
        slice(max(cols[0] - margin, 0), min(cols[-1] + margin + 1, shape[1])),
    )


def _diagonal(shape, spacing) -> float:
    return float(np.hypot(shape[0] * spacing[0], shape[1] * spacing[1]))


def worst_case(
    reference: np.ndarray, spacing=(1.0, 1.0), min_area_mm2: float = DEFAULTS.min_area_mm2
) -> dict:
    """The scores of a missing or unusable prediction for ``reference`` (fixed in advance).

    Parameters
    ----------
    reference : ndarray of bool
        The reference mask of the slice (inside the brain).
    spacing : tuple of float
        Pixel size in mm.
    min_area_mm2 : float
        Components smaller than this are not vessels (for the count error).

    Returns
    -------
    dict
        One value per score of :data:`SCORES`: Dice and clDice 0, HD95 and ASSD the image diagonal.
    """
    reference = np.asarray(reference) > 0
    spacing = tuple(np.broadcast_to(np.asarray(spacing, float), (2,)))
    return {
        "accuracy": 0.0,
        "dice": 0.0,
        "iou": 0.0,
        "cldice": 0.0,
        "precision": 0.0,
        "recall": 0.0,
        "hd95_mm": _diagonal(reference.shape, spacing),
        "assd_mm": _diagonal(reference.shape, spacing),
        "betti0_error": float(_components(reference)),
        "count_error": float(_components(reference, min_area_mm2 / (spacing[0] * spacing[1]))),
    }


def _distances(from_pixels: np.ndarray, to_pixels: np.ndarray, spacing) -> np.ndarray:
    """Distances (mm) from each pixel of ``from_pixels`` to the nearest of ``to_pixels``.

    Both are ``(n, 2)`` pixel indices (the masks' edges). The nearest pixel is found with a k-d
    tree (in mm) and the distance recomputed from the pixel offsets as
    ``scipy.ndimage.distance_transform_edt`` with ``sampling`` computes it: the same values,
    without a transform of the whole image.
    """
    scale = np.asarray(spacing, float)
    _, nearest = cKDTree(to_pixels * scale).query(from_pixels * scale)
    offsets = (to_pixels[nearest] - from_pixels).astype(np.float64) * scale
    return np.sqrt(np.add.reduce(offsets * offsets, axis=1))


def segmentation_scores(
    prediction: np.ndarray,
    reference: np.ndarray,
    brain: np.ndarray | None = None,
    spacing=(1.0, 1.0),
    min_area_mm2: float = DEFAULTS.min_area_mm2,
) -> dict:
    """The scores of :data:`SCORES` for one slice (see the module docstring).

    Parameters
    ----------
    prediction, reference : ndarray of bool
        2-D masks of one slice.
    brain : ndarray of bool, optional
        Only pixels inside it are scored.
    spacing : tuple of float
        Pixel size in mm.
    min_area_mm2 : float
        Components smaller than this are not vessels (for the count error).

    Returns
    -------
    dict
        One value per score of :data:`SCORES`.

    Examples
    --------
    >>> ref = np.zeros((20, 20), bool); ref[5:15, 8:11] = True
    >>> scores = segmentation_scores(ref, ref)
    >>> scores["dice"], scores["hd95_mm"], scores["betti0_error"]
    (1.0, 0.0, 0.0)
    """
    prediction = np.asarray(prediction) > 0
    reference = np.asarray(reference) > 0
    if prediction.shape != reference.shape or prediction.ndim != 2:
        raise ValueError(
            f"prediction {prediction.shape} and reference {reference.shape} must be the same 2-D "
            "shape"
        )
    spacing = tuple(float(s) for s in np.broadcast_to(np.asarray(spacing, float), (2,)))
    inside = np.ones_like(reference) if brain is None else np.asarray(brain) > 0
    p, r = prediction & inside, reference & inside
    tp = float(np.count_nonzero(p & r))
    fp = float(np.count_nonzero(p & ~r))
    fn = float(np.count_nonzero(~p & r))
    n = float(np.count_nonzero(inside))
    tn = n - tp - fp - fn
    p_any, r_any = tp + fp > 0, tp + fn > 0
    out = {
        "accuracy": (tp + tn) / n if n else 1.0,
        "dice": 2 * tp / (2 * tp + fp + fn) if p_any or r_any else 1.0,
        "iou": tp / (tp + fp + fn) if p_any or r_any else 1.0,
        "precision": tp / (tp + fp) if p_any else (0.0 if r_any else 1.0),
        "recall": tp / (tp + fn) if r_any else (0.0 if p_any else 1.0),
    }
    min_pixels = min_area_mm2 / (spacing[0] * spacing[1])
    if not (p_any or r_any):
        out.update(cldice=1.0, hd95_mm=0.0, assd_mm=0.0, betti0_error=0.0, count_error=0.0)
        return {name: float(out[name]) for name in SCORES}
    box = _crop(p, r)
    p, r = p[box], r[box]
    if p_any and r_any:
        sp, sr = skeletonize(p), skeletonize(r)
        tprec = np.count_nonzero(sp & r) / max(np.count_nonzero(sp), 1)
        tsens = np.count_nonzero(sr & p) / max(np.count_nonzero(sr), 1)
        out["cldice"] = 2 * tprec * tsens / (tprec + tsens) if tprec + tsens > 0 else 0.0
        edge_p, edge_r = np.argwhere(_edges(p)), np.argwhere(_edges(r))
        d_pr, d_rp = _distances(edge_p, edge_r, spacing), _distances(edge_r, edge_p, spacing)
        out["hd95_mm"] = float(max(np.percentile(d_pr, 95), np.percentile(d_rp, 95)))
        out["assd_mm"] = float(np.concatenate([d_pr, d_rp]).mean())
    else:
        diagonal = _diagonal(reference.shape, spacing)
        out.update(cldice=0.0, hd95_mm=diagonal, assd_mm=diagonal)
    (p_all, p_vessels), (r_all, r_vessels) = (_component_counts(m, min_pixels) for m in (p, r))
    out["betti0_error"] = float(abs(p_all - r_all))
    out["count_error"] = float(abs(p_vessels - r_vessels))
    return {name: float(out[name]) for name in SCORES}


def bootstrap_ci(
    values: np.ndarray, seed: int = DEFAULTS.seed, n_boot: int = DEFAULTS.bootstrap
) -> tuple[float, float]:
    """Bootstrap 95 % confidence interval of the mean (percentile method).

    Parameters
    ----------
    values : ndarray
        One value per case.
    seed : int
        Seed of the resampling.
    n_boot : int
        Number of resamples.

    Returns
    -------
    tuple of float
        The 2.5 and 97.5 percentiles of the resampled means (the mean twice for fewer than 2).
    """
    if len(values) < 2:
        return float(values.mean()), float(values.mean())
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n_boot, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def summarise(cases: pd.DataFrame) -> dict:
    """Mean, median and bootstrap 95 % CI of the mean for each score over the cases.

    Parameters
    ----------
    cases : DataFrame
        One row per case with a column per score of :data:`SCORES`.

    Returns
    -------
    dict
        ``{score: ScoreSummary}``.
    """
    out = {}
    for name in SCORES:
        values = cases[name].to_numpy(float)
        low, high = bootstrap_ci(values)
        out[name] = ScoreSummary(float(values.mean()), float(np.median(values)), low, high)
    return out
