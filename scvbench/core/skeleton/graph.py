"""The skeleton as an 8-neighbour pixel graph (as ``skan``): spurs, junction clusters, paths."""

from __future__ import annotations

import heapq

import numba
import numpy as np

from scvbench.core.skeleton.thin import STEP_COLS, STEP_ROWS

__all__ = [
    "background_distance",
    "chain_length",
    "degrees",
    "dijkstra",
    "nodes",
    "pixel_graph",
    "prune_spurs",
]

# Vossepoel and Smeulders (1982): axial and diagonal step weights and the corner correction.
_EVEN, _ODD, _CORNER = 0.980, 1.406, 0.091


@numba.njit(cache=True)
def background_distance(comp, r, c, sy, sx):
    """Distance (mm) from pixel (r, c) to the nearest background pixel centre (as scipy's EDT).

    Parameters
    ----------
    comp : ndarray of bool
        The vessel.
    r, c : int
        The pixel.
    sy, sx : float
        Pixel size in mm along rows and columns.

    Returns
    -------
    float
        The distance in mm.
    """
    h, w = comp.shape
    best = np.inf
    k = 1
    while k * min(sy, sx) < best:
        for dr in range(-k, k + 1):
            for dc in range(-k, k + 1):
                if max(abs(dr), abs(dc)) != k:
                    continue
                rr, cc = r + dr, c + dc
                if rr < 0 or cc < 0 or rr >= h or cc >= w or not comp[rr, cc]:
                    d = np.sqrt((dr * sy) ** 2 + (dc * sx) ** 2)
                    if d < best:
                        best = d
        k += 1
    return best


@numba.njit(cache=True)
def degrees(skel, rows, cols, index):
    """Number of skeleton neighbours of each node.

    Parameters
    ----------
    skel : ndarray of bool
        The skeleton.
    rows, cols : ndarray of int
        The nodes' pixels (:func:`nodes`).
    index : ndarray of int
        Node number per pixel, -1 off the skeleton.

    Returns
    -------
    ndarray of int
        Neighbours of each node (0 to 8).
    """
    n = len(rows)
    degree = np.zeros(n, np.int64)
    for i in range(n):
        for k in range(8):
            if index[rows[i] + STEP_ROWS[k], cols[i] + STEP_COLS[k]] >= 0:
                degree[i] += 1
    return degree


@numba.njit(cache=True)
def nodes(skel):
    """Skeleton pixels in row-major order and an image of their node numbers (-1 elsewhere).

    Parameters
    ----------
    skel : ndarray of bool
        The skeleton.

    Returns
    -------
    rows, cols : ndarray of int
        The nodes' pixels.
    index : ndarray of int
        Node number per pixel, -1 off the skeleton.
    """
    h, w = skel.shape
    index = -np.ones((h, w), np.int64)
    n = 0
    for r in range(h):
        for c in range(w):
            if skel[r, c]:
                index[r, c] = n
                n += 1
    rows = np.empty(n, np.int64)
    cols = np.empty(n, np.int64)
    for r in range(h):
        for c in range(w):
            if index[r, c] >= 0:
                rows[index[r, c]] = r
                cols[index[r, c]] = c
    return rows, cols, index


@numba.njit(cache=True)
def prune_spurs(skel, distance, sy, sx):
    """Remove end branches shorter than 1.5 x the vessel radius at their junction (5 rounds).

    Parameters
    ----------
    skel : ndarray of bool
        The skeleton (changed in place).
    distance : ndarray of float
        Distance to the background (mm) of each skeleton pixel.
    sy, sx : float
        Pixel size in mm along rows and columns.

    Returns
    -------
    ndarray of bool
        The pruned skeleton.
    """
    for _ in range(5):
        rows, cols, index = nodes(skel)
        degree = degrees(skel, rows, cols, index)
        if not np.any(degree > 2):
            break
        removed = False
        visited = np.zeros(len(rows), np.bool_)
        for start in range(len(rows)):
            if degree[start] != 1:
                continue
            path = [start]
            visited[start] = True
            length = 0.0
            node = start
            junction = -1
            while True:
                nxt = -1
                for k in range(8):
                    j = index[rows[node] + STEP_ROWS[k], cols[node] + STEP_COLS[k]]
                    if j >= 0 and not visited[j] and (nxt < 0 or degree[j] > 2):
                        nxt = j
                if nxt < 0:
                    break
                length += np.hypot((rows[nxt] - rows[node]) * sy, (cols[nxt] - cols[node]) * sx)
                if degree[nxt] > 2:
                    junction = nxt
                    break
                visited[nxt] = True
                path.append(nxt)
                node = nxt
            if junction >= 0 and length < 1.5 * distance[rows[junction], cols[junction]]:
                for i in path:
                    skel[rows[i], cols[i]] = False
                removed = True
        if not removed:
            break
    return skel


@numba.njit(cache=True)
def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@numba.njit(cache=True)
def pixel_graph(rows, cols, index, degree, sy, sx):
    """Weighted 8-neighbour edges of the skeleton (CSR), junction clusters as their MST.

    Parameters
    ----------
    rows, cols : ndarray of int
        The nodes' pixels (:func:`nodes`).
    index : ndarray of int
        Node number per pixel.
    degree : ndarray of int
        Neighbours of each node (:func:`degrees`).
    sy, sx : float
        Pixel size in mm along rows and columns.

    Returns
    -------
    indptr, indices, weights : ndarray
        The graph in CSR form, edge weights the step lengths in mm.
    total : float
        The sum of the edge weights (the skeleton length).
    """
    n = len(rows)
    # Edges between two junction pixels are kept only where Kruskal's spanning tree needs them.
    src = np.empty(4 * n, np.int64)  # each pixel has at most 4 neighbours after it
    dst = np.empty(4 * n, np.int64)
    wts = np.empty(4 * n)
    m = 0
    for i in range(n):
        for k in range(8):
            j = index[rows[i] + STEP_ROWS[k], cols[i] + STEP_COLS[k]]
            if j > i:
                src[m] = i
                dst[m] = j
                wts[m] = np.sqrt((STEP_ROWS[k] * sy) ** 2 + (STEP_COLS[k] * sx) ** 2)
                m += 1
    keep = np.ones(m, np.bool_)
    order = np.argsort(wts[:m])
    parent = np.arange(n)
    for e in order:
        a, b = src[e], dst[e]
        if degree[a] > 2 and degree[b] > 2:
            ra, rb = _find(parent, a), _find(parent, b)
            if ra == rb:
                keep[e] = False
            else:
                parent[ra] = rb
    count = np.zeros(n + 1, np.int64)
    for e in range(m):
        if keep[e]:
            count[src[e] + 1] += 1
            count[dst[e] + 1] += 1
    indptr = np.cumsum(count)
    fill = indptr[:-1].copy()
    indices = np.empty(indptr[-1], np.int64)
    weights = np.empty(indptr[-1])
    total = 0.0
    for e in range(m):
        if keep[e]:
            a, b, wt = src[e], dst[e], wts[e]
            indices[fill[a]] = b
            weights[fill[a]] = wt
            fill[a] += 1
            indices[fill[b]] = a
            weights[fill[b]] = wt
            fill[b] += 1
            total += wt
    return indptr, indices, weights, total


@numba.njit(cache=True)
def dijkstra(indptr, indices, weights, source):
    """Shortest distances from ``source`` over a CSR graph, and each node's predecessor.

    Parameters
    ----------
    indptr, indices, weights : ndarray
        The graph in CSR form.
    source : int
        The start node.

    Returns
    -------
    dist : ndarray of float
        Distance of every node (inf where unreachable).
    pred : ndarray of int
        Predecessor of every node on its shortest path (-1 for the source and the unreachable).
    """
    n = len(indptr) - 1
    dist = np.full(n, np.inf)
    pred = -np.ones(n, np.int64)
    dist[source] = 0.0
    heap = [(0.0, source)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > dist[u]:
            continue
        for p in range(indptr[u], indptr[u + 1]):
            v = indices[p]
            nd = d + weights[p]
            if nd < dist[v]:
                dist[v] = nd
                pred[v] = u
                heapq.heappush(heap, (nd, v))
    return dist, pred


@numba.njit(cache=True)
def chain_length(rows, cols, sy, sx):
    """Length of a pixel chain in mm (Vossepoel-Smeulders weights, corner correction).

    Parameters
    ----------
    rows, cols : ndarray of int
        The chain's pixels in order.
    sy, sx : float
        Pixel size in mm along rows and columns.

    Returns
    -------
    float
        The length in mm.
    """
    """Vossepoel-Smeulders length (mm) of a pixel chain."""
    total = 0.0
    corners = 0
    last = -100
    for i in range(1, len(rows)):
        dr = rows[i] - rows[i - 1]
        dc = cols[i] - cols[i - 1]
        size = np.sqrt((dr * sy) ** 2 + (dc * sx) ** 2)
        weight = _ODD / np.sqrt(2.0) if abs(dr) + abs(dc) == 2 else _EVEN
        total += weight * size
        code = dr * 3 + dc
        if i > 1 and code != last:
            corners += 1
        last = code
    return total - _CORNER * corners * (sy + sx) / 2
