"""Remove protected health information from what dcm2niix writes.

Sidecars keep only an allow-list of acquisition keys (what BIDS and the analysis need); anything
else dcm2niix may add (institution, station, device serial number, acquisition time, image
comments, study description, ...) is dropped. NIfTI headers lose every free-text field: dcm2niix
puts the acquisition time in ``descrip`` and image comments in ``aux_file``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

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
        "SeriesDescription",
        "ProtocolName",
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
    """Return the allow-listed part of a dcm2niix sidecar (a new dict; the input is kept)."""
    return {key: value for key, value in sidecar.items() if key in SIDECAR_KEYS}


def clean_nifti(source: Path, target: Path, scale: float | None = None) -> None:
    """Rewrite ``source`` to ``target`` with every free-text header field blanked.

    ``scale`` multiplies the data (stored as float32), used to express phase in radians.
    """
    import nibabel as nib

    from scvbench import io

    image = nib.load(source)
    header = image.header.copy()
    for field in ("descrip", "db_name", "aux_file", "intent_name"):
        header[field] = b""
    header.extensions.clear()
    if scale is None:
        out = nib.Nifti1Image(np.asanyarray(image.dataobj.get_unscaled()), image.affine, header)
        out.header.set_slope_inter(image.dataobj.slope, image.dataobj.inter)
    else:
        data = (np.asarray(image.get_fdata(dtype=np.float32)) * np.float32(scale)).astype(
            np.float32
        )
        header.set_data_dtype(np.float32)
        out = nib.Nifti1Image(data, image.affine, header)
        out.header.set_slope_inter(1.0, 0.0)
    with io.atomic_path(target) as tmp:
        nib.save(out, tmp)
