"""``scvbench splits``: subject-level 6:2:2, stratified, fixed, with a checksum."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scvbench.cli import main
from scvbench.errors import ScvbenchError
from scvbench.steps.splits import SPLITS_FILE, assignment_checksum, load_splits, make_splits


def _dataset(root, n_dev=40, n_assoc=10, seed=0, cohort_column=False):
    """participants.tsv, phenotype/fazekas.tsv and reference-mask sidecars (3 or 1 slices)."""
    rng = np.random.default_rng(seed)
    n = n_dev + n_assoc
    ids = [f"sub-{i:03d}" for i in range(1, n + 1)]
    people = pd.DataFrame({"participant_id": ids, "age": 60, "sex": rng.choice(["M", "F"], n)})
    if cohort_column:
        people["cohort"] = ["development"] * n_dev + ["association"] * n_assoc
    root.mkdir(parents=True, exist_ok=True)
    people.to_csv(root / "participants.tsv", sep="\t", index=False)
    (root / "phenotype").mkdir()
    pd.DataFrame({"participant_id": ids, "fazekas_dwm": rng.integers(0, 3, n)}).to_csv(
        root / "phenotype" / "fazekas.tsv", sep="\t", index=False
    )
    for i, pid in enumerate(ids):
        anat = root / "derivatives" / "annotations" / pid / "anat"
        anat.mkdir(parents=True)
        stem = f"{pid}_acq-swi_label-vein_desc-rater1_mask"
        (anat / f"{stem}.nii.gz").write_bytes(b"")
        slices = [5, 20, 30] if i < n_dev else [20]
        (anat / f"{stem}.json").write_text(json.dumps({"LabelledSlices": slices}))
    return root, people


def test_no_participant_in_two_sets_and_6_2_2(tmp_path):
    root, people = _dataset(tmp_path / "bids")
    splits = make_splits(root, seed=0)
    development = set(people.participant_id[:40])
    assert set(splits["association"]) == set(people.participant_id[40:])
    test = set(splits["test"])
    assert len(test) == 8  # 20 % of 40
    assert len(splits["folds"]) == 4
    vals = [set(f["val"]) for f in splits["folds"]]
    for fold, val in zip(splits["folds"], vals, strict=True):
        train = set(fold["train"])
        assert not train & val and not (train | val) & test
        assert not (train | val | test) & set(splits["association"])
        assert train | val | test == development
        assert len(train) == 24 and len(val) == 8  # 60 % and 20 % of the whole
    # the validation sets partition the non-test participants: each is validated once
    assert sum(len(v) for v in vals) == 32 and set().union(*vals) == development - test


def test_stratified_by_sex_and_dwml(tmp_path):
    root, _ = _dataset(tmp_path / "bids", n_dev=60, n_assoc=0, seed=3)
    splits = make_splits(root, seed=5)
    people = pd.read_csv(root / "participants.tsv", sep="\t").set_index("participant_id")
    ratings = pd.read_csv(root / "phenotype" / "fazekas.tsv", sep="\t").set_index("participant_id")
    parts = [splits["test"], *(f["val"] for f in splits["folds"])]
    for column in ("sex", "dwml"):
        counts = []
        for part in parts:
            if column == "sex":
                counts.append(int((people.loc[part, "sex"] == "M").sum()))
            else:
                counts.append(int((ratings.loc[part, "fazekas_dwm"] >= 1).sum()))
        # dealt in turn within each stratum: parts differ by at most one per stratum (2 strata)
        assert max(counts) - min(counts) <= 2, (column, counts)


def test_fixed_for_a_seed_and_refuses_to_replace(tmp_path):
    root, _ = _dataset(tmp_path / "bids")
    assert main(["splits", str(root)]) == 0
    first = (root / SPLITS_FILE).read_bytes()
    assert main(["splits", str(root)]) == 0  # same seed: same file
    assert (root / SPLITS_FILE).read_bytes() == first
    assert main(["splits", str(root), "--seed", "1"]) == 1  # different split: refused
    assert (root / SPLITS_FILE).read_bytes() == first
    assert main(["splits", str(root), "--seed", "1", "--force"]) == 0
    assert (root / SPLITS_FILE).read_bytes() != first
    assert load_splits(root / SPLITS_FILE)["seed"] == 1


def test_tampered_or_leaking_split_files_are_refused(tmp_path):
    root, _ = _dataset(tmp_path / "bids")
    splits = make_splits(root)
    edited = json.loads(json.dumps(splits))
    moved = edited["folds"][0]["val"].pop()
    edited["folds"][0]["train"].append(moved)
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(edited))
    with pytest.raises(ScvbenchError, match="checksum"):
        load_splits(path)
    leaking = json.loads(json.dumps(splits))
    leaking["folds"][1]["train"].append(leaking["test"][0])
    leaking["checksum"] = assignment_checksum(leaking)
    path.write_text(json.dumps(leaking))
    with pytest.raises(ScvbenchError, match="in two sets"):
        load_splits(path)


def test_cohort_column_decides_the_association_cohort(tmp_path):
    root, people = _dataset(tmp_path / "bids", n_dev=20, n_assoc=5, cohort_column=True)
    # give an association participant three labelled slices: the column still decides
    sidecar = next((root / "derivatives" / "annotations" / "sub-025").rglob("*.json"))
    sidecar.write_text(json.dumps({"LabelledSlices": [1, 2, 3]}))
    splits = make_splits(root)
    assert splits["association"] == list(people.participant_id[20:])
    assert splits["association_rule"] == "participants.tsv cohort column"


def test_too_few_development_participants(derived, capsys):
    bids = derived[0]
    assert main(["splits", str(bids), "-o", str(bids.parent / "s.json")]) == 1
    err = capsys.readouterr().err
    assert "needs at least 5" in err and err.count("\n") == 1
    assert not (bids.parent / "s.json").exists()


def test_a_held_out_site_is_the_test_set_and_recorded(tmp_path):
    root, people = _dataset(tmp_path / "bids", n_dev=30, n_assoc=6)
    scanners = [("SIEMENS", "Skyra", 3), ("GE", "DISCOVERY MR750", 3), ("Philips", "Ingenia", 1.5)]
    for i, pid in enumerate(people.participant_id):
        maker, model, field = scanners[i % 3]
        anat = root / pid / "anat"
        anat.mkdir(parents=True)
        meta = {"Manufacturer": maker, "ManufacturersModelName": model}
        meta["MagneticFieldStrength"] = field
        (anat / f"{pid}_acq-swi_rec-swi_T2starw.json").write_text(json.dumps(meta))
    splits = make_splits(root, seed=0, test_site="GE DISCOVERY MR750 3T")
    development = list(people.participant_id[:30])
    ge = {pid for i, pid in enumerate(development) if i % 3 == 1}
    assert set(splits["test"]) == ge and splits["test_site"] == "GE DISCOVERY MR750 3T"
    assert splits["sites"]["sub-001"] == "SIEMENS Skyra 3T"
    for fold in splits["folds"]:
        assert set(fold["train"]) | set(fold["val"]) == set(development) - ge
    assert main(["splits", str(root), "--test-site", "GE DISCOVERY MR750 3T"]) == 0
    assert load_splits(root / SPLITS_FILE)["test_site"] == "GE DISCOVERY MR750 3T"
    with pytest.raises(ScvbenchError, match="the sites are GE DISCOVERY MR750 3T, Philips"):
        make_splits(root, test_site="Toshiba 3T")
