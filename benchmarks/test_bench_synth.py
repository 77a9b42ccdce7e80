"""Generator throughput: subjects per second per preset, against a plain writer of the same files.

Run with ``make bench``. pytest-benchmark reports seconds per round; one round generates one
subject, so subjects per second = 1 / mean. The template is built once before timing.

The plain baseline (``test_plain_subject``) writes the same DICOM series of the same sizes for
one subject with nothing simulated: the template resampled onto the posed grids (no warp), Gaussian
noise, no veins, no phase physics, no truth, no annotations. The generator's time over the plain
time is what the simulation costs on top of producing the files at all.
"""

from __future__ import annotations

import numpy as np
import pytest

from scvbench.steps.synth.anatomy import load_template
from scvbench.steps.synth.cohort import draw_cohort
from scvbench.steps.synth.dicom import write_series
from scvbench.steps.synth.geometry import draw_pose
from scvbench.steps.synth.imaging import flair_grid, swi_grid
from scvbench.steps.synth.phi import fake_study
from scvbench.steps.synth.presets import PRESETS
from scvbench.steps.synth.render import resample
from scvbench.steps.synth.series import flair_series, scanner_mip, swi_series, to_uint12
from scvbench.steps.synth.subject import SynthSettings, subject_rng, synthesize_subject

PRESET_NAMES = ["tiny", "demo", "paper"]


def _row() -> dict:
    return draw_cohort(2, seed=0).iloc[0].to_dict()


def _plain_subject(row: dict, preset, out) -> None:
    """The same series as the generator writes, from the bare template plus noise."""
    template = load_template()
    rng = subject_rng(0, 0, 0)
    pose = draw_pose(rng)
    grid = swi_grid(preset, pose, rng)
    study = fake_study(str(row["patient_id"]), row["sex"], int(row["age"]), rng, 0)
    tissue = resample(template.swi, grid, pose, template.affine)
    tissue = tissue + rng.normal(0.0, 0.03, tissue.shape).astype(np.float32)
    folder = out / "dicom" / "PA0001" / "ST0001"
    flair_space = flair_grid(preset, pose, grid, rng)
    flair = resample(template.flair, flair_space, pose, template.affine)
    write_series(folder / "SE0003", to_uint12(flair), flair_space, study, flair_series())
    for kind, spec in swi_series().items():
        target = folder / f"SE{spec.number:04d}"
        if kind == "mip":
            mip, mip_grid = scanner_mip(tissue, grid)
            write_series(target, to_uint12(mip), mip_grid, study, spec)
        else:
            write_series(target, to_uint12(tissue), grid, study, spec)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_generator_one_subject(benchmark, preset, tmp_path):
    load_template()
    row = _row()
    settings = SynthSettings(PRESETS[preset], seed=0)
    counter = iter(range(10**6))

    def run():
        synthesize_subject(row, settings, tmp_path / str(next(counter)))

    run()  # warm-up: numba compilation in skan, page cache
    benchmark.extra_info["subjects_per_second"] = "1 / mean"
    benchmark.pedantic(run, rounds=3 if preset == "paper" else 5, iterations=1)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_plain_subject(benchmark, preset, tmp_path):
    load_template()
    row = _row()
    counter = iter(range(10**6))

    def run():
        _plain_subject(row, PRESETS[preset], tmp_path / str(next(counter)))

    run()
    benchmark.extra_info["baseline"] = "same DICOM series, template plus noise, nothing simulated"
    benchmark.pedantic(run, rounds=3 if preset == "paper" else 5, iterations=1)
