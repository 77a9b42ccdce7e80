import numpy as np
import pytest
from skimage.draw import circle_perimeter, line

from scvbench.core.morphometry import VESSEL_COLUMNS, hemisphere_means, measure, summarize


def test_straight_horizontal_line_has_exact_length_and_tortuosity_one():
    mask = np.zeros((7, 30), bool)
    mask[3, 2:27] = True  # 25 pixels: from the edge of the first to the edge of the last
    table = measure(mask, spacing=(0.5, 0.25), min_area_mm2=0)
    assert len(table) == 1
    row = table.iloc[0]
    # The tips are found by walking 0.05-pixel steps: exact to 0.025 pixel.
    assert row["length_mm"] == pytest.approx(25 * 0.25, abs=0.05 * 0.25)
    assert row["chord_mm"] == pytest.approx(25 * 0.25, abs=0.05 * 0.25)
    assert row["tortuosity"] == pytest.approx(1.0)
    assert row["area_mm2"] == pytest.approx(25 * 0.5 * 0.25)
    assert row["diameter_mm"] == pytest.approx(0.5, rel=0.01)  # area / length: one pixel wide


def test_diagonal_steps_count_sqrt2_times_spacing():
    mask = np.zeros((20, 20), bool)
    rr, cc = line(2, 2, 12, 12)
    mask[rr, cc] = True
    row = measure(mask, spacing=1.0, min_area_mm2=0).iloc[0]
    # Corner to corner of the end pixels along the diagonal: 11 pixel diagonals.
    assert row["length_mm"] == pytest.approx(11 * np.sqrt(2), abs=0.1)
    assert row["tortuosity"] == pytest.approx(1.0)


def test_semicircle_tortuosity_is_near_pi_over_two():
    mask = np.zeros((80, 80), bool)
    rr, cc = circle_perimeter(40, 40, 30)
    keep = rr <= 40
    mask[rr[keep], cc[keep]] = True
    row = measure(mask, spacing=0.5, min_area_mm2=0).iloc[0]
    assert row["tortuosity"] == pytest.approx(np.pi / 2, rel=0.08)


def test_branch_does_not_add_to_length_but_adds_to_diameter_denominator():
    mask = np.zeros((30, 40), bool)
    mask[10, 5:36] = True  # main vessel, 31 pixels
    mask[11:16, 20] = True  # a side branch of 5 pixels
    row = measure(mask, spacing=1.0, min_area_mm2=0).iloc[0]
    assert row["length_mm"] == pytest.approx(31.0, abs=0.05)
    assert row["n_junctions"] >= 1
    assert row["skeleton_length_mm"] > row["length_mm"]
    assert row["diameter_mm"] == pytest.approx(mask.sum() / row["skeleton_length_mm"])


def test_closed_loop_is_flagged_and_has_no_tortuosity():
    mask = np.zeros((50, 50), bool)
    rr, cc = circle_perimeter(25, 25, 15)
    mask[rr, cc] = True
    row = measure(mask, spacing=1.0, min_area_mm2=0).iloc[0]
    assert bool(row["closed_loop"])
    assert np.isnan(row["tortuosity"])
    assert row["length_mm"] == pytest.approx(row["skeleton_length_mm"])


def test_specks_below_minimum_area_are_dropped():
    mask = np.zeros((20, 20), bool)
    mask[2, 2] = True
    mask[5:7, 5:7] = True  # 4 pixels = 1 mm2 at 0.5 mm
    mask[15, 2:18] = True
    table = measure(mask, spacing=0.5, min_area_mm2=2.0)
    assert len(table) == 1
    assert table.iloc[0]["n_pixels"] == 16


def test_hemisphere_border_splits_a_vessel():
    mask = np.zeros((10, 40), bool)
    mask[5, 2:38] = True
    hemi = np.ones((10, 40), int)
    hemi[:, 20:] = 2
    table = measure(mask, spacing=1.0, hemispheres=hemi, min_area_mm2=0)
    assert sorted(table["hemisphere"]) == ["left", "right"]
    summary = summarize(table).set_index("hemisphere")
    assert summary.loc["left", "count"] == 1 and summary.loc["right", "count"] == 1


def test_empty_mask_gives_empty_table_and_zero_counts():
    table = measure(np.zeros((10, 10), bool), spacing=1.0)
    assert list(table.columns) == VESSEL_COLUMNS
    assert len(table) == 0
    summary = summarize(table)
    assert summary["count"].tolist() == [0, 0]
    assert summary["diameter_mm"].isna().all()


def test_row_col_point_lies_on_the_vessel_and_input_is_untouched():
    mask = np.zeros((30, 30), np.uint8)
    rr, cc = circle_perimeter(15, 15, 10)
    keep = cc < 15
    mask[rr[keep], cc[keep]] = 1
    before = mask.copy()
    row = measure(mask, spacing=1.0, min_area_mm2=0).iloc[0]
    assert mask[int(row["row"]), int(row["col"])] == 1
    np.testing.assert_array_equal(mask, before)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="2-D"):
        measure(np.zeros((3, 3, 3)), 1.0)
    with pytest.raises(ValueError, match="spacing"):
        measure(np.zeros((3, 3)), (0, 1))
    with pytest.raises(ValueError, match="same grid"):
        measure(np.zeros((3, 3)), 1.0, hemispheres=np.zeros((4, 4)))


def test_vessels_at_the_image_edge_or_hemisphere_border_are_flagged_and_kept():
    mask = np.zeros((20, 30), bool)
    mask[0, 3:12] = True  # along the top edge of the image
    mask[10, 5:25] = True  # crosses the hemisphere border at column 15
    mask[16, 2:8] = True  # inside the left hemisphere only
    hemi = np.ones((20, 30), np.uint8)
    hemi[:, 15:] = 2
    table = measure(mask, spacing=1.0, hemispheres=hemi, min_area_mm2=0)
    by_row = {int(r["row"]): r for _, r in table.iterrows()}
    assert by_row[0]["touches_edge"] and not by_row[0]["at_border"]
    assert not by_row[16]["touches_edge"] and not by_row[16]["at_border"]
    crossing = table[table["row"] == 10]
    assert sorted(crossing["hemisphere"]) == ["left", "right"]
    assert crossing["at_border"].all() and not crossing["touches_edge"].any()


def test_measure_slices_adds_the_slice_and_checks_shapes():
    from scvbench.core.morphometry import measure_slices

    volume = np.zeros((10, 12, 4), bool)
    volume[5, 2:10, 1] = True
    volume[2, 2:10, 3] = True
    table = measure_slices(volume, spacing=(0.5, 0.5), min_area_mm2=0)
    assert table["slice"].tolist() == [1, 3]
    assert measure_slices(volume, 1.0, slices=[0], min_area_mm2=0).empty
    with pytest.raises(ValueError, match="outside"):
        measure_slices(volume, 1.0, slices=[9])
    with pytest.raises(ValueError, match="3-D"):
        measure_slices(volume[:, :, 0], 1.0)


def test_compiled_thinning_is_skimages_thin():
    from scipy import ndimage
    from skimage.morphology import thin as skimage_thin

    from scvbench.core.morphometry import thin

    rng = np.random.default_rng(5)
    for _ in range(20):
        blobs = ndimage.gaussian_filter(rng.normal(size=(60, 70)), 2.5) > rng.uniform(0, 0.3)
        np.testing.assert_array_equal(thin(blobs), skimage_thin(blobs))
    staircase = np.eye(12, dtype=bool) | np.eye(12, k=1, dtype=bool)
    np.testing.assert_array_equal(thin(staircase), skimage_thin(staircase))
    assert thin(staircase).sum() >= 11  # a 2-pixel diagonal vein keeps its length


@pytest.mark.parametrize("seed", range(4))
def test_hemisphere_means_equal_summarize_of_measure(seed):
    # The evaluation's table-free path must give summarize(measure(...))'s values exactly.
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    mask = ndimage.binary_dilation(rng.random((120, 140)) > 0.993, iterations=2)
    mask |= ndimage.binary_dilation(rng.random((120, 140)) > 0.998, iterations=4)
    hemispheres = np.where(np.arange(120)[:, None] < 60, 1, 2) * np.ones((1, 140), int)
    hemispheres[:, :5] = 0
    spacing = (0.55, 0.625)
    got = hemisphere_means(mask, spacing, hemispheres)
    table = summarize(measure(mask, spacing, hemispheres)).set_index("hemisphere")
    for side in ("left", "right"):
        assert got[side]["count"] == table.loc[side, "count"]
        for name in ("diameter_mm", "tortuosity"):
            want = table.loc[side, name]
            assert (np.isnan(want) and np.isnan(got[side][name])) or got[side][name] == want
