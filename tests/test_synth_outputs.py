"""The files a synthetic cohort holds, read back the way a user's tools read them."""

from __future__ import annotations

import hashlib
import json
import subprocess

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest
from skimage.draw import polygon as draw_polygon

from scvbench.core.mip import minimum_intensity_projection, slab_window
from scvbench.core.morphometry import measure, summarize

SERIES = {
    "SE0003": "t2_tirm_tra_dark-fluid_5mm",
    "SE0005": "Mag_Images",
    "SE0006": "Pha_Images",
    "SE0007": "mIP_Images(SW)",
    "SE0008": "SWI_Images",
}


def _series_dir(cohort, subject, number):
    return cohort / "dicom" / subject["dicom_folder"] / "ST0001" / number


def test_layout_and_tables(tiny_cohort, manifest):
    subjects = manifest["subjects"]
    assert len(subjects) == 4
    assert manifest["effect"] == "paper" and manifest["seed"] == 7
    params = manifest["effect_parameters"]
    assert params["tortuosity_right"] == {
        "0": [1.23, 1.16, 1.39, 1.0, 1.7],
        "1": [1.37, 1.25, 1.5, 0.6, 1.0],
    }
    assert params["count_left"]["F"] == [4, 3, 5, 1.0, 1.9]
    assert params["count_dwml_shift"] == {"right": -0.12, "left": 0.35}
    assert sorted(s["role"] for s in subjects) == ["association"] * 2 + ["development"] * 2
    demo = pd.read_csv(tiny_cohort / "demographics.csv", dtype={"patient_id": str})
    assert list(demo.columns) == ["patient_id", "sex", "age", "education_years", "handedness"]
    assert demo["patient_id"].tolist() == [s["patient_id"] for s in subjects]
    faz = pd.read_csv(tiny_cohort / "fazekas.csv")
    assert list(faz.columns) == [
        "patient_id",
        "rater1_dwm",
        "rater1_pv",
        "rater2_dwm",
        "rater2_pv",
        "consensus_dwm",
        "consensus_pv",
    ]
    for s in subjects:
        expected = 3 if s["role"] == "development" else 1
        assert len(s["annotated_minip_slices"]) == expected
        assert (s["analysis_minip_slice"] is None) == (s["role"] == "development")
        for rater in ("rater1", "rater2"):
            files = sorted((tiny_cohort / "annotations" / rater).glob(f"{s['patient_id']}_*"))
            assert len(files) == expected
        for name in (
            "brain_mask.nii.gz",
            "hemispheres.nii.gz",
            "veins.nii.gz",
            "minip_veins.nii.gz",
            "geometry.json",
            "morphometry.tsv",
            "vessels.tsv",
        ):
            assert (tiny_cohort / "truth" / s["patient_id"] / name).is_file()
    assert not list(tiny_cohort.parent.glob(".*partial*"))


def test_every_series_reads_with_pydicom_and_has_protocol_and_fake_phi(tiny_cohort, manifest):
    subject = manifest["subjects"][0]
    demo = pd.read_csv(tiny_cohort / "demographics.csv", dtype={"patient_id": str})
    sex = demo.set_index("patient_id").loc[subject["patient_id"], "sex"]
    for number, description in SERIES.items():
        files = sorted(_series_dir(tiny_cohort, subject, number).iterdir())
        assert files and all("." not in f.name for f in files)
        first = pydicom.dcmread(files[0])
        assert first.SeriesDescription == description
        assert first.pixel_array.shape == (first.Rows, first.Columns)
        assert first.PatientID == subject["patient_id"] and first.PatientSex == sex
        assert "^" in str(first.PatientName) and len(first.PatientBirthDate) == 8
        assert first.InstitutionName and first.AccessionNumber and first.StudyDate
        assert first.InstitutionName in first.ImageComments
        assert first.Manufacturer == "SIEMENS" and float(first.MagneticFieldStrength) == 3
        uids = {pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files}
        assert len(uids) == len(files)
        if number in ("SE0005", "SE0006", "SE0008"):
            assert (float(first.RepetitionTime), float(first.EchoTime), float(first.FlipAngle)) == (
                28,
                20,
                15,
            )
            assert float(first.SliceThickness) == 1.0
            # FOV 220 x 193.6 mm: phase field of view 88 %, whatever the matrix
            assert float(first.PercentPhaseFieldOfView) == 88
            assert first.Rows * float(first.PixelSpacing[0]) == pytest.approx(220)
            assert first.Columns * float(first.PixelSpacing[1]) == pytest.approx(193.6)
        if number == "SE0003":
            assert (float(first.RepetitionTime), float(first.EchoTime)) == (8500, 81)
            assert float(first.SliceThickness) == 5 and float(first.SpacingBetweenSlices) == 6
        if number == "SE0006":
            assert (float(first.RescaleSlope), float(first.RescaleIntercept)) == (2, -4096)


@pytest.fixture(scope="module")
def converted(tiny_cohort, manifest, tmp_path_factory):
    """Every series of every subject converted by the real dcm2niix."""
    import dcm2niix

    out = {}
    for subject in manifest["subjects"]:
        target = tmp_path_factory.mktemp(subject["patient_id"])
        src = tiny_cohort / "dicom" / subject["dicom_folder"]
        run = subprocess.run(
            [dcm2niix.bin, "-b", "y", "-z", "y", "-f", "%s", "-o", str(target), str(src)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        out[subject["patient_id"]] = target
    return out


def test_dcm2niix_converts_every_series(converted):
    for folder in converted.values():
        names = sorted(p.name for p in folder.glob("*.nii.gz"))
        assert names == ["3.nii.gz", "5.nii.gz", "6_ph.nii.gz", "7.nii.gz", "8.nii.gz"]


def test_dcm2niix_affine_puts_vein_voxels_at_their_true_world_position(
    converted, tiny_cohort, manifest
):
    for subject in manifest["subjects"]:
        pid = subject["patient_id"]
        swi = nib.load(converted[pid] / "8.nii.gz")
        data = np.asarray(swi.dataobj, dtype=float)
        truth = nib.load(tiny_cohort / "truth" / pid / "veins.nii.gz")
        labels = np.asarray(truth.dataobj)
        ijk = np.argwhere(labels > 0)
        world = ijk @ truth.affine[:3, :3].T + truth.affine[:3, 3]
        inv = np.linalg.inv(swi.affine)
        voxel = world @ inv[:3, :3].T + inv[:3, 3]
        # the same voxel centres, to floating-point precision of the DICOM position strings
        np.testing.assert_allclose(voxel, np.rint(voxel), atol=2e-3)
        at = tuple(np.rint(voxel).astype(int).T)
        brain = np.asarray(nib.load(tiny_cohort / "truth" / pid / "brain_mask.nii.gz").dataobj)
        assert np.median(data[at]) < 0.8 * np.median(data[brain > 0])
        # and the centre lines stored in world millimetres fall on labelled voxels
        geometry = json.loads((tiny_cohort / "truth" / pid / "geometry.json").read_text())
        scv = [v for v in geometry["veins"] if v["kind"] == "scv"]
        assert scv
        points = np.concatenate([np.asarray(v["centerline_ras_mm"]) for v in scv])
        truth_inv = np.linalg.inv(truth.affine)
        idx = np.rint(points @ truth_inv[:3, :3].T + truth_inv[:3, 3]).astype(int)
        inside = np.all((idx >= 0) & (idx < labels.shape), axis=1)
        assert inside.mean() > 0.99
        assert (labels[tuple(idx[inside].T)] > 0).mean() > 0.95


def test_phase_series_has_paramagnetic_veins_and_rescale(converted, tiny_cohort, manifest):
    subject = manifest["subjects"][0]
    pid = subject["patient_id"]
    phase = nib.load(converted[pid] / "6_ph.nii.gz")
    values = np.asarray(phase.get_fdata())
    assert values.min() >= -4096 and values.max() <= 4094
    sidecar = json.loads((converted[pid] / "6_ph.json").read_text())
    assert "P" in sidecar["ImageType"]


def test_truth_morphometry_is_what_the_true_masks_measure(tiny_cohort, manifest):
    stored = pd.read_csv(tiny_cohort / "truth" / "morphometry.tsv", sep="\t")
    for subject in manifest["subjects"]:
        pid = subject["patient_id"]
        veins = nib.load(tiny_cohort / "truth" / pid / "minip_veins.nii.gz")
        hemi = np.asarray(
            nib.load(tiny_cohort / "truth" / pid / "minip_hemispheres.nii.gz").dataobj
        )
        labels = np.asarray(veins.dataobj)
        spacing = veins.header.get_zooms()[:2]
        for m in subject["annotated_minip_slices"]:
            table = summarize(measure(labels[:, :, m] > 0, spacing, hemispheres=hemi[:, :, m]))
            rows = stored[(stored.patient_id == pid) & (stored.minip_slice == m)]
            rows = rows.set_index("hemisphere").loc[["left", "right"]]
            assert rows["count"].tolist() == table["count"].tolist()
            np.testing.assert_allclose(rows["tortuosity"], table["tortuosity"], rtol=1e-5)
            np.testing.assert_allclose(rows["diameter_mm"], table["diameter_mm"], rtol=1e-5)
        # only annotated slices carry labels
        labelled = np.flatnonzero(labels.any(axis=(0, 1)))
        assert set(labelled) <= set(subject["annotated_minip_slices"])


def test_analysis_slice_count_matches_the_designed_veins(tiny_cohort, manifest):
    stored = pd.read_csv(tiny_cohort / "truth" / "morphometry.tsv", sep="\t")
    for subject in manifest["subjects"]:
        if subject["role"] != "association":
            continue
        pid = subject["patient_id"]
        geometry = json.loads((tiny_cohort / "truth" / pid / "geometry.json").read_text())
        rows = stored[(stored.patient_id == pid) & stored.analysis].set_index("hemisphere")
        for hemi in ("left", "right"):
            designed = [
                v
                for v in geometry["veins"]
                if v["kind"] == "scv" and v["group"] == "analysis" and v["hemisphere"] == hemi
            ]
            assert rows.loc[hemi, "count"] == len(designed)


def test_minip_of_the_delivered_swi_shows_dark_veins(tiny_cohort, manifest):
    from scvbench.steps.synth.preview import load_series

    for subject in manifest["subjects"]:
        pid = subject["patient_id"]
        volume, dz = load_series(_series_dir(tiny_cohort, subject, "SE0008"))
        window = slab_window(20, 1, dz)
        minip = minimum_intensity_projection(volume, window)
        labels = np.asarray(nib.load(tiny_cohort / "truth" / pid / "minip_veins.nii.gz").dataobj)
        brain = np.asarray(
            nib.load(tiny_cohort / "truth" / pid / "minip_brain_mask.nii.gz").dataobj
        )
        for m in subject["annotated_minip_slices"]:
            vein = labels[::-1, ::-1, m].T > 0  # DICOM display orientation
            inside = brain[::-1, ::-1, m].T > 0
            assert vein.any()
            # the trees taper to 0.7 of their root radius, under the tiny preset's 1.4 mm pixels
            # their tips are partial-volumed: the median labelled pixel is still far darker
            ratio = np.median(minip[:, :, m][vein]) / np.median(minip[:, :, m][inside & ~vein])
            assert ratio < 0.65, ratio


def _rasterize(document):
    mask = np.zeros((document["imageHeight"], document["imageWidth"]), bool)
    for shape in document["shapes"]:
        points = np.asarray(shape["points"])
        rr, cc = draw_polygon(points[:, 1], points[:, 0], mask.shape)
        mask[rr, cc] = True
    return mask


def test_labelme_outlines_recover_the_true_mask_with_rater_disagreement(tiny_cohort, manifest):
    dice = {"rater1": [], "rater2": []}
    differ = 0
    for subject in manifest["subjects"]:
        pid = subject["patient_id"]
        labels = np.asarray(nib.load(tiny_cohort / "truth" / pid / "minip_veins.nii.gz").dataobj)
        for m in subject["annotated_minip_slices"]:
            truth = labels[::-1, ::-1, m].T > 0
            masks = {}
            for rater in dice:
                path = tiny_cohort / "annotations" / rater / f"{pid}_minip-{m:03d}.json"
                document = json.loads(path.read_text())
                assert (document["imageHeight"], document["imageWidth"]) == truth.shape
                assert document["imagePath"] == f"{pid}_minip-{m:03d}.png"
                assert document["scvbench"]["minip_slice"] == m
                assert all(
                    s["shape_type"] == "polygon" and s["label"] == "vein"
                    for s in document["shapes"]
                )
                masks[rater] = _rasterize(document)
                inter = np.sum(masks[rater] & truth)
                dice[rater].append(2 * inter / (masks[rater].sum() + truth.sum()))
            differ += int(not np.array_equal(masks["rater1"], masks["rater2"]))
    assert np.mean(dice["rater1"]) > 0.7
    assert np.mean(dice["rater2"]) > 0.6
    assert differ > 0


def _tree_digest(folder):
    digest = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def test_same_seed_gives_byte_identical_output_whatever_nprocs(tmp_path):
    from scvbench.steps.synth import generate_cohort

    a = generate_cohort(tmp_path / "a", preset="tiny", n_subjects=2, seed=11, progress=False)
    b = generate_cohort(
        tmp_path / "b", preset="tiny", n_subjects=2, seed=11, nprocs=2, progress=False
    )
    c = generate_cohort(tmp_path / "c", preset="tiny", n_subjects=2, seed=12, progress=False)
    da, db, dc = _tree_digest(a), _tree_digest(b), _tree_digest(c)
    assert da == db
    assert len(da) > 400
    assert sum(da[k] != dc.get(k) for k in da) > 0.9 * len(da)


def test_documented_annotation_mapping_holds_on_the_dcm2niix_volume(
    converted, tiny_cohort, manifest
):
    """Annotation (row r, col c) of MinIP slice m is minip[nx-1-c, ny-1-r, m] of the RAS+ NIfTI."""
    for subject in manifest["subjects"]:
        pid = subject["patient_id"]
        swi = nib.as_closest_canonical(nib.load(converted[pid] / "8.nii.gz"))
        assert nib.aff2axcodes(swi.affine) == ("R", "A", "S")
        window = slab_window(20, 1, float(swi.header.get_zooms()[2]))
        minip = minimum_intensity_projection(np.asarray(swi.dataobj, dtype=float), window)
        truth = nib.load(tiny_cohort / "truth" / pid / "minip_veins.nii.gz")
        np.testing.assert_allclose(truth.affine, window.affine(swi.affine), atol=1e-3)
        for m in subject["annotated_minip_slices"]:
            path = tiny_cohort / "annotations" / "rater1" / f"{pid}_minip-{m:03d}.json"
            outlined = _rasterize(json.loads(path.read_text()))
            image = minip[::-1, ::-1, m].T
            assert image.shape == outlined.shape
            background = image[(image > np.percentile(image, 50)) & ~outlined]
            here = np.mean(image[outlined])
            assert here < 0.78 * np.mean(background)
            # the outlines sit on the darkest place: moved by 3 pixels, or mirrored, they are
            # lighter (outside the brain, where skull and air are dark, counts as tissue)
            brain = np.asarray(
                nib.load(tiny_cohort / "truth" / pid / "minip_brain_mask.nii.gz").dataobj
            )[::-1, ::-1, m].T
            tissue = np.where(brain > 0, image, np.median(image[brain > 0]))
            here = np.mean(tissue[outlined])
            moved = [np.roll(tissue, shift, axis) for shift in (-3, 3) for axis in (0, 1)]
            for other in [*moved, tissue[:, ::-1], tissue[::-1, :]]:
                assert here < 0.93 * np.mean(other[outlined])


def test_heads_are_rotated_and_shifted_and_slabs_oblique(converted, tiny_cohort, manifest):
    poses, tilts, splits, oblique = [], [], [], []
    for subject in manifest["subjects"]:
        pid = subject["patient_id"]
        geometry = json.loads((tiny_cohort / "truth" / pid / "geometry.json").read_text())
        poses.append(np.abs(geometry["pose"]["angles_deg"]).max())
        tilts.append(abs(geometry["swi_grid"]["tilt_deg"]))
        affine = nib.load(converted[pid] / "8.nii.gz").affine
        oblique.append(abs(affine[1, 2]) + abs(affine[2, 1]))
        hemi = np.asarray(nib.load(tiny_cohort / "truth" / pid / "hemispheres.nii.gz").dataobj)
        k = hemi.shape[2] // 2
        left_cols = np.flatnonzero((hemi[:, :, k] == 1).any(axis=1))
        right_cols = np.flatnonzero((hemi[:, :, k] == 2).any(axis=1))
        splits.append((left_cols.max() + right_cols.min()) / 2 - (hemi.shape[0] - 1) / 2)
    assert max(poses) > 2.0 and max(tilts) > 1.0
    assert max(oblique) > 0.01  # the converted affine is oblique, not diagonal
    assert max(abs(s) for s in splits) > 1.0  # the mid-sagittal plane is not the array centre


def test_phase_carries_the_field_of_paramagnetic_veins(converted, tiny_cohort, manifest):
    from scvbench.steps.synth.render import swi_from_complex

    for subject in manifest["subjects"]:
        pid = subject["patient_id"]
        mag = nib.load(converted[pid] / "5.nii.gz")
        phase = np.asarray(nib.load(converted[pid] / "6_ph.nii.gz").get_fdata()) / 4096 * np.pi
        signal = np.asarray(mag.get_fdata()) * np.exp(1j * phase)
        _, highpass = swi_from_complex(signal, mag.header.get_zooms())
        veins = np.asarray(nib.load(tiny_cohort / "truth" / pid / "veins.nii.gz").dataobj) > 0
        brain = np.asarray(nib.load(tiny_cohort / "truth" / pid / "brain_mask.nii.gz").dataobj) > 0
        # Background field removed, the local phase is far larger at veins than in tissue.
        tissue = brain & ~veins
        assert np.mean(np.abs(highpass[veins])) > 2 * np.mean(np.abs(highpass[tissue]))


def test_flair_shows_the_drawn_lesions(converted, tiny_cohort, manifest):
    demo = pd.read_csv(tiny_cohort / "fazekas.csv", dtype={"patient_id": str})
    dwml = set(demo.loc[demo.consensus_dwm >= 1, "patient_id"])
    assert dwml
    for subject in manifest["subjects"]:
        pid = subject["patient_id"]
        geometry = json.loads((tiny_cohort / "truth" / pid / "geometry.json").read_text())
        lesions = geometry["flair_lesions"]
        assert bool(lesions) == (pid in dwml)
        if not lesions:
            continue
        flair = nib.load(converted[pid] / "3.nii.gz")
        data = np.asarray(flair.get_fdata())
        inv = np.linalg.inv(flair.affine)
        brain = data[data > np.percentile(data, 60)]
        for lesion in lesions:
            i, j, k = np.rint(inv[:3, :3] @ lesion["centre_ras_mm"] + inv[:3, 3]).astype(int)
            assert data[i, j, k] > np.median(brain)


def test_preview_picture_is_made_from_the_dicom_files(tiny_cohort, tmp_path):
    from PIL import Image

    from scvbench.steps.synth import preview

    out = tmp_path / "preview.png"
    assert preview.main([str(tiny_cohort), str(out)]) == 0
    with Image.open(out) as image:
        assert image.size[0] > 2 * image.size[1]
        pixels = np.asarray(image.convert("RGB"), dtype=int)
    # the third panel overlays the true veins in colour
    assert np.any(np.abs(pixels[..., 0] - pixels[..., 2]) > 80)
