"""Brain mask, mid-sagittal plane and lateral ventricles of an SWI magnitude volume.

Pure array functions on a volume in RAS+ voxel order (``nibabel.as_closest_canonical``) with
``spacing`` in millimetres. The methods are classical and documented here because the study did
these steps by hand:

* **Brain mask** (:func:`brain_mask`): the intracranial volume. Otsu's threshold on the
  Gaussian-smoothed magnitude separates tissue and CSF (bright on T2*-weighted images) from air
  and bone (dark). An erosion by ``bridge_mm`` cuts the thin bridges between the intracranial
  contents and the scalp; the largest eroded component is grown back inside the foreground
  (reconstruction by dilation), holes left by dark veins and sinuses are filled slice by slice and
  in 3-D, and the bright rim of CSF and dura just inside the skull (``rim_mm``) is peeled off.
* **Mid-sagittal plane** (:func:`midsagittal_plane`): the plane about which the head is most
  symmetric, found by maximising the correlation between the smoothed image and its mirror image
  inside the brain mask (after Ardekani et al., 1997). Synthetic and real heads are rotated and
  shifted, so the plane is estimated, never assumed at the array centre.
* **Lateral ventricles** (:func:`lateral_ventricles`): bright voxels (CSF) more than ``depth_mm``
  inside the brain after bias correction by a broad smoothing, the large components near the
  mid-sagittal plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize
from skimage import filters

from scvbench.core.components import centroids, hysteresis
from scvbench.core.distance import deeper_than, farther_than
from scvbench.core.smoothing import gaussian_on_box

__all__ = ["Plane", "brain_mask", "hemisphere_labels", "lateral_ventricles", "midsagittal_plane"]
__all__ += ["smoothed"]


def _sigma(mm: float, spacing) -> tuple[float, ...]:
    return tuple(mm / float(s) for s in spacing)


def smoothed(volume: np.ndarray, spacing) -> np.ndarray:
    """The volume under a Gaussian of 1 mm (sigma), as the three steps below smooth it.

    Parameters
    ----------
    volume : ndarray
        3-D image.
    spacing : sequence of float
        Voxel size in mm.

    Returns
    -------
    ndarray of float32
        The smoothed volume.
    """
    return ndimage.gaussian_filter(np.asarray(volume, np.float32), _sigma(1.0, spacing))


def _largest_component(mask: np.ndarray) -> np.ndarray:
    labels, n = ndimage.label(mask)
    if n == 0:
        return mask.copy()
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def brain_mask(
    volume: np.ndarray,
    spacing: tuple[float, float, float],
    bridge_mm: float = 4.0,
    rim_mm: float = 1.5,
    smooth: np.ndarray | None = None,
) -> np.ndarray:
    """Return the intracranial (brain) mask of a T2*-weighted magnitude or SWI volume.

    Parameters
    ----------
    volume : ndarray
        3-D magnitude image (RAS+ voxel order); any positive scale.
    spacing : tuple of float
        Voxel size in mm along each axis.
    bridge_mm : float
        Erosion depth that separates the brain from the scalp through gaps in the dark skull.
    rim_mm : float
        Thickness of the bright CSF/dura rim removed from the surface of the intracranial mask.
    smooth : ndarray, optional
        :func:`smoothed` of ``volume`` when the caller has it (the three steps share it).

    Returns
    -------
    ndarray of bool
        The mask; all False for an empty (constant) image.
    """
    volume = np.asarray(volume, dtype=np.float32)
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3-D, got shape {volume.shape}")
    if not np.isfinite(volume).all():
        volume = np.nan_to_num(volume, nan=0.0, posinf=0.0, neginf=0.0)
    if smooth is None:
        smooth = smoothed(volume, spacing)
    if float(smooth.max()) <= float(smooth.min()):
        return np.zeros(volume.shape, bool)
    foreground = smooth > filters.threshold_otsu(smooth)
    inside = farther_than(foreground, spacing, bridge_mm)
    seed = _largest_component(inside)
    if not seed.any():
        return np.zeros(volume.shape, bool)
    # Reconstruction by dilation: the seed grows back to the foreground it belongs to, but no
    # further than ``bridge_mm`` (so a bridge cut by the erosion stays cut).
    near = ~farther_than(~seed, spacing, bridge_mm + 1e-6)
    mask = ndimage.binary_propagation(seed, mask=foreground & near)
    mask = ndimage.binary_closing(mask, structure=np.ones((3, 3, 1), bool), iterations=2)
    for k in range(mask.shape[2]):
        mask[:, :, k] = ndimage.binary_fill_holes(mask[:, :, k])
    mask = ndimage.binary_fill_holes(mask)
    if rim_mm > 0:
        # Peel the rim in the axial plane only: the slab's top and bottom faces are cut by the
        # field of view, not by the skull.
        for k in range(mask.shape[2]):
            mask[:, :, k] = deeper_than(mask[:, :, k], spacing[:2], rim_mm)
    return _largest_component(mask)


@dataclass(frozen=True)
class Plane:
    """A plane in voxel-index space scaled to mm: ``normal . (ijk * spacing) = offset``.

    ``normal`` is a unit vector pointing from the left hemisphere to the right one (RAS+ voxel
    order: towards larger ``i``).
    """

    normal: tuple[float, float, float]
    offset: float

    def signed_distance(self, points_mm: np.ndarray) -> np.ndarray:
        """Distance in mm of points (``..., 3`` in scaled voxel coordinates), > 0 on the right."""
        return points_mm @ np.asarray(self.normal) - self.offset


def _normal(angles: np.ndarray) -> np.ndarray:
    yaw, roll = angles
    return np.array([np.cos(yaw) * np.cos(roll), np.sin(yaw) * np.cos(roll), np.sin(roll)])


def midsagittal_plane(
    volume: np.ndarray,
    mask: np.ndarray,
    spacing: tuple[float, float, float],
    resolution_mm: float = 2.0,
    smooth: np.ndarray | None = None,
) -> Plane:
    """Estimate the mid-sagittal plane by mirror symmetry of ``volume`` inside ``mask``.

    The image is smoothed and resampled to ``resolution_mm``; the plane (yaw, roll, offset) that
    maximises the correlation between the image and its reflection is found with Powell's method
    from the vertical plane through the mask's centroid, after a coarse search over yaw and offset.

    Parameters
    ----------
    volume : ndarray
        3-D image in RAS+ voxel order.
    mask : ndarray of bool
        The brain (from :func:`brain_mask`).
    spacing : tuple of float
        Voxel size in mm.
    resolution_mm : float
        Voxel size of the coarse search grid.
    smooth : ndarray, optional
        ``volume`` under a Gaussian of ``resolution_mm / 2`` (:func:`smoothed` for the default),
        when the caller has it.

    Returns
    -------
    Plane
        Unit normal and a point of the plane, in voxel-index mm.
    """
    volume = np.asarray(volume, dtype=np.float32)
    mask = np.asarray(mask, bool)
    if not mask.any():
        raise ValueError("the brain mask is empty; cannot find the mid-sagittal plane")
    spacing = np.asarray(spacing, float)
    zoom = spacing / resolution_mm
    if smooth is None:
        smooth = ndimage.gaussian_filter(volume, _sigma(resolution_mm / 2, spacing))
    small = ndimage.zoom(smooth, zoom, order=1)
    small_mask = ndimage.zoom(mask.astype(np.float32), zoom, order=1) > 0.5
    scale = spacing * np.asarray(mask.shape) / np.asarray(small.shape)  # mm per small voxel
    inside = np.argwhere(small_mask)
    if len(inside) > 40000:
        inside = inside[:: len(inside) // 40000 + 1]
    points = inside * scale
    values = small[tuple(inside.T)]
    values = (values - values.mean()) / (values.std() + 1e-12)

    def cost(params: np.ndarray) -> float:
        n = _normal(params[:2])
        distance = points @ n - params[2]
        mirrored = points - 2.0 * distance[:, None] * n
        sampled = ndimage.map_coordinates(
            small, (mirrored / scale).T, order=1, mode="constant", cval=0.0
        )
        sampled = (sampled - sampled.mean()) / (sampled.std() + 1e-12)
        return -float(np.mean(values * sampled))

    centroid = points.mean(axis=0)
    best = None
    for yaw in np.deg2rad(np.arange(-15.0, 15.1, 5.0)):
        n = _normal(np.array([yaw, 0.0]))
        for shift in np.arange(-8.0, 8.1, 4.0):
            start = np.array([yaw, 0.0, centroid @ n + shift])
            value = cost(start)
            if best is None or value < best[0]:
                best = (value, start)
    result = optimize.minimize(
        cost,
        best[1],
        method="Powell",
        options={"xtol": 1e-3, "ftol": 1e-6, "maxfev": 2000},
    )
    yaw, roll, offset = result.x
    n = _normal(np.array([yaw, roll]))
    return Plane(normal=tuple(float(v) for v in n), offset=float(offset))


def hemisphere_labels(
    shape: tuple[int, ...], plane: Plane, spacing, slice_positions: np.ndarray | None = None
) -> np.ndarray:
    """Label every voxel 1 (left) or 2 (right) of ``plane``.

    ``slice_positions`` gives the (fractional) voxel index along axis 2 of each output slice, for
    a projection whose slice ``m`` sits at its window's centre; by default ``0 .. shape[2] - 1``.

    Parameters
    ----------
    shape : tuple of int
        Shape of the label volume.
    plane : Plane
        The mid-sagittal plane.
    spacing : sequence of float
        Voxel size in mm.
    slice_positions : ndarray, optional
        The slice-axis position (mm) of each slice, for a MinIP whose slices are window centres.

    Returns
    -------
    ndarray of uint8
        1 left, 2 right.
    """
    spacing = np.asarray(spacing, float)
    k = np.arange(shape[2], dtype=float) if slice_positions is None else slice_positions
    i = np.arange(shape[0], dtype=float)[:, None, None] * spacing[0]
    j = np.arange(shape[1], dtype=float)[None, :, None] * spacing[1]
    kk = np.asarray(k, float)[None, None, :] * spacing[2]
    n = plane.normal
    distance = n[0] * i + n[1] * j + n[2] * kk - plane.offset
    return np.where(distance > 0, 2, 1).astype(np.uint8)


def lateral_ventricles(
    volume: np.ndarray,
    mask: np.ndarray,
    spacing: tuple[float, float, float],
    plane: Plane,
    depth_mm: float = 12.0,
    min_volume_ml: float = 1.0,
    max_lateral_mm: float = 35.0,
    csf_ratio: float = 1.15,
    opening_mm: float = 3.0,
    smooth: np.ndarray | None = None,
) -> np.ndarray:
    """Return a mask of the lateral ventricles (bright CSF deep in the brain, near the midline).

    Intensities are divided by a broad (15 mm) smoothing of the image inside the brain, which
    removes the receive-coil bias; CSF is then brighter than ``csf_ratio`` times the commonest
    (white-matter) intensity of the voxels more than ``depth_mm`` inside the brain outline of
    their slice. Components of at least ``min_volume_ml`` whose centroid lies within
    ``max_lateral_mm`` of the mid-sagittal plane are kept. Empty if none is found.

    Parameters
    ----------
    volume : ndarray
        Magnitude or SWI volume, RAS+ voxel order.
    mask : ndarray of bool
        The brain.
    spacing : tuple of float
        Voxel size in mm.
    plane : Plane
        The mid-sagittal plane.
    depth_mm, min_volume_ml, max_lateral_mm, csf_ratio, opening_mm : float
        How deep, large, close to the midline and bright a ventricle is, and the opening that
        separates it from the sulci.
    smooth : ndarray, optional
        :func:`smoothed` of ``volume`` when the caller has it.

    Returns
    -------
    ndarray of bool
        The ventricles.
    """
    volume = np.asarray(volume, dtype=np.float32)
    mask = np.asarray(mask, bool)
    spacing = tuple(float(s) for s in spacing)
    deep = np.zeros(mask.shape, bool)
    for k in range(mask.shape[2]):  # depth in the axial plane: the slab's faces are no surface
        deep[:, :, k] = deeper_than(mask[:, :, k], spacing[:2], depth_mm)
    if deep.sum() < 100:
        return np.zeros(mask.shape, bool)
    if smooth is None:
        smooth = smoothed(volume, spacing)
    box = ndimage.find_objects(mask.view(np.uint8))[0]  # the bias field is read in the brain
    weight = gaussian_on_box(mask.astype(np.float32), _sigma(15.0, spacing), box)
    level = gaussian_on_box(np.where(mask, smooth, 0), _sigma(15.0, spacing), box)
    relative = np.zeros_like(smooth)
    np.divide(smooth[box], level / np.maximum(weight, 1e-6), where=mask[box], out=relative[box])
    # White matter is the commonest deep tissue: CSF is brighter than it by a clear factor.
    counts, edges = np.histogram(relative[deep], bins=200)
    peak = edges[np.argmax(counts)] + (edges[1] - edges[0]) / 2
    # Hysteresis: voxels clearly brighter than white matter seed the ventricles, which grow
    # through the partial-volume voxels at their edges (above two thirds of that contrast).
    bright = deep & hysteresis(relative, (1.0 + 2 * (csf_ratio - 1.0) / 3) * peak, csf_ratio * peak)
    # An in-plane opening of about 3 mm breaks the thin CSF channels that join the ventricles
    # to the basal cisterns.
    half = [max(1, round(opening_mm / 2 / s)) for s in spacing[:2]]
    bright = ndimage.binary_opening(
        bright, structure=np.ones((2 * half[0] + 1, 2 * half[1] + 1, 1), bool)
    )
    labels, n = ndimage.label(bright)
    if n == 0:
        return np.zeros(mask.shape, bool)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    index = np.arange(1, n + 1)
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:] * voxel_ml
    centres = centroids(labels, n)
    near = [
        label
        for label, size, centroid in zip(index, sizes, centres, strict=True)
        if size >= min_volume_ml
        and abs(float(plane.signed_distance(centroid * np.asarray(spacing)))) <= max_lateral_mm
    ]
    if not near:
        return np.zeros(mask.shape, bool)
    # The bodies of the lateral ventricles are the largest axial CSF section deep in the brain;
    # keep what is connected to them (basal cisterns and the fourth ventricle are not).
    candidates = np.isin(labels, near)
    body = int(np.argmax(candidates.sum(axis=(0, 1))))
    keep = np.unique(labels[:, :, body][candidates[:, :, body]])
    return np.isin(labels, keep)


def ventricle_slice_range(
    ventricles: np.ndarray, edge_fraction: float = 0.1
) -> tuple[int, int] | None:
    """Return the axial slices ``(first, last)`` between the lower and upper ventricle edges.

    The edges are where the ventricles' axial section, followed up and down from its largest,
    first falls below ``edge_fraction`` of that largest section (thin partial-volume tips and
    small CSF spaces hanging below are not the ventricles' level). ``None`` if empty.

    Parameters
    ----------
    ventricles : ndarray of bool
        The ventricle mask of :func:`lateral_ventricles`.
    edge_fraction : float
        A slice counts when it holds at least this fraction of the largest slice's area.

    Returns
    -------
    tuple of int or None
        The run of such slices around the largest one, or None without ventricles.

    Examples
    --------
    >>> v = np.zeros((4, 4, 8), bool)
    >>> v[:2, :2, 2:6] = True
    >>> v[0, 0, 0] = True  # a speck below, not connected by section
    >>> ventricle_slice_range(v)
    (2, 5)
    """
    area = np.asarray(ventricles, bool).sum(axis=(0, 1))
    if area.max() == 0:
        return None
    body = int(np.argmax(area))
    enough = area >= edge_fraction * area[body]
    first = body
    while first > 0 and enough[first - 1]:
        first -= 1
    last = body
    while last < len(area) - 1 and enough[last + 1]:
        last += 1
    return first, last
