"""``scvbench morph``: single masks and derivative datasets, bad input, BIDS validity."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from scvbench.bids.spec import DERIVATIVES
from scvbench.cli import main
from scvbench.steps.convert.validate import validate
from scvbench.steps.morph import GROUP_FILE, MORPH_COLUMNS


def _bar_mask(tmp_path, name="mask.nii.gz", zooms=(0.5, 0.25, 1.0), dtype=np.uint8, value=1):
    data = np.zeros((40, 60, 3), dtype)
    data[10, 5:45, 1] = value  # a straight bar of 40 pixels along axis 1 in slice 1
    data[30, 5:25, 2] = value  # and a shorter one in slice 2
    path = tmp_path / name
    nib.save(nib.Nifti1Image(data, np.diag([*zooms, 1.0])), path)
    return path


def _read(path):
    return pd.read_csv(path, sep="\t", na_values="n/a")


def test_single_mask_uses_the_affine_spacing(tmp_path, capsys):
    path = _bar_mask(tmp_path)
    out = tmp_path / "out.tsv"
    assert main(["morph", str(path), "-o", str(out)]) == 0
    table = _read(out)
    assert list(table.columns[: len(MORPH_COLUMNS)]) == MORPH_COLUMNS
    assert table["slice"].tolist() == [1, 2]
    assert set(table["hemisphere"]) == {"both"}
    assert table["length_mm"].tolist() == pytest.approx([40 * 0.25, 20 * 0.25], abs=0.02)
    assert table["tortuosity"].tolist() == pytest.approx([1.0, 1.0])
    assert main(["morph", str(path), "--slices", "2", "-o", str(out)]) == 0
    assert _read(out)["slice"].tolist() == [2]


def test_hemispheres_split_and_grid_must_match(tmp_path, capsys):
    path = _bar_mask(tmp_path)
    hemi = np.zeros((40, 60, 3), np.uint8)
    hemi[:, :25] = 1
    hemi[:, 25:] = 2
    nib.save(nib.Nifti1Image(hemi, np.diag([0.5, 0.25, 1.0, 1.0])), tmp_path / "hemi.nii.gz")
    out = tmp_path / "out.tsv"
    assert main(["morph", str(path), "--hemi", str(tmp_path / "hemi.nii.gz"), "-o", str(out)]) == 0
    table = _read(out)
    first = table[table["slice"] == 1]
    assert sorted(first["hemisphere"]) == ["left", "right"]
    assert first["at_border"].all()
    nib.save(nib.Nifti1Image(hemi, np.diag([1.0, 1.0, 1.0, 1.0])), tmp_path / "other.nii.gz")
    assert main(["morph", str(path), "--hemi", str(tmp_path / "other.nii.gz"), "-o", str(out)]) == 1
    assert "another grid" in capsys.readouterr().err


@pytest.mark.parametrize(
    "kind,message",
    [
        ("labels", "not a binary mask (values 0, 3)"),
        ("4d", "must be 2-D or 3-D"),
        ("nan", "NaN"),
        ("missing", "no such file"),
        ("garbage", "cannot read this NIfTI"),
    ],
)
def test_bad_masks_are_refused_with_one_line(tmp_path, capsys, kind, message):
    path = tmp_path / "bad.nii.gz"
    if kind == "labels":
        path = _bar_mask(tmp_path, "bad.nii.gz", value=3)
    elif kind == "4d":
        nib.save(nib.Nifti1Image(np.zeros((4, 4, 3, 2), np.uint8), np.eye(4)), path)
    elif kind == "nan":
        nib.save(nib.Nifti1Image(np.full((4, 4, 3), np.nan, np.float32), np.eye(4)), path)
    elif kind == "garbage":
        path.write_bytes(b"not a nifti" * 10)
    assert main(["morph", str(path), "-o", str(tmp_path / "o.tsv")]) == 1
    err = capsys.readouterr().err
    assert message in err and str(path) in err and "Traceback" not in err
    assert not (tmp_path / "o.tsv").exists()


def test_empty_mask_gives_an_empty_table(tmp_path):
    path = tmp_path / "empty.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 2), np.uint8), np.eye(4)), path)
    out = tmp_path / "o.tsv"
    assert main(["morph", str(path), "-o", str(out)]) == 0
    table = _read(out)
    assert len(table) == 0 and list(table.columns[:3]) == ["slice", "hemisphere", "vessel"]


def test_usage_errors(tmp_path, capsys):
    assert main(["morph", str(_bar_mask(tmp_path)), "--min-area-mm2", "-1", "-o", "x.tsv"]) == 2
    assert "must be 0 or more" in capsys.readouterr().err
    assert main(["morph"]) == 1
    assert "give a MASK file" in capsys.readouterr().err
    assert main(["morph", str(_bar_mask(tmp_path))]) == 1
    assert "-o OUT.tsv" in capsys.readouterr().err


def test_dataset_tables_per_participant_and_group(derived, manifest, tmp_path, capsys):
    bids, _, labels = derived
    masks = bids / "derivatives" / "annotations"
    assert main(["morph", "--bids", str(bids), "--masks", str(masks)]) == 1
    assert "--desc" in capsys.readouterr().err
    assert main(["morph", "--bids", str(bids), "--masks", str(masks), "--desc", "rater1"]) == 0
    group = _read(masks / GROUP_FILE)
    assert len(group) == 2 * len(labels)
    assert set(group["hemisphere"]) == {"left", "right"}
    assert {"participant_id", "count", "diameter_mm", "tortuosity"} <= set(group.columns)
    for subject in manifest["subjects"]:
        label = labels[subject["patient_id"]]
        vessels = _read(masks / DERIVATIVES["morphometry"].relpath(label))
        assert sorted(vessels["slice"].unique()) == subject["annotated_minip_slices"]
        rows = group[group["participant_id"] == f"sub-{label}"]
        analysis = json.loads(
            (
                bids / "derivatives" / "scvbench" / DERIVATIVES["minip"].relpath(label, ".json")
            ).read_text()
        )["AnalysisSlice"]
        nearest = min(subject["annotated_minip_slices"], key=lambda k: (abs(k - analysis), k))
        assert set(rows["slices"].astype(str)) == {str(nearest)}
        at_slice = vessels[vessels["slice"] == nearest]
        for hemisphere in ("left", "right"):
            row = rows[rows["hemisphere"] == hemisphere].iloc[0]
            part = at_slice[at_slice["hemisphere"] == hemisphere]
            assert row["count"] == len(part)
            if len(part):
                assert row["tortuosity"] == pytest.approx(part["tortuosity"].mean(), rel=1e-5)
    out = tmp_path / "pooled"
    args = ["morph", "--bids", str(bids), "--masks", str(masks), "--desc", "rater1"]
    assert main([*args, "--all-slices", "-o", str(out)]) == 0
    pooled = _read(out / GROUP_FILE)
    assert (pooled["slices"].astype(str).str.split().str.len() >= 1).all()


def test_morph_tables_only_add_not_included_to_the_validator(derived):
    bids, _, _ = derived
    masks = bids / "derivatives" / "annotations"
    assert main(["morph", "--bids", str(bids), "--masks", str(masks), "--desc", "rater1"]) == 0
    result = validate(bids, recursive=True)
    assert result.valid and result.errors == []
    assert result.expected  # BIDS has no suffix for the tables: NOT_INCLUDED, and only that
    assert {code for code, _ in result.expected} == {"NOT_INCLUDED"}
    assert all(location.endswith("_morph.tsv") for _, location in result.expected)
