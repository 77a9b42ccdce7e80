"""Sliding-slab intensity projections with the slab set in millimetres.

A MinIP slice ``m`` is the minimum over the input slices ``[m * step, m * step + window)`` along
the slice axis, where ``window = round(slab_mm / spacing)`` and ``step = round(step_mm /
spacing)`` (both at least 1). Only whole windows are kept ("valid" mode), so a volume of ``n``
slices gives ``(n - window) // step + 1`` projections. The returned affine places projection ``m``
at the centre of its window, input slice ``m * step + (window - 1) / 2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

__all__ = [
    "SlabWindow",
    "maximum_intensity_projection",
    "minimum_intensity_projection",
    "slab_window",
]


@dataclass(frozen=True)
class SlabWindow:
    """A sliding window along the slice axis, in slices.

    Attributes
    ----------
    window : int
        Number of input slices in one projection.
    step : int
        Input slices between the starts of consecutive projections.
    """

    window: int
    step: int

    def n_projections(self, n_slices: int) -> int:
        """Return how many whole windows fit in ``n_slices`` input slices (0 if none)."""
        if n_slices < self.window:
            return 0
        return (n_slices - self.window) // self.step + 1

    def start(self, index: int) -> int:
        """Return the first input slice of projection ``index``."""
        return index * self.step

    def centre(self, index: int) -> float:
        """Return the (possibly half-integer) input slice at the centre of projection ``index``."""
        return index * self.step + (self.window - 1) / 2

    def covering(self, index: int) -> range:
        """Return the input slices that projection ``index`` covers."""
        return range(self.start(index), self.start(index) + self.window)

    def affine(self, affine: np.ndarray, axis: int = 2) -> np.ndarray:
        """Return the affine of the projected volume given the input volume's ``affine``."""
        to_input = np.eye(4)
        to_input[axis, axis] = self.step
        to_input[axis, 3] = (self.window - 1) / 2
        return np.asarray(affine, dtype=float) @ to_input


def slab_window(slab_mm: float, step_mm: float, spacing_mm: float) -> SlabWindow:
    """Convert a slab thickness and step in millimetres to a window in slices.

    Parameters
    ----------
    slab_mm, step_mm : float
        Slab thickness and step between projections, in millimetres (both > 0).
    spacing_mm : float
        Distance between input slice centres along the projection axis, in millimetres.

    Returns
    -------
    SlabWindow
        ``window = max(1, round(slab_mm / spacing_mm))``, ``step = max(1, round(step_mm /
        spacing_mm))``.

    Examples
    --------
    >>> slab_window(20, 1, 1.0)
    SlabWindow(window=20, step=1)
    >>> slab_window(20, 1, 1.5)
    SlabWindow(window=13, step=1)
    """
    for name, value in (("slab_mm", slab_mm), ("step_mm", step_mm), ("spacing_mm", spacing_mm)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a positive number of millimetres, got {value!r}")
    window = max(1, round(slab_mm / spacing_mm))
    step = max(1, round(step_mm / spacing_mm))
    return SlabWindow(window=window, step=step)


def _sliding(volume: np.ndarray, window: SlabWindow, axis: int, filt) -> np.ndarray:
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3-D, got shape {volume.shape}")
    n = volume.shape[axis]
    count = window.n_projections(n)
    if count == 0:
        raise ValueError(
            f"the slab of {window.window} slices is thicker than the volume ({n} slices along "
            f"axis {axis}); use a thinner slab"
        )
    w = window.window
    # scipy's window for output n covers [n - w // 2 - origin, n - w // 2 - origin + w): with
    # the largest legal origin, the window starting at s is read at n = s + w // 2 + origin.
    origin = (w - 1) // 2
    filtered = filt(volume, size=w, axis=axis, origin=origin, mode="nearest")
    starts = np.arange(count) * window.step
    return np.take(filtered, starts + w // 2 + origin, axis=axis)


def minimum_intensity_projection(
    volume: np.ndarray, window: SlabWindow, axis: int = 2
) -> np.ndarray:
    """Return the sliding-slab minimum of ``volume`` along ``axis`` (valid windows only).

    Equal to ``volume[..., s:s + window].min(axis)`` for every start ``s = m * step``, computed
    in time independent of the window length.

    Examples
    --------
    >>> v = np.arange(8, dtype=float).reshape(1, 1, 8)[..., ::-1]
    >>> minimum_intensity_projection(v, SlabWindow(window=3, step=2))[0, 0].tolist()
    [5.0, 3.0, 1.0]
    """
    return _sliding(volume, window, axis, ndimage.minimum_filter1d)


def maximum_intensity_projection(
    volume: np.ndarray, window: SlabWindow, axis: int = 2
) -> np.ndarray:
    """Return the sliding-slab maximum (the projection of a mask or label volume)."""
    return _sliding(volume, window, axis, ndimage.maximum_filter1d)
