"""Slices to the network size and back; the study's augmentation as MONAI dict transforms."""

from __future__ import annotations

import numpy as np
import pytest

from scvbench.steps.train.data import Fit, load_cases, normalise, train_transforms


@pytest.mark.parametrize("shape", [(256, 256), (352, 352), (250, 199), (511, 1)])
def test_padding_is_exactly_inverted(shape):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, *shape)).astype(np.float32)
    fit = Fit(512)
    y = fit.forward(x)
    assert y.shape == (2, 512, 512)
    assert np.array_equal(fit.inverse(y, shape), x)
    # the image sits in the middle; the padding is zero
    assert y.sum() == pytest.approx(x.sum(), rel=1e-4)


def test_larger_slices_are_scaled_down_and_back_onto_their_grid():
    fit = Fit(256)
    rows, cols = np.mgrid[:600, :500]
    x = (rows / 600.0 + cols / 500.0).astype(np.float32)[None]  # a smooth ramp
    y = fit.forward(x)
    assert y.shape == (1, 256, 256)
    back = fit.inverse(y, (600, 500))
    assert back.shape == (1, 600, 500)
    assert np.abs(back - x)[:, 5:-5, 5:-5].max() < 0.01  # a ramp survives resampling
    mask = np.zeros((1, 600, 500), np.uint8)
    mask[0, 100:200, 50:450] = 1
    small = fit.forward(mask, order=0)
    assert set(np.unique(small)) <= {0, 1}
    assert abs(small.sum() / mask.sum() - (256 / 600) ** 2) < 0.02


def test_normalise_maps_brain_percentiles_to_0_1():
    rng = np.random.default_rng(1)
    image = rng.uniform(100, 200, (64, 64))
    brain = np.zeros((64, 64), bool)
    brain[16:48, 16:48] = True
    out = normalise(image, brain)
    inside = out[brain]
    assert np.percentile(inside, 1) == pytest.approx(0, abs=1e-6)
    assert np.percentile(inside, 99) == pytest.approx(1, abs=1e-6)
    assert out.dtype == np.float32 and out.min() >= -1 and out.max() <= 2


def test_augmentation_moves_image_and_label_together():
    image = np.zeros((1, 64, 64), np.float32)
    image[0, 10:14, 20:50] = 1.0
    label = (image > 0).astype(np.float32)
    brain = np.ones_like(label)
    transforms = train_transforms(size=64, noise_std=0.0)
    for seed in range(5):
        transforms.set_random_state(seed=seed)
        out = transforms({"image": image, "label": label, "brain": brain})
        moved_image = np.asarray(out["image"])[0] > 0.5
        moved_label = np.asarray(out["label"])[0] > 0.5
        assert moved_label.sum() > 0
        overlap = (moved_image & moved_label).sum() / max(moved_label.sum(), 1)
        assert overlap > 0.8  # the same rotation, translation and mirror on both
    # same seed, same result
    transforms.set_random_state(seed=3)
    a = np.asarray(transforms({"image": image, "label": label, "brain": brain})["image"])
    transforms.set_random_state(seed=3)
    b = np.asarray(transforms({"image": image, "label": label, "brain": brain})["image"])
    assert np.array_equal(a, b)


def test_cases_of_the_derived_cohort(derived):
    bids, _, _ = derived
    masks = sorted((bids / "derivatives" / "annotations").glob("sub-*/anat/*rater1_mask.nii.gz"))
    pid = masks[0].name.split("_")[0]
    cases = load_cases(bids, [pid], "rater1")
    assert cases and all(c.participant_id == pid for c in cases)
    for case in cases:
        assert case.image.shape == case.label.shape == case.brain.shape
        assert case.image.ndim == 3 and case.image.shape[0] == 1
        assert case.label.sum() > 0  # a labelled slice has veins
        assert (case.label <= case.brain).mean() > 0.95  # veins lie in the brain
