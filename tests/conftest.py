"""Shared fixtures: one tiny synthetic cohort per test session, made by the project itself."""

from __future__ import annotations

import os

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

TINY_SEED = 7
TINY_SUBJECTS = 4


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory):
    """A 4-subject tiny cohort (2 development, 2 association), generated with 2 processes."""
    from scvbench.steps.synth import generate_cohort

    out = tmp_path_factory.mktemp("cohort") / "tiny"
    generate_cohort(
        out, preset="tiny", n_subjects=TINY_SUBJECTS, seed=TINY_SEED, nprocs=2, progress=False
    )
    return out


@pytest.fixture(scope="session")
def manifest(tiny_cohort):
    import json

    return json.loads((tiny_cohort / "truth" / "manifest.json").read_text())


@pytest.fixture(scope="session")
def derived(tiny_cohort, tmp_path_factory):
    """The tiny cohort converted, derived (2 processes) and with both raters imported."""
    from scvbench.cli import main

    root = tmp_path_factory.mktemp("derive")
    bids, key = root / "bids", root / "key.csv"
    args = ["convert", str(tiny_cohort / "dicom"), str(bids), "--key-file", str(key)]
    assert main([*args, "--nprocs", "2"]) == 0
    assert main(["derive", str(bids), "--nprocs", "2"]) == 0
    annotations = tiny_cohort / "annotations"
    assert main(["annotations", "import", str(annotations), str(bids), "--key-file", str(key)]) == 0
    table = pd.read_csv(key)
    labels = dict(zip(table.patient_id, table.participant_id.str.removeprefix("sub-"), strict=True))
    return bids, key, labels
