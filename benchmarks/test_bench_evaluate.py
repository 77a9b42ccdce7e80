"""``scvbench evaluate`` on a `paper`-sized split: 40 test participants (3 slices each) plus the
164-participant association cohort (1 slice each), 352 x 352 MinIP slices.

``scvbench`` = the whole evaluation (validation, ten scores per slice and per hemisphere,
bootstrap CIs, morphometry agreement, association reproduction, human reference, report);
``monai`` = a plain loop over MONAI's ``DiceMetric`` and ``HausdorffDistanceMetric``
(percentile 95, with spacing) on the same slices, loaded from the same files. Target: the full
evaluation in under 60 s on 2 cores. The data set is written once per session (synthetic
vessels: straight and bent tubes; the submission is the reference with pixels moved, added and
removed). Run with ``make bench``.
"""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from scvbench.steps.splits import assignment_checksum

N_TEST, N_ASSOC, SHAPE, N_SLICES = 40, 164, (352, 352), 12
SPACING = (0.55, 0.625)


def _vessels(rng, shape):
    from skimage.draw import line

    mask = np.zeros(shape, bool)
    for _ in range(rng.integers(8, 14)):
        r0, c0 = rng.integers(60, 290, 2)
        length, angle = rng.uniform(15, 45), rng.uniform(0, np.pi)
        bend = rng.uniform(-8, 8)
        mid = (int(r0 + length / 2 * np.sin(angle) + bend), int(c0 + length / 2 * np.cos(angle)))
        end = (int(r0 + length * np.sin(angle)), int(c0 + length * np.cos(angle)))
        for (a, b), (c, d) in (((r0, c0), mid), (mid, end)):
            rr, cc = line(a, b, c, d)
            keep = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
            mask[rr[keep], cc[keep]] = True
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=1)


@pytest.fixture(scope="session")
def dataset(tmp_path_factory):
    from scipy import ndimage

    root = tmp_path_factory.mktemp("bench-eval") / "bids"
    rng = np.random.default_rng(0)
    affine = np.diag([*SPACING, 1.0, 1.0])
    ids = [f"sub-{i:03d}" for i in range(1, N_TEST + N_ASSOC + 1)]
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "bench", "BIDSVersion": "1.10.0"})
    )
    sexes = rng.choice(["M", "F"], len(ids))
    (root / "participants.tsv").write_text(
        "participant_id\tage\tsex\teducation_years\n"
        + "".join(f"{p}\t30\t{s}\t15\n" for p, s in zip(ids, sexes, strict=True))
    )
    (root / "phenotype").mkdir()
    (root / "phenotype" / "fazekas.tsv").write_text(
        "participant_id\tfazekas_dwm\n" + "".join(f"{p}\t{rng.integers(0, 2)}\n" for p in ids)
    )
    submission = root.parent / "submission"
    (submission).mkdir()
    (submission / "dataset_description.json").write_text(
        json.dumps(
            {
                "Name": "s",
                "BIDSVersion": "1.10.0",
                "DatasetType": "derivative",
                "GeneratedBy": [{"Name": "perturbed-reference"}],
            }
        )
    )
    rows, cols = np.mgrid[: SHAPE[0], : SHAPE[1]]
    brain2d = ((rows - 176) / 150) ** 2 + ((cols - 176) / 170) ** 2 <= 1
    hemi2d = np.where(brain2d, np.where(rows < 176, 2, 1), 0).astype(np.uint8)
    for i, pid in enumerate(ids):
        slices = [3, 6, 9] if i < N_TEST else [6]
        ref = np.zeros((*SHAPE, N_SLICES), np.uint8)
        second = np.zeros_like(ref)
        pred = np.zeros_like(ref)
        for k in slices:
            vessels = _vessels(rng, SHAPE) & brain2d
            ref[:, :, k] = vessels
            second[:, :, k] = ndimage.binary_dilation(vessels) & brain2d
            moved = np.roll(vessels, rng.integers(-1, 2), axis=int(rng.integers(0, 2)))
            pred[:, :, k] = (moved | (rng.random(SHAPE) > 0.9995)) & (rng.random(SHAPE) > 0.05)
        anat = root / "derivatives" / "scvbench" / pid / "anat"
        anat.mkdir(parents=True)
        minip = np.where(brain2d, 600, 0)[:, :, None].repeat(N_SLICES, 2).astype(np.int16)
        minip[ref > 0] = 200
        nib.save(nib.Nifti1Image(minip, affine), anat / f"{pid}_acq-swi_desc-minip_T2starw.nii.gz")
        nib.save(
            nib.Nifti1Image(brain2d[:, :, None].repeat(N_SLICES, 2).astype(np.uint8), affine),
            anat / f"{pid}_acq-swi_desc-brain_mask.nii.gz",
        )
        nib.save(
            nib.Nifti1Image(hemi2d[:, :, None].repeat(N_SLICES, 2), affine),
            anat / f"{pid}_acq-swi_desc-hemi_dseg.nii.gz",
        )
        notes = root / "derivatives" / "annotations" / pid / "anat"
        notes.mkdir(parents=True)
        for rater, data in (("rater1", ref), ("rater2", second)):
            stem = notes / f"{pid}_acq-swi_label-vein_desc-{rater}_mask"
            nib.save(nib.Nifti1Image(data, affine), f"{stem}.nii.gz")
            stem.with_suffix(".json").write_text(json.dumps({"LabelledSlices": slices}))
        out = submission / pid / "anat"
        out.mkdir(parents=True)
        nib.save(nib.Nifti1Image(pred, affine), out / f"{pid}_acq-swi_label-vein_mask.nii.gz")
    development = ids[:N_TEST] + [f"sub-dev{i}" for i in range(4)]
    splits = {
        "test": ids[:N_TEST],
        "folds": [{"train": development[N_TEST:], "val": []}] * 4,
        "association": ids[N_TEST:],
        "reference": {"dataset": "annotations", "rater": "rater1"},
    }
    splits["checksum"] = assignment_checksum(splits)
    (root / "code" / "scvbench").mkdir(parents=True)
    (root / "code" / "scvbench" / "splits.json").write_text(json.dumps(splits))
    return root, submission


def _full(root, submission, out, nprocs=1):
    from scvbench.steps.evaluate import evaluate

    test = evaluate(
        submission, root, out / "test", split="test", human_rater="rater2", nprocs=nprocs
    )
    association = evaluate(
        submission,
        root,
        out / "assoc",
        split="association",
        published="paper",
        human_rater="rater2",
        nprocs=nprocs,
    )
    return test.to_json(), association.to_json()


@pytest.mark.benchmark(group="evaluate-paper-test-plus-association")
@pytest.mark.parametrize("nprocs", [1, 2])
def test_scvbench_evaluate(benchmark, dataset, tmp_path, nprocs):
    root, submission = dataset
    test, association = benchmark.pedantic(
        _full, (root, submission, tmp_path, nprocs), rounds=2, warmup_rounds=1
    )
    assert test["segmentation"]["n_cases"] == 3 * N_TEST
    assert association["segmentation"]["n_cases"] == N_ASSOC
    assert association["association"]["reference"]["reproduction_score"] is not None


@pytest.mark.benchmark(group="evaluate-paper-test-plus-association")
def test_monai_dice_and_hd95_loop(benchmark, dataset):
    import torch
    from monai.metrics import DiceMetric, HausdorffDistanceMetric

    root, submission = dataset

    def plain():
        dice, hd = DiceMetric(), HausdorffDistanceMetric(percentile=95)
        for path in sorted(
            (root / "derivatives" / "annotations").glob("*/anat/*rater1_mask.nii.gz")
        ):
            pid = path.name.split("_")[0]
            ref = np.asarray(nib.load(path).dataobj)
            pred = np.asarray(
                nib.load(
                    submission / pid / "anat" / f"{pid}_acq-swi_label-vein_mask.nii.gz"
                ).dataobj
            )
            for k in json.loads(path.with_name(path.name.replace(".nii.gz", ".json")).read_text())[
                "LabelledSlices"
            ]:
                p = torch.from_numpy(pred[None, None, :, :, k].astype(np.float32))
                r = torch.from_numpy(ref[None, None, :, :, k].astype(np.float32))
                dice(p, r)
                hd(p, r, spacing=SPACING)
        return float(dice.aggregate()), float(hd.aggregate())

    value, _ = benchmark.pedantic(plain, rounds=2, warmup_rounds=1)
    assert 0 < value < 1
