"""One participant converted: dcm2niix into a private work folder, de-identified, moved in."""

from __future__ import annotations

import gzip
import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

import dcm2niix
import nibabel as nib
import numpy as np

from scvbench import io
from scvbench.bids.spec import RAW
from scvbench.bids.spec import sidecar as json_sidecar
from scvbench.errors import ScvbenchError
from scvbench.steps.convert.deidentify import clean_nifti, clean_sidecar
from scvbench.steps.convert.plan import ParticipantPlan
from scvbench.steps.convert.series import SeriesInfo
from scvbench.workspace import private_tempdir, tagged

#: The work folder inside the BIDS root: de-identified files only, removed when the run ends
#: and swept at the start of the next (the BIDS root is locked while a conversion runs).
WORK = ".scvbench-work"

__all__ = ["WORK", "convert_participant", "run_dcm2niix"]

log = logging.getLogger(__name__)


def run_dcm2niix(series: SeriesInfo, work: Path) -> tuple[Path, Path]:
    """Convert one series; return its NIfTI and sidecar paths.

    Parameters
    ----------
    series : SeriesInfo
        The series' files.
    work : Path
        An empty work folder.

    Returns
    -------
    tuple of Path
        The NIfTI and its JSON sidecar in ``work``.

    Raises
    ------
    ScvbenchError
        dcm2niix failed or wrote other than one image; its error line is quoted.
    """
    source = work / "in"
    source.mkdir(parents=True)
    for path in series.files:
        if path.name.lower().endswith(".gz"):
            _gunzip(path, source / path.name[:-3])
        else:
            (source / path.name).symlink_to(path.resolve())
    out = work / "out"
    out.mkdir()
    run = subprocess.run(
        [
            dcm2niix.bin,
            "-b",
            "y",
            "-ba",
            "y",
            "-z",
            "n",  # compressed once, by clean_nifti, after de-identification
            "-f",
            "series",
            "-o",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    images = sorted(out.glob("*.nii"))
    if run.returncode != 0 or len(images) != 1:
        raise ScvbenchError(
            f"dcm2niix could not convert series {series.number} "
            f"({series.description}) in {series.files[0].parent}: "
            f"{dcm2niix_error(run.stdout + chr(10) + run.stderr, len(images))}"
        )
    return images[0], images[0].with_suffix(".json")


def dcm2niix_error(output: str, images: int) -> str:
    """The line of dcm2niix's output that says what went wrong (never its timing line).

    Parameters
    ----------
    output : str
        dcm2niix's standard output and error.
    images : int
        How many images it wrote.

    Returns
    -------
    str
        Its last error or warning line; else what it wrote instead of one image.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if _ERROR.search(line)]
    if errors:
        return errors[-1]
    if images > 1:
        return f"it wrote {images} images, not one (mixed geometry or echoes in one series)"
    lines = [line for line in lines if not line.startswith(("Conversion required", "Chris Rorden"))]
    return lines[-1] if lines else "no image written and no message"


_ERROR = re.compile(r"error|fail|unable|unsupported|not supported|corrupt", re.IGNORECASE)
#: The most one gzipped DICOM file may expand to.
_GUNZIP_LIMIT = 1 << 30


def _gunzip(path: Path, target: Path) -> None:
    """Expand one ``.dcm.gz`` for dcm2niix, refusing a file that expands without bound."""
    written = 0
    try:
        with gzip.open(path) as stream, open(target, "wb") as out:
            while chunk := stream.read(1 << 20):
                written += len(chunk)
                if written > _GUNZIP_LIMIT:
                    raise ScvbenchError(
                        f"{path}: expands beyond {_GUNZIP_LIMIT >> 20} MiB; not a DICOM slice "
                        "(a compression bomb?): remove it"
                    )
                out.write(chunk)
    except (OSError, EOFError) as err:
        raise ScvbenchError(f"{path}: damaged gzip file ({err}); export it again") from None


def _phase_scale(image_path: Path, manufacturer: str = "") -> tuple[float | None, str]:
    """Scale that expresses phase in radians, and the Units value.

    Radians stay; GE and Philips store milliradians (-3142..3142); Siemens stores -4096..4094
    for -pi..pi. Anything else is kept as it is, in arbitrary units.
    """
    data = np.asarray(nib.load(image_path).dataobj)
    low, high = float(data.min()), float(data.max())
    if -np.pi - 1e-3 <= low and high <= np.pi + 1e-3:
        return None, "rad"
    vendor = manufacturer.upper()
    if ("GE" in vendor.split() or "PHILIPS" in vendor) and -3143 <= low and high <= 3143:
        return 1e-3, "rad"
    if -4096 <= low and high <= 4096:  # Siemens 12-bit phase
        return float(np.pi / 4096.0), "rad"
    return None, "arbitrary"


def convert_participant(p: ParticipantPlan, bids_dir: Path) -> str:
    """Convert, de-identify and move in one participant's series; return its label.

    dcm2niix writes into a private folder in the system temporary folder (its sidecars carry
    patient data); only the de-identified files are staged in the dataset's work folder, and
    moved into place in one rename.

    Parameters
    ----------
    p : ParticipantPlan
        The participant's chosen series.
    bids_dir : Path
        The dataset.

    Returns
    -------
    str
        The participant label.
    """
    work_root = bids_dir / WORK
    work_root.mkdir(exist_ok=True)
    staging = work_root / tagged(f"sub-{p.label}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with private_tempdir("work") as tmp:
            for kind, series in p.chosen.items():
                image, meta_path = run_dcm2niix(series, tmp / kind)
                target = staging / RAW[kind].relpath(p.label)
                raw = json.loads(meta_path.read_text())
                meta = clean_sidecar(raw)
                scale = None
                if kind == "phase":
                    scale, meta["Units"] = _phase_scale(image, str(raw.get("Manufacturer", "")))
                clean_nifti(image, target, rescale=scale)
                io.write_json(json_sidecar(target), meta)
        io.replace_directory(staging / f"sub-{p.label}", bids_dir / f"sub-{p.label}")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return p.label
