"""Identities are never mixed: the key is a ledger, labels are stable, the BIDS root is locked."""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import pandas as pd
import pytest

from scvbench.cli import main
from scvbench.workspace import exclusive_lock


def _patients(tiny_cohort, tmp_path, *folders, name="dicom"):
    target = tmp_path / name
    for folder in folders:
        shutil.copytree(tiny_cohort / "dicom" / folder, target / folder)
    return target


def _ids(folder):
    import pydicom

    first = next(p for p in sorted(folder.rglob("IM*")) if p.is_file())
    return str(pydicom.dcmread(first, stop_before_pixels=True).PatientID)


def _key(path):
    return dict(pd.read_csv(path, dtype=str).itertuples(index=False, name=None))


def test_labels_are_stable_across_runs_on_other_patients(tiny_cohort, tmp_path, capsys):
    first = _patients(tiny_cohort, tmp_path, "PA0001", "PA0002", name="first")
    second = _patients(tiny_cohort, tmp_path, "PA0003", "PA0004", name="second")
    bids, key = tmp_path / "bids", tmp_path / "key.csv"
    assert main(["convert", str(first), str(bids), "--key-file", str(key)]) == 0
    before = _key(key)
    assert sorted(before.values()) == ["sub-001", "sub-002"]
    assert main(["convert", str(second), str(bids), "--key-file", str(key)]) == 0
    after = _key(key)
    assert {k: after[k] for k in before} == before  # old patients keep their labels
    assert sorted(after.values()) == ["sub-001", "sub-002", "sub-003", "sub-004"]
    # every participant row belongs to the patient its label names
    demo = pd.read_csv(tiny_cohort / "demographics.csv", dtype=str).set_index("patient_id")
    table = pd.read_csv(bids / "participants.tsv", sep="\t", dtype=str).set_index("participant_id")
    for patient, label in after.items():
        assert table.loc[label, "sex"] == demo.loc[patient, "sex"]
        assert abs(int(table.loc[label, "age"]) - int(demo.loc[patient, "age"])) <= 1
    # one participant converted again: the key keeps every row
    label = after[_ids(second / "PA0003")].removeprefix("sub-")
    args = ["--key-file", str(key), "--participant-label", label, "--overwrite"]
    assert main(["convert", str(second), str(bids), *args]) == 0
    assert _key(key) == after


def test_a_dataset_without_its_key_is_refused(tiny_cohort, tmp_path, capsys):
    first = _patients(tiny_cohort, tmp_path, "PA0001")
    bids = tmp_path / "bids"
    assert main(["convert", str(first), str(bids)]) == 0
    other = _patients(tiny_cohort, tmp_path, "PA0002", name="other")
    assert main(["convert", str(other), str(bids)]) == 1
    assert "no key file says whose they are" in capsys.readouterr().err
    # a key of another dataset is refused as well
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("patient_id,participant_id\nXYZ,sub-007\n")
    assert main(["convert", str(other), str(bids), "--key-file", str(foreign)]) == 1
    assert "does not list" in capsys.readouterr().err
    assert sorted(p.name for p in bids.glob("sub-*")) == ["sub-001"]


@pytest.mark.parametrize(
    "rows,message",
    [
        ("{a},sub-001\n{b},sub-001\n", "given to two patients"),
        ("{a},x/../../..\n{b},sub-002\n", "is not a BIDS label"),
        ("{a},sub-001\n{a},sub-002\n{b},sub-003\n", "listed again with another label"),
        ("{a},sub-0\t1\n{b},sub-002\n", "is not a BIDS label"),
    ],
)
def test_bad_mappings_are_refused(tiny_cohort, tmp_path, capsys, rows, message):
    dicom = _patients(tiny_cohort, tmp_path, "PA0001", "PA0002")
    a, b = _ids(dicom / "PA0001"), _ids(dicom / "PA0002")
    mapping = tmp_path / "mapping.csv"
    mapping.write_text("patient_id,participant_id\n" + rows.format(a=a, b=b))
    assert main(["convert", str(dicom), str(tmp_path / "bids"), "--mapping", str(mapping)]) == 1
    err = capsys.readouterr().err
    assert message in err and str(mapping) in err and "row" in err
    assert not list((tmp_path / "bids").glob("sub-*"))


def test_a_mapping_that_contradicts_the_key_is_refused(tiny_cohort, tmp_path, capsys):
    dicom = _patients(tiny_cohort, tmp_path, "PA0001", "PA0002")
    bids, key = tmp_path / "bids", tmp_path / "key.csv"
    assert main(["convert", str(dicom), str(bids), "--key-file", str(key)]) == 0
    swapped = tmp_path / "swapped.csv"
    pairs = _key(key)
    a, b = sorted(pairs)
    swapped.write_text(f"patient_id,participant_id\n{a},{pairs[b]}\n{b},{pairs[a]}\n")
    args = ["--key-file", str(key), "--mapping", str(swapped), "--overwrite"]
    assert main(["convert", str(dicom), str(bids), *args]) == 1
    assert "labels never change" in capsys.readouterr().err
    assert _key(key) == pairs


def test_dicom_that_contradicts_the_dataset_is_refused(tiny_cohort, tmp_path, capsys):
    dicom = _patients(tiny_cohort, tmp_path, "PA0001")
    bids = tmp_path / "bids"
    assert main(["convert", str(dicom), str(bids)]) == 0
    table = pd.read_csv(bids / "participants.tsv", sep="\t", dtype=str)
    table["sex"] = table["sex"].map({"M": "F", "F": "M"})
    table.to_csv(bids / "participants.tsv", sep="\t", index=False)
    mapping = tmp_path / "mapping.csv"
    mapping.write_text(f"patient_id,participant_id\n{_ids(dicom)},sub-001\n")
    args = ["--mapping", str(mapping), "--overwrite"]
    assert main(["convert", str(dicom), str(bids), *args]) == 1
    assert "belongs to other patients" in capsys.readouterr().err


def test_a_locked_bids_root_names_its_holder(tiny_cohort, tmp_path, capsys):
    dicom = _patients(tiny_cohort, tmp_path, "PA0001")
    bids = tmp_path / "bids"
    bids.mkdir()
    with exclusive_lock(bids / ".scvbench.lock", "the BIDS root"):
        assert main(["convert", str(dicom), str(bids)]) == 1
    assert f"is in use by PID {os.getpid()}" in capsys.readouterr().err
    assert not list(bids.glob("sub-*"))
    assert main(["convert", str(dicom), str(bids)]) == 0  # released


def test_two_concurrent_converts_lose_no_row_and_no_image(tiny_cohort, tmp_path):
    dicom = _patients(tiny_cohort, tmp_path, "PA0001", "PA0002", "PA0003", "PA0004")
    bids, key = tmp_path / "bids", tmp_path / "key.csv"
    command = [sys.executable, "-m", "scvbench", "convert", str(dicom), str(bids)]
    runs = [
        subprocess.Popen(
            [*command, "--key-file", str(key), "--participant-label", label],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for label in ("001", "002")
    ]
    for run in runs:
        err = run.communicate()[1]
        assert run.returncode == 0 or "is in use by PID" in err, err
    assert main(["convert", str(dicom), str(bids), "--key-file", str(key)]) == 0
    assert sorted(_key(key).values()) == ["sub-001", "sub-002", "sub-003", "sub-004"]
    for label in ("001", "002", "003", "004"):
        assert len(list((bids / f"sub-{label}").rglob("*.nii.gz"))) >= 3


def test_key_file_and_bids_dir_mixups_are_one_line(tiny_cohort, tmp_path, capsys):
    dicom = _patients(tiny_cohort, tmp_path, "PA0001")
    assert main(["convert", str(dicom), str(tmp_path / "b"), "--key-file", str(tmp_path)]) == 1
    assert "is a folder; give a CSV file name" in capsys.readouterr().err
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["convert", str(dicom), str(afile)]) == 1
    assert "is a file; give a folder" in capsys.readouterr().err


def test_patient_data_is_staged_outside_the_dataset(tiny_cohort, tmp_path, monkeypatch):
    from scvbench.steps.convert import participant

    dicom = _patients(tiny_cohort, tmp_path, "PA0001")
    bids = tmp_path / "bids"
    stale = tempfile.gettempdir() + f"/scvbench-work-99999999@{socket.gethostname()}+old"
    foreign = tempfile.gettempdir() + "/scvbench-work-99999999@another-host+old"
    for folder in (stale, foreign):
        os.makedirs(folder, exist_ok=True)
    seen = []
    real = participant.run_dcm2niix

    def spy(series, work):
        seen.append((work, oct(work.parent.stat().st_mode & 0o777)))
        return real(series, work)

    monkeypatch.setattr(participant, "run_dcm2niix", spy)
    assert main(["convert", str(dicom), str(bids)]) == 0
    assert seen and all(bids not in work.parents for work, _ in seen)
    assert {mode for _, mode in seen} == {"0o700"}
    assert not os.path.exists(stale)  # its owner is gone: swept
    assert os.path.exists(foreign)  # another host's: never touched
    shutil.rmtree(foreign)
    assert not any(path.exists() for path, _ in seen)


def test_a_series_missing_its_last_slice_is_detected(tiny_cohort, tmp_path, capsys):
    dicom = _patients(tiny_cohort, tmp_path, "PA0001")
    series = dicom / "PA0001" / "ST0001" / "SE0008"
    last = sorted(series.iterdir())[-1]
    last.unlink()
    assert main(["convert", str(dicom), str(tmp_path / "bids")]) == 1
    err = capsys.readouterr().err
    assert f"lacks instance(s) {int(last.name[2:])}" in err and "SE0008" in err


def test_gzipped_dicom_trees_convert_like_plain_ones(tiny_cohort, tmp_path):
    import hashlib

    plain = _patients(tiny_cohort, tmp_path, "PA0001")
    zipped = _patients(tiny_cohort, tmp_path, "PA0001", name="zipped")
    for path in [p for p in zipped.rglob("*") if p.is_file()]:
        path.with_name(path.name + ".dcm.gz").write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    assert main(["convert", str(plain), str(tmp_path / "a")]) == 0
    assert main(["convert", str(zipped), str(tmp_path / "b")]) == 0

    def digest(root):
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("sub-*/**/*"))
            if p.is_file()
        }

    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_dcm2niix_errors_show_the_error_line_not_the_timing():
    from scvbench.steps.convert.participant import dcm2niix_error

    output = (
        "Chris Rorden's dcm2niiX version v1.0\n"
        "Error: Unable to determine slice direction\n"
        "Conversion required 0.012 seconds (0.01 for core code).\n"
    )
    assert dcm2niix_error(output, 0) == "Error: Unable to determine slice direction"
    assert "wrote 2 images" in dcm2niix_error("Conversion required 1 seconds", 2)
