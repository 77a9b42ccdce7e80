"""The subject's DICOM series: SWI magnitude, phase, SWI, the scanner's mIP, and FLAIR."""

from __future__ import annotations

import logging

import numpy as np

from scvbench.core.mip import (
    minimum_intensity_projection,
    slab_window,
)
from scvbench.steps.synth.dicom import SeriesSpec
from scvbench.steps.synth.geometry import ScannerGrid

log = logging.getLogger(__name__)

__all__ = [
    "FLAIR_SERIES",
    "SCANNER_MIP_MM",
    "phase_to_uint12",
    "scanner_mip",
    "swi_series",
    "to_uint12",
]


def to_uint12(values: np.ndarray) -> np.ndarray:
    """Values scaled to the 12-bit range of the scanner's stored pixels.

    Parameters
    ----------
    values : ndarray
        Intensities.

    Returns
    -------
    ndarray of uint16
        0 to 4095.
    """
    return np.clip(np.rint(values), 0, 4095).astype(np.uint16)


def phase_to_uint12(phase: np.ndarray) -> np.ndarray:
    # Siemens: stored 0..4095 with slope 2, intercept -4096 maps to -4096..4094 = -pi..pi.
    """Phase in radians as Siemens stores it (-pi..pi to 0..4095).

    Parameters
    ----------
    phase : ndarray
        Phase in radians.

    Returns
    -------
    ndarray of uint16
        0 to 4095.
    """
    return np.clip(np.rint((phase / np.pi * 4096.0 + 4096.0) / 2.0), 0, 4095).astype(np.uint16)


def swi_series() -> dict[str, SeriesSpec]:
    """The DICOM series of the SWI protocol: magnitude, phase, SWI, mIP.

    Returns
    -------
    dict
        Kind to :class:`SeriesSpec`.
    """
    common = dict(
        protocol="t2_swi_tra_p2_1.0mm",
        sequence_name="*swi3d1r",
        scanning_sequence="GR",
        sequence_variant="SP",
        acquisition_type="3D",
        repetition_time=28.0,
        echo_time=20.0,
        flip_angle=15.0,
        time_offset_s=420,
        bandwidth=120.0,
    )
    return {
        "mag": SeriesSpec(
            5,
            "Mag_Images",
            image_type=("ORIGINAL", "PRIMARY", "M", "ND", "NORM"),
            window=(700, 1400),
            **common,
        ),
        "phase": SeriesSpec(
            6,
            "Pha_Images",
            image_type=("ORIGINAL", "PRIMARY", "P", "ND"),
            rescale=(2.0, -4096.0),
            window=(0, 8192),
            **common,
        ),
        "mip": SeriesSpec(
            7,
            "mIP_Images(SW)",
            image_type=("DERIVED", "PRIMARY", "MNIP", "ND", "NORM"),
            window=(500, 1000),
            **common,
        ),
        "swi": SeriesSpec(
            8,
            "SWI_Images",
            image_type=("DERIVED", "PRIMARY", "M", "SWI", "NORM", "DIS2D"),
            window=(600, 1200),
            **common,
        ),
    }


FLAIR_SERIES = SeriesSpec(
    3,
    "t2_tirm_tra_dark-fluid_5mm",
    protocol="t2_tirm_tra_dark-fluid_5mm",
    image_type=("ORIGINAL", "PRIMARY", "M", "NORM", "DIS2D"),
    sequence_name="*tir2d1_16",
    scanning_sequence="SE\\IR",
    sequence_variant="SK\\SP\\MP\\OSP",
    acquisition_type="2D",
    repetition_time=8500.0,
    echo_time=81.0,
    flip_angle=150.0,
    inversion_time=2500.0,
    window=(900, 1800),
    time_offset_s=120,
    phase_direction="ROW",
    bandwidth=287.0,
)


SCANNER_MIP_MM = 8.0


def scanner_mip(swi: np.ndarray, grid: ScannerGrid) -> tuple[np.ndarray, ScannerGrid]:
    """The scanner's own thin-slab mIP series (8 mm, not overlapping), as Siemens exports it.

    Parameters
    ----------
    swi : ndarray
        The scanner SWI.
    grid : ScannerGrid
        Its grid.

    Returns
    -------
    tuple
        (the mIP volume, its grid).
    """
    window = slab_window(SCANNER_MIP_MM, SCANNER_MIP_MM, grid.spacing[2])
    mip = minimum_intensity_projection(swi, window)
    first = window.centre(0) - (grid.shape[2] - 1) / 2
    lps = grid.lps_affine
    centre = np.asarray(grid.centre_lps) + lps[:3, 2] * (
        first + (mip.shape[2] - 1) * window.step / 2
    )
    mip_grid = ScannerGrid(
        shape=mip.shape,
        spacing=(grid.spacing[0], grid.spacing[1], window.step * grid.spacing[2]),
        centre_lps=tuple(float(v) for v in centre),
        tilt_deg=grid.tilt_deg,
        thickness=SCANNER_MIP_MM,
    )
    return mip, mip_grid
