"""One vessel measured in one compiled call: skeleton, longest path, end fits and tips."""

from __future__ import annotations

import numba
import numpy as np

from scvbench.core.skeleton.graph import (
    background_distance,
    chain_length,
    degrees,
    dijkstra,
    nodes,
    pixel_graph,
    prune_spurs,
)
from scvbench.core.skeleton.thin import STEP_COLS, STEP_ROWS, fill_pinholes, thin

__all__ = ["FIELDS", "REGION_FIELDS", "measure_region", "measure_vessel"]

#: Number of output values of :func:`measure_vessel`, in this order.
FIELDS = (
    "n_pixels",
    "raw_total",
    "raw_length",
    "length",
    "chord",
    "closed_loop",
    "n_endpoints",
    "n_junctions",
    "middle_row",
    "middle_col",
    "mean_distance",
    "skeleton_pixels",
)


@numba.njit(cache=True)
def _end_fit(ys, xs, reach):
    """Quadratic ``p(s) = a + b s + c s^2`` fitted to a line's first samples (``s``: arc length).

    Returns (a, b, c) as a (3, 2) array and the fitted stretch's arc length.
    """
    m = min(len(ys), reach + 1)
    fit = np.zeros((3, 2))
    fit[0, 0] = ys[0]
    fit[0, 1] = xs[0]
    s = np.zeros(m)
    for i in range(1, m):
        s[i] = s[i - 1] + np.hypot(ys[i] - ys[i - 1], xs[i] - xs[i - 1])
    if m < 2 or s[m - 1] == 0:
        return fit, 0.0
    if m < 4:  # too short for a curve: the straight line through its ends
        fit[1, 0] = (ys[m - 1] - ys[0]) / s[m - 1]
        fit[1, 1] = (xs[m - 1] - xs[0]) / s[m - 1]
        return fit, s[m - 1]
    design = np.empty((m, 3))
    for i in range(m):
        design[i, 0] = 1.0
        design[i, 1] = s[i]
        design[i, 2] = s[i] ** 2
    target = np.empty((m, 2))
    target[:, 0] = ys[:m]
    target[:, 1] = xs[:m]
    normal = design.T @ design
    if abs(np.linalg.det(normal)) < 1e-12:
        fit[1, 0] = (ys[m - 1] - ys[0]) / s[m - 1]
        fit[1, 1] = (xs[m - 1] - xs[0]) / s[m - 1]
        return fit, s[m - 1]
    fit[:, :] = np.linalg.solve(normal, design.T @ target)
    return fit, s[m - 1]


@numba.njit(cache=True)
def _walk_point(fit, span, by, bx, hy, hx, t):
    """Point ``t`` mm out from ``p(0)``: on the fitted curve up to ``span``, then straight on."""
    if t <= span:
        return (
            fit[0, 0] - fit[1, 0] * t + fit[2, 0] * t * t,
            fit[0, 1] - fit[1, 1] * t + fit[2, 1] * t * t,
        )
    return by + hy * (t - span), bx + hx * (t - span)


@numba.njit(cache=True)
def _inside(comp, y, x, sy, sx):
    h, w = comp.shape
    r = int(np.rint(y / sy))
    c = int(np.rint(x / sx))
    return 0 <= r < h and 0 <= c < w and comp[r, c]


@numba.njit(cache=True)
def _tip(comp, fit, span, sy, sx):
    """Walk outwards from ``p(0)`` along the fitted curve (straight on past ``span``) to the edge.

    Steps of 0.05 pixel until the nearest pixel is outside the component, then bisection to the
    pixel edge where it leaves (so that the tip moves continuously with the inputs). Returns the
    tip (mm) and the walked length (mm).
    """
    h, w = comp.shape
    step = 0.05 * min(sy, sx)
    reach = np.hypot(h * sy, w * sx)
    by = fit[0, 0] - fit[1, 0] * span + fit[2, 0] * span**2
    bx = fit[0, 1] - fit[1, 1] * span + fit[2, 1] * span**2
    hy = -fit[1, 0] + 2 * fit[2, 0] * span
    hx = -fit[1, 1] + 2 * fit[2, 1] * span
    norm = max(np.hypot(hy, hx), 1e-12)
    hy /= norm
    hx /= norm
    py, px = fit[0, 0], fit[0, 1]
    walked = 0.0
    t = 0.0
    while t < reach:
        qy, qx = _walk_point(fit, span, by, bx, hy, hx, t + step)
        if not _inside(comp, qy, qx, sy, sx):
            low, high = t, t + step
            for _ in range(40):
                middle = (low + high) / 2
                my, mx = _walk_point(fit, span, by, bx, hy, hx, middle)
                if _inside(comp, my, mx, sy, sx):
                    low = middle
                else:
                    high = middle
            ey, ex = _walk_point(fit, span, by, bx, hy, hx, low)
            return ey, ex, walked + np.hypot(ey - py, ex - px)
        walked += np.hypot(qy - py, qx - px)
        py, px = qy, qx
        t += step
    return py, px, walked


@numba.njit(cache=True)
def measure_vessel(image, label, sy, sx, luts, end_drop, end_reach):
    """Measure component ``label`` of the label box ``image`` (one pixel of margin or more).

    Returns the values named by :data:`FIELDS` as a float array (``n_pixels`` 0 when the
    skeleton has fewer than two pixels).

    Parameters
    ----------
    image : ndarray of int
        Component labels in a box around the vessel.
    label : int
        The vessel's label.
    sy, sx : float
        Pixel size in mm along rows and columns.
    luts : ndarray of bool
        Thinning lookup tables.
    end_drop, end_reach : float
        The end fits: radii dropped at each tip and samples used.

    Returns
    -------
    ndarray of float
        The values of :data:`FIELDS`.
    """
    out = np.zeros(len(FIELDS))
    comp = fill_pinholes(image, label, 8)
    h, w = comp.shape
    skel = thin(comp.copy(), luts)
    distance = np.zeros((h, w))
    for r in range(h):
        for c in range(w):
            if skel[r, c]:
                distance[r, c] = background_distance(comp, r, c, sy, sx)
    skel = prune_spurs(skel, distance, sy, sx)
    rows, cols, index = nodes(skel)
    n = len(rows)
    out[0] = comp.sum()
    if n < 2:
        out[0] = 0
        return out
    degree = degrees(skel, rows, cols, index)
    indptr, indices, weights, total = pixel_graph(rows, cols, index, degree, sy, sx)
    mean_distance = 0.0
    for i in range(n):
        mean_distance += distance[rows[i], cols[i]]
    out[10] = mean_distance / n
    out[11] = n
    out[1] = total
    out[7] = np.sum(degree > 2)
    ends = np.flatnonzero(degree == 1)
    out[6] = len(ends)
    if len(ends) == 0:  # a closed loop
        out[2] = total
        out[3] = total
        out[5] = 1.0
        out[8] = rows[0]
        out[9] = cols[0]
        return out
    best = -1.0
    best_source = 0
    best_target = 0
    best_pred = np.empty(0, np.int64)
    for e in ends:
        dist, pred = dijkstra(indptr, indices, weights, e)
        if len(ends) >= 2:
            for f in ends:
                if np.isfinite(dist[f]) and dist[f] > best:
                    best, best_source, best_target, best_pred = dist[f], e, f, pred
        else:
            for f in range(n):
                if np.isfinite(dist[f]) and dist[f] > best:
                    best, best_source, best_target, best_pred = dist[f], e, f, pred
    path = [best_target]
    while path[-1] != best_source and best_pred[path[-1]] >= 0:
        path.append(best_pred[path[-1]])
    m = len(path)
    prow = np.empty(m, np.int64)
    pcol = np.empty(m, np.int64)
    radii = np.empty(m)
    for i in range(m):
        prow[i] = rows[path[i]]
        pcol[i] = cols[path[i]]
        radii[i] = distance[prow[i], pcol[i]]
    out[2] = best
    out[8] = prow[m // 2]
    out[9] = pcol[m // 2]
    # Thinning bends the last pixels of a thick vessel towards a corner of its tip: drop about
    # one diameter of path at each end, fit the centre line's position and direction there and
    # walk from there to the vessel's edge.
    radius = np.median(radii) / ((sy + sx) / 2)
    drop = min(int(np.ceil(end_drop * radius)), (m - 1) // 2)
    a0, a1 = drop, m - 1 - drop
    ys = prow[a0 : a1 + 1] * sy
    xs = pcol[a0 : a1 + 1] * sx
    # Each end is fitted on its own third of the path at most (a short hairpin is not a parabola).
    reach = min(end_reach, max(3, (a1 - a0) // 3))
    fit, span = _end_fit(ys, xs, reach)
    y0, x0, head = _tip(comp, fit, span, sy, sx)
    fit, span = _end_fit(ys[::-1].copy(), xs[::-1].copy(), reach)
    y1, x1, tail = _tip(comp, fit, span, sy, sx)
    length = head + chain_length(prow[a0 : a1 + 1], pcol[a0 : a1 + 1], sy, sx) + tail
    chord = np.hypot(y1 - y0, x1 - x0)
    out[3] = max(length, chord)  # the chain estimate is 2 % short on axis-parallel lines
    out[4] = chord
    return out


#: Columns of :func:`measure_region`'s table: :data:`FIELDS`, then the vessel's box in the
#: image (first and last row and column) and whether it touches ``others``.
REGION_FIELDS = (*FIELDS, "row0", "col0", "row1", "col1", "at_border")


@numba.njit(cache=True)
def measure_region(region, others, sy, sx, min_area, luts, end_drop, end_reach):
    """Label the 8-connected components of ``region`` and measure those of ``min_area`` mm² or more.

    ``others`` marks the vein pixels of the other hemispheres (a vessel touching them was cut by
    the border). Returns one row per measured vessel, columns :data:`REGION_FIELDS`, in the order
    of the components' first pixels (row-major).

    Parameters
    ----------
    region : ndarray of bool
        The vein pixels of one hemisphere.
    others : ndarray of bool
        The vein pixels of the other hemispheres.
    sy, sx : float
        Pixel size in mm along rows and columns.
    min_area : float
        Smallest vessel area in mm².
    luts : ndarray of bool
        Thinning lookup tables.
    end_drop, end_reach : float
        The end fits: radii dropped at each tip and samples used.

    Returns
    -------
    ndarray of float
        One row per vessel, columns :data:`REGION_FIELDS`.
    """
    h, w = region.shape
    labels = np.zeros((h + 2, w + 2), np.int32)  # one pixel of margin
    stack = np.empty((max(np.count_nonzero(region), 1), 2), np.int64)
    boxes = []
    count = 0
    for r in range(h):
        for c in range(w):
            if not region[r, c] or labels[r + 1, c + 1] != 0:
                continue
            count += 1
            labels[r + 1, c + 1] = count
            stack[0, 0] = r + 1
            stack[0, 1] = c + 1
            top = 1
            size = 0
            r0, r1, c0, c1 = r + 1, r + 1, c + 1, c + 1
            while top > 0:
                top -= 1
                pr, pc = stack[top, 0], stack[top, 1]
                size += 1
                r0, r1 = min(r0, pr), max(r1, pr)
                c0, c1 = min(c0, pc), max(c1, pc)
                for k in range(8):
                    rr, cc = pr + STEP_ROWS[k], pc + STEP_COLS[k]
                    if 1 <= rr <= h and 1 <= cc <= w and region[rr - 1, cc - 1]:
                        if labels[rr, cc] == 0:
                            labels[rr, cc] = count
                            stack[top, 0] = rr
                            stack[top, 1] = cc
                            top += 1
            boxes.append((r0, r1, c0, c1, size))
    table = np.zeros((count, len(REGION_FIELDS)))
    n = 0
    nfields = len(FIELDS)
    for label in range(1, count + 1):
        r0, r1, c0, c1, size = boxes[label - 1]
        if size * sy * sx < min_area:
            continue
        window = labels[r0 - 1 : r1 + 2, c0 - 1 : c1 + 2]
        values = measure_vessel(window, label, sy, sx, luts, end_drop, end_reach)
        if values[0] == 0:  # a single skeleton pixel: a speck, not a vessel
            continue
        table[n, :nfields] = values
        # Back to image coordinates (the margin is one pixel).
        table[n, 8] += r0 - 2
        table[n, 9] += c0 - 2
        table[n, nfields] = r0 - 1
        table[n, nfields + 1] = c0 - 1
        table[n, nfields + 2] = r1 - 1
        table[n, nfields + 3] = c1 - 1
        border = False
        for pr in range(r0, r1 + 1):
            for pc in range(c0, c1 + 1):
                if labels[pr, pc] != label:
                    continue
                for k in range(8):
                    rr, cc = pr - 1 + STEP_ROWS[k], pc - 1 + STEP_COLS[k]
                    if 0 <= rr < h and 0 <= cc < w and others[rr, cc]:
                        border = True
        table[n, nfields + 4] = border
        n += 1
    return table[:n]
