"""Segmentation scores: perfect, worst case, MONAI agreement, hand-worked clDice and Betti."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scvbench.core.metrics import SCORES, segmentation_scores, worst_case


def _vessels(shape=(96, 96)):
    mask = np.zeros(shape, bool)
    mask[10:80, 20:23] = True  # a vertical vein, 3 px
    rr = np.arange(30, 90)
    mask[rr // 2 + 20, rr] = True  # a diagonal-ish line
    mask[rr // 2 + 21, rr] = True
    return mask


def test_reference_scores_perfectly():
    ref = _vessels()
    scores = segmentation_scores(ref, ref, spacing=(0.5, 0.6))
    assert scores == {
        "accuracy": 1.0,
        "dice": 1.0,
        "iou": 1.0,
        "cldice": 1.0,
        "precision": 1.0,
        "recall": 1.0,
        "hd95_mm": 0.0,
        "assd_mm": 0.0,
        "betti0_error": 0.0,
        "count_error": 0.0,
    }


def test_empty_prediction_gets_the_worst_case():
    ref = _vessels()
    spacing = (0.5, 0.6)
    scores = segmentation_scores(np.zeros_like(ref), ref, spacing=spacing)
    worst = worst_case(ref, spacing)
    for name in (
        "dice",
        "iou",
        "cldice",
        "precision",
        "recall",
        "hd95_mm",
        "assd_mm",
        "betti0_error",
    ):
        assert scores[name] == worst[name], name
    assert worst["hd95_mm"] == pytest.approx(np.hypot(96 * 0.5, 96 * 0.6))
    assert worst["betti0_error"] == 2
    assert all(np.isfinite(v) for v in scores.values()) and set(scores) == set(SCORES)
    both_empty = segmentation_scores(np.zeros_like(ref), np.zeros_like(ref))
    assert both_empty["dice"] == 1.0 and both_empty["hd95_mm"] == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dice_and_hd95_agree_with_monai(seed):
    from monai.metrics import compute_dice, compute_hausdorff_distance

    rng = np.random.default_rng(seed)
    ref = _vessels()
    from scipy import ndimage

    pred = ndimage.binary_dilation(ref, iterations=int(rng.integers(0, 2)))
    pred = pred & (rng.random(ref.shape) > 0.05)
    pred[rng.integers(0, 96, 5), rng.integers(0, 96, 5)] = True  # specks
    spacing = (0.55, 0.625)
    ours = segmentation_scores(pred, ref, spacing=spacing)
    p = torch.from_numpy(pred[None, None].astype(np.float32))
    r = torch.from_numpy(ref[None, None].astype(np.float32))
    assert ours["dice"] == pytest.approx(float(compute_dice(p, r)), abs=1e-6)
    hd95 = float(compute_hausdorff_distance(p, r, percentile=95, spacing=spacing))
    assert ours["hd95_mm"] == pytest.approx(hd95, rel=1e-4, abs=1e-4)


def test_one_pixel_dilation_gives_the_expected_dice():
    ref = np.zeros((40, 60), bool)
    ref[10:30, 20:40] = True  # 20 x 20 square: 400 pixels
    from scipy import ndimage

    pred = ndimage.binary_dilation(ref)  # 4-connected dilation: +80 pixels (no corners)
    assert pred.sum() == 480
    scores = segmentation_scores(pred, ref)
    assert scores["dice"] == pytest.approx(2 * 400 / (480 + 400))
    assert scores["precision"] == pytest.approx(400 / 480) and scores["recall"] == 1.0
    assert scores["hd95_mm"] == pytest.approx(1.0)


def test_cldice_by_hand():
    # reference: a 3-pixel-wide bar of length 30; skeleton = its centre row (28-30 px)
    ref = np.zeros((20, 40), bool)
    ref[8:11, 5:35] = True
    # prediction covers the left half only: all of its skeleton lies in the reference
    pred = np.zeros_like(ref)
    pred[8:11, 5:20] = True
    from skimage.morphology import skeletonize

    sr = skeletonize(ref)
    tsens = (sr & pred).sum() / sr.sum()  # about half
    scores = segmentation_scores(pred, ref)
    assert 0.4 < tsens < 0.6
    assert scores["cldice"] == pytest.approx(2 * 1.0 * tsens / (1.0 + tsens))


def test_betti_and_count_errors_by_hand():
    ref = np.zeros((30, 30), bool)
    ref[2:28, 5:8] = True  # one vessel (78 px)
    pred = ref.copy()
    pred[14:16, 5:8] = False  # cut in two: 2 components
    pred[20, 20] = True  # a speck: 3 components, still 2 vessels of >= 2 mm2
    scores = segmentation_scores(pred, ref, spacing=(1.0, 1.0), min_area_mm2=2.0)
    assert scores["betti0_error"] == 2.0
    assert scores["count_error"] == 1.0


def test_brain_mask_restricts_every_score():
    ref = _vessels()
    pred = ref.copy()
    pred[:5, :] = True  # false positives outside the brain
    brain = np.ones_like(ref)
    brain[:5, :] = False
    assert segmentation_scores(pred, ref, brain)["dice"] == 1.0
    assert segmentation_scores(pred, ref)["dice"] < 1.0


def _whole_image_scores(p, r, spacing):
    """HD95, ASSD, clDice and component counts computed on the whole image with scipy's EDT."""
    from scipy import ndimage
    from skimage.morphology import skeletonize

    four = ndimage.generate_binary_structure(2, 1)

    def edges(m):
        return m & ~ndimage.binary_erosion(m, structure=four, border_value=0)

    def dist(a, b):
        return ndimage.distance_transform_edt(~edges(b), sampling=spacing)[edges(a)]

    d_pr, d_rp = dist(p, r), dist(r, p)
    sp, sr = skeletonize(p), skeletonize(r)
    tprec = np.count_nonzero(sp & r) / max(np.count_nonzero(sp), 1)
    tsens = np.count_nonzero(sr & p) / max(np.count_nonzero(sr), 1)
    eight = np.ones((3, 3), bool)
    return {
        "hd95_mm": float(max(np.percentile(d_pr, 95), np.percentile(d_rp, 95))),
        "assd_mm": float(np.concatenate([d_pr, d_rp]).mean()),
        "cldice": 2 * tprec * tsens / (tprec + tsens) if tprec + tsens > 0 else 0.0,
        "betti0_error": float(
            abs(ndimage.label(p, structure=eight)[1] - ndimage.label(r, structure=eight)[1])
        ),
    }


@pytest.mark.parametrize("seed", range(6))
def test_local_scores_equal_the_whole_image_computation(seed):
    # segmentation_scores works on the masks' bounding box and finds nearest edges with a k-d
    # tree: every value must be the one of the plain whole-image computation, bit for bit,
    # including masks touching the image border and anisotropic pixels.
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(40, 160, 2))
    p = ndimage.binary_dilation(rng.random(shape) > 0.995, iterations=int(rng.integers(1, 3)))
    r = ndimage.binary_dilation(rng.random(shape) > 0.995, iterations=int(rng.integers(1, 3)))
    p[0, : shape[1] // 3] = True
    r[:, -1] = seed % 2 == 0
    spacing = (float(rng.uniform(0.3, 1.2)), float(rng.uniform(0.3, 1.2)))
    scores = segmentation_scores(p, r, spacing=spacing)
    for name, value in _whole_image_scores(p, r, spacing).items():
        assert scores[name] == value, name
