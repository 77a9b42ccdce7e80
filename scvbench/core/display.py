"""The display orientation of a MinIP slice: the picture a rater sees and Labelme's coordinates.

Rows run from anterior to posterior and columns from the patient's right to left (radiological
view), that is ``image = minip[::-1, ::-1, m].T`` for a MinIP in RAS+ voxel order.
"""

from __future__ import annotations

import numpy as np

__all__ = ["from_display", "to_display", "window_to_uint8"]


def to_display(image: np.ndarray) -> np.ndarray:
    """A MinIP slice (``i`` = left to right, ``j`` = posterior to anterior) as displayed.

    Parameters
    ----------
    image : ndarray
        A 2-D MinIP slice.

    Returns
    -------
    ndarray
        The slice as the rater sees it (a view, not a copy).

    Examples
    --------
    >>> to_display(np.arange(6).reshape(3, 2)).tolist()
    [[5, 3, 1], [4, 2, 0]]
    """
    return np.asarray(image)[::-1, ::-1].T


def from_display(image: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_display`.

    Parameters
    ----------
    image : ndarray
        A 2-D image in display orientation.

    Returns
    -------
    ndarray
        The slice in MinIP voxel order.

    Examples
    --------
    >>> a = np.arange(12).reshape(4, 3)
    >>> bool((from_display(to_display(a)) == a).all())
    True
    """
    return np.asarray(image).T[::-1, ::-1]


def window_to_uint8(image: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map ``[low, high]`` linearly to 0-255 (clipped): the fixed display window of an export.

    Parameters
    ----------
    image : ndarray
        Intensities.
    low, high : float
        The display window.

    Returns
    -------
    ndarray of uint8
        0 at ``low`` and below, 255 at ``high`` and above.
    """
    scale = 255.0 / max(float(high) - float(low), 1e-12)
    return np.clip(np.rint((np.asarray(image, float) - low) * scale), 0, 255).astype(np.uint8)
