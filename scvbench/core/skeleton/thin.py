"""Pinhole filling and topology-preserving thinning, as ``skimage.morphology.thin`` (compiled)."""

from __future__ import annotations

import numba
import numpy as np
from skimage.morphology._skeletonize import G123_LUT, G123P_LUT

__all__ = ["LUTS", "STEP_COLS", "STEP_ROWS", "fill_pinholes", "thin"]

#: Thinning lookup tables of skimage (Guo-Hall's two subiterations).
LUTS = np.stack([G123_LUT, G123P_LUT]).astype(np.bool_)

#: Row and column offsets of the 8 neighbours.
STEP_ROWS = np.array([-1, -1, -1, 0, 0, 1, 1, 1])
STEP_COLS = np.array([-1, 0, 1, -1, 1, -1, 0, 1])


@numba.njit(cache=True)
def fill_pinholes(image, label, max_size):
    """Component ``label`` of ``image`` (labels) with its holes of up to ``max_size`` pixels filled.

    A hole is a 4-connected set of background (0) pixels that the background outside cannot
    reach; holes holding another vessel's pixels are not filled.

    Parameters
    ----------
    image : ndarray of int
        Component labels.
    label : int
        The component.
    max_size : int
        Largest hole filled, in pixels.

    Returns
    -------
    ndarray of bool
        The component with its small holes filled.
    """
    h, w = image.shape
    comp = image == label
    reached = np.zeros((h, w), np.bool_)
    stack = np.empty((h * w, 2), np.int64)
    top = 0
    for r in range(h):
        for c in range(w):
            if (r == 0 or c == 0 or r == h - 1 or c == w - 1) and not comp[r, c]:
                reached[r, c] = True
                stack[top, 0] = r
                stack[top, 1] = c
                top += 1
    while top > 0:
        top -= 1
        r, c = stack[top, 0], stack[top, 1]
        for k in (1, 3, 4, 6):  # 4-neighbours
            rr, cc = r + STEP_ROWS[k], c + STEP_COLS[k]
            if 0 <= rr < h and 0 <= cc < w and not reached[rr, cc] and not comp[rr, cc]:
                reached[rr, cc] = True
                stack[top, 0] = rr
                stack[top, 1] = cc
                top += 1
    seen = reached.copy()
    hole = np.empty((h * w, 2), np.int64)
    for r in range(h):
        for c in range(w):
            if seen[r, c] or comp[r, c]:
                continue
            # One hole: collect it, then fill it when small and free of other vessels.
            n = 0
            clean = True
            seen[r, c] = True
            stack[0, 0] = r
            stack[0, 1] = c
            top = 1
            while top > 0:
                top -= 1
                pr, pc = stack[top, 0], stack[top, 1]
                hole[n, 0] = pr
                hole[n, 1] = pc
                n += 1
                if image[pr, pc] != 0:
                    clean = False
                for k in (1, 3, 4, 6):
                    rr, cc = pr + STEP_ROWS[k], pc + STEP_COLS[k]
                    if not seen[rr, cc] and not comp[rr, cc]:
                        seen[rr, cc] = True
                        stack[top, 0] = rr
                        stack[top, 1] = cc
                        top += 1
            if clean and n <= max_size:
                for i in range(n):
                    comp[hole[i, 0], hole[i, 1]] = True
    return comp


@numba.njit(cache=True)
def thin(image, luts):
    """Guo-Hall thinning, the tables and order of ``skimage.morphology.thin``; in place.

    Parameters
    ----------
    image : ndarray of bool
        The mask (changed in place).
    luts : ndarray of bool
        The two subiterations' lookup tables (:data:`LUTS`).

    Returns
    -------
    ndarray of bool
        The skeleton.
    """
    skel = image
    h, w = skel.shape
    flags = np.zeros((h, w), np.bool_)
    changed = True
    while changed:
        changed = False
        for k in range(2):
            for r in range(h):
                for c in range(w):
                    flags[r, c] = False
                    if not skel[r, c]:
                        continue
                    n = 0
                    if r > 0:
                        if c > 0 and skel[r - 1, c - 1]:
                            n += 8
                        if skel[r - 1, c]:
                            n += 4
                        if c < w - 1 and skel[r - 1, c + 1]:
                            n += 2
                    if c > 0 and skel[r, c - 1]:
                        n += 16
                    if c < w - 1 and skel[r, c + 1]:
                        n += 1
                    if r < h - 1:
                        if c > 0 and skel[r + 1, c - 1]:
                            n += 32
                        if skel[r + 1, c]:
                            n += 64
                        if c < w - 1 and skel[r + 1, c + 1]:
                            n += 128
                    flags[r, c] = luts[k, n]
            for r in range(h):
                for c in range(w):
                    if flags[r, c]:
                        skel[r, c] = False
                        changed = True
    return skel
