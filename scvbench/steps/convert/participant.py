"""One participant converted: dcm2niix into a private work folder, de-identified, moved in."""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
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
from scvbench.steps.convert.series import (
    SeriesInfo,
)

#: The private work folder inside the BIDS root, removed when the run ends.
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
        detail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ScvbenchError(
            f"dcm2niix could not convert series {series.number} "
            f"({series.description}) in {series.files[0].parent}: {detail[0]}"
        )
    return images[0], images[0].with_suffix(".json")


def _phase_scale(image_path: Path) -> tuple[float | None, str]:
    """Scale that expresses phase in radians, and the Units value."""
    data = np.asarray(nib.load(image_path).dataobj)
    low, high = float(data.min()), float(data.max())
    if -np.pi - 1e-3 <= low and high <= np.pi + 1e-3:
        return None, "rad"
    if -4096 <= low and high <= 4096:  # Siemens 12-bit phase
        return float(np.pi / 4096.0), "rad"
    return None, "arbitrary"


def convert_participant(p: ParticipantPlan, bids_dir: Path) -> str:
    """Convert, de-identify and move in one participant's series; return its label.

    Parameters
    ----------
    p : ParticipantPlan
        The participant's chosen series.
    bids_dir : Path
        The dataset; the work folder lies inside it and is removed when done.

    Returns
    -------
    str
        The participant label.
    """
    work_root = bids_dir / WORK
    work_root.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_root, prefix=f"sub-{p.label}.") as tmp:
        staging = Path(tmp) / "staging"
        for kind, series in p.chosen.items():
            image, meta_path = run_dcm2niix(series, Path(tmp) / kind)
            target = staging / RAW[kind].relpath(p.label)
            meta = clean_sidecar(json.loads(meta_path.read_text()))
            scale = None
            if kind == "phase":
                scale, meta["Units"] = _phase_scale(image)
            clean_nifti(image, target, rescale=scale)
            io.write_json(json_sidecar(target), meta)
        io.replace_directory(staging / f"sub-{p.label}", bids_dir / f"sub-{p.label}")
    return p.label
