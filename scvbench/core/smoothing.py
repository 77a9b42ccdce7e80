"""Gaussian smoothing where only a box of the result is needed, with SciPy's values there.

``scipy.ndimage.gaussian_filter`` filters along each axis in turn over the whole volume. When
the caller reads the result inside a box only (the ventricle step's 15 mm bias field, inside
the brain's box), each pass after the first needs whole lines only through the box's positions
along the axes already filtered: :func:`gaussian_on_box` cuts each axis to the box once it is
filtered. Every line is filtered whole, in the same order and dtype, so the values in the box
are SciPy's bit for bit (tested).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["gaussian_on_box"]


def gaussian_on_box(volume: np.ndarray, sigma, box: tuple[slice, ...]) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(volume, sigma)[box]``, filtering only what the box needs.

    Parameters
    ----------
    volume : ndarray
        The image (the result has its dtype, as SciPy's).
    sigma : sequence of float
        Standard deviation per axis, in voxels.
    box : tuple of slice
        One slice with unit step per axis.

    Returns
    -------
    ndarray
        The smoothed image on ``box``.
    """
    out = np.asarray(volume)
    if len(sigma) != out.ndim or len(box) != out.ndim:
        raise ValueError(f"one sigma and one slice per axis of a {out.ndim}-D volume")
    for axis, (s, cut) in enumerate(zip(sigma, box, strict=True)):
        if s > 1e-15:  # as SciPy: an axis with no width is not filtered
            out = ndimage.gaussian_filter1d(out, float(s), axis)
        out = out[(slice(None),) * axis + (cut,)]
    return out
