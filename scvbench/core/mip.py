"""Sliding-slab intensity projections with the slab set in millimetres.

A MinIP slice ``m`` is the minimum over the input slices ``[m * step, m * step + window)`` along
the slice axis, where ``window = round(slab_mm / spacing)`` and ``step = round(step_mm /
spacing)`` (both at least 1). Only whole windows are kept ("valid" mode), so a volume of ``n``
slices gives ``(n - window) // step + 1`` projections. The returned affine places projection ``m``
at the centre of its window, input slice ``m * step + (window - 1) / 2``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

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


#: In-plane pixels processed together: the running buffers (``window`` + 1 rows of this
#: length) stay in cache while the input and output stream through memory once.
_TILE = 32768


def _blocks(n: int, window: SlabWindow) -> list[tuple[int, int, list[int]]]:
    """Blocks ``[b0, b1)`` of ``window`` slices and the projection starts inside each."""
    w, blocks = window.window, []
    for b0 in range(0, n, w):
        b1 = min(b0 + w, n)
        starts = [t for t in range(b0, b1) if t % window.step == 0 and t + w <= n]
        if starts:
            blocks.append((b0, b1, starts))
    return blocks


def _reduce_tiles(
    flat: np.ndarray,
    out: np.ndarray,
    window: SlabWindow,
    blocks: list[tuple[int, int, list[int]]],
    tiles: list[tuple[int, int]],
    ufunc: np.ufunc,
) -> None:
    """Fill columns ``tiles`` of ``out`` (projections x pixels) from ``flat`` (slices x pixels)."""
    w = window.window
    width = max(p1 - p0 for p0, p1 in tiles)
    suffix = np.empty((w, width), dtype=flat.dtype)
    prefix = np.empty(width, dtype=flat.dtype)
    for p0, p1 in tiles:
        x = flat[:, p0:p1]
        o = out[:, p0:p1]
        s = suffix[:, : p1 - p0]
        p = prefix[: p1 - p0]
        for b0, b1, starts in blocks:
            s[b1 - 1 - b0] = x[b1 - 1]
            for k in range(b1 - 2, starts[0] - 1, -1):
                ufunc(s[k + 1 - b0], x[k], out=s[k - b0])
            filled = b1  # the prefix holds slices [b1, filled)
            for t in starts:
                last = t + w - 1
                if last < b1:  # the window is this whole block
                    o[t // window.step] = s[t - b0]
                    continue
                while filled <= last:
                    if filled == b1:
                        p[...] = x[filled]
                    else:
                        ufunc(p, x[filled], out=p)
                    filled += 1
                ufunc(s[t - b0], p, out=o[t // window.step])


def _sliding(
    volume: np.ndarray, window: SlabWindow, axis: int, ufunc: np.ufunc, threads: int
) -> np.ndarray:
    """Sliding reduction with van Herk / Gil-Werman block prefixes and suffixes.

    The slice axis is split into blocks of ``window`` slices. A window starting at ``t`` spans the
    tail of its block (suffix reduction ``S[t]``) and the head of the next (prefix reduction up to
    ``t + window - 1``), so each projection costs one ``ufunc`` call per slice whatever the window
    length. Work runs on tiles of in-plane pixels so the buffers stay in cache; ``threads``
    workers share the tiles.
    """
    volume = np.asarray(volume)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3-D, got shape {volume.shape}")
    n = volume.shape[axis]
    count = window.n_projections(n)
    if count == 0:
        raise ValueError(
            f"the slab of {window.window} slices is thicker than the volume ({n} slices along "
            f"axis {axis}); use a thinner slab"
        )
    planes = np.moveaxis(volume, axis, 0)  # (slices, a, b)
    # Rows of ``flat`` are whole slices; a view when every slice is contiguous in memory
    # (NIfTI volumes loaded by nibabel are Fortran-ordered: transpose the in-plane axes).
    swapped = not planes[0].flags.c_contiguous and planes[0].flags.f_contiguous
    ordered = planes.transpose(0, 2, 1) if swapped else planes
    flat = ordered.reshape(n, -1)
    out = np.empty((count, flat.shape[1]), dtype=volume.dtype)
    blocks = _blocks(n, window)
    tiles = [(p0, min(p0 + _TILE, flat.shape[1])) for p0 in range(0, flat.shape[1], _TILE)]
    n_shares = max(1, min(threads, len(tiles)))
    shares = [list(share) for share in np.array_split(np.array(tiles), n_shares)]
    if len(shares) == 1:
        _reduce_tiles(flat, out, window, blocks, shares[0], ufunc)
    else:  # numpy releases the GIL inside ufunc loops
        with ThreadPoolExecutor(len(shares)) as pool:
            jobs = [
                pool.submit(_reduce_tiles, flat, out, window, blocks, share, ufunc)
                for share in shares
            ]
            for job in jobs:
                job.result()
    result = out.reshape((count, *ordered.shape[1:]))
    if swapped:
        result = result.transpose(0, 2, 1)
    return np.moveaxis(result, 0, axis)


def minimum_intensity_projection(
    volume: np.ndarray, window: SlabWindow, axis: int = 2, threads: int = 1
) -> np.ndarray:
    """Return the sliding-slab minimum of ``volume`` along ``axis`` (valid windows only).

    Equal to ``volume[..., s:s + window].min(axis)`` for every start ``s = m * step`` (NaN
    propagates the same way), in time independent of the window length and within a small
    factor of one copy of the volume (``benchmarks/test_bench_mip.py``). ``threads`` workers
    share the in-plane pixels (numpy releases the GIL, so 2 threads run nearly twice as fast).

    Parameters
    ----------
    volume : ndarray
        3-D image.
    window : SlabWindow
        Window and step in slices (:func:`slab_window`).
    axis : int
        The slice axis.
    threads : int
        Tiles computed at once.

    Returns
    -------
    ndarray
        One slice per whole window, in ``volume``'s dtype.

    Examples
    --------
    >>> v = np.arange(8, dtype=float).reshape(1, 1, 8)[..., ::-1]
    >>> minimum_intensity_projection(v, SlabWindow(window=3, step=2))[0, 0].tolist()
    [5.0, 3.0, 1.0]
    """
    return _sliding(volume, window, axis, np.minimum, threads)


def maximum_intensity_projection(
    volume: np.ndarray, window: SlabWindow, axis: int = 2, threads: int = 1
) -> np.ndarray:
    """Return the sliding-slab maximum (the projection of a mask or label volume).

    Parameters
    ----------
    volume : ndarray
        3-D image or mask.
    window : SlabWindow
        Window and step in slices.
    axis : int
        The slice axis.
    threads : int
        Tiles computed at once.

    Returns
    -------
    ndarray
        One slice per whole window.
    """
    return _sliding(volume, window, axis, np.maximum, threads)
