"""The official benchmark's evaluation on real masks: both splits of a ``scvbench benchmark`` run.

Set ``SCVBENCH_BENCHMARK_DIR`` to a benchmark folder (``OUT`` of ``scvbench benchmark``, e.g. the
``paper`` preset) and ``SCVBENCH_BENCHMARK_MODEL`` to one of its models (default ``unet``): the
model's submission (``runs/<model>/submission``, predicted by the trained network) is scored on
the test split and the association cohort exactly as the benchmark does (published study and
generator's truth included), against a plain loop over MONAI's ``DiceMetric`` and
``HausdorffDistanceMetric`` (percentile 95, with spacing) on the same slices read from the same
files. Without the variable the module is skipped: it needs a finished run, which the test suite
never makes. Run with ``make bench``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

ROOT = os.environ.get("SCVBENCH_BENCHMARK_DIR")
MODEL = os.environ.get("SCVBENCH_BENCHMARK_MODEL", "unet")

pytestmark = pytest.mark.skipif(
    not ROOT or not (Path(ROOT) / "runs" / MODEL / "submission").is_dir(),
    reason="set SCVBENCH_BENCHMARK_DIR to a finished scvbench benchmark folder",
)


def _both(out: Path, nprocs: int):
    from scvbench.steps.evaluate import evaluate

    root = Path(ROOT)
    kwargs = {
        "published": "paper",
        "truth": root / "sourcedata" / "truth",
        "key_file": root / "key.csv",
        "nprocs": nprocs,
    }
    submission = root / "runs" / MODEL / "submission"
    test = evaluate(submission, root / "bids", out / "test", split="test", **kwargs)
    association = evaluate(
        submission, root / "bids", out / "association", split="association", **kwargs
    )
    return test, association


@pytest.mark.benchmark(group="evaluate-official-both-splits")
@pytest.mark.parametrize("nprocs", [1, 2])
def test_scvbench_evaluate_official(benchmark, tmp_path, nprocs):
    test, association = benchmark.pedantic(_both, (tmp_path, nprocs), rounds=1, warmup_rounds=1)
    assert test.segmentation.n_cases > 0 and association.segmentation.n_cases > 0
    benchmark.extra_info["slices"] = test.segmentation.n_cases + association.segmentation.n_cases


@pytest.mark.benchmark(group="evaluate-official-both-splits")
def test_monai_loop_official(benchmark):
    import torch
    from monai.metrics import DiceMetric, HausdorffDistanceMetric

    from scvbench.steps.splits import SPLITS_FILE, load_splits

    root = Path(ROOT)
    splits = load_splits(root / "bids" / SPLITS_FILE)
    rater = splits["reference"]["rater"]
    participants = splits["test"] + splits["association"]

    def plain():
        dice, hd = DiceMetric(), HausdorffDistanceMetric(percentile=95)
        n = 0
        for pid in participants:
            notes = root / "bids" / "derivatives" / "annotations" / pid / "anat"
            path = notes / f"{pid}_acq-swi_label-vein_desc-{rater}_mask.nii.gz"
            image = nib.load(path)
            spacing = tuple(float(z) for z in image.header.get_zooms()[:2])
            ref = np.asarray(image.dataobj)
            sub = root / "runs" / MODEL / "submission" / pid / "anat"
            pred = np.asarray(nib.load(sub / f"{pid}_acq-swi_label-vein_mask.nii.gz").dataobj)
            sidecar = json.loads(path.with_name(path.name.replace(".nii.gz", ".json")).read_text())
            for k in sidecar["LabelledSlices"]:
                p = torch.from_numpy(pred[None, None, :, :, k].astype(np.float32))
                r = torch.from_numpy(ref[None, None, :, :, k].astype(np.float32))
                dice(p, r)
                hd(p, r, spacing=spacing)
                n += 1
        return float(dice.aggregate()), n

    value, n = benchmark.pedantic(plain, rounds=1, warmup_rounds=1)
    assert 0 <= value <= 1 and n > 0
    benchmark.extra_info["slices"] = n
