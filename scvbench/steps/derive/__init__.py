"""``scvbench derive``: MinIP, brain and hemisphere masks, analysis slices, exports, QC report.

For each participant, in ``BIDS_DIR/derivatives/scvbench/``:

* ``sub-<label>/anat/sub-<label>_acq-swi_desc-minip_T2starw.nii.gz`` (+ ``.json``): the sliding
  MinIP of the scanner SWI (else the magnitude) in RAS+ voxel order, slab and step in mm through
  the voxel size of the slice axis, affine at each window's centre;
* ``..._desc-brain_mask.nii.gz``: brain on the MinIP grid, the pixels inside the intracranial
  mask in every slice of their slab (:func:`scvbench.core.brain.brain_mask` on the magnitude);
* ``..._desc-hemi_dseg.nii.gz``: 1 left, 2 right of the estimated mid-sagittal plane;
* ``sourcedata/labelme/sub-<label>_minip-<mmm>.png``: the analysis slices for Labelme, one
  fixed window (raters save their ``.json`` beside them);
* ``sourcedata/qc/sub-<label>.html``: the QC report.

BIDS has no name for PNG exports or HTML reports, and ``bids-validator-deno -r`` ignores a
derivative dataset's ``.bidsignore``; it does skip ``sourcedata/``, where both therefore live.

A participant whose recorded inputs and settings are unchanged is skipped; one derived with
other settings or inputs is kept unless ``overwrite``. Each participant is written into a work
folder and moved in at the end, the MinIP sidecar (which records what was done) last.
"""

from scvbench.steps.derive.dataset import DeriveReport, copy_derived, derive_dataset
from scvbench.steps.derive.participant import (
    LABELME_DIR,
    PIPELINE,
    QC_DIR,
    Settings,
    derivation_state,
    derive_participant,
)

__all__ = [
    "LABELME_DIR",
    "PIPELINE",
    "QC_DIR",
    "DeriveReport",
    "Settings",
    "copy_derived",
    "derivation_state",
    "derive_dataset",
    "derive_participant",
]
