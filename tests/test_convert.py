"""``scvbench convert`` on the synthetic cohort: validator-clean, de-identified, re-runnable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest
from helpers import assert_no_phi, phi_values

from scvbench.cli import main
from scvbench.steps.convert.validate import validate


def _full_convert(cohort, bids, key):
    """``scvbench convert`` arguments with both sheets and a key file."""
    return [
        "convert",
        str(cohort / "dicom"),
        str(bids),
        "--demographics",
        str(cohort / "demographics.csv"),
        "--fazekas",
        str(cohort / "fazekas.csv"),
        "--key-file",
        str(key),
    ]


@pytest.fixture(scope="module")
def converted_bids(tiny_cohort, tmp_path_factory):
    root = tmp_path_factory.mktemp("convert")
    bids = root / "bids"
    key = root / "secret" / "key.csv"
    key.parent.mkdir()
    assert main([*_full_convert(tiny_cohort, bids, key), "--nprocs", "2"]) == 0
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


def test_validate_flags_a_work_folder_left_by_a_killed_run(converted_bids, tmp_path, capsys):
    import shutil

    bids = tmp_path / "bids"
    shutil.copytree(converted_bids[0], bids)
    (bids / ".scvbench-work" / "sub-001.1@host" / "anat").mkdir(parents=True)
    assert main(["validate", str(bids)]) == 1
    out = capsys.readouterr().out
    assert "error SCVBENCH_STRAY_WORK_FOLDER: /.scvbench-work" in out and "remove it" in out


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


def test_no_phi_anywhere_in_the_dataset(converted_bids, tiny_cohort):
    bids, _ = converted_bids
    assert assert_no_phi(bids, phi_values(tiny_cohort)) > 20


def test_a_convert_killed_hard_leaves_no_phi_and_the_next_run_sweeps(tiny_cohort, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    import time

    bids, key = tmp_path / "bids", tmp_path / "key.csv"
    args = ["convert", str(tiny_cohort / "dicom"), str(bids), "--key-file", str(key)]
    run = subprocess.Popen(
        [sys.executable, "-m", "scvbench", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staged = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not staged:  # kill it while dcm2niix output is staged
        staged = [
            p
            for p in Path(tempfile.gettempdir()).glob(f"scvbench-work-{run.pid}@*")
            if any(p.rglob("*.json"))
        ]
        time.sleep(0.02)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert staged, "the conversion never staged a series"
    phi = phi_values(tiny_cohort)
    if bids.exists():
        assert_no_phi(bids, phi)  # whatever the kill left in the dataset holds no PHI
    assert main(args) == 0
    assert not any(p.exists() for p in staged)  # the next run swept the killed run's folder
    assert assert_no_phi(bids, phi) > 20


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
    args = _full_convert(tiny_cohort, bids, key)
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


@pytest.mark.parametrize(
    "value,message",
    [("one", "rater1_dwm is 'one'"), ("<row 2>", "the same patient is on rows 2, 3")],
)
def test_bad_fazekas_rows_are_refused(tiny_cohort, tmp_path, capsys, value, message):
    sheet = pd.read_csv(tiny_cohort / "fazekas.csv", dtype=str)
    if value == "<row 2>":
        sheet.loc[1, "patient_id"] = sheet.loc[0, "patient_id"]
    else:
        sheet.loc[1, "rater1_dwm"] = value
    bad = tmp_path / "fazekas.csv"
    sheet.to_csv(bad, index=False)
    bids = tmp_path / "bids"
    assert main(["convert", str(tiny_cohort / "dicom"), str(bids), "--fazekas", str(bad)]) == 1
    assert f"{bad}, row 3: {message}" in capsys.readouterr().err
    table = pd.read_csv(bids / "phenotype" / "fazekas.tsv", sep="\t")
    assert table["participant_id"].is_unique and len(table) == (2 if "same" in message else 3)


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
    # the other rows and every participant still convert
    table = pd.read_csv(tmp_path / "bids" / "phenotype" / "fazekas.tsv", sep="\t")
    assert len(table) == 4


def _one_patient(tiny_cohort, tmp_path, folder="PA0001"):
    import shutil

    target = tmp_path / "dicom"
    shutil.copytree(tiny_cohort / "dicom" / folder, target / folder)
    return target


def test_missing_slice_fails_that_participant_only(tiny_cohort, tmp_path, capsys):
    import shutil

    dicom = _one_patient(tiny_cohort, tmp_path)
    shutil.copytree(tiny_cohort / "dicom" / "PA0002", dicom / "PA0002")
    (dicom / "PA0001" / "ST0001" / "SE0008" / "IM0020").unlink()
    status = main(["convert", str(dicom), str(tmp_path / "bids")])
    assert status == 1
    err = capsys.readouterr().err
    assert "lacks instance(s) 20: a slice is missing" in err and "SE0008" in err
    subjects = sorted(p.name for p in (tmp_path / "bids").glob("sub-*"))
    assert len(subjects) == 1  # the other participant still converts


def test_conflicting_patient_data_is_reported(tiny_cohort, tmp_path, capsys):
    dicom = _one_patient(tiny_cohort, tmp_path)
    for path in (dicom / "PA0001" / "ST0001" / "SE0003").iterdir():
        ds = pydicom.dcmread(path)
        ds.PatientSex = "F" if ds.PatientSex == "M" else "M"
        ds.save_as(path)
    assert main(["convert", str(dicom), str(tmp_path / "bids")]) == 1
    assert "conflicting patient data across series" in capsys.readouterr().err


def test_truncated_and_foreign_files_are_listed(tiny_cohort, tmp_path, capsys):
    dicom = _one_patient(tiny_cohort, tmp_path)
    victim = dicom / "PA0001" / "ST0001" / "SE0007" / "IM0002"
    victim.write_bytes(victim.read_bytes()[:200])
    (dicom / "report.pdf").write_bytes(b"%PDF-1.4 not an image")
    assert main(["convert", str(dicom), str(tmp_path / "bids"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "report.pdf: not a readable DICOM file" in out
    assert "IM0002: damaged or incomplete DICOM header" in out


def test_a_run_killed_midway_is_completed_by_the_next(tiny_cohort, tmp_path, monkeypatch):
    import shutil

    from scvbench.steps.convert import participant as convert_run

    dicom = _one_patient(tiny_cohort, tmp_path)
    shutil.copytree(tiny_cohort / "dicom" / "PA0002", dicom / "PA0002")
    clean = tmp_path / "clean"
    assert main(["convert", str(dicom), str(clean)]) == 0

    real = convert_run.run_dcm2niix
    calls = {"n": 0}

    def killed(series, work):
        calls["n"] += 1
        if calls["n"] == 7:  # half-way through the second participant
            raise KeyboardInterrupt
        return real(series, work)

    monkeypatch.setattr(convert_run, "run_dcm2niix", killed)
    bids, key = tmp_path / "bids", ["--key-file", str(tmp_path / "key.csv")]
    assert main(["convert", str(dicom), str(bids), *key]) == 130
    assert [p.name for p in bids.glob("sub-*")] == ["sub-001"]
    assert_no_phi(bids, phi_values(tiny_cohort))  # nothing identifying left by the crash
    monkeypatch.setattr(convert_run, "run_dcm2niix", real)
    assert main(["convert", str(dicom), str(bids), *key]) == 0
    assert _digest(bids) == _digest(clean)
    assert not (bids / ".scvbench-work").exists() and not (bids / ".scvbench.lock").exists()


@pytest.mark.parametrize(
    "column,value,message",
    [
        ("age", "thirty", "age is 'thirty'"),
        ("sex", "male?", "sex is 'male?'"),
        ("patient_id", "P0000001", "no DICOM data for this patient"),
        ("age", "young", "age is 'young'"),
        ("age", "inf", "age is 'inf'"),
        ("education_years", "lots", "education_years is 'lots'"),
        ("handedness", "both", "handedness is 'both'"),
        ("education_years", "1\t2", "education_years holds a tab"),
        ("patient_id", "<row 2>", "the same patient is on rows 2, 4"),
    ],
)
def test_bad_demographics_rows_are_named(tiny_cohort, tmp_path, capsys, column, value, message):
    sheet = pd.read_csv(tiny_cohort / "demographics.csv", dtype=str)
    sheet.loc[2, column] = sheet.loc[0, column] if value == "<row 2>" else value
    bad = tmp_path / "demographics.csv"
    sheet.to_csv(bad, index=False)
    assert (
        main(
            [
                "convert",
                str(tiny_cohort / "dicom"),
                str(tmp_path / "bids"),
                "--demographics",
                str(bad),
            ]
        )
        == 1
    )
    assert f"{bad}, row 4: {message}" in capsys.readouterr().err
    participants = pd.read_csv(tmp_path / "bids" / "participants.tsv", sep="\t")
    assert len(participants) == 4  # the bad row is left out, its participant converts


def test_real_sample_from_pydicom_is_rejected_then_converts_with_a_rule(tmp_path, capsys):
    import shutil

    from pydicom.data import get_testdata_file

    dicom = tmp_path / "dicom"
    dicom.mkdir()
    shutil.copy(get_testdata_file("MR_small.dcm", download=False), dicom / "IM1")
    assert main(["convert", str(dicom), str(tmp_path / "a")]) == 1
    assert "sub-001: no SWI series" in capsys.readouterr().err
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps({"rules": [{"kind": "swi", "match": {"ImageType": "OTHER"}}]}))
    assert main(["convert", str(dicom), str(tmp_path / "b"), "--config", str(rules)]) == 0
    image = nib.load(tmp_path / "b" / "sub-001" / "anat" / "sub-001_acq-swi_rec-swi_T2starw.nii.gz")
    assert image.shape[:2] == (64, 64)
    participants = pd.read_csv(tmp_path / "b" / "participants.tsv", sep="\t", dtype=str)
    assert participants.loc[0, "sex"] == "F"  # read from the header before de-identification


def test_non_mr_series_is_listed_not_converted(tiny_cohort, tmp_path, capsys):
    dicom = _one_patient(tiny_cohort, tmp_path)
    for path in (dicom / "PA0001" / "ST0001" / "SE0007").iterdir():
        ds = pydicom.dcmread(path)
        ds.Modality = "CT"
        ds.save_as(path)
    assert main(["convert", str(dicom), str(tmp_path / "bids"), "--dry-run"]) == 0
    assert "skip: modality CT, not MR" in capsys.readouterr().out


def test_age_and_sex_come_from_dicom_without_a_sheet(tiny_cohort, tmp_path):
    dicom = _one_patient(tiny_cohort, tmp_path)
    assert main(["convert", str(dicom), str(tmp_path / "bids")]) == 0
    got = pd.read_csv(
        tmp_path / "bids" / "participants.tsv", sep="\t", dtype=str, keep_default_na=False
    ).iloc[0]
    demo = pd.read_csv(tiny_cohort / "demographics.csv", dtype=str).iloc[0]
    assert (got["age"], got["sex"]) == (demo["age"], demo["sex"])
    assert got["handedness"] == "n/a"
    assert not (tmp_path / "bids" / "phenotype").exists()  # no sidecar without its table
    assert validate(tmp_path / "bids").valid


@pytest.mark.parametrize("sheet_name", ["fazekas", "demographics"])
def test_missing_column_is_named(tiny_cohort, tmp_path, capsys, sheet_name):
    sheet = pd.read_csv(tiny_cohort / f"{sheet_name}.csv", dtype=str)
    dropped = "consensus_dwm" if sheet_name == "fazekas" else "sex"
    bad = tmp_path / "sheet.csv"
    sheet.drop(columns=[dropped]).to_csv(bad, index=False)
    assert (
        main(
            [
                "convert",
                str(tiny_cohort / "dicom"),
                str(tmp_path / "bids"),
                f"--{sheet_name}",
                str(bad),
            ]
        )
        == 1
    )
    assert f"has no column {dropped}" in capsys.readouterr().err
