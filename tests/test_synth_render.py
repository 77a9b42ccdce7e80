"""Physics and geometry of image formation, on small hand-made inputs."""

import numpy as np
import pytest

from scvbench.steps.synth.geometry import HeadPose, ScannerGrid
from scvbench.steps.synth.image_kernels import apply_dipole
from scvbench.steps.synth.render import TubeRaster, dipole_field_ppm, swi_from_complex
from scvbench.steps.synth.veins import curvature, smooth_noise, stochastic_curve


def test_dipole_field_of_a_magnetised_sphere():
    n, radius = 64, 5.0
    axis = np.arange(n) - n // 2
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    chi = (x**2 + y**2 + z**2 <= radius**2).astype(np.float32)  # 1 ppm sphere
    field = dipole_field_ppm(chi, (1.0, 1.0, 1.0), np.array([0.0, 0.0, 1.0]))
    c = n // 2
    # Lorentz-corrected: no field inside; outside, a dipole: +2a/3 along B0, -a/3 across it,
    # with a = (R / r)^3 at distance r.
    assert abs(field[c, c, c]) < 0.02
    r = 12
    expected = (radius / r) ** 3 / 3
    assert field[c, c, c + r] == pytest.approx(2 * expected, rel=0.15)
    assert field[c + r, c, c] == pytest.approx(-expected, rel=0.15)


def test_field_follows_the_b0_direction():
    chi = np.zeros((32, 32, 32), np.float32)
    chi[14:18, 14:18, 14:18] = 1.0
    along_x = dipole_field_ppm(chi, (1.0, 1.0, 1.0), np.array([1.0, 0.0, 0.0]))
    along_z = dipole_field_ppm(chi, (1.0, 1.0, 1.0), np.array([0.0, 0.0, 1.0]))
    np.testing.assert_allclose(along_x, np.transpose(along_z, (2, 1, 0)), atol=1e-5)


@pytest.mark.parametrize("shape", [(44, 40, 18), (41, 37, 9), (352, 352, 72)])
def test_dipole_field_equals_numpys_pad_and_scipys_irfftn_bit_for_bit(shape):
    """The field's inverse transform, done in two steps, keeps the generator's bytes."""
    from scipy import fft

    chi = np.random.default_rng(0).normal(0.0, 0.3, shape).astype(np.float32)
    spacing, b0 = (0.625, 0.55, 1.0), np.array([0.1, -0.2, 0.97])
    pad = [(n // 8, n // 8) for n in shape]
    padded = np.pad(chi, pad)
    kx, ky = (
        fft.fftfreq(n, d=s).astype(np.float32)
        for n, s in zip(padded.shape[:2], spacing[:2], strict=True)
    )
    kz = fft.rfftfreq(padded.shape[2], d=spacing[2]).astype(np.float32)
    spectrum = fft.rfftn(padded)
    apply_dipole(spectrum, kx, ky, kz, b0 / np.linalg.norm(b0))
    field = fft.irfftn(spectrum, s=padded.shape, overwrite_x=True)
    crop = tuple(slice(p, p + n) for (p, _), n in zip(pad, shape, strict=True))
    assert np.array_equal(dipole_field_ppm(chi, spacing, b0), field[crop])


def test_straight_tube_volume_and_labels():
    raster = TubeRaster((60, 40, 30), (0.5, 0.5, 1.0))
    points = np.array([[5.0, 10.0, 15.0], [25.0, 10.0, 15.0]])
    raster.add(points, 1.0, label=3)
    volume = float(raster.fraction.sum()) * 0.5 * 0.5 * 1.0
    assert volume == pytest.approx(np.pi * 1.0**2 * 20.0, rel=0.12)
    assert set(np.unique(raster.label)) == {0, 3}
    # labelled voxels lie within the radius of the centre line
    _, jj, kk = np.nonzero(raster.label)
    dist = np.hypot(jj * 0.5 - 10.0, kk * 1.0 - 15.0)
    assert dist.max() <= 1.0 + 1e-9


@pytest.mark.parametrize("tortuosity", [1.0, 1.1, 1.5, 2.0])
def test_stochastic_curve_has_the_requested_tortuosity(tortuosity):
    noise = smooth_noise(np.random.default_rng(1), 240, 0.15)
    curve = stochastic_curve(tortuosity, noise)
    length = np.sum(np.linalg.norm(np.diff(curve, axis=0), axis=1))
    chord = np.linalg.norm(curve[-1] - curve[0])
    assert chord == pytest.approx(1.0)
    assert length / chord == pytest.approx(tortuosity, abs=0.002)


def test_stochastic_curve_refuses_a_swing_wider_than_the_band():
    rng = np.random.default_rng(2)
    coarse, fine = smooth_noise(rng, 240, 0.4), smooth_noise(rng, 240, 0.05)
    assert stochastic_curve(1.6, coarse, max_offset=0.1) is None
    narrow = stochastic_curve(1.6, fine, max_offset=0.17)
    assert narrow is not None and np.abs(narrow[:, 1]).max() <= 0.17 + 1e-9


def _acf_secondary_peak(kappa: np.ndarray) -> float:
    """Largest autocorrelation after the first zero crossing (near 1 for a periodic signal)."""
    k = kappa - kappa.mean()
    acf = np.correlate(k, k, mode="full")[len(k) - 1 :] / np.dot(k, k)
    first_zero = int(np.argmax(acf < 0))
    return float(acf[first_zero : len(k) // 2].max())


def _resample(curve: np.ndarray, n: int = 400) -> np.ndarray:
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    t = np.linspace(0, s[-1], n)
    return np.column_stack([np.interp(t, s, curve[:, 0]), np.interp(t, s, curve[:, 1])])


def test_vein_curvature_has_no_period_unlike_a_sine():
    """The curvature's autocorrelation has no second peak (a sine's returns to about 1)."""
    rng = np.random.default_rng(4)
    peaks = []
    for _ in range(40):
        noise = smooth_noise(rng, 240, rng.uniform(0.1, 0.3))
        peaks.append(_acf_secondary_peak(curvature(_resample(stochastic_curve(1.3, noise)))))
    u = np.linspace(0, 1, 240)
    sine = np.column_stack([u, 0.05 * np.sin(8 * np.pi * u)])
    assert _acf_secondary_peak(curvature(_resample(sine))) > 0.6
    assert np.median(peaks) < 0.35, np.round(peaks, 2)


def test_negative_phase_darkens_swi():
    magnitude = np.ones((16, 16, 4), np.float32)
    phase = np.zeros_like(magnitude)
    phase[8, 8, :] = -1.5
    swi, highpass = swi_from_complex(magnitude * np.exp(1j * phase), (1.0, 1.0, 1.0))
    assert highpass[8, 8, 0] < -1.0
    assert swi[8, 8, 0] < 0.1 * swi[2, 2, 0]


def test_grid_affines_are_consistent():
    grid = ScannerGrid(
        shape=(20, 30, 10),
        spacing=(0.55, 0.625, 1.0),
        centre_lps=(1.0, -2.0, 3.0),
        tilt_deg=5.0,
        thickness=1.0,
    )
    centre = grid.lps_affine @ np.array([9.5, 14.5, 4.5, 1.0])
    np.testing.assert_allclose(centre[:3], [1.0, -2.0, 3.0])
    points = np.array([[1.0, 2.0, 3.0], [10.0, 5.0, 7.5]])
    np.testing.assert_allclose(grid.ras_to_mm(grid.mm_to_ras(points)), points, atol=1e-9)
    # the canonical array is the grid flipped along columns and rows: same world positions
    ijk = np.array([3, 4, 5, 1.0])
    flipped = np.array([20 - 1 - 3, 30 - 1 - 4, 5, 1.0])
    np.testing.assert_allclose(grid.ras_affine @ ijk, grid.canonical_affine @ flipped)
    pose = HeadPose(angles_deg=(0.0, 0.0, 90.0), scale=1.0, shift_mm=(0.0, 0.0, 0.0))
    np.testing.assert_allclose(
        pose.to_ras(np.array([[1.0, 0.0, 0.0]])), [[0.0, 1.0, 0.0]], atol=1e-12
    )
