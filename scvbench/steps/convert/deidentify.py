"""Remove protected health information from what dcm2niix writes.

Sidecars keep only an allow-list of acquisition keys (what BIDS and the analysis need); anything
else dcm2niix may add (institution, station, device serial number, acquisition time, image
comments, study, series and protocol descriptions, which are free text a site may fill with
anything) is dropped; the series kind is in the BIDS name. NIfTI headers lose every free-text
field: dcm2niix puts the acquisition time in ``descrip`` and image comments in ``aux_file``.
"""

from __future__ import annotations

import gzip
from io import BytesIO
from pathlib import Path

import nibabel as nib

from scvbench import io

__all__ = ["SIDECAR_KEYS", "clean_nifti", "clean_sidecar"]

#: Sidecar keys that describe the acquisition, never the person, the site or the time.
SIDECAR_KEYS = frozenset(
    {
        "Modality",
        "MagneticFieldStrength",
        "ImagingFrequency",
        "Manufacturer",
        "ManufacturersModelName",
        "SoftwareVersions",
        "BodyPart",
        "PatientPosition",
        "MRAcquisitionType",
        "ScanningSequence",
        "SequenceVariant",
        "PulseSequenceType",
        "ScanOptions",
        "SequenceName",
        "ImageType",
        "NonlinearGradientCorrection",
        "SeriesNumber",
        "SliceThickness",
        "SpacingBetweenSlices",
        "EchoTime",
        "RepetitionTime",
        "InversionTime",
        "FlipAngle",
        "SpoilingState",
        "CoilString",
        "ReceiveCoilName",
        "PercentPhaseFOV",
        "PercentSampling",
        "AcquisitionMatrixPE",
        "ReconMatrixPE",
        "PixelBandwidth",
        "EchoTrainLength",
        "ImageOrientationPatientDICOM",
        "InPlanePhaseEncodingDirectionDICOM",
        "PhaseEncodingDirection",
        "PhaseEncodingAxis",
        "ParallelReductionFactorInPlane",
        "PartialFourier",
        "BandwidthPerPixelPhaseEncode",
        "EffectiveEchoSpacing",
        "TotalReadoutTime",
        "MultibandAccelerationFactor",
        "ConversionSoftware",
        "ConversionSoftwareVersion",
        "EchoNumber",
        "RawImage",
    }
)


def clean_sidecar(sidecar: dict) -> dict:
    """Return the allow-listed part of a dcm2niix sidecar (a new dict; the input is kept).

    Parameters
    ----------
    sidecar : dict
        The sidecar dcm2niix wrote.

    Returns
    -------
    dict
        Only the allow-listed acquisition fields.
    """
    return {key: value for key, value in sidecar.items() if key in SIDECAR_KEYS}


def clean_nifti(source: Path, target: Path, rescale: float | None = None) -> None:
    """Write the uncompressed NIfTI ``source`` to ``target`` (``.nii.gz``) de-identified.

    The free-text header fields are blanked and header extensions dropped; the voxel data are
    copied byte for byte, never re-encoded. ``rescale`` multiplies the scaling (``scl_slope`` and
    ``scl_inter``), used to express phase in radians without touching the data. Compression is
    gzip level 1 with no time stamp, so a re-run writes identical bytes.

    Parameters
    ----------
    source : Path
        dcm2niix's uncompressed NIfTI.
    target : Path
        The ``.nii.gz`` to write.
    rescale : float, optional
        Multiply the data by this (phase to radians).

    Returns
    -------
    None
        ``target`` is written with an empty ``descrip`` and no extensions.
    """
    raw = Path(source).read_bytes()
    header = nib.Nifti1Header.from_fileobj(BytesIO(raw))
    offset = int(header["vox_offset"])
    for field in ("descrip", "db_name", "aux_file", "intent_name"):
        header[field] = b""
    if rescale is not None:
        slope, inter = header.get_slope_inter()
        slope = 1.0 if slope is None else slope
        inter = 0.0 if inter is None else inter
        header["scl_slope"] = slope * rescale
        header["scl_inter"] = inter * rescale
    header["vox_offset"] = 352
    body = header.binaryblock + b"\0\0\0\0" + raw[offset:]
    io.write_bytes(target, gzip.compress(body, compresslevel=1, mtime=0))
