"""Superficial vein trees: connected graphs that taper toward their tips and drain to a sinus."""

import json

import numpy as np
import pytest

from scvbench.steps.synth.cortex import SINUSES
from scvbench.steps.synth.trees import _murray, _trunk_radii
from scvbench.steps.synth.veins import Tributary


def _trees(cohort):
    for path in sorted((cohort / "truth").glob("*/geometry.json")):
        for vein in json.loads(path.read_text())["veins"]:
            if vein["kind"] == "scv":
                yield vein["tree"]


def test_every_tree_is_one_connected_graph_with_one_root(tiny_cohort):
    trees = list(_trees(tiny_cohort))
    assert len(trees) > 20
    branched = 0
    for tree in trees:
        nodes, edges = tree["nodes"], tree["edges"]
        assert len(edges) == len(nodes) - 1  # a tree
        roots = [n["id"] for n in nodes if n["kind"] == "root"]
        assert len(roots) == 1 and all(e["from"] != roots[0] for e in edges)
        # following the flow from every node reaches the root
        downstream = {e["from"]: e["to"] for e in edges}
        for node in nodes:
            here, steps = node["id"], 0
            while here != roots[0] and steps <= len(nodes):
                here, steps = downstream[here], steps + 1
            assert here == roots[0]
        branched += any(n["kind"] == "junction" for n in nodes)
        assert tree["drains_to"] in SINUSES.values()
    assert branched >= len(trees) // 5  # tributaries are common, not rare


def test_radii_taper_from_the_root_to_the_tips(tiny_cohort):
    for tree in _trees(tiny_cohort):
        radius = {n["id"]: n["radius_mm"] for n in tree["nodes"]}
        root = next(n["id"] for n in tree["nodes"] if n["kind"] == "root")
        tips = [n["id"] for n in tree["nodes"] if n["kind"] == "tip"]
        assert all(radius[t] < radius[root] for t in tips)
        for edge in tree["edges"]:
            upstream, downstream = edge["radius_mm"]
            assert upstream <= downstream + 1e-6


def test_trunks_point_their_root_toward_their_sinus(tiny_cohort):
    """Superior veins drain medially, the middle vein laterally, inferior veins backwards.

    Checked in template space (the pose undone), where the midline is x = 0 and posterior is -y.
    """
    from scvbench.steps.synth.geometry import rotation

    right, total = 0, 0
    for path in sorted((tiny_cohort / "truth").glob("*/geometry.json")):
        geometry = json.loads(path.read_text())
        pose = geometry["pose"]
        matrix = pose["scale"] * rotation(*pose["angles_deg"])

        def template(point, matrix=matrix, shift=pose["shift_mm"]):
            return np.linalg.solve(matrix, np.asarray(point) - np.asarray(shift))

        for vein in geometry["veins"]:
            if vein["kind"] != "scv":
                continue
            tree = vein["tree"]
            root = template(next(n["ras_mm"] for n in tree["nodes"] if n["kind"] == "root"))
            tip = template(tree["edges"][0]["centerline_ras_mm"][0])
            side = np.sign(root[0])
            if tree["drains_to"] == SINUSES["superior"]:  # the midline
                right += abs(root[0]) < abs(tip[0]) + 1.0
            else:  # the posterolateral corner, or the lateral middle of the hemisphere
                sink = [68 * side, -100.0 if tree["drains_to"] == SINUSES["inferior"] else -17.0]
                right += np.hypot(*(root[:2] - sink)) < np.hypot(*(tip[:2] - sink)) + 1.0
            total += 1
    assert total > 20
    assert (
        right >= 0.9 * total
    )  # the test's sinks are template-space approximations, (right, total)


def test_murray_law_at_every_junction():
    points = np.column_stack([np.linspace(0, 30, 61), np.zeros(61), np.zeros(61)])
    trunk = _trunk_radii(points, 0.8)
    assert trunk[0] == pytest.approx(0.7 * 0.8) and trunk[-1] == pytest.approx(0.8)
    branch = Tributary(points[:10], np.full(10, 0.45), joins_at=30)
    after = _murray(trunk, [branch])
    np.testing.assert_allclose(after[:30], trunk[:30])
    assert after[30] ** 3 == pytest.approx(trunk[30] ** 3 + 0.45**3)
    np.testing.assert_allclose(after[30:] / trunk[30:], after[30] / trunk[30])


def test_veins_without_room_are_reported_not_dropped(tiny_cohort, caplog):
    """A hemisphere asked for more veins than fit: the shortfall is counted and logged."""
    import logging

    from scvbench.core.mip import slab_window
    from scvbench.steps.synth.anatomy import load_template
    from scvbench.steps.synth.cohort import draw_cohort
    from scvbench.steps.synth.geometry import draw_pose
    from scvbench.steps.synth.imaging import subject_maps, swi_grid
    from scvbench.steps.synth.placement import brain_depth_context, choose_slices, place_veins
    from scvbench.steps.synth.presets import PRESETS
    from scvbench.steps.synth.warp import draw_warp

    template = load_template()
    rng = np.random.default_rng(0)
    pose, warp = draw_pose(rng), draw_warp(np.random.default_rng(1))
    grid = swi_grid(PRESETS["tiny"], pose, rng, 1.0, warp)
    maps = subject_maps(grid, pose, template, warp)
    brain = maps["icv"] > 0.5
    ventricles = (maps["ventricles"] > 0.5) & brain
    hemi = np.where(brain, np.where(maps["x"] < 0, 1, 2), 0).astype(np.uint8)
    window = slab_window(20.0, 1.0, grid.spacing[2])
    row = {**draw_cohort(2, seed=0).iloc[0].to_dict(), "count_left": 2, "count_right": 30}
    _, main, _ = choose_slices(brain, ventricles, window, row["role"], rng)
    ctx = brain_depth_context(brain, hemi, ventricles, window, grid.spacing)
    with caplog.at_level(logging.WARNING):
        veins, unplaced = place_veins(row, ctx, window, main, grid.shape[2], rng)
    main_slab = [v for v in veins if v.group == "analysis"]
    assert unplaced["left"] == 0 and sum(v.hemisphere == "left" for v in main_slab) == 2
    right = sum(v.hemisphere == "right" for v in main_slab)
    assert unplaced["right"] > 0 and right + unplaced["right"] == 30
    assert "no room for one of 30 right veins" in caplog.text
    # a cohort records the count per subject and in total
    manifest = json.loads((tiny_cohort / "truth" / "manifest.json").read_text())
    assert manifest["unplaced_main_slab_veins"] == sum(
        sum(s["unplaced_main_slab_veins"].values()) for s in manifest["subjects"]
    )
