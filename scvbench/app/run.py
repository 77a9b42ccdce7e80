"""``scvbench run``: the BIDS-App entry point, what the container runs.

``scvbench run BIDS_DIR OUTPUT_DIR participant`` derives, segments, measures and reports the
named participants; ``scvbench run BIDS_DIR OUTPUT_DIR group`` then gathers them. The raw dataset
is only read (mount it read-only); ``OUTPUT_DIR`` takes the place of ``BIDS_DIR/derivatives``:

- ``scvbench/``: MinIP, brain and hemisphere masks and QC pages (as ``scvbench derive``);
- ``<model>/``: the vein masks and probabilities (a submission ``scvbench evaluate`` scores) and
  per-participant morphometry ``sub-<label>/anat/sub-<label>_acq-swi_desc-scv_morph.tsv``;
  the group level adds the group table ``acq-swi_desc-scv_morph.tsv``;
- ``sub-<label>.html``: the participant's report (veins on the analysis slice, morphometry);
- ``logs/sub-<label>.json``: what the participant was run with; a re-run with the same inputs,
  model and settings skips it;
- ``group/stats/`` (``scvbench stats``), ``group/evaluation/`` (``scvbench evaluate``, when the
  dataset has reference masks) and ``group_report.html``.

Participant runs for different participants may run at once into one ``OUTPUT_DIR`` (one SLURM
array task each, see :mod:`scvbench.app.slurm`): every file is written atomically, each participant
is computed in its own work folder, and the shared files are identical whoever writes them.
"""

from __future__ import annotations

import logging

from scvbench.app.group import run_group
from scvbench.app.options import LEVELS, RunOptions, RunReport, default_threads, estimate_memory_gb
from scvbench.app.participant import run_participants
from scvbench.errors import ScvbenchError

__all__ = ["LEVELS", "RunOptions", "RunReport", "default_threads", "estimate_memory_gb", "run"]

log = logging.getLogger(__name__)


def run(options: RunOptions) -> RunReport:
    """Run one analysis level of the BIDS-App; see the module's description."""
    if options.level not in LEVELS:
        raise ScvbenchError(f"analysis level must be participant or group, got {options.level!r}")
    if not 0.0 < options.threshold < 1.0:
        raise ScvbenchError(f"--threshold must be between 0 and 1, got {options.threshold}")
    report = RunReport()
    if options.level == "participant":
        return run_participants(options, report)
    return run_group(options, report)
