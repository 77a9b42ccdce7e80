"""``scvbench evaluate``: perfect reference, worst cases, malformed and hostile submissions."""

from __future__ import annotations

import io as stdio
import json
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from scvbench.cli import main
from scvbench.core.morphometry import hemisphere_means
from scvbench.results import EvaluationResult


@pytest.fixture()
def reference_submission(derived, tmp_path):
    """rater1's masks, written again, as a submission (names of a prediction).

    The voxels and grid are the reference's, the files are not byte copies (those are refused).
    """
    bids, _, _ = derived
    root = tmp_path / "submission"
    root.mkdir()
    (root / "dataset_description.json").write_text(
        json.dumps(
            {
                "Name": "ref",
                "BIDSVersion": "1.10.0",
                "DatasetType": "derivative",
                "GeneratedBy": [{"Name": "rater1-copy"}],
            }
        )
    )
    for path in sorted(
        (bids / "derivatives" / "annotations").glob("sub-*/anat/*rater1_mask.nii.gz")
    ):
        label = path.name.split("_")[0]
        target = root / label / "anat" / f"{label}_acq-swi_label-vein_mask.nii.gz"
        target.parent.mkdir(parents=True)
        image = nib.load(path)
        nib.save(nib.Nifti1Image(np.asarray(image.dataobj), image.affine), target)
    return bids, root


def _run(bids, submission, out, *extra):
    return main(
        [
            "evaluate",
            str(submission),
            "--reference",
            str(bids),
            "--split",
            "all",
            "--rater",
            "rater1",
            "--human-rater",
            "rater2",
            "-o",
            str(out),
            *extra,
        ]
    )


def test_reference_submitted_scores_perfectly(reference_submission, tmp_path):
    bids, root = reference_submission
    assert _run(bids, root, tmp_path / "out") == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["schema_version"] == "1.0" and results["problems"] == []
    assert EvaluationResult.from_json(results).to_json() == results  # the record is lossless
    overall = results["segmentation"]["overall"]
    assert overall["dice"]["mean"] == 1.0 and overall["cldice"]["mean"] == 1.0
    assert overall["hd95_mm"]["mean"] == 0.0 and overall["betti0_error"]["mean"] == 0.0
    cases = pd.read_csv(tmp_path / "out" / "cases.tsv", sep="\t")
    assert {
        "participant_id",
        "slice",
        "accuracy",
        "dice",
        "iou",
        "cldice",
        "precision",
        "recall",
        "hd95_mm",
        "assd_mm",
        "betti0_error",
        "count_error",
    } <= set(cases.columns)
    assert len(cases) == results["segmentation"]["n_cases"] > 0
    assert (tmp_path / "out" / "summary.md").read_text().startswith("# Evaluation of rater1-copy")
    for side in ("left", "right"):  # the same masks measure the same morphometry
        for measure, agreement in results["morphometry"][side].items():
            assert agreement["bias"] == 0 and agreement["mae"] == 0, (side, measure)
    assert results["morphometry"]["left"]["count"]["icc_a1"] == pytest.approx(1.0)
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Bland-Altman" in report and report.count("<figure class='tile'>") == min(6, len(cases))
    assert "http" not in report.replace("http-equiv", "")  # self-contained: nothing to fetch
    human = results["human_reference"]  # rater2 scored against rater1 on the same slices
    assert human["rater"] == "rater2" and human["n_cases"] == len(cases)
    assert 0.3 < human["overall"]["dice"]["mean"] < 1.0
    # its morphometry pairs: the reference's side as the submission's pairs have it, rater2's
    # side as measured from rater2's masks directly
    pairs = pd.read_csv(tmp_path / "out" / "morphometry.tsv", sep="\t")
    second = pd.read_csv(tmp_path / "out" / "morphometry_human.tsv", sep="\t")
    keys = ["participant_id", "slice", "hemisphere"]
    reference = [f"{m}_reference" for m in ("count", "diameter_mm", "tortuosity")]
    pd.testing.assert_frame_equal(second[keys + reference], pairs[keys + reference])
    row = second.iloc[-1]
    label = row["participant_id"]
    anat = bids / "derivatives" / "scvbench" / label / "anat"
    notes = bids / "derivatives" / "annotations" / label / "anat"
    second_mask = notes / f"{label}_acq-swi_label-vein_desc-rater2_mask.nii.gz"
    image = nib.as_closest_canonical(nib.load(second_mask))
    brain = nib.as_closest_canonical(nib.load(anat / f"{label}_acq-swi_desc-brain_mask.nii.gz"))
    hemi = nib.as_closest_canonical(nib.load(anat / f"{label}_acq-swi_desc-hemi_dseg.nii.gz"))
    k = int(row["slice"])
    spacing = tuple(float(v) for v in np.linalg.norm(image.affine[:3, :3], axis=0)[:2])
    first = nib.as_closest_canonical(nib.load(str(second_mask).replace("rater2", "rater1")))
    inside = np.asarray(brain.dataobj)[:, :, k] > 0
    hemispheres = np.asarray(hemi.dataobj)[:, :, k]
    for source, volume in (("submission", image), ("reference", first)):
        mask = (np.asarray(volume.dataobj)[:, :, k] > 0) & inside
        means = hemisphere_means(mask, spacing, hemispheres)[row["hemisphere"]]
        assert row[f"count_{source}"] == means["count"]
        for measure in ("diameter_mm", "tortuosity"):
            got = row[f"{measure}_{source}"]
            assert got == pytest.approx(means[measure], abs=1e-5, nan_ok=True), (source, measure)


def test_empty_prediction_gets_worst_case_values(reference_submission, tmp_path):
    bids, root = reference_submission
    for path in root.rglob("*_mask.nii.gz"):
        image = nib.load(path)
        nib.save(nib.Nifti1Image(np.zeros(image.shape, np.uint8), image.affine), path)
    assert _run(bids, root, tmp_path / "out") == 0
    cases = pd.read_csv(tmp_path / "out" / "cases.tsv", sep="\t")
    assert (cases["dice"] == 0).all() and (cases["cldice"] == 0).all()
    assert (cases["hd95_mm"] > 100).all() and (cases["betti0_error"] > 0).all()
    assert cases.notna().all().all()
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    count = results["morphometry"]["left"]["count"]
    assert count["bias"] < 0 and count["mae"] == -count["bias"]  # no vessel found
    assert results["morphometry"]["left"]["tortuosity"]["n"] == 0  # nothing to compare


def _first_mask(root):
    return sorted(root.rglob("*_mask.nii.gz"))[0]


@pytest.mark.parametrize(
    "damage,message",
    [
        ("missing", "missing sub-"),
        ("shape", "its header claims shape"),
        ("affine", "another affine"),
        ("nan", "NaN"),
        ("labels", "not binary (values 0, 1, 2)"),
    ],
)
def test_malformed_cases_are_listed_and_scored_worst(
    reference_submission, tmp_path, capsys, damage, message
):
    bids, root = reference_submission
    path = _first_mask(root)
    image = nib.load(path)
    data = np.asarray(image.dataobj)
    if damage == "missing":
        message = message.replace("sub-", f"{path.name.split('_')[0]}/anat")
        path.unlink()
    elif damage == "shape":
        nib.save(nib.Nifti1Image(data[:-1], image.affine), path)
    elif damage == "affine":
        affine = image.affine.copy()
        affine[0, 3] += 5
        nib.save(nib.Nifti1Image(data, affine), path)
    elif damage == "nan":
        bad = data.astype(np.float32)
        bad[0, 0, 0] = np.nan
        nib.save(nib.Nifti1Image(bad, image.affine), path)
    else:
        bad = data.astype(np.uint8)
        bad[0, 0, 0] = 2
        nib.save(nib.Nifti1Image(bad, image.affine), path)
    assert _run(bids, root, tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert message in err, err
    cases = pd.read_csv(tmp_path / "out" / "cases.tsv", sep="\t")
    broken = cases[cases["participant_id"] == path.name.split("_")[0]]
    assert (~broken["valid"]).all() and (broken["dice"] == 0).all()
    assert cases[~cases.index.isin(broken.index)]["dice"].eq(1).all()
    assert _run(bids, root, tmp_path / "strict", "--strict") == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "strict" / "results.json").exists()


def test_archives_are_evaluated_and_hostile_ones_refused(reference_submission, tmp_path, capsys):
    bids, root = reference_submission
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        for path in root.rglob("*"):
            if path.is_file():
                zf.write(path, f"submission/{path.relative_to(root)}")
    assert _run(bids, good, tmp_path / "z") == 0
    results = json.loads((tmp_path / "z" / "results.json").read_text())
    assert results["segmentation"]["overall"]["dice"]["mean"] == 1.0

    traversal = tmp_path / "traversal.zip"
    with zipfile.ZipFile(traversal, "w") as zf:
        zf.writestr("../../evil.txt", "x")
    link = tmp_path / "link.tar.gz"
    with tarfile.open(link, "w:gz") as tf:
        info = tarfile.TarInfo("submission/sub-1/anat/x_mask.nii.gz")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("submission/zeros.bin", b"\0" * (64 * 1024 * 1024))
    absolute = tmp_path / "absolute.tar.gz"
    with tarfile.open(absolute, "w:gz") as tf:
        data = b"x"
        info = tarfile.TarInfo("/tmp/evil.txt")
        info.size = len(data)
        tf.addfile(info, stdio.BytesIO(data))
    for archive, message in (
        (traversal, "leaves the archive's folder"),
        (link, "is a link"),
        (bomb, "zip bomb"),
        (absolute, "absolute path"),
    ):
        assert _run(bids, archive, tmp_path / archive.stem) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not (tmp_path / archive.stem).exists()
    assert not (tmp_path.parent / "evil.txt").exists()


def test_reference_from_the_submissions_link_and_truth_comparison(
    reference_submission, derived, tiny_cohort, tmp_path, capsys
):
    import os

    bids, root = reference_submission
    _, key, _ = derived
    args = ["evaluate", str(root), "--split", "all", "--rater", "rater1", "-o"]
    assert main([*args, str(tmp_path / "a")]) == 1  # no link and no --reference
    assert "give --reference" in capsys.readouterr().err
    description = json.loads((root / "dataset_description.json").read_text())
    description["DatasetLinks"] = {"raw": os.path.relpath(bids, root)}
    (root / "dataset_description.json").write_text(json.dumps(description))
    truth = ["--truth", str(tiny_cohort / "truth"), "--key-file", str(key)]
    assert main([*args, str(tmp_path / "b"), *truth]) == 0
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["segmentation"]["overall"]["dice"]["mean"] == 1.0
    association = results["association"]
    assert {"truth", "reference_vs_truth"} <= set(association)
    # this cohort has no Fazekas table: the sex comparisons (3 measures x 2 hemispheres)
    assert len(association["truth"]["tests"]) == 6 and "sex comparisons only" in association["note"]
    empty_key = tmp_path / "key.csv"
    empty_key.write_text("patient_id,participant_id\n")
    assert (
        main(
            [
                *args,
                str(tmp_path / "c"),
                "--truth",
                str(tiny_cohort / "truth"),
                "--key-file",
                str(empty_key),
            ]
        )
        == 1
    )
    assert "no truth for" in capsys.readouterr().err


def _masks(bids):
    return sorted((bids / "derivatives" / "annotations").glob("sub-*/anat/*rater1_mask.nii.gz"))


def test_byte_copies_and_links_of_the_reference_are_refused(reference_submission, tmp_path, capsys):
    """A submission must hold a model's predictions: a copy of, or a link to, the reference is
    refused (it would score Dice 1 and rank first)."""
    bids, root = reference_submission
    first = _first_mask(root)
    reference = next(p for p in _masks(bids) if p.name.startswith(first.name.split("_")[0]))
    shutil.copy(reference, first)
    for nprocs in ("1", "2"):  # found in a worker process too
        assert _run(bids, root, tmp_path / "copy", "--nprocs", nprocs) == 2
        err = capsys.readouterr().err
        assert "byte-for-byte copy of the reference mask" in err and err.count("\n") == 1, err
        assert not (tmp_path / "copy").exists()
    first.unlink()
    first.symlink_to(reference)
    assert _run(bids, root, tmp_path / "link") == 2
    err = capsys.readouterr().err
    assert "is a link" in err and err.count("\n") == 1, err
    assert not (tmp_path / "link").exists()


def test_a_compressed_tar_bomb_is_refused_before_unpacking(reference_submission, tmp_path, capsys):
    bids, _ = reference_submission
    bomb = tmp_path / "bomb.tar.gz"
    zeros = b"\0" * (64 * 1024 * 1024)
    with tarfile.open(bomb, "w:gz") as tf:
        info = tarfile.TarInfo("submission/zeros.bin")
        info.size = len(zeros)
        tf.addfile(info, stdio.BytesIO(zeros))
    assert bomb.stat().st_size < 1024 * 1024
    assert _run(bids, bomb, tmp_path / "bomb") == 2
    err = capsys.readouterr().err
    assert "compression bomb" in err and err.count("\n") == 1, err
    assert not (tmp_path / "bomb").exists()
    assert not list(Path(tempfile.gettempdir()).glob("scvbench-submission-*/submission/zeros.bin"))


def test_parallel_scoring_gives_the_same_files(reference_submission, tmp_path):
    # Participants scored in worker processes: every output byte and the order of the problems
    # must be those of one process.
    bids, root = reference_submission
    rng = np.random.default_rng(0)
    masks = sorted(root.glob("sub-*/anat/*_mask.nii.gz"))
    for path in masks[1:]:
        image = nib.load(path)
        data = np.asarray(image.dataobj).copy()
        data[rng.random(data.shape) > 0.999] = 1
        data[rng.random(data.shape) > 0.7] = 0
        nib.save(nib.Nifti1Image(data, image.affine), path)
    masks[0].unlink()  # a missing participant: a problem line and worst-case scores
    assert _run(bids, root, tmp_path / "one") == 0
    assert _run(bids, root, tmp_path / "two", "--nprocs", "2") == 0
    names = ["results.json", "cases.tsv", "morphometry.tsv", "summary.md", "report.html"]
    names += ["morphometry_human.tsv"]
    names += [f"worst/{p.name}" for p in sorted((tmp_path / "one" / "worst").glob("*.png"))]
    assert len(names) > 5
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert json.loads((tmp_path / "two" / "results.json").read_text())["problems"]
    # --power: the same scores, and the report gains the power of the study's test
    assert _run(bids, root, tmp_path / "power", "--power") == 0
    for name in ("results.json", "cases.tsv", "morphometry.tsv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "power" / name).read_bytes()
    power = json.loads((tmp_path / "power" / "power.json").read_text())
    # the second rater's error on the same slices gives the human reference's curve
    assert set(power["n_for_power"]) == {"error-free", "model", "human"}
    human = json.loads((tmp_path / "power" / "results.json").read_text())["human_reference"]
    right = human["morphometry"]["right"]["tortuosity"]
    assert power["errors"]["human"]["n"] == right["n"] > 0
    if power["errors"]["human"]["kind"] == "constant":  # fitted to the pairs as written (6 digits)
        assert power["errors"]["human"]["bias"] == pytest.approx(right["bias"], abs=1e-5)
    assert (tmp_path / "power" / "power.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    second = pd.read_csv(tmp_path / "power" / "morphometry_human.tsv", sep="\t")
    assert set(second["hemisphere"]) == {"left", "right"} and "tortuosity_submission" in second
    assert (
        "Power for the study's right-tortuosity effect"
        in (tmp_path / "power" / "report.html").read_text()
    )
    assert not (tmp_path / "one" / "power.json").exists()


@pytest.mark.parametrize("same_grid", [True, False])
def test_human_slices_measure_both_raters_inside_the_brain(tmp_path, same_grid):
    # The reference's morphometry is reused only where it was measured with the second mask's
    # pixel size; both raters are measured inside the brain (masks reaching outside it here).
    from scvbench.steps.evaluate.morphometry import human_slices

    rng = np.random.default_rng(1)
    shape = (48, 40, 3)
    first = np.zeros(shape, bool)
    first[5:44, 10:12, 1] = first[20:22, 3:38, 1] = True  # a cross reaching past the brain
    second = first.copy()
    second[5:44, 12, 1] = True
    second[rng.random(shape) > 0.98] = True
    brain = np.zeros(shape[:2], bool)
    brain[8:40, 6:34] = True
    hemi = np.where(brain, np.where(np.arange(shape[1]) < 20, 1, 2)[None, :], 0)
    spacing = (0.5, 0.6)
    affine = np.diag([*spacing, 2.0, 1.0]) if same_grid else np.diag([0.7, 0.6, 2.0, 1.0])
    path = tmp_path / "second.nii.gz"
    nib.save(nib.Nifti1Image(second.astype(np.uint8), affine), path)
    own = spacing if same_grid else (0.7, 0.6)
    known = {1: hemisphere_means(first[:, :, 1] & brain, spacing, hemi)}
    rows, pairs = human_slices("sub-x", path, {1: (first[:, :, 1], brain, hemi)}, spacing, known)
    assert len(rows) == 1 and [p["hemisphere"] for p in pairs] == ["left", "right"]
    for source, mask in (("submission", second[:, :, 1]), ("reference", first[:, :, 1])):
        means = hemisphere_means(mask & brain, own, hemi)
        for pair in pairs:
            for measure in ("count", "diameter_mm", "tortuosity"):
                want = means[pair["hemisphere"]][measure]
                assert pair[f"{measure}_{source}"] == pytest.approx(want, nan_ok=True)
