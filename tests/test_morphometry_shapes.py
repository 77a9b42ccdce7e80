"""Morphometry of rasterised analytic shapes with known length, chord, tortuosity and width.

Shapes are drawn in millimetres on a pixel grid of any spacing: a pixel is inside when its centre
lies within half the width of the centre line and projects inside it (flat ends).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from scvbench.core.morphometry import measure


def draw(curve_mm, width_mm, shape, spacing):
    """Mask of a tube of ``width_mm`` around the densely sampled centre line (x=col, y=row, mm)."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    centres = np.c_[cols.ravel() * spacing[1], rows.ravel() * spacing[0]]
    distance, nearest = cKDTree(curve_mm).query(centres)
    inside = (distance <= width_mm / 2) & (nearest > 0) & (nearest < len(curve_mm) - 1)
    return inside.reshape(shape)


def truth(curve_mm):
    length = float(np.linalg.norm(np.diff(curve_mm, axis=0), axis=1).sum())
    chord = float(np.linalg.norm(curve_mm[-1] - curve_mm[0]))
    return length, chord, length / chord


def one(mask, spacing):
    table = measure(mask, spacing=spacing, min_area_mm2=0)
    assert len(table) == 1, table
    return table.iloc[0]


def check_diameter(row, width_mm, length_mm):
    """Area / length: exact to the raster's own area; the raster's width is the tube's to 20 %.

    A tube 3 pixels wide rasterises to 3 or 4 pixels across depending on its sub-pixel position,
    so the check of the measurement uses the raster's area over the true length.
    """
    assert row["diameter_mm"] == pytest.approx(row["area_mm2"] / length_mm, rel=0.04)
    assert row["diameter_mm"] == pytest.approx(width_mm, rel=0.20)


@pytest.mark.parametrize("angle", [0, 10, 22.5, 30, 45, 60, 77, 90, 135])
@pytest.mark.parametrize("width_px", [3, 5])
def test_straight_bars_at_any_angle(angle, width_px):
    spacing = (1.0, 1.0)
    u = np.array([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])
    curve = np.array([80.3, 79.6]) + np.linspace(-40, 40, 4001)[:, None] * u
    row = one(draw(curve, width_px, (160, 160), spacing), spacing)
    length, _, tortuosity = truth(curve)
    assert row["length_mm"] == pytest.approx(length, rel=0.02)
    assert row["tortuosity"] == pytest.approx(tortuosity, rel=0.02)
    check_diameter(row, width_px, length)


@pytest.mark.parametrize("start", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("radius", [25, 40, 60, 80])
def test_circular_arcs(radius, start):
    theta = np.linspace(start, np.pi - start, 6000)
    curve = np.c_[100 + radius * np.cos(theta), 100 + radius * np.sin(theta)]
    row = one(draw(curve, 3, (200, 200), (1.0, 1.0)), (1.0, 1.0))
    length, _, tortuosity = truth(curve)
    assert row["length_mm"] == pytest.approx(length, rel=0.02)
    assert row["tortuosity"] == pytest.approx(tortuosity, rel=0.02)
    check_diameter(row, 3, length)


@pytest.mark.parametrize("amplitude", [5, 10])
def test_sine_waves(amplitude):
    x = np.linspace(10, 150, 8000)
    curve = np.c_[x, 80 + amplitude * np.sin(2 * np.pi * (x - 10) / 70)]
    row = one(draw(curve, 3, (160, 160), (1.0, 1.0)), (1.0, 1.0))
    length, _, tortuosity = truth(curve)
    assert row["length_mm"] == pytest.approx(length, rel=0.02)
    assert row["tortuosity"] == pytest.approx(tortuosity, rel=0.02)
    check_diameter(row, 3, length)


@pytest.mark.parametrize("angle", [0, 30, 60, 90])
def test_anisotropic_pixels(angle):
    spacing = (0.625, 0.55)  # the paper preset's rows x columns
    u = np.array([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])
    curve = np.array([50.0, 50.0]) + np.linspace(-30, 30, 4001)[:, None] * u
    x = np.linspace(-30, 30, 4001)
    wavy = np.c_[50 + x, 50 + 3 * np.sin(2 * np.pi * x / 40)]
    for shape_curve in (curve, wavy):
        row = one(draw(shape_curve, 2.0, (170, 190), spacing), spacing)
        length, _, tortuosity = truth(shape_curve)
        assert row["length_mm"] == pytest.approx(length, rel=0.02)
        assert row["tortuosity"] == pytest.approx(tortuosity, rel=0.02)
        check_diameter(row, 2.0, length)


def test_two_vessels_in_one_hemisphere():
    x = np.linspace(10, 70, 3000)
    straight = np.c_[x, np.full_like(x, 30.0)]
    wavy = np.c_[x, 70 + 5 * np.sin(2 * np.pi * (x - 10) / 40)]
    mask = draw(straight, 3, (100, 160), (1.0, 1.0)) | draw(wavy, 4, (100, 160), (1.0, 1.0))
    hemispheres = np.ones(mask.shape, np.uint8)
    hemispheres[:, 80:] = 2
    table = measure(mask, spacing=1.0, hemispheres=hemispheres, min_area_mm2=0)
    assert table["hemisphere"].tolist() == ["left", "left"]
    table = table.sort_values("row")
    for (_, row), curve, width in zip(table.iterrows(), (straight, wavy), (3, 4), strict=True):
        length, _, tortuosity = truth(curve)
        assert row["length_mm"] == pytest.approx(length, rel=0.02)
        assert row["tortuosity"] == pytest.approx(tortuosity, rel=0.02)
        check_diameter(row, width, length)


def test_chain_length_is_what_skan_measures_on_the_same_skeleton():
    from skan import Skeleton, summarize
    from skimage.morphology import thin

    x = np.linspace(10, 150, 8000)
    curve = np.c_[x, 80 + 8 * np.sin(2 * np.pi * (x - 10) / 70)]
    mask = draw(curve, 3, (320, 320), (0.5, 0.5))
    spacing = (0.5, 0.5)
    row = one(mask, spacing)
    skeleton = thin(mask)
    branches = summarize(Skeleton(skeleton, spacing=spacing), separator="_")
    assert len(branches) == 1  # one unbranched path: skan's branch is our longest path
    assert row["chain_length_mm"] == pytest.approx(branches["branch_distance"].iloc[0], rel=0.01)
    # The plain pixel chain overestimates the smooth length; the measured length does not.
    length, _, _ = truth(curve)
    assert row["chain_length_mm"] > length
    assert row["length_mm"] == pytest.approx(length, rel=0.02)


def test_branched_skeleton_graph_is_skans():
    """A Y of three 3-pixel arms: skeleton length and junctions as skan on the same skeleton."""
    from skan import Skeleton, summarize

    from scvbench.core.morphometry import thin

    spacing = (0.55, 0.55)
    mask = np.zeros((160, 160), bool)
    for angle in (90, 210, 330):  # arms of 20 mm from the centre (44, 44) mm, 1.65 mm wide
        u = np.array([np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))])
        arm = np.array([44.0, 44.0]) + np.linspace(-1, 20, 2000)[:, None] * u
        mask |= draw(arm, 1.65, (160, 160), spacing)
    row = one(mask, spacing)
    assert row["n_junctions"] >= 1 and row["n_endpoints"] == 3
    graph_length = row["skeleton_length_mm"] - row["length_mm"] + row["chain_length_mm"]
    branches = summarize(Skeleton(thin(mask), spacing=spacing), separator="_")
    assert graph_length == pytest.approx(branches["branch_distance"].sum(), rel=0.01)
    # The longest path runs along two arms: about 40 mm of the 60 mm of centre line.
    assert row["length_mm"] == pytest.approx(40.0, rel=0.05)
