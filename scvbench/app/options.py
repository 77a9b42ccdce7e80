"""What a BIDS-App run is asked to do, what it did, and how many participants run at once."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from scvbench.bids import layout
from scvbench.defaults import DEFAULTS
from scvbench.errors import ScvbenchError
from scvbench.models.checkpoint import load_checkpoint
from scvbench.steps.train import untrained_state

__all__ = [
    "GROUP_REPORT",
    "LEVELS",
    "LOGS",
    "Model",
    "RunOptions",
    "RunReport",
    "check_folders",
    "default_threads",
    "estimate_memory_gb",
    "load_model",
    "participant_workers",
]

log = logging.getLogger(__name__)


LEVELS = ("participant", "group")


LOGS = "logs"


GROUP_REPORT = "group_report.html"


@dataclass(frozen=True)
class RunOptions:
    """The BIDS-App's arguments (see ``scvbench run --help``)."""

    bids_dir: Path
    output_dir: Path
    level: str
    participant_labels: list[str] | None = None
    skip_bids_validation: bool = False
    work_dir: Path | None = None
    nprocs: int = 1
    mem_gb: float | None = None
    checkpoint: Path | None = None
    model: str | None = None
    slab_mm: float = DEFAULTS.slab_mm
    step_mm: float = DEFAULTS.step_mm
    threshold: float = DEFAULTS.threshold
    overwrite: bool = False
    dry_run: bool = False


@dataclass
class RunReport:
    """What a run did: participants processed, up to date, failed; plan lines; warnings.

    ``reused``: participants whose derivatives were copied from ``BIDS_DIR/derivatives``.
    """

    done: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    plan: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)


def check_folders(options: RunOptions) -> tuple[Path, Path]:
    """The dataset and output folders, resolved, or one error saying what is wrong with them."""
    bids, out = options.bids_dir.resolve(), options.output_dir.resolve()
    if not (bids / "dataset_description.json").is_file():
        raise ScvbenchError(
            f"{options.bids_dir}: not a BIDS dataset (no dataset_description.json); give the raw "
            "dataset made by scvbench convert"
        )
    if out == bids or out in bids.parents:
        raise ScvbenchError(
            f"{options.output_dir}: OUTPUT_DIR must not be the BIDS dataset or hold it; use "
            "another folder"
        )
    if out.exists() and not out.is_dir():
        raise ScvbenchError(f"{options.output_dir}: exists and is not a folder")
    return bids, out


@dataclass(frozen=True)
class Model:
    """A loaded model: its name, its state and what identifies it in the run log."""

    name: str
    identity: str  # checkpoint SHA-256 or "<name>:default"
    state: dict
    source: str


def load_model(options: RunOptions) -> Model:
    """The model to run: a checkpoint loaded, or a model that needs no training."""
    if options.checkpoint is not None:
        state = load_checkpoint(options.checkpoint)
        digest = layout.sha256(options.checkpoint)
        return Model(state["config"]["model"], digest, state, str(options.checkpoint))
    if options.model is not None:
        state = untrained_state(options.model)
        return Model(options.model, f"{options.model}:default", state, "default parameters")
    raise ScvbenchError(
        "the participant level needs a model: --checkpoint RUN/model_best.pt (from "
        "scvbench train) or --model frangi (needs no training)"
    )


def estimate_memory_gb(bids: Path, label: str) -> float:
    """Peak memory of running one participant, from the size of its SWI image.

    0.5 GB (the interpreter with numpy, scipy, numba and torch) plus 48 bytes per SWI voxel: a
    line through the measured peak resident memory of one participant (``--model frangi``,
    ``--nprocs 1``): 0.68 GB for the demo preset's 256 x 256 x 64 SWI, 0.89 GB for the paper
    preset's 352 x 352 x 72.
    """
    swi = layout.raw_path(bids, label, "swi") or layout.raw_path(bids, label, "mag")
    voxels = int(np.prod(nib.load(swi).shape[:3]))
    return 0.5 + 48 * voxels / 1e9


def participant_workers(
    options: RunOptions, bids: Path, labels: list[str], report: RunReport
) -> int:
    """Participants run at once: --nprocs, fewer when --mem would not hold them (noted)."""
    workers = max(1, min(options.nprocs, len(labels)))
    if options.mem_gb is not None and labels:
        need = max(estimate_memory_gb(bids, label) for label in labels)
        fits = int(options.mem_gb // need)
        if fits < 1:
            report.notes.append(
                f"--mem {options.mem_gb:g} GB is below the {need:.1f} GB one participant needs; "
                "running one at a time"
            )
        if max(1, fits) < workers:
            report.notes.append(
                f"--mem {options.mem_gb:g} GB allows {max(1, fits)} participant(s) at once "
                f"({need:.1f} GB each), not {workers}"
            )
        workers = max(1, min(workers, fits))
    return workers


def default_threads() -> int:
    """CPUs this process may use (the SLURM allocation or affinity mask, not the whole node)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
