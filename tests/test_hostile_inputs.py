"""Bad input of every kind gets one line naming the file and the fix, never a traceback."""

from __future__ import annotations

import json
import resource

import nibabel as nib
import numpy as np
import pytest

from scvbench.cli import main
from scvbench.errors import ScvbenchError
from scvbench.io import header_shape, load_canonical


def _one_line(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and err.startswith("scvbench: error: "), err
    assert err.count("\n") == 0, err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize(
    "match,message",
    [
        ({"SeriesDescription": "(["}, "is not a regular expression"),
        ({"Bogus": "swi"}, "matches field 'Bogus'"),
    ],
)
def test_bad_config_rules_are_one_line(tmp_path, capsys, match, message):
    config = tmp_path / "rules.json"
    config.write_text(json.dumps({"rules": [{"kind": "swi", "match": match}]}))
    (tmp_path / "dicom").mkdir()
    args = ["convert", str(tmp_path / "dicom"), str(tmp_path / "bids"), "--config", str(config)]
    assert main([*args, "--dry-run"]) == 1
    _one_line(capsys, message, str(config))


def test_synth_into_an_impossible_place_is_one_line(capsys):
    assert main(["synth", "/proc/scvbench-x", "--preset", "tiny"]) == 1
    _one_line(capsys, "/proc/")


def test_an_output_file_where_a_folder_is_needed_is_one_line(derived, tmp_path, capsys):
    bids, _, _ = derived
    taken = tmp_path / "afile"
    taken.write_text("x")
    masks = bids / "derivatives" / "annotations"
    args = ["morph", "--bids", str(bids), "--masks", str(masks), "--desc", "rater1"]
    assert main([*args, "-o", str(taken)]) == 1
    _one_line(capsys, "afile", "a file stands where a folder is needed")


def _header_bomb(path, shape=(2000, 2000, 500)):
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.float32)
    header["vox_offset"] = 352
    path.write_bytes(header.binaryblock + b"\0" * 4)  # 352 bytes claiming 8 GB
    return path


def test_a_header_that_claims_gigabytes_is_refused_before_reading(tmp_path):
    bomb = _header_bomb(tmp_path / "bomb.nii")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ScvbenchError, match="its header claims 2000 x 2000 x 500 voxels"):
        load_canonical(bomb)
    with pytest.raises(ScvbenchError, match="reference grid is"):
        header_shape(_header_bomb(tmp_path / "small.nii", (10, 10, 10)), (10, 10, 9))
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 200_000  # nothing near the 8 GB the header claims was allocated


def test_checkpoints_without_a_usable_model_config_are_one_line(derived, tmp_path, capsys):
    import torch

    bids, _, _ = derived
    for name, config in (
        ("none", {"model": "unet"}),
        ("bad", {"model": "unet", "model_config": 3}),
    ):
        path = tmp_path / f"{name}.pt"
        torch.save({"model": {}, "config": config}, path)
        args = ["predict", str(bids), "--checkpoint", str(path), "--out", str(tmp_path / name)]
        assert main(args) == 1
        _one_line(capsys, f"{name}.pt", "model_config")


def test_a_leaderboard_entry_without_cases_is_one_line(tmp_path, capsys):
    entries = tmp_path / "board" / "entries"
    entries.mkdir(parents=True)
    (entries / "x.json").write_text(json.dumps({"name": "x", "metrics": {}}))
    assert main(["leaderboard", "build", "--dir", str(tmp_path / "board")]) == 1
    _one_line(capsys, "x.json", "no per-case scores")


def test_int64_images_are_read_and_written(derived, tmp_path):
    import shutil

    from scvbench.io import save_nifti

    small, large = np.arange(8, dtype=np.int64), np.array([0, 2**40], dtype=np.int64)
    save_nifti(tmp_path / "small.nii.gz", small.reshape(2, 2, 2), np.eye(4))
    save_nifti(tmp_path / "large.nii.gz", large.reshape(1, 1, 2), np.eye(4))
    assert nib.load(tmp_path / "small.nii.gz").get_data_dtype() == np.int32
    assert nib.load(tmp_path / "large.nii.gz").get_data_dtype() == np.float32
    bids = tmp_path / "bids"
    shutil.copytree(derived[0], bids)
    swi = next((bids / "sub-001" / "anat").glob("*_rec-swi_T2starw.nii.gz"))
    image = nib.load(swi)
    as_int64 = np.asarray(image.dataobj).astype(np.int64)
    nib.save(nib.Nifti1Image(as_int64, image.affine, dtype=np.int64), swi)
    args = ["derive", str(bids), "--participant-label", "001", "--overwrite"]
    assert main(args) == 0


def test_output_paths_of_the_wrong_kind_are_one_line(derived, tmp_path, capsys):
    bids, _, _ = derived
    taken = tmp_path / "afile"
    taken.write_text("x")
    masks = bids / "derivatives" / "annotations"
    assert main(["morph", "--bids", str(bids), "--masks", str(masks), "--desc", "rater1"]) == 0
    group = masks / "acq-swi_desc-scv_morph.tsv"
    people = bids / "participants.tsv"
    capsys.readouterr()
    assert (
        main(["stats", "--morph", str(group), "--participants", str(people), "-o", str(taken)]) == 1
    )
    _one_line(capsys, "afile", "a file stands where a folder is needed")
    assert main(["synth", str(taken), "--preset", "tiny", "--subjects", "1"]) == 1
    _one_line(capsys, "afile")
