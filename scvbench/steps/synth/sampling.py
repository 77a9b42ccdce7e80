"""Template maps on a subject's grid, through the head's pose and the subject's warp."""

from __future__ import annotations

import numpy as np

from scvbench.steps.synth.geometry import LPS_TO_RAS, HeadPose, ScannerGrid
from scvbench.steps.synth.kernels import sample_template

__all__ = ["grid_to_template_mm", "sample_maps"]


def grid_to_template_mm(grid: ScannerGrid, pose: HeadPose) -> np.ndarray:
    """4 x 4 map from ``grid`` voxel indices to template mm (before any warp).

    Parameters
    ----------
    grid : ScannerGrid
        A scanner grid.
    pose : HeadPose
        The head.

    Returns
    -------
    ndarray
        4 x 4 affine.
    """
    return np.linalg.inv(pose.matrix) @ LPS_TO_RAS @ grid.lps_affine


_STACKS: dict[tuple[int, ...], tuple[list[np.ndarray], np.ndarray]] = {}


def _stacked(maps: list[np.ndarray]) -> np.ndarray:
    """The maps stacked map-last (built once per process for the template's fixed maps)."""
    key = tuple(id(m) for m in maps)
    held = _STACKS.get(key)
    if held is None or any(a is not b for a, b in zip(held[0], maps, strict=True)):
        if len(maps) == 1:
            return np.ascontiguousarray(maps[0], dtype=np.float32)[..., None]
        held = (list(maps), np.stack([np.asarray(m, np.float32) for m in maps], axis=-1))
        if len(_STACKS) >= 8:
            _STACKS.clear()
        _STACKS[key] = held
    return held[1]


def sample_maps(
    maps: list[np.ndarray],
    grid: ScannerGrid,
    pose: HeadPose,
    template_affine: np.ndarray,
    warp=None,
    slice_offsets=(0.0,),
    with_x: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Several template-space maps on ``grid`` in one pass (trilinear, 0 outside the template).

    The subject's voxel ``y`` shows the template at ``phi(y)`` (``warp``, a
    :class:`~scvbench.steps.synth.warp.Warp`, deforms the template first); ``slice_offsets``
    (slices) are averaged per voxel, as the sub-planes of a thick slice.

    Parameters
    ----------
    maps : list of ndarray
        Template-space maps of one shape.
    grid : ScannerGrid
        The target grid.
    pose : HeadPose
        The head.
    template_affine : ndarray
        The template's (diagonal) affine.
    warp : Warp, optional
        The subject's warp of the template.
    slice_offsets : sequence of float
        Shifts along the slice axis, in slices, averaged.
    with_x : bool
        Also return the template x (mm, left < 0) each voxel shows: the true mid-sagittal split.

    Returns
    -------
    maps : ndarray
        ``(len(maps), *grid.shape)`` float32.
    x : ndarray
        Template x per voxel (empty unless ``with_x``).
    """
    return sample_template(
        _stacked(maps),
        grid_to_template_mm(grid, pose),
        template_affine,
        grid.shape,
        warp=warp,
        offsets=slice_offsets,
        with_x=with_x,
    )
