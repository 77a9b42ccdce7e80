"""The generator's compiled kernels against the plain numpy and scipy computations they replace."""

import numpy as np
import pytest
from scipy import ndimage

from scvbench.core.layout import slices_first
from scvbench.steps.synth.image_kernels import (
    apply_dipole,
    assemble_signal,
    complex_planes,
    phase_mask_swi,
    phase_terms,
    vessel_contrast,
)
from scvbench.steps.synth.kernels import field_at
from scvbench.steps.synth.path_kernels import distance_map, mix_noise, path_normals


def test_distance_map_equals_scipy_edt_with_anisotropic_pixels():
    rng = np.random.default_rng(0)
    for _ in range(200):
        shape = tuple(int(n) for n in rng.integers(1, 40, 2))
        mask = rng.random(shape) < rng.uniform(0.3, 0.99)
        mask.flat[rng.integers(mask.size)] = False
        spacing = tuple(float(s) for s in rng.uniform(0.3, 2.0, 2))
        expected = ndimage.distance_transform_edt(mask, sampling=spacing)
        np.testing.assert_allclose(distance_map(mask, *spacing), expected, atol=1e-9)


def test_field_at_equals_map_coordinates_with_nearest_edges():
    rng = np.random.default_rng(1)
    field = rng.normal(size=(3, 7, 8, 9))
    index = rng.uniform(-2.0, 10.0, (3, 500))  # inside and beyond every edge
    expected = np.stack([ndimage.map_coordinates(c, index, order=1, mode="nearest") for c in field])
    np.testing.assert_allclose(field_at(field, index), expected, atol=1e-12)


def test_path_normals_are_the_gradient_tangent_turned_left():
    t = np.linspace(0.0, 3.0, 40)
    path = np.column_stack([np.cos(t) * (1 + t), np.sin(t) * 2])
    tangent = np.gradient(path, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    expected = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    np.testing.assert_allclose(path_normals(path), expected, atol=1e-12)


def test_mix_noise_is_pinned_and_standardised():
    rng = np.random.default_rng(2)
    out = mix_noise(rng.normal(size=164), 8.0, 32, rng.normal(size=122), 2.7, 11, 0.3)
    assert out.shape == (100,)
    assert out[0] == pytest.approx(0.0, abs=1e-12) and out[-1] == pytest.approx(0.0, abs=1e-12)
    assert out.std() == pytest.approx(1.0)


def test_slices_first_and_complex_planes_transpose():
    rng = np.random.default_rng(3)
    volume = rng.integers(0, 4000, (37, 41, 5)).astype(np.uint16)
    np.testing.assert_array_equal(slices_first(volume), np.transpose(volume, (2, 1, 0)))
    re, im = rng.normal(size=(2, 37, 41, 5)).astype(np.float32)
    planes = complex_planes(re, im)
    np.testing.assert_array_equal(planes, np.transpose(re + 1j * im, (2, 1, 0)))


def test_vessel_contrast_and_signal_equal_the_numpy_formulas():
    rng = np.random.default_rng(4)
    shape = (12, 10, 8)
    tissue, chi, scv, other, bias = rng.random((5, *shape), dtype=np.float32)
    magnitude, total = vessel_contrast(tissue, chi, scv, other, 0.7, 0.38)
    vessel = np.maximum(scv, other)
    np.testing.assert_allclose(magnitude, tissue * (1 - 0.7 * vessel), rtol=1e-6)
    np.testing.assert_allclose(total, chi + 0.38 * vessel, rtol=1e-6)
    # fields whose differences span both branches of the sinc (series and sine)
    field = (rng.normal(size=shape) * rng.choice([1e-4, 0.3], shape)).astype(np.float32)
    axes = [rng.normal(size=n).astype(np.float32) for n in shape]
    theta, dephasing = phase_terms(field, -2.3, *axes, 0.8)
    expected_theta = -2.3 * field + axes[0][:, None, None] + axes[1][None, :, None]
    expected_theta += axes[2][None, None, :]
    np.testing.assert_allclose(theta, expected_theta, atol=1e-5)
    expected = np.ones(shape)
    for axis in range(3):
        expected *= np.abs(np.sinc(0.8 * np.gradient(field.astype(float), axis=axis)))
    np.testing.assert_allclose(dephasing, expected, atol=2e-6)
    noise = rng.normal(size=(2, *shape)).astype(np.float32)
    re, im, modulus = assemble_signal(
        magnitude, bias, dephasing, np.cos(theta), np.sin(theta), noise, 0.2
    )
    signal = magnitude * bias * dephasing * np.exp(1j * theta) + 0.2 * (noise[0] + 1j * noise[1])
    np.testing.assert_allclose(re + 1j * im, signal, atol=1e-5)
    np.testing.assert_allclose(modulus, np.abs(signal), atol=1e-5)


def test_phase_mask_equals_the_complex_numpy_computation():
    rng = np.random.default_rng(5)
    planes = (rng.normal(size=(4, 9, 11)) + 1j * rng.normal(size=(4, 9, 11))).astype(np.complex64)
    low = (rng.normal(size=(4, 9, 11)) + 1j * rng.normal(size=(4, 9, 11))).astype(np.complex64)
    swi, phase = phase_mask_swi(planes, low, 4)
    expected_phase = np.angle(planes * np.conj(low))
    mask = np.where(expected_phase < 0, (np.pi + expected_phase) / np.pi, 1.0)
    np.testing.assert_allclose(phase, np.transpose(expected_phase, (2, 1, 0)), atol=1e-6)
    np.testing.assert_allclose(
        swi, np.transpose(np.abs(planes) * mask**4, (2, 1, 0)), rtol=1e-5, atol=1e-6
    )


def test_apply_dipole_equals_the_kernel_formula():
    rng = np.random.default_rng(6)
    spectrum = (rng.normal(size=(6, 8, 5)) + 1j * rng.normal(size=(6, 8, 5))).astype(np.complex64)
    kx, ky = np.fft.fftfreq(6).astype(np.float32), np.fft.fftfreq(8, 0.5).astype(np.float32)
    kz = np.fft.rfftfreq(8, 2.0).astype(np.float32)
    b = np.array([0.1, 0.2, 0.97]) / np.linalg.norm([0.1, 0.2, 0.97])
    gx, gy, gz = np.meshgrid(kx, ky, kz, indexing="ij")
    with np.errstate(invalid="ignore", divide="ignore"):
        kernel = 1 / 3 - (gx * b[0] + gy * b[1] + gz * b[2]) ** 2 / (gx**2 + gy**2 + gz**2)
    kernel[0, 0, 0] = 0.0
    expected = spectrum * kernel
    apply_dipole(spectrum, kx, ky, kz, b)
    np.testing.assert_allclose(spectrum, expected, rtol=1e-5, atol=1e-6)
