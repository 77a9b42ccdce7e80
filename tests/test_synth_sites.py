"""Scanner sites: each vendor's DICOM converts, phase in radians, the default site unchanged."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from pydicom import dcmread

from scvbench.cli import main
from scvbench.steps.convert.validate import validate
from scvbench.steps.synth.sites import SITES, assign_sites, resolve_sites


def test_sites_are_resolved_and_spread_evenly():
    assert resolve_sites(None) == ("siemens-3t",)
    assert resolve_sites("multisite") == tuple(SITES)
    assert resolve_sites("ge-3t, philips-1.5t,ge-3t") == ("ge-3t", "philips-1.5t")
    with pytest.raises(ValueError, match="unknown site bogus"):
        resolve_sites("bogus")
    sites = tuple(SITES)
    assigned = assign_sites(10, sites, 0)
    counts = {name: assigned.count(name) for name in sites}
    assert sorted(counts.values()) == [2, 2, 3, 3] and assigned == assign_sites(10, sites, 0)
    assert assigned != assign_sites(10, sites, 1)
    assert assign_sites(3, ("siemens-3t",), 5) == ["siemens-3t"] * 3


def test_an_unknown_site_is_one_line(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "x"), "--sites", "siemens-9t"]) == 1
    err = capsys.readouterr().err
    assert "--sites: unknown site siemens-9t" in err and "multisite" in err


@pytest.fixture(scope="module")
def multisite(tmp_path_factory):
    root = tmp_path_factory.mktemp("multisite")
    source, bids = root / "source", root / "bids"
    args = ["synth", str(source), "--preset", "tiny", "--subjects", "4", "--sites", "multisite"]
    assert main([*args, "--nprocs", "2"]) == 0
    key = ["--key-file", str(root / "key.csv")]
    assert main(["convert", str(source / "dicom"), str(bids), *key]) == 0
    return source, bids


def test_sites_differ_in_resolution_and_the_pipeline_runs_on_all(multisite, tmp_path):
    import shutil

    source, converted = multisite
    bids = tmp_path / "bids"
    shutil.copytree(converted, bids)
    key = ["--key-file", str(converted.parent / "key.csv")]
    assert main(["derive", str(bids), "--nprocs", "2"]) == 0
    assert main(["annotations", "import", str(source / "annotations"), str(bids), *key]) == 0
    masks = ["--masks", str(bids / "derivatives" / "annotations"), "--desc", "rater1"]
    assert main(["morph", "--bids", str(bids), *masks]) == 0
    manifest = json.loads((source / "truth" / "manifest.json").read_text())
    labels = dict(
        line.split(",") for line in (converted.parent / "key.csv").read_text().split()[1:]
    )
    for subject in manifest["subjects"]:
        label = labels[subject["patient_id"]]
        minip = next(
            (bids / "derivatives" / "scvbench" / label / "anat").glob("*minip_T2starw.nii.gz")
        )
        site = SITES[subject["site"]]
        expected = round(160 * site.matrix_scale / 2) * 2
        assert nib.load(minip).shape[:2] == (expected, expected)
        # the slab keeps its extent in mm; the site sets the slice thickness and count
        swi = nib.load(bids / label / "anat" / f"{label}_acq-swi_rec-swi_T2starw.nii.gz")
        assert swi.header.get_zooms()[2] == pytest.approx(site.slice_mm, abs=1e-3)
        assert swi.shape[2] == round(56 / site.slice_mm)
    assert len({s.slice_mm for s in SITES.values()}) == len(SITES)


def test_every_site_is_a_real_scanner_in_the_dicom(multisite):
    source, _ = multisite
    manifest = json.loads((source / "truth" / "manifest.json").read_text())
    assert sorted(s["site"] for s in manifest["subjects"]) == sorted(SITES)
    assert set(manifest["site_protocols"]) == set(SITES)
    for subject in manifest["subjects"]:
        site = SITES[subject["site"]]
        folder = source / "dicom" / subject["dicom_folder"] / "ST0001"
        for series in folder.iterdir():
            ds = dcmread(next(series.iterdir()), stop_before_pixels=True)
            assert ds.Manufacturer == site.manufacturer
            assert float(ds.MagneticFieldStrength) == site.field_t
            if series.name != "SE0003":
                assert float(ds.EchoTime) == site.te_ms
        if site.vendor == "philips":
            types = {
                "\\".join(dcmread(next(s.iterdir()), stop_before_pixels=True).ImageType)
                for s in folder.iterdir()
            }
            assert any("SW_M_FFE" in t for t in types) and any("SW_P_FFE" in t for t in types)


def test_every_site_converts_with_phase_in_radians_and_passes_the_validator(multisite):
    source, bids = multisite
    manifest = json.loads((source / "truth" / "manifest.json").read_text())
    key = dict(line.split(",") for line in (bids.parent / "key.csv").read_text().split()[1:])
    for subject in manifest["subjects"]:
        site = SITES[subject["site"]]
        label = key[subject["patient_id"]]
        anat = bids / label / "anat"
        swi = json.loads((anat / f"{label}_acq-swi_rec-swi_T2starw.json").read_text())
        assert swi["MagneticFieldStrength"] == site.field_t
        phase_path = anat / f"{label}_acq-swi_part-phase_T2starw.nii.gz"
        phase = np.asarray(nib.load(phase_path).get_fdata())
        sidecar = json.loads(phase_path.with_name(phase_path.name[:-7] + ".json").read_text())
        assert sidecar["Units"] == "rad"
        assert -np.pi - 0.01 <= phase.min() < -3.0 and 3.0 < phase.max() <= np.pi + 0.01
        has_magnitude = (anat / f"{label}_acq-swi_part-mag_T2starw.nii.gz").exists()
        assert has_magnitude == (site.vendor == "siemens")  # GE and Philips export no magnitude
    result = validate(bids)
    assert result.valid, result.errors


def test_the_preview_finds_every_vendors_swi(multisite, tmp_path):
    from scvbench.steps.synth.preview import render_preview

    source, _ = multisite
    manifest = json.loads((source / "truth" / "manifest.json").read_text())
    for subject in manifest["subjects"]:
        if SITES[subject["site"]].vendor != "siemens":
            out = render_preview(source, tmp_path / f"{subject['site']}.png", subject["patient_id"])
            assert out.stat().st_size > 10_000


def test_the_sites_figure_has_a_row_per_site_with_outlined_veins(multisite, tmp_path):
    """`preview --sites 3`: three rows (one per site), four panels, orange vein outlines."""
    from PIL import Image

    from scvbench.steps.synth.preview import main

    source, _ = multisite
    one, three = tmp_path / "one.png", tmp_path / "three.png"
    assert main([str(source), str(one), "--sites", "1"]) == 0
    assert main([str(source), str(three), "--sites", "3"]) == 0
    with Image.open(one) as a, Image.open(three) as b:
        assert b.size[0] == a.size[0] and b.size[1] > 2.5 * a.size[1]
        pixels = np.asarray(b.convert("RGB"), dtype=int)
    orange = (pixels[..., 0] > 200) & (pixels[..., 1] < 140) & (pixels[..., 2] < 80)
    rows = np.array_split(orange, 3, axis=0)
    assert all(part.sum() > 50 for part in rows)  # every site's row outlines veins
    with pytest.raises(SystemExit) as refused:
        main([str(source), str(tmp_path / "none.png"), "--sites", "0"])
    assert refused.value.code == 2 and not (tmp_path / "none.png").exists()


def test_series_files_equal_pydicom_save_as_for_every_vendor(tmp_path):
    """The writer reuses encoded elements across slices; its files equal pydicom's own writing."""
    from pydicom.dataset import FileDataset

    from scvbench.steps.synth.dicom import write_series
    from scvbench.steps.synth.geometry import draw_pose
    from scvbench.steps.synth.imaging import flair_grid, swi_grid
    from scvbench.steps.synth.phi import fake_study
    from scvbench.steps.synth.presets import PRESETS
    from scvbench.steps.synth.series import flair_series, swi_series

    rng = np.random.default_rng(3)
    pose = draw_pose(rng)
    study = fake_study("P0000001", "F", 61, rng, 0)
    checked = 0
    for name, site in SITES.items():
        grid = swi_grid(PRESETS["tiny"], pose, rng, site.matrix_scale)
        specs = [(grid, spec) for spec in swi_series(site).values()]
        specs.append((flair_grid(PRESETS["tiny"], pose, grid, rng), flair_series(site)))
        for grid_, spec in specs[-2:]:
            volume = rng.integers(0, 4096, grid_.shape).astype(np.uint16)
            paths = write_series(tmp_path / name / str(spec.number), volume, grid_, study, spec)
            for path in (paths[0], paths[len(paths) // 2]):
                ds = dcmread(path)
                assert isinstance(ds, FileDataset)
                ds.save_as(tmp_path / "again", enforce_file_format=True)
                assert (tmp_path / "again").read_bytes() == path.read_bytes(), path
                k = int(ds.InstanceNumber) - 1
                assert np.array_equal(ds.pixel_array.T, volume[:, :, k])
                checked += 1
    assert checked == 4 * len(SITES)
