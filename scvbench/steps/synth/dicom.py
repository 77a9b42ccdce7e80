"""Write a volume as a DICOM series, one file per slice, as the vendor's scanner exports it."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydicom.charset import convert_encodings
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr, write_data_element
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from scvbench.core.layout import slices_first
from scvbench.steps.synth.geometry import ScannerGrid

__all__ = ["SeriesSpec", "StudyInfo", "uid", "write_series"]

#: An organisation root for the deterministic UIDs of synthetic data (pydicom's root).
UID_ROOT = "1.2.826.0.1.3680043.8.498."


def uid(*parts: object) -> str:
    """A deterministic DICOM UID from ``parts`` (same parts, same UID).

    Parameters
    ----------
    *parts : object
        What the UID identifies (seed, patient, series, ...).

    Returns
    -------
    str
        A UID under scvbench's root (pydicom's ``generate_uid``).
    """
    return generate_uid(prefix=UID_ROOT, entropy_srcs=[str(p) for p in parts])


@dataclass(frozen=True)
class StudyInfo:
    """Patient and study attributes shared by every series of one visit (realistic fake PHI)."""

    patient_name: str
    patient_id: str
    birth_date: str
    sex: str
    age: int
    weight_kg: int
    study_date: str
    study_time: str
    accession: str
    institution: str
    institution_address: str
    station: str
    referring_physician: str
    operator: str
    study_uid: str
    frame_of_reference_uid: str


@dataclass(frozen=True)
class SeriesSpec:
    """Acquisition attributes of one series."""

    number: int
    description: str
    protocol: str
    image_type: tuple[str, ...]
    sequence_name: str
    scanning_sequence: str
    sequence_variant: str
    acquisition_type: str  # "2D" or "3D"
    repetition_time: float
    echo_time: float
    flip_angle: float
    inversion_time: float | None = None
    rescale: tuple[float, float] | None = None  # (slope, intercept)
    window: tuple[float, float] = (1200.0, 2400.0)
    time_offset_s: int = 0
    phase_direction: str = "ROW"
    bandwidth: float = 120.0
    manufacturer: str = "SIEMENS"
    model: str = "Skyra"
    software: str = "syngo MR E11"
    coil: str = "Head_32"
    field_t: float = 3.0


def _time_plus(hhmmss: str, seconds: int) -> str:
    h, m, s = int(hhmmss[:2]), int(hhmmss[2:4]), int(hhmmss[4:6])
    total = h * 3600 + m * 60 + s + seconds
    return f"{total // 3600 % 24:02d}{total // 60 % 60:02d}{total % 60:02d}.000000"


def write_series(
    folder: Path,
    volume: np.ndarray,
    grid: ScannerGrid,
    study: StudyInfo,
    series: SeriesSpec,
) -> list[Path]:
    """Write ``volume`` (uint16, shape ``grid.shape`` = columns x rows x slices) to ``folder``.

    Files are named ``IM0001`` ... (no extension) and carry full geometry (ImagePositionPatient,
    ImageOrientationPatient, PixelSpacing, SliceThickness, SpacingBetweenSlices, SliceLocation).

    Parameters
    ----------
    folder : Path
        The series folder.
    volume : ndarray of uint16
        The image, ``grid.shape``.
    grid : ScannerGrid
        Where the slices lie.
    study : StudyInfo
        The patient and study attributes.
    series : SeriesSpec
        Series number, description and image type.

    Returns
    -------
    list of Path
        One file per slice.
    """
    if volume.shape != grid.shape:
        raise ValueError(f"volume shape {volume.shape} does not match grid {grid.shape}")
    folder.mkdir(parents=True, exist_ok=True)
    positions = grid.slice_positions()
    orientation = grid.orientation()
    normal = grid.axes[2]
    series_uid = uid(study.study_uid, "series", series.number)
    series_time = _time_plus(study.study_time, series.time_offset_s)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID_ROOT + "1"
    meta.ImplementationVersionName = "SCVBENCH_SYNTH"
    ds = FileDataset("", {}, file_meta=meta, preamble=b"\0" * 128)
    _fill_series(ds, grid, study, series, series_uid, series_time, orientation)
    # Only these elements differ between the files of a series: every other element is encoded
    # once by pydicom and its bytes reused; the few that change are encoded here (the files are
    # byte-identical to pydicom's ``save_as``, tests/test_synth_sites.py).
    encodings = convert_encodings(ds.SpecificCharacterSet)
    planes = slices_first(np.asarray(volume, dtype="<u2"))  # slices of rows x columns
    per_slice = [_slice_elements(series_uid, k, positions[k], normal, planes[k]) for k in range(1)]
    meta.MediaStorageSOPInstanceUID = per_slice[0]["uid"]
    meta.FileMetaInformationVersion = b"\x00\x01"
    ds.SOPInstanceUID = per_slice[0]["uid"]
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = per_slice[0]["position"]
    ds.SliceLocation = per_slice[0]["location"]
    ds.add_new(0x7FE00010, "OW", b"")
    correct_ambiguous_vr(ds, True)
    fixed = {t: _encoded(ds[t], encodings) for t in ds.keys() if t not in _PER_SLICE}
    order = sorted([*fixed, *_PER_SLICE])
    meta_fixed = {t: _encoded(meta[t], encodings) for t in meta.keys() if t.element not in (0, 3)}
    before = b"".join(v for t, v in sorted(meta_fixed.items()) if t.element < 3)
    after = b"".join(v for t, v in sorted(meta_fixed.items()) if t.element > 3)
    paths = []
    for k in range(grid.shape[2]):
        values = _slice_elements(series_uid, k, positions[k], normal, planes[k])
        rest = before + _element(0x0002, 0x0003, "UI", _even(values["uid"], b"\0")) + after
        parts = [b"\0" * 128, b"DICM", _element(0x0002, 0x0000, "UL", struct.pack("<I", len(rest)))]
        parts.append(rest)
        parts += [fixed[t] if t in fixed else values[t] for t in order]
        path = folder / f"IM{k + 1:04d}"
        path.write_bytes(b"".join(parts))
        paths.append(path)
    return paths


#: SOPInstanceUID, InstanceNumber, ImagePositionPatient, SliceLocation, PixelData.
_PER_SLICE = frozenset(Tag(t) for t in (0x00080018, 0x00200013, 0x00200032, 0x00201041, 0x7FE00010))


def _even(text: str, pad: bytes = b" ") -> bytes:
    """``text`` as ASCII padded to an even length (UIDs with NUL, other strings with a space)."""
    data = text.encode("ascii")
    return data + pad if len(data) % 2 else data


def _element(group: int, element: int, vr: str, value: bytes) -> bytes:
    """One explicit-VR little-endian data element."""
    if vr in ("OB", "OW", "OF", "SQ", "UT", "UN"):
        return struct.pack("<HH2s2xI", group, element, vr.encode(), len(value)) + value
    return struct.pack("<HH2sH", group, element, vr.encode(), len(value)) + value


def _slice_elements(series_uid: str, k: int, position, normal, plane: np.ndarray) -> dict:
    """The encoded elements of slice ``k`` that differ between the files of a series."""
    sop_uid = uid(series_uid, k)
    location = f"{float(np.dot(position, normal)):.6f}"
    position = [f"{v:.6f}" for v in position]
    return {
        "uid": sop_uid,
        "position": position,
        "location": location,
        Tag(0x00080018): _element(0x0008, 0x0018, "UI", _even(sop_uid, b"\0")),
        Tag(0x00200013): _element(0x0020, 0x0013, "IS", _even(str(k + 1))),
        Tag(0x00200032): _element(0x0020, 0x0032, "DS", _even("\\".join(position))),
        Tag(0x00201041): _element(0x0020, 0x1041, "DS", _even(location)),
        Tag(0x7FE00010): _element(0x7FE0, 0x0010, "OW", plane.tobytes()),
    }


def _buffer() -> DicomBytesIO:
    fp = DicomBytesIO()
    fp.is_little_endian = True
    fp.is_implicit_VR = False
    return fp


def _encoded(element, encodings) -> bytes:
    fp = _buffer()
    write_data_element(fp, element, encodings)
    return fp.getvalue()


def _fill_series(
    ds: FileDataset,
    grid: ScannerGrid,
    study: StudyInfo,
    series: SeriesSpec,
    series_uid: str,
    series_time: str,
    orientation: list[float],
) -> None:
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = list(series.image_type)
    ds.SOPClassUID = MRImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study.study_date
    ds.StudyTime = _time_plus(study.study_time, 0)
    ds.SeriesTime = series_time
    ds.AcquisitionTime = _time_plus(study.study_time, series.time_offset_s + 1)
    ds.ContentTime = _time_plus(study.study_time, series.time_offset_s + 2)
    ds.AccessionNumber = study.accession
    ds.Modality = "MR"
    ds.Manufacturer = series.manufacturer
    ds.InstitutionName = study.institution
    ds.InstitutionAddress = study.institution_address
    ds.ReferringPhysicianName = study.referring_physician
    ds.StationName = study.station
    ds.StudyDescription = "Head^Neuro"
    ds.SeriesDescription = series.description
    ds.InstitutionalDepartmentName = "Radiology"
    ds.OperatorsName = study.operator
    ds.ManufacturerModelName = series.model
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = study.birth_date
    ds.PatientSex = study.sex
    ds.PatientAge = f"{study.age:03d}Y"
    ds.PatientWeight = str(study.weight_kg)
    ds.BodyPartExamined = "HEAD"
    ds.ScanningSequence = series.scanning_sequence
    ds.SequenceVariant = series.sequence_variant
    ds.ScanOptions = "FC" if series.acquisition_type == "3D" else "IR"
    ds.MRAcquisitionType = series.acquisition_type
    ds.SequenceName = series.sequence_name
    ds.SliceThickness = f"{grid.thickness:g}"
    ds.RepetitionTime = f"{series.repetition_time:g}"
    ds.EchoTime = f"{series.echo_time:g}"
    if series.inversion_time is not None:
        ds.InversionTime = f"{series.inversion_time:g}"
    ds.NumberOfAverages = "1"
    ds.ImagingFrequency = f"{123.255 * series.field_t / 3.0:.3f}"  # MHz, proton
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = "1"
    ds.MagneticFieldStrength = f"{series.field_t:g}"
    ds.SpacingBetweenSlices = f"{grid.spacing[2]:g}"
    ds.ImagesInAcquisition = str(grid.shape[2])
    ds.EchoTrainLength = "1" if series.acquisition_type == "3D" else "16"
    ds.PixelBandwidth = f"{series.bandwidth:g}"
    ds.DeviceSerialNumber = "45123"
    ds.SoftwareVersions = series.software
    ds.ProtocolName = series.protocol
    ds.ReceiveCoilName = series.coil
    ds.InPlanePhaseEncodingDirection = series.phase_direction
    rows, cols = grid.shape[1], grid.shape[0]
    fov_rows, fov_cols = rows * grid.spacing[1], cols * grid.spacing[0]
    if series.phase_direction == "ROW":  # phase encoded right-left, across the columns
        ds.AcquisitionMatrix = [rows, 0, 0, cols]
        ds.PercentPhaseFieldOfView = f"{100.0 * fov_cols / fov_rows:.4g}"
    else:
        ds.AcquisitionMatrix = [0, cols, rows, 0]
        ds.PercentPhaseFieldOfView = f"{100.0 * fov_rows / fov_cols:.4g}"
    ds.PercentSampling = "100"
    ds.FlipAngle = f"{series.flip_angle:g}"
    ds.PatientPosition = "HFS"
    # Free text as technologists write it: it names people and the site, so it must not survive
    # de-identification.
    ds.ImageComments = (
        f"referred by {study.referring_physician.replace('^', ' ')}, {study.institution}"
    )
    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = series.number
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in orientation]
    ds.FrameOfReferenceUID = study.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = grid.shape[1]
    ds.Columns = grid.shape[0]
    ds.PixelSpacing = [f"{grid.spacing[1]:.6f}", f"{grid.spacing[0]:.6f}"]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = f"{series.window[0]:g}"
    ds.WindowWidth = f"{series.window[1]:g}"
    if series.rescale is not None:
        ds.RescaleIntercept = f"{series.rescale[1]:g}"
        ds.RescaleSlope = f"{series.rescale[0]:g}"
        ds.RescaleType = "US"
