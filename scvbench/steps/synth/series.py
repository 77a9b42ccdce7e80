"""The subject's DICOM series: SWI magnitude, phase, SWI, the scanner's mIP, and FLAIR."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from scvbench.core.mip import (
    minimum_intensity_projection,
    slab_window,
)
from scvbench.steps.synth.dicom import SeriesSpec
from scvbench.steps.synth.geometry import ScannerGrid
from scvbench.steps.synth.sites import SITES, Site

log = logging.getLogger(__name__)

__all__ = [
    "FLAIR_SERIES",
    "SCANNER_MIP_MM",
    "flair_series",
    "phase_to_stored",
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


def phase_to_stored(phase: np.ndarray, vendor: str) -> np.ndarray:
    """Phase in radians as the vendor stores it.

    Siemens: 0..4095 for -pi..pi (slope 2, intercept -4096); GE and Philips: milliradians
    (slope 2, intercept -3142 over the 12 stored bits).

    Parameters
    ----------
    phase : ndarray
        Phase in radians.
    vendor : str
        ``siemens``, ``ge`` or ``philips``.

    Returns
    -------
    ndarray of uint16
        The stored values.
    """
    if vendor == "siemens":
        return phase_to_uint12(phase)
    return np.clip(np.rint((phase * 1000.0 + 3142.0) / 2.0), 0, 4095).astype(np.uint16)


def _vendor(site: Site) -> dict:
    return dict(
        manufacturer=site.manufacturer,
        model=site.model,
        software=site.software,
        coil=site.coil,
        field_t=site.field_t,
    )


def swi_series(site: Site = SITES["siemens-3t"]) -> dict[str, SeriesSpec]:
    """The DICOM series of the SWI protocol as ``site``'s vendor exports them.

    Siemens: magnitude, phase, SWI and mIP; GE: the SWAN image (``swi``), its phase and mIP;
    Philips: SWIp (``SW_M_FFE``, empty description), its phase (``SW_P_FFE``) and mIP.

    Parameters
    ----------
    site : Site
        The scanner (default: the study's Siemens 3 T).

    Returns
    -------
    dict
        Kind to :class:`SeriesSpec`.
    """
    common = dict(
        sequence_name="*swi3d1r",
        scanning_sequence="GR",
        sequence_variant="SP",
        acquisition_type="3D",
        repetition_time=site.tr_ms,
        echo_time=site.te_ms,
        flip_angle=site.flip_deg,
        time_offset_s=420,
        bandwidth=120.0,
        **_vendor(site),
    )
    if site.vendor == "ge":
        common.update(protocol="Ax SWAN", sequence_name="SWAN", sequence_variant="SS")
        return {
            "swi": SeriesSpec(5, "Ax SWAN", image_type=("ORIGINAL", "PRIMARY", "OTHER"),
                              window=(600, 1200), **common),
            "phase": SeriesSpec(6, "Ax SWAN Phase", image_type=("ORIGINAL", "PRIMARY", "PHASE"),
                                rescale=(2.0, -3142.0), window=(0, 6284), **common),
            "mip": SeriesSpec(7, "Ax SWAN mIP", image_type=("DERIVED", "SECONDARY", "MNIP"),
                              window=(500, 1000), **common),
        }  # fmt: skip
    if site.vendor == "philips":
        common.update(protocol="SWIp", sequence_name="FFE", sequence_variant="SP")
        return {
            "swi": SeriesSpec(5, "", image_type=("ORIGINAL", "PRIMARY", "SW_M_FFE", "M", "FFE"),
                              window=(600, 1200), **common),
            "phase": SeriesSpec(6, "", image_type=("ORIGINAL", "PRIMARY", "SW_P_FFE", "P", "FFE"),
                                rescale=(2.0, -3142.0), window=(0, 6284), **common),
            "mip": SeriesSpec(7, "mIP SWIp", image_type=("DERIVED", "PRIMARY", "MNIP"),
                              window=(500, 1000), **common),
        }  # fmt: skip
    common["protocol"] = "t2_swi_tra_p2_1.0mm"
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


def flair_series(site: Site = SITES["siemens-3t"]) -> SeriesSpec:
    """The T2-FLAIR series as ``site``'s vendor names it.

    Parameters
    ----------
    site : Site
        The scanner.

    Returns
    -------
    SeriesSpec
        Siemens ``t2_tirm_tra_dark-fluid``, GE ``Ax T2 FLAIR``, Philips ``T2W_FLAIR``.
    """
    if site.vendor == "siemens" and site.name == "siemens-3t":
        return FLAIR_SERIES
    names = {"siemens": FLAIR_SERIES.description, "ge": "Ax T2 FLAIR", "philips": "T2W_FLAIR"}
    return replace(
        FLAIR_SERIES,
        description=names[site.vendor],
        protocol=names[site.vendor],
        **_vendor(site),
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
