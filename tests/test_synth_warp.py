"""The per-subject warp of the template: invertible, smooth, and the truth follows it."""

import numpy as np

from scvbench.steps.synth.warp import draw_warp, identity_warp


def test_warp_is_invertible_and_orientation_preserving():
    for seed in range(3):
        warp = draw_warp(np.random.default_rng(seed))
        points = np.random.default_rng(10 + seed).uniform([-60, -90, -20], [60, 60, 60], (500, 3))
        moved = warp.invert(points)
        assert 1.0 < np.linalg.norm(moved - points, axis=1).mean() < 8.0  # subjects do differ
        np.testing.assert_allclose(warp.apply(moved), points, atol=0.35)
        assert warp.jacobian_determinant().min() > 0.2


def test_warps_differ_between_subjects_and_identity_is_identity():
    a, b = draw_warp(np.random.default_rng(1)), draw_warp(np.random.default_rng(2))
    points = np.array([[30.0, -20.0, 20.0], [-40.0, 10.0, 30.0]])
    assert np.abs(a.invert(points) - b.invert(points)).max() > 0.5
    np.testing.assert_array_equal(identity_warp().invert(points), points)


def test_template_maps_and_landmarks_move_together():
    """Resampled through the warp, the ventricles contain the warped ventricle landmarks.

    A map (what the truth masks are made of) goes through ``phi``, a landmark (the sinus, the
    deep veins, lesion sites) through ``phi^-1``: both must land on the same anatomy.
    """
    from scvbench.steps.synth.anatomy import load_template
    from scvbench.steps.synth.geometry import draw_pose
    from scvbench.steps.synth.imaging import swi_grid
    from scvbench.steps.synth.presets import get_preset
    from scvbench.steps.synth.render import resample

    template = load_template()
    rng = np.random.default_rng(3)
    pose, warp = draw_pose(rng), draw_warp(np.random.default_rng(4))
    grid = swi_grid(get_preset("tiny"), pose, rng, 1.0, warp)
    warped = resample(template.ventricles, grid, pose, template.affine, warp=warp) > 0.5
    plain = resample(template.ventricles, grid, pose, template.affine) > 0.5
    core = np.argwhere(template.ventricles > 0.99)[::50]
    landmarks = core @ template.affine[:3, :3].T + template.affine[:3, 3]

    def hits(points, mask):
        mm = grid.ras_to_mm(pose.to_ras(points))
        ijk = np.rint(mm / np.asarray(grid.spacing)).astype(int)
        keep = np.all((ijk >= 0) & (ijk < mask.shape), axis=1)
        return mask[tuple(ijk[keep].T)].mean(), keep.sum()

    with_warp, n = hits(warp.invert(landmarks), warped)
    without, _ = hits(landmarks, warped)
    assert n > 50
    assert with_warp > 0.9
    assert with_warp > without + 0.05  # the warp moved them: the unwarped points miss more
    assert (warped != plain).sum() > 0.05 * plain.sum()


def test_compiled_sampling_equals_scipy_through_pose_and_warp():
    """One pass over the grid (all maps, sub-planes averaged) equals map_coordinates per map."""
    from scipy import ndimage

    from scvbench.steps.synth.anatomy import load_template
    from scvbench.steps.synth.geometry import draw_pose
    from scvbench.steps.synth.imaging import swi_grid
    from scvbench.steps.synth.presets import get_preset
    from scvbench.steps.synth.render import resample
    from scvbench.steps.synth.sampling import grid_to_template_mm, sample_maps

    template = load_template()
    rng = np.random.default_rng(5)
    pose, warp = draw_pose(rng), draw_warp(np.random.default_rng(6))
    grid = swi_grid(get_preset("tiny"), pose, rng, 1.0, warp)
    maps = [template.swi, template.chi, template.icv]
    offsets = (-0.5, 0.0, 1.25)
    got, x = sample_maps(maps, grid, pose, template.affine, warp, offsets, with_x=True)
    to_mm = grid_to_template_mm(grid, pose)
    scale, shift = np.diag(template.affine)[:3], template.affine[:3, 3]
    expected = np.zeros_like(got)
    expected_x = np.zeros(grid.shape)
    for offset in offsets:
        ijk = np.indices(grid.shape).reshape(3, -1).astype(float)
        ijk[2] += offset
        mm = warp.apply((to_mm[:3, :3] @ ijk + to_mm[:3, 3:]).T)
        expected_x += mm[:, 0].reshape(grid.shape) / len(offsets)
        index = ((mm - shift) / scale).T
        for m, volume in enumerate(maps):
            sampled = ndimage.map_coordinates(volume, index, order=1, mode="grid-constant")
            expected[m] += sampled.reshape(grid.shape) / len(offsets)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    np.testing.assert_allclose(x, expected_x, atol=2e-3)
    assert got[2].max() > 0.99 and got[2].min() == 0.0  # the grid reaches past the head
    # without a warp: scipy's affine path, the same numbers
    plain = resample(template.swi, grid, pose, template.affine)
    unwarped = sample_maps([template.swi], grid, pose, template.affine)[0][0]
    np.testing.assert_allclose(unwarped, plain, atol=2e-5)
