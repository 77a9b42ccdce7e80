"""Helpers shared by the BIDS-App, container and SLURM tests."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its SHA-256: what a read-only input must keep."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def copy_raw(bids: Path, target: Path, raters=("rater1", "rater2")) -> Path:
    """The raw dataset of ``bids`` with only the reference masks of ``raters``."""
    shutil.copytree(bids, target, ignore=shutil.ignore_patterns("derivatives"))
    source = bids / "derivatives" / "annotations"
    for path in source.rglob("*"):
        if path.is_file() and (
            path.parent == source or any(f"_desc-{r}_" in path.name for r in raters)
        ):
            destination = target / "derivatives" / "annotations" / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
    return target


def phi_values(cohort: Path) -> set[str]:
    """Every identifying value the synthetic DICOM of ``cohort`` carries, as text forms."""
    import pydicom

    values = set()
    for folder in (cohort / "dicom").glob("PA*/ST*/SE*"):
        ds = pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True)
        name = str(ds.PatientName)
        values.update(
            [
                name,
                *name.split("^"),
                ds.PatientID,
                ds.PatientBirthDate,
                ds.AccessionNumber,
                ds.InstitutionName,
                ds.InstitutionAddress,
                ds.StationName,
                str(ds.ReferringPhysicianName),
                ds.ImageComments,
                ds.StudyDate,
                ds.AcquisitionTime[:6],
                ds.StudyTime[:6],
            ]
        )
        for date in (ds.StudyDate, ds.PatientBirthDate):
            values.add(f"{date[:4]}-{date[4:6]}-{date[6:]}")
        t = ds.AcquisitionTime
        values.add(f"{t[:2]}:{t[2:4]}:{t[4:6]}")
    return {v for v in values if v and len(v) >= 4}


def _png_text(data: bytes) -> bytes:
    """The chunks of a PNG other than its compressed pixels (IDAT): where text can hide."""
    import struct

    out, position = [], 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if kind != b"IDAT":
            out.append(kind + data[position + 8 : position + 8 + length])
        position += 12 + length
    return b"".join(out)


def _readable(path: Path) -> bytes:
    """What of a file can carry text: headers, sidecars, tables, page text, PNG chunks.

    Voxel values and compressed pixels are numbers: four random bytes can spell a name, so
    they are not read as text; everything else is.
    """
    import base64
    import gzip
    import re

    import numpy as np

    data = path.read_bytes()
    name = path.name
    if name.endswith((".nii.gz", ".nii")):
        plain = gzip.decompress(data) if name.endswith(".gz") else data
        offset = int(np.frombuffer(plain[108:112], "<f4")[0])
        assert offset >= 352, path
        return plain[:offset]
    if name.endswith(".png"):
        return _png_text(data)
    if name.endswith((".pt", ".onnx", ".npz", ".npy")):
        return b""  # weights and arrays: numbers
    if name.endswith((".html", ".svg")):
        pattern = re.compile(rb"data:image/png;base64,([A-Za-z0-9+/=]+)")
        images = [_png_text(base64.b64decode(m)) for m in pattern.findall(data)]
        return pattern.sub(b"data:", data) + b"".join(images)
    return data


def assert_no_phi(root: Path, phi: set[str]) -> int:
    """Fail naming the file and the value if any file under ``root`` (or its name) holds PHI.

    Returns the number of files read.
    """
    import re

    assert len(phi) > 20

    # A name part is a word ("LING" is a surname, not the end of "labelling"); other values
    # (IDs, dates, times, addresses) are found anywhere.
    # A number is a number (a time 182011 is not the digits of 11.447182011496).
    def pattern(value: str):
        text = re.escape(value.upper())
        if value.isalpha():
            return re.compile(rf"(?<![A-Z]){text}(?![A-Z])")
        if value.isdigit():
            return re.compile(rf"(?<![0-9]){text}(?![0-9])")
        return re.compile(text)

    wanted = [pattern(v) for v in phi]
    count = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        text = _readable(path).decode("latin-1").upper() + "\n" + str(path).upper()
        leaked = [value.pattern for value in wanted if value.search(text)]
        assert not leaked, f"{path}: {leaked}"
        count += 1
    return count
