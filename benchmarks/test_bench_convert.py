"""``scvbench convert`` against bare dcm2niix on the same series (target: at most 1.3x).

Both convert the four used series (processed SWI, magnitude, phase, FLAIR) of every subject of
the `demo` cohort (30 subjects, 120 series) with gzip, one process; convert adds discovery,
classification, de-identification and the tables.
"""

from __future__ import annotations

import itertools
import subprocess

import dcm2niix
import pytest

from scvbench.steps.convert.run import convert_dataset, plan
from scvbench.steps.synth import generate_cohort


@pytest.fixture(scope="module")
def demo_dicom(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "demo"
    generate_cohort(out, preset="demo", seed=0, nprocs=2, progress=False)
    return out / "dicom"


def test_convert_demo_subjects(benchmark, demo_dicom, tmp_path):
    counter = itertools.count()
    benchmark.pedantic(
        lambda: convert_dataset(demo_dicom, tmp_path / f"bids{next(counter)}"),
        rounds=3,
        iterations=1,
        warmup_rounds=1,
    )


def test_bare_dcm2niix_same_series(benchmark, demo_dicom, tmp_path):
    plans, _ = plan(demo_dicom)
    series = [s for p in plans for s in p.chosen.values()]
    folders = []
    for n, s in enumerate(series):
        folder = tmp_path / f"in{n}"
        folder.mkdir()
        for path in s.files:
            (folder / path.name).symlink_to(path)
        folders.append(folder)
    counter = itertools.count()

    def run():
        target = tmp_path / f"out{next(counter)}"
        target.mkdir()
        for folder in folders:
            subprocess.run(
                [
                    dcm2niix.bin,
                    "-b",
                    "y",
                    "-ba",
                    "y",
                    "-z",
                    "y",
                    "-f",
                    folder.name,
                    "-o",
                    str(target),
                    str(folder),
                ],
                capture_output=True,
                check=True,
            )

    benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
