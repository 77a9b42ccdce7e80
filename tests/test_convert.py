"""``scvbench convert`` on the synthetic cohort: validator-clean, de-identified, re-runnable."""

from __future__ import annotations

import gzip
import hashlib

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest

from scvbench.cli import main
from scvbench.convert.validate import validate


@pytest.fixture(scope="module")
def converted_bids(tiny_cohort, tmp_path_factory):
    root = tmp_path_factory.mktemp("convert")
    bids = root / "bids"
    key = root / "secret" / "key.csv"
    key.parent.mkdir()
    status = main(
        [
            "convert",
            str(tiny_cohort / "dicom"),
            str(bids),
            "--demographics",
            str(tiny_cohort / "demographics.csv"),
            "--fazekas",
            str(tiny_cohort / "fazekas.csv"),
            "--key-file",
            str(key),
            "--nprocs",
            "2",
        ]
    )
    assert status == 0
    return bids, key


def _digest(folder):
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_dataset_passes_the_official_validator(converted_bids):
    bids, _ = converted_bids
    result = validate(bids)
    assert result.valid, result.errors
    assert main(["validate", str(bids)]) == 0


def test_pybids_finds_every_image(converted_bids):
    from bids import BIDSLayout

    bids, _ = converted_bids
    layout = BIDSLayout(bids, validate=True)
    assert len(layout.get_subjects()) == 4
    swi = layout.get(suffix="T2starw", acquisition="swi", extension=".nii.gz")
    assert len(swi) == 12
    assert {f.entities.get("part") for f in swi} == {None, "mag", "phase"}
    assert len(layout.get(suffix="FLAIR", extension=".nii.gz")) == 4
    phase = layout.get(suffix="T2starw", part="phase", extension=".nii.gz")[0]
    assert phase.get_metadata()["Units"] == "rad"
    data = np.asarray(nib.load(phase.path).dataobj)
    assert data.min() >= -np.pi - 1e-3 and data.max() <= np.pi + 1e-3


def test_tables_and_key_file(converted_bids, tiny_cohort):
    bids, key = converted_bids
    participants = pd.read_csv(bids / "participants.tsv", sep="\t", dtype=str)
    assert participants["participant_id"].tolist() == ["sub-001", "sub-002", "sub-003", "sub-004"]
    mapping = pd.read_csv(key, dtype=str)
    demo = pd.read_csv(tiny_cohort / "demographics.csv", dtype=str).set_index("patient_id")
    for patient_id, label in zip(mapping.patient_id, mapping.participant_id, strict=True):
        row = participants.set_index("participant_id").loc[label]
        assert row["age"] == demo.loc[patient_id, "age"]
        assert row["sex"] == demo.loc[patient_id, "sex"]
    fazekas = pd.read_csv(bids / "phenotype" / "fazekas.tsv", sep="\t")
    assert list(fazekas.columns) == [
        "participant_id",
        "fazekas_dwm",
        "fazekas_pv",
        "rater1_dwm",
        "rater1_pv",
        "rater2_dwm",
        "rater2_pv",
    ]
    assert not any(p.name == key.name for p in bids.rglob("*"))


def _phi_values(tiny_cohort):
    values = set()
    for folder in (tiny_cohort / "dicom").glob("PA*/ST*/SE*"):
        ds = pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True)
        name = str(ds.PatientName)
        values.update(
            [
                name,
                *name.split("^"),
                ds.PatientID,
                ds.PatientBirthDate,
                ds.AccessionNumber,
                ds.InstitutionName,
                ds.InstitutionAddress,
                ds.StationName,
                str(ds.ReferringPhysicianName),
                ds.ImageComments,
                ds.StudyDate,
                ds.AcquisitionTime[:6],
                ds.StudyTime[:6],
            ]
        )
        for date in (ds.StudyDate, ds.PatientBirthDate):
            values.add(f"{date[:4]}-{date[4:6]}-{date[6:]}")
        t = ds.AcquisitionTime
        values.add(f"{t[:2]}:{t[2:4]}:{t[4:6]}")
    return {v for v in values if v and len(v) >= 4}


def test_no_phi_anywhere_in_the_dataset(converted_bids, tiny_cohort):
    bids, _ = converted_bids
    phi = _phi_values(tiny_cohort)
    assert len(phi) > 20
    for path in bids.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data += gzip.decompress(data)
        text = data.decode("latin-1").upper()
        leaked = [value for value in phi if value.upper() in text or value.upper() in path.name]
        assert not leaked, f"{path}: {leaked}"


def test_known_vein_lies_at_its_true_world_position(converted_bids, tiny_cohort, manifest):
    bids, key = converted_bids
    labels = pd.read_csv(key, dtype=str).set_index("patient_id")["participant_id"]
    for subject in manifest["subjects"]:
        label = labels[subject["patient_id"]]
        swi = nib.load(bids / label / "anat" / f"{label}_acq-swi_rec-swi_T2starw.nii.gz")
        truth = nib.load(tiny_cohort / "truth" / subject["patient_id"] / "veins.nii.gz")
        ijk = np.argwhere(np.asarray(truth.dataobj) > 0)
        world = ijk @ truth.affine[:3, :3].T + truth.affine[:3, 3]
        inv = np.linalg.inv(swi.affine)
        voxel = world @ inv[:3, :3].T + inv[:3, 3]
        np.testing.assert_allclose(voxel, np.rint(voxel), atol=2e-3)
        data = np.asarray(swi.dataobj, dtype=float)
        assert np.median(data[tuple(np.rint(voxel).astype(int).T)]) < 0.8 * np.median(
            data[data > np.percentile(data, 50)]
        )


def test_rerun_changes_nothing_and_overwrite_is_byte_identical(converted_bids, tiny_cohort):
    bids, key = converted_bids
    before = _digest(bids)
    args = [
        "convert",
        str(tiny_cohort / "dicom"),
        str(bids),
        "--demographics",
        str(tiny_cohort / "demographics.csv"),
        "--fazekas",
        str(tiny_cohort / "fazekas.csv"),
        "--key-file",
        str(key),
    ]
    assert main(args) == 0
    assert _digest(bids) == before
    assert main([*args, "--overwrite", "--participant-label", "sub-002"]) == 0
    assert _digest(bids) == before
    assert not (bids / ".scvbench-work").exists()


def test_dry_run_prints_the_plan_and_writes_nothing(tiny_cohort, tmp_path, capsys):
    bids = tmp_path / "bids"
    assert main(["convert", str(tiny_cohort / "dicom"), str(bids), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "-> sub-001/anat/sub-001_acq-swi_rec-swi_T2starw.nii.gz" in out
    assert "skip: scanner minimum-intensity projection; not used" in out
    assert not bids.exists()


def test_key_file_inside_the_dataset_is_refused(tiny_cohort, tmp_path, capsys):
    bids = tmp_path / "bids"
    status = main(
        ["convert", str(tiny_cohort / "dicom"), str(bids), "--key-file", str(bids / "key.csv")]
    )
    assert status == 1
    assert "must be kept outside the dataset" in capsys.readouterr().err
    assert not bids.exists()


def test_bad_fazekas_score_names_the_row(tiny_cohort, tmp_path, capsys):
    sheet = pd.read_csv(tiny_cohort / "fazekas.csv", dtype=str)
    sheet.loc[1, "rater2_dwm"] = "x"
    bad = tmp_path / "fazekas.csv"
    sheet.to_csv(bad, index=False)
    status = main(
        [
            "convert",
            str(tiny_cohort / "dicom"),
            str(tmp_path / "bids"),
            "--fazekas",
            str(bad),
            "--participant-label",
            "001",
        ]
    )
    assert status == 1
    err = capsys.readouterr().err.strip()
    assert f"{bad}, row 3: rater2_dwm is 'x'" in err and err.count("\n") == 0


def test_sheet_row_for_an_unknown_patient_is_an_error(tiny_cohort, tmp_path, capsys):
    sheet = pd.read_csv(tiny_cohort / "fazekas.csv", dtype=str)
    extra = sheet.iloc[[0]].assign(patient_id="P9999999")
    bad = tmp_path / "fazekas.csv"
    pd.concat([sheet, extra]).to_csv(bad, index=False)
    status = main(
        ["convert", str(tiny_cohort / "dicom"), str(tmp_path / "bids"), "--fazekas", str(bad)]
    )
    assert status == 1
    assert f"{bad}, row 6: no DICOM data for this patient" in capsys.readouterr().err
    assert not (tmp_path / "bids").exists()
