"""Find DICOM series under a folder and classify them for an SWI/FLAIR study.

Files are found in any nesting, with or without extensions; a DICOMDIR index and files that are
not DICOM are reported as skipped with the reason, never silently dropped. Series are grouped by
SeriesInstanceUID and classified by the first matching rule of :data:`BUILTIN_RULES` (or rules
given by the user, tried first).
"""

from __future__ import annotations

import gzip
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

__all__ = [
    "BUILTIN_RULES",
    "FIELDS",
    "KINDS",
    "Classification",
    "Rule",
    "SeriesInfo",
    "Skipped",
    "classify",
    "find_series",
]

#: What a series can be classified as; ``None`` means not used.
KINDS = ("swi", "mag", "phase", "mip", "flair")
#: The header fields a classification rule can match.
FIELDS = ("SeriesDescription", "ProtocolName", "ImageType", "Manufacturer")
#: Kinds scvbench reads. The scanner's mIP is recognised but not converted: scvbench computes its
#: own MinIP with the slab in millimetres.
USED_KINDS = ("swi", "mag", "phase", "flair")

_DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
_HEADER_TAGS = [
    "SOPClassUID",
    "Modality",
    "Manufacturer",
    "PatientID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "ProtocolName",
    "ImageType",
    "InstanceNumber",
    "PatientAge",
    "PatientSex",
    "PatientBirthDate",
    "StudyDate",
    "ImagesInAcquisition",
]


@dataclass(frozen=True)
class SeriesInfo:
    """One DICOM series as found on disk."""

    uid: str
    patient_id: str
    study_uid: str
    number: int
    description: str
    protocol: str
    image_type: tuple[str, ...]
    manufacturer: str
    modality: str
    files: tuple[Path, ...]
    age: int | None = None
    sex: str | None = None
    instances: tuple[int, ...] = ()
    expected: int | None = None

    def missing_instances(self) -> list[int]:
        """InstanceNumbers missing: before the first, between files, or after the last.

        The last slice can only be missed when the header says how many images the acquisition
        has (ImagesInAcquisition); :func:`scvbench.steps.convert.plan.plan` also compares the
        series of one SWI acquisition with each other.
        """
        numbers = sorted(set(self.instances))
        if not numbers or numbers[0] < 1:
            return []
        last = max(numbers[-1], self.expected or 0)
        if len(numbers) < 2 and last == numbers[-1]:
            return []
        return sorted(set(range(1, last + 1)) - set(numbers))

    def field(self, name: str) -> str:
        r"""The text a rule matches for ``name``; ImageType values are joined with ``\``."""
        if name == "ImageType":
            return "\\".join(self.image_type)
        return str(
            getattr(
                self,
                {
                    "SeriesDescription": "description",
                    "ProtocolName": "protocol",
                    "Manufacturer": "manufacturer",
                }[name],
            )
        )


@dataclass(frozen=True)
class Skipped:
    """A file that is not part of any series, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Rule:
    """Classify a series as ``kind`` when every regular expression matches (case-insensitive).

    ``conditions`` maps a field (``SeriesDescription``, ``ProtocolName``, ``ImageType`` or
    ``Manufacturer``) to a regular expression searched in it. ``kind`` ``None`` excludes the
    series on purpose.
    """

    kind: str | None
    conditions: tuple[tuple[str, str], ...]
    note: str = ""

    def matches(self, series: SeriesInfo) -> bool:
        """Whether every condition holds for ``series``."""
        return all(
            re.search(pattern, series.field(name), re.IGNORECASE)
            for name, pattern in self.conditions
        )


_SWI = r"swi|swan|susc"
_NOT_PHASE = r"^(?!.*(^|\\)(P|PHASE|SW_P_FFE)(\\|$))"
#: The built-in table, tried in order: Siemens, Philips and GE naming of SWI and FLAIR series.
BUILTIN_RULES: tuple[Rule, ...] = (
    Rule(None, (("SeriesDescription", r"field.?map|fieldmap|b0.?map"),), "B0 field map, not SWI"),
    Rule(None, (("ProtocolName", r"field.?map|fieldmap|b0.?map"),), "B0 field map, not SWI"),
    Rule("swi", (("ImageType", r"(^|\\)SW_M_FFE(\\|$)"),), "Philips SWIp (SW_M_FFE)"),
    Rule("phase", (("ImageType", r"(^|\\)SW_P_FFE(\\|$)"),), "Philips SWIp phase (SW_P_FFE)"),
    Rule("mip", (("ImageType", r"(^|\\)MN?IP(\\|$)"),), "scanner minimum-intensity projection"),
    Rule("mip", (("SeriesDescription", r"(^|[^a-z])m(in)?ip([^a-z]|$)"),), "scanner mIP by name"),
    Rule("swi", (("ImageType", r"(^|\\)SWI(\\|$)"),), "Siemens processed SWI"),
    Rule(
        "swi",
        (("SeriesDescription", r"^SWI_Images|SWIp\b|filtered.?swan"),),
        "processed SWI by name (Siemens SWI_Images, Philips SWIp, GE filtered SWAN)",
    ),
    Rule(
        "swi",
        (("SeriesDescription", r"\bswan\b"), ("Manufacturer", r"^GE"), ("ImageType", _NOT_PHASE)),
        "GE SWAN",
    ),
    Rule(
        "phase", (("ImageType", r"(^|\\)(P|PHASE)(\\|$)"), ("SeriesDescription", _SWI)), "SWI phase"
    ),
    Rule(
        "phase",
        (("ImageType", r"(^|\\)(P|PHASE)(\\|$)"), ("ProtocolName", _SWI)),
        "SWI phase (by protocol)",
    ),
    Rule(
        "mag",
        (("ImageType", r"(^|\\)(M|MAGNITUDE)(\\|$)"), ("ProtocolName", _SWI)),
        "SWI magnitude (by protocol)",
    ),
    Rule(
        "mag",
        (("ImageType", r"(^|\\)(M|MAGNITUDE)(\\|$)"), ("SeriesDescription", _SWI)),
        "SWI magnitude",
    ),
    Rule("flair", (("SeriesDescription", r"flair|dark.?fluid"),), "T2-FLAIR"),
    Rule("flair", (("ProtocolName", r"flair|dark.?fluid"),), "T2-FLAIR (by protocol)"),
)


@dataclass(frozen=True)
class Classification:
    """The outcome for one series: a kind (or ``None``) and the reason in words."""

    kind: str | None
    reason: str

    @property
    def used(self) -> bool:
        """Whether scvbench converts this series."""
        return self.kind in USED_KINDS


def classify(series: SeriesInfo, rules: Sequence[Rule] = BUILTIN_RULES) -> Classification:
    """Classify ``series`` by the first matching rule; unmatched series are reported, not used.

    Parameters
    ----------
    series : SeriesInfo
        The series' header values.
    rules : sequence of Rule
        Tried in order.

    Returns
    -------
    Classification
        The kind (``swi``, ``mag``, ``phase``, ``flair``, ...) or None, and the reason.
    """
    if series.modality and series.modality != "MR":
        return Classification(None, f"modality {series.modality}, not MR")
    for rule in rules:
        if rule.matches(series):
            if rule.kind is None:
                return Classification(None, f"excluded by rule: {rule.note or rule.conditions}")
            if rule.kind not in USED_KINDS:
                return Classification(rule.kind, f"{rule.note}; not used")
            return Classification(rule.kind, rule.note)
    return Classification(None, "matches no rule (not SWI or FLAIR)")


def _age(ds) -> int | None:
    """Age in whole years from PatientAge (``034Y``), else from birth and study dates."""
    text = str(getattr(ds, "PatientAge", "") or "")
    if len(text) == 4 and text[:3].isdigit():
        value, unit = int(text[:3]), text[3].upper()
        return {"Y": value, "M": value // 12, "W": value // 52, "D": value // 365}.get(unit)
    birth, study = str(getattr(ds, "PatientBirthDate", "")), str(getattr(ds, "StudyDate", ""))
    if len(birth) == 8 and len(study) == 8 and birth.isdigit() and study.isdigit():
        years = int(study[:4]) - int(birth[:4])
        if study[4:] < birth[4:]:
            years -= 1
        return years
    return None


def _int(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _read_header(path: Path):
    """The header of a DICOM file, also of a gzipped one (``.dcm.gz``, as public corpora ship)."""
    if path.name.lower().endswith(".gz"):
        with gzip.open(path) as stream:
            return pydicom.dcmread(stream, stop_before_pixels=True, specific_tags=_HEADER_TAGS)
    return pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_HEADER_TAGS)


def _walk(root: Path) -> Iterable[Path]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            yield Path(folder) / name


def find_series(root: str | os.PathLike[str]) -> tuple[list[SeriesInfo], list[Skipped]]:
    """Read every file header under ``root`` and group DICOM images into series.

    Returns the series (ordered by patient, study and series number) and the skipped files.
    Files of one series are ordered by InstanceNumber, then path.

    Parameters
    ----------
    root : path
        Folder of DICOM files, any nesting.

    Returns
    -------
    series : list of SeriesInfo
        One per series, files sorted along the slice normal.
    skipped : list of Skipped
        Files that are not DICOM images, with the reason.
    """
    root = Path(root)
    groups: dict[str, list[tuple[int, Path, object]]] = defaultdict(list)
    skipped: list[Skipped] = []
    for path in _walk(root):
        try:
            ds = _read_header(path)
        except (InvalidDicomError, EOFError, OSError, ValueError) as err:
            skipped.append(Skipped(path, f"not a readable DICOM file ({err.__class__.__name__})"))
            continue
        sop_class = str(getattr(getattr(ds, "file_meta", None), "MediaStorageSOPClassUID", ""))
        if sop_class == _DICOMDIR_CLASS or path.name.upper() == "DICOMDIR":
            skipped.append(Skipped(path, "DICOMDIR index (the files it lists are read directly)"))
            continue
        uid = str(getattr(ds, "SeriesInstanceUID", ""))
        if not uid:
            skipped.append(
                Skipped(path, "damaged or incomplete DICOM header (no SeriesInstanceUID)")
            )
            continue
        groups[uid].append((int(getattr(ds, "InstanceNumber", 0) or 0), path, ds))
    series = []
    for uid, members in groups.items():
        members.sort(key=lambda m: (m[0], str(m[1])))
        ds = members[0][2]
        series.append(
            SeriesInfo(
                uid=uid,
                patient_id=str(getattr(ds, "PatientID", "")),
                study_uid=str(getattr(ds, "StudyInstanceUID", "")),
                number=int(getattr(ds, "SeriesNumber", 0) or 0),
                description=str(getattr(ds, "SeriesDescription", "")),
                protocol=str(getattr(ds, "ProtocolName", "")),
                image_type=tuple(str(v) for v in getattr(ds, "ImageType", ()) or ()),
                manufacturer=str(getattr(ds, "Manufacturer", "")),
                modality=str(getattr(ds, "Modality", "")),
                files=tuple(m[1] for m in members),
                age=_age(ds),
                sex=str(getattr(ds, "PatientSex", "") or "").upper()[:1] or None,
                instances=tuple(m[0] for m in members),
                expected=_int(getattr(ds, "ImagesInAcquisition", None)),
            )
        )
    series.sort(key=lambda s: (s.patient_id, s.study_uid, s.number, s.uid))
    return series, skipped
