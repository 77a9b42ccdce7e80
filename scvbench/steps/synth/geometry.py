"""Scanner geometry: the head's pose in the scanner and the voxel grids of the two series.

Coordinates: DICOM patient coordinates are LPS (x to the patient's left, y posterior, z
superior); NIfTI world coordinates are RAS. A :class:`ScannerGrid` maps voxel indices ``(i, j,
k)`` = (column, row, slice) of a DICOM series to LPS millimetres; ``grid_mm`` coordinates are the
same indices scaled by the spacing, an orthonormal frame aligned with the slab.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HeadPose", "ScannerGrid", "draw_pose", "rotation"]

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation matrix for angles in degrees about x, then y, then z.

    Parameters
    ----------
    rx, ry, rz : float
        Angles in degrees.

    Returns
    -------
    ndarray
        3 x 3 rotation matrix.
    """
    ax, ay, az = np.deg2rad([rx, ry, rz])
    cx, sx, cy, sy, cz, sz = np.cos(ax), np.sin(ax), np.cos(ay), np.sin(ay), np.cos(az), np.sin(az)
    mx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    my = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    mz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return mz @ my @ mx


@dataclass(frozen=True)
class HeadPose:
    """Similarity transform from template mm to scanner RAS mm: ``x = scale * R @ p + shift``."""

    angles_deg: tuple[float, float, float]
    scale: float
    shift_mm: tuple[float, float, float]

    @property
    def matrix(self) -> np.ndarray:
        """4 x 4 template-to-RAS matrix."""
        out = np.eye(4)
        out[:3, :3] = self.scale * rotation(*self.angles_deg)
        out[:3, 3] = self.shift_mm
        return out

    def to_ras(self, points: np.ndarray) -> np.ndarray:
        """Map ``(n, 3)`` template points to scanner RAS."""
        m = self.matrix
        return np.asarray(points) @ m[:3, :3].T + m[:3, 3]


def draw_pose(rng: np.random.Generator) -> HeadPose:
    """Draw a head slightly rotated, scaled and shifted, as heads lie in a head coil.

    Parameters
    ----------
    rng : numpy.random.Generator
        The subject's random stream.

    Returns
    -------
    HeadPose
        Rotation, scale and shift of the head.
    """
    angles = (rng.uniform(-8, 8), rng.uniform(-4, 4), rng.uniform(-7, 7))
    shift = (rng.uniform(-6, 6), rng.uniform(-8, 8), rng.uniform(-6, 6))
    return HeadPose(
        angles_deg=tuple(float(a) for a in angles),
        scale=float(rng.uniform(0.93, 1.05)),
        shift_mm=tuple(float(s) for s in shift),
    )


@dataclass(frozen=True)
class ScannerGrid:
    """The voxel grid of one series: axial slab tilted by ``tilt_deg`` about the left-right axis.

    Attributes
    ----------
    shape : (int, int, int)
        Columns, rows, slices.
    spacing : (float, float, float)
        Column spacing (right-left), row spacing (anterior-posterior) and slice spacing, mm.
    centre_lps : (float, float, float)
        Centre of the field of view, LPS mm.
    tilt_deg : float
        Slab angulation about the LPS x axis.
    thickness : float
        Slice thickness in mm (may be less than the spacing: a gap).
    """

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    centre_lps: tuple[float, float, float]
    tilt_deg: float
    thickness: float

    @property
    def axes(self) -> np.ndarray:
        """Unit vectors (rows of a 3 x 3 array) of increasing column, row and slice, in LPS."""
        t = np.deg2rad(self.tilt_deg)
        x = np.array([1.0, 0.0, 0.0])
        y = np.array([0.0, np.cos(t), np.sin(t)])
        return np.stack([x, y, np.cross(x, y)])

    @property
    def lps_affine(self) -> np.ndarray:
        """4 x 4 map from voxel ``(i, j, k)`` to LPS mm."""
        axes = self.axes
        out = np.eye(4)
        out[:3, :3] = axes.T * np.asarray(self.spacing)
        half = (np.asarray(self.shape) - 1) / 2.0
        out[:3, 3] = np.asarray(self.centre_lps) - out[:3, :3] @ half
        return out

    @property
    def ras_affine(self) -> np.ndarray:
        """4 x 4 map from voxel ``(i, j, k)`` to RAS mm (the NIfTI affine of this array order)."""
        return LPS_TO_RAS @ self.lps_affine

    @property
    def canonical_affine(self) -> np.ndarray:
        """RAS affine of the array flipped along columns and rows (RAS+ axis order)."""
        flip = np.eye(4)
        flip[0, 0] = flip[1, 1] = -1
        flip[0, 3] = self.shape[0] - 1
        flip[1, 3] = self.shape[1] - 1
        return self.ras_affine @ flip

    def mm_to_lps(self, points_mm: np.ndarray) -> np.ndarray:
        """Map ``grid_mm`` points (index x spacing) to LPS mm."""
        index = np.asarray(points_mm) / np.asarray(self.spacing)
        a = self.lps_affine
        return index @ a[:3, :3].T + a[:3, 3]

    def mm_to_ras(self, points_mm: np.ndarray) -> np.ndarray:
        """Map ``grid_mm`` points to RAS mm."""
        lps = self.mm_to_lps(points_mm)
        return lps * np.array([-1.0, -1.0, 1.0])

    def ras_to_mm(self, points_ras: np.ndarray) -> np.ndarray:
        """Map RAS mm points to ``grid_mm``."""
        lps = np.asarray(points_ras) * np.array([-1.0, -1.0, 1.0])
        inv = np.linalg.inv(self.lps_affine)
        return (lps @ inv[:3, :3].T + inv[:3, 3]) * np.asarray(self.spacing)

    def slice_positions(self) -> np.ndarray:
        """ImagePositionPatient (LPS mm of the first voxel) of every slice, ``(n, 3)``."""
        a = self.lps_affine
        k = np.arange(self.shape[2])
        return a[:3, 3] + np.outer(k, a[:3, 2])

    def orientation(self) -> list[float]:
        """ImageOrientationPatient: row direction (increasing column) then column direction."""
        axes = self.axes
        return [float(v) for v in np.concatenate([axes[0], axes[1]])]
