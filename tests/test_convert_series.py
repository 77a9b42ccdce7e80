"""Finding and classifying DICOM series (the first step of ``scvbench convert``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from scvbench.bids.spec import filename, get_kind
from scvbench.steps.convert.series import BUILTIN_RULES, Rule, SeriesInfo, classify, find_series


def _series(description="", protocol="", image_type=(), manufacturer="SIEMENS", modality="MR"):
    return SeriesInfo(
        "1.2", "P1", "1.1", 1, description, protocol, tuple(image_type), manufacturer, modality, ()
    )


def test_synthetic_cohort_series_are_found_and_classified(tiny_cohort, manifest, tmp_path):
    dicom = tmp_path / "export"
    shutil.copytree(tiny_cohort / "dicom", dicom)
    (dicom / "README.TXT").write_text("burned on 2021-03-04")
    (dicom / "PA0001" / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")
    series, skipped = find_series(dicom)
    assert {s.path.name: s.reason.split(" (")[0] for s in skipped} == {
        "README.TXT": "not a readable DICOM file",
        "DICOMDIR": "DICOMDIR index",
    }
    by_patient: dict[str, dict[str, SeriesInfo]] = {}
    for s in series:
        result = classify(s)
        by_patient.setdefault(s.patient_id, {})[result.kind] = s
        assert result.reason
        if result.kind == "mip":
            assert not result.used and "not used" in result.reason
    assert set(by_patient) == {s["patient_id"] for s in manifest["subjects"]}
    for kinds in by_patient.values():
        assert set(kinds) == {"swi", "mag", "phase", "mip", "flair"}
        assert len(kinds["swi"].files) == len(kinds["mag"].files) == 56
        numbers = [int(f.name[2:]) for f in kinds["swi"].files]
        assert numbers == sorted(numbers)


def test_dicomdir_of_a_real_file_set_is_skipped_and_its_series_found(tmp_path):
    dicomdir = Path(get_testdata_file("DICOMDIR", download=False))
    root = tmp_path / "cd"
    shutil.copytree(dicomdir.parent / "98892003", root / "98892003")
    shutil.copy(dicomdir, root / "DICOMDIR")
    series, skipped = find_series(root)
    assert [s.reason for s in skipped] == ["DICOMDIR index (the files it lists are read directly)"]
    assert len(series) >= 3
    assert all(classify(s).kind is None for s in series)  # localisers and angio: not used


def test_a_real_mr_file_from_another_vendor_is_listed_not_used(tmp_path):
    shutil.copy(get_testdata_file("MR_small.dcm", download=False), tmp_path / "IMG0001")
    series, skipped = find_series(tmp_path)
    assert not skipped and len(series) == 1
    result = classify(series[0])
    assert result.kind is None and "matches no rule" in result.reason


@pytest.mark.parametrize(
    "kwargs,kind",
    [
        (dict(description="SWI_Images", image_type=("DERIVED", "PRIMARY", "M", "SWI")), "swi"),
        (dict(description="SWIp", manufacturer="Philips"), "swi"),
        (dict(description="Filtered SWAN", manufacturer="GE MEDICAL SYSTEMS"), "swi"),
        (
            dict(
                description="Pha_Images",
                protocol="t2_swi_tra",
                image_type=("ORIGINAL", "PRIMARY", "P", "ND"),
            ),
            "phase",
        ),
        (dict(description="SWAN", image_type=("ORIGINAL", "PRIMARY", "PHASE")), "phase"),
        (
            dict(
                description="Mag_Images",
                protocol="t2_swi_tra",
                image_type=("ORIGINAL", "PRIMARY", "M", "ND"),
            ),
            "mag",
        ),
        (dict(description="mIP_Images(SW)", image_type=("DERIVED", "PRIMARY", "MNIP")), "mip"),
        (dict(description="SWIp_mIP", manufacturer="Philips"), "mip"),
        (dict(description="t2_tirm_tra_dark-fluid"), "flair"),
        (dict(description="Ax T2 FLAIR", manufacturer="GE MEDICAL SYSTEMS"), "flair"),
        (
            dict(image_type=("ORIGINAL", "PRIMARY", "SW_M_FFE", "M_FFE"), manufacturer="Philips"),
            "swi",
        ),
        (
            dict(image_type=("ORIGINAL", "PRIMARY", "SW_P_FFE", "P_FFE"), manufacturer="Philips"),
            "phase",
        ),
        (
            dict(
                description="Ax SWAN",
                image_type=("ORIGINAL", "PRIMARY", "OTHER"),
                manufacturer="GE MEDICAL SYSTEMS",
            ),
            "swi",
        ),
        (
            dict(
                description="gre_field_mapping_susceptibility",
                protocol="gre_field_mapping_susceptibility",
                image_type=("ORIGINAL", "PRIMARY", "P", "ND"),
            ),
            None,
        ),
        (dict(description="t1_mprage_sag"), None),
        (dict(description="SWI_Images", modality="SR"), None),
    ],
)
def test_builtin_table_covers_vendor_names(kwargs, kind):
    assert classify(_series(**kwargs)).kind == kind


def test_user_rules_come_first():
    series = _series(description="my_swi_recon", protocol="swi_research")
    assert classify(series).kind is None
    rules = (Rule("swi", (("SeriesDescription", r"^my_swi_recon$"),), "site SWI"), *BUILTIN_RULES)
    assert classify(series, rules).kind == "swi"
    exclude = (Rule(None, (("SeriesDescription", "dark-fluid"),), "bad FLAIR"), *BUILTIN_RULES)
    result = classify(_series(description="t2_tirm_tra_dark-fluid"), exclude)
    assert result.kind is None and "bad FLAIR" in result.reason


def test_bids_names_follow_the_naming_table():
    assert filename("001", "swi") == "sub-001_acq-swi_rec-swi_T2starw.nii.gz"
    assert filename("sub-002", "mag") == "sub-002_acq-swi_part-mag_T2starw.nii.gz"
    assert filename("002", "phase", ".json") == "sub-002_acq-swi_part-phase_T2starw.json"
    assert filename("003", "flair") == "sub-003_FLAIR.nii.gz"
    assert get_kind("minip").relpath("004") == (
        "sub-004/anat/sub-004_acq-swi_desc-minip_T2starw.nii.gz"
    )
    assert filename("004", "morphometry") == "sub-004_acq-swi_desc-scv_morph.tsv"
    with pytest.raises(KeyError, match="did you mean 'minip'"):
        get_kind("minp")
