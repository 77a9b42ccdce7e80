"""Image formation: template resampling, vessel tubes, susceptibility phase, bias and noise."""

from __future__ import annotations

import numpy as np
from scipy import fft, ndimage

from scvbench.core.layout import slices_first
from scvbench.steps.synth.geometry import HeadPose, ScannerGrid
from scvbench.steps.synth.image_kernels import apply_dipole, phase_mask_swi, sweep_tube
from scvbench.steps.synth.sampling import grid_to_template_mm, sample_maps

__all__ = [
    "GAMMA_HZ_PER_T",
    "TubeRaster",
    "bias_field",
    "dipole_field_ppm",
    "rasterize_tube",
    "resample",
    "swi_from_complex",
    "swi_from_planes",
]

GAMMA_HZ_PER_T = 42.577478e6


def resample(
    volume: np.ndarray,
    grid: ScannerGrid,
    pose: HeadPose,
    template_affine: np.ndarray,
    order: int = 1,
    slice_offset: float = 0.0,
    warp=None,
) -> np.ndarray:
    """Resample a template-space map onto ``grid`` (shape ``grid.shape``, float32).

    ``slice_offset`` shifts the sampled planes along the slice axis, in voxels (used to average
    sub-planes of a thick slice); ``warp`` (a subject's
    :class:`~scvbench.steps.synth.warp.Warp`) deforms the template first.

    Parameters
    ----------
    volume : ndarray
        A template-space map.
    grid : ScannerGrid
        The target grid.
    pose : HeadPose
        The head.
    template_affine : ndarray
        The template's affine.
    order : int
        Spline order of the interpolation.
    slice_offset : float
        Shift along the slice axis, in slices.
    warp : Warp, optional
        The subject's warp of the template.

    Returns
    -------
    ndarray of float32
        The map on ``grid``.
    """
    if warp is None:
        m = np.linalg.inv(template_affine) @ grid_to_template_mm(grid, pose)
        offset = m[:3, 3] + m[:3, 2] * slice_offset
        return ndimage.affine_transform(
            volume,
            m[:3, :3],
            offset=offset,
            output_shape=grid.shape,
            order=order,
            mode="constant",
            cval=0.0,
            output=np.float32,
            prefilter=False,
        )
    if order != 1:
        raise ValueError("a warped template is sampled trilinearly (order=1)")
    return sample_maps([volume], grid, pose, template_affine, warp, (slice_offset,))[0][0]


class TubeRaster:
    """Accumulates tubes (polylines with a radius) on a grid.

    ``fraction`` is the partial-volume occupancy used for image intensity; ``label`` holds the id
    of the tube whose centre line passes within the labelling radius of each voxel centre.
    """

    def __init__(self, shape: tuple[int, int, int], spacing: tuple[float, float, float]):
        self.shape = shape
        self.spacing = np.asarray(spacing, dtype=float)
        self.fraction = np.zeros(shape, dtype=np.float32)
        self.label = np.zeros(shape, dtype=np.int16)

    def add(
        self,
        points_mm: np.ndarray,
        radius: np.ndarray | float,
        label: int = 0,
        label_radius_floor: float = 0.0,
    ) -> None:
        """Add one tube given ``grid_mm`` centre-line points and radius (scalar or per point)."""
        rasterize_tube(self, points_mm, radius, label, label_radius_floor)


def _densify(points: np.ndarray, radius: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    n = max(2, int(np.ceil(s[-1] / step)) + 1)
    t = np.linspace(0.0, s[-1], n)
    dense = np.stack([np.interp(t, s, points[:, d]) for d in range(3)], axis=1)
    return dense, np.interp(t, s, radius)


def rasterize_tube(
    raster: TubeRaster,
    points_mm: np.ndarray,
    radius: np.ndarray | float,
    label: int = 0,
    label_radius_floor: float = 0.0,
) -> None:
    """Draw a tube into ``raster`` (see :class:`TubeRaster`).

    The centre line is resampled every 0.08 mm and drawn as the union of the spheres at those
    points (:func:`~scvbench.steps.synth.image_kernels.sweep_tube`): occupancy ramps linearly
    over one in-plane pixel around the radius; the label covers the voxel centres within the
    radius (at least ``label_radius_floor``).

    Parameters
    ----------
    raster : TubeRaster
        Where the tube is drawn (changed in place).
    points_mm : ndarray
        The centre line (n, 3) in grid mm.
    radius : float or ndarray
        Radius in mm, one or per point.
    label : int
        Label of the tube's voxels (0: none).
    label_radius_floor : float
        Smallest radius used for the label.

    Returns
    -------
    None
        ``raster`` holds the tube.
    """
    points = np.asarray(points_mm, dtype=float)
    radius = np.broadcast_to(np.asarray(radius, dtype=float), (len(points),))
    dense, rad = _densify(points, radius, step=0.08)
    sweep_tube(
        raster.fraction,
        raster.label,
        dense,
        np.ascontiguousarray(rad),
        raster.spacing,
        float(np.max(raster.spacing[:2])),
        float(label_radius_floor),
        int(label),
    )


def dipole_field_ppm(
    chi: np.ndarray, spacing: tuple[float, float, float], b0_direction: np.ndarray
) -> np.ndarray:
    """Field perturbation (ppm of B0) of a susceptibility map, by FFT with the dipole kernel.

    ``b0_direction`` is the main field's unit vector in the grid's axes. The volume is zero-padded
    by an eighth along every axis to keep wrap-around small.

    Parameters
    ----------
    chi : ndarray
        Susceptibility (ppm).
    spacing : tuple of float
        Voxel size in mm.
    b0_direction : ndarray
        Unit vector of B0 in the grid's axes.

    Returns
    -------
    ndarray
        The field perturbation in ppm.
    """
    pad = [(n // 8, n // 8) for n in chi.shape]
    padded = np.zeros([n + 2 * p for n, (p, _) in zip(chi.shape, pad, strict=True)], np.float32)
    crop = tuple(slice(p[0], p[0] + n) for p, n in zip(pad, chi.shape, strict=True))
    padded[crop] = chi
    freqs = [
        fft.fftfreq(n, d=s).astype(np.float32)
        for n, s in zip(padded.shape[:2], spacing[:2], strict=True)
    ]
    kz = fft.rfftfreq(padded.shape[2], d=spacing[2]).astype(np.float32)
    b = np.asarray(b0_direction, dtype=float) / np.linalg.norm(b0_direction)
    spectrum = fft.rfftn(padded)
    apply_dipole(spectrum, freqs[0], freqs[1], kz, b)
    # irfftn in its own two steps, without its copy of the spectrum: the same transforms and
    # the same one scaling by 1 / N at the end, so the same values to the bit (tested).
    spectrum = fft.ifft2(spectrum, axes=(0, 1), norm="forward", overwrite_x=True)
    field = fft.irfft(spectrum, n=padded.shape[2], axis=2, norm="forward", overwrite_x=True)
    field *= np.float32(1.0 / padded.size)
    return field[crop].astype(np.float32)


def bias_field(
    shape: tuple[int, ...], rng: np.random.Generator, strength: float = 0.18
) -> np.ndarray:
    """A smooth multiplicative receive-coil bias: brighter towards the head's surface.

    Parameters
    ----------
    shape : tuple of int
        The volume's shape.
    rng : numpy.random.Generator
        The subject's random stream.
    strength : float
        Relative amplitude.

    Returns
    -------
    ndarray
        Multiplicative field around 1.
    """
    x, y, z = np.meshgrid(*(np.linspace(-1.0, 1.0, n) for n in shape), indexing="ij", sparse=True)
    c = rng.normal(0.0, 1.0, 7)
    norm = strength * 0.5 / np.sqrt(np.sum(c[:6] ** 2) + 1e-6)
    # Each term spans at most two axes: sum them per plane, then broadcast once.
    f32 = np.float32
    plane_xy = norm * (c[0] * x + c[1] * y + c[3] * x * y) + 0.6 * strength * (x**2 + y**2)
    plane_yz = norm * (c[2] * z + c[4] * y * z)
    plane_xz = norm * c[5] * x * z
    log_field = plane_xy.astype(f32) + plane_yz.astype(f32)
    log_field += plane_xz.astype(f32)
    log_field -= log_field.mean(dtype=np.float64)
    return np.exp(log_field, out=log_field)


def swi_from_complex(
    signal: np.ndarray, spacing: tuple[float, float, float], filter_mm: float = 6.0, power: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Scanner-style SWI processing of a complex volume (see :func:`swi_from_planes`).

    Parameters
    ----------
    signal : ndarray of complex
        The complex image, ``(columns, rows, slices)``.
    spacing : tuple of float
        Voxel size in mm.
    filter_mm : float
        Width of the homodyne low-pass filter.
    power : int
        Times the phase mask is applied.

    Returns
    -------
    swi : ndarray
        The SWI magnitude.
    highpass_phase : ndarray
        The high-passed phase.
    """
    planes = slices_first(np.asarray(signal, np.complex64))
    return swi_from_planes(planes, spacing, filter_mm, power)


def swi_from_planes(
    planes: np.ndarray, spacing: tuple[float, float, float], filter_mm: float = 6.0, power: int = 4
) -> tuple[np.ndarray, np.ndarray]:
    """Scanner-style SWI processing: homodyne high-pass phase and a negative phase mask.

    Returns ``(swi, highpass_phase)``: the phase is high-passed per slice by dividing by a
    Gaussian low-pass of the complex signal; the mask is ``(pi + phase) / pi`` where the phase is
    negative and 1 elsewhere, applied ``power`` times to the magnitude (Haacke et al. 2004).

    Parameters
    ----------
    planes : ndarray of complex64
        The complex image slices first, ``(slices, rows, columns)``: each in-plane FFT runs
        over contiguous memory.
    spacing : tuple of float
        Voxel size in mm, ``(column, row, slice)``.
    filter_mm : float
        Width of the homodyne low-pass filter.
    power : int
        Times the phase mask is applied.

    Returns
    -------
    swi : ndarray
        The SWI magnitude, ``(columns, rows, slices)``.
    highpass_phase : ndarray
        The high-passed phase, same shape.
    """
    spectrum = fft.fft2(planes, axes=(1, 2))
    sigma = (0.0, filter_mm / spacing[1], filter_mm / spacing[0])
    ndimage.fourier_gaussian(spectrum, sigma, output=spectrum)
    low = fft.ifft2(spectrum, axes=(1, 2), overwrite_x=True)
    return phase_mask_swi(planes, low, power)
