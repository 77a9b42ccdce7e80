"""Atomic writes: whole files with the usual permissions, nothing left on failure."""

from __future__ import annotations

import os
import stat

import pytest

from scvbench import io


def test_outputs_get_the_umask_mode_not_a_private_one(tmp_path):
    old = os.umask(0o022)
    try:
        io.write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_a_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError), io.atomic_path(tmp_path / "b.json") as tmp:
        tmp.write_text("partial")
        raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["plain", "scaled", "extension"])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_load_canonical_reads_gzipped_nifti_as_nibabel_does(tmp_path, endian, kind):
    # The one-pass ISA-L reader must give nibabel's array, dtype and affine: a view of the
    # inflated bytes for a plain image, nibabel's reading with scaling or header extensions.
    import nibabel as nib
    import numpy as np

    rng = np.random.default_rng(0)
    data = rng.integers(-500, 500, (7, 6, 5)).astype(endian + "i2")
    affine = np.diag([-0.5, 0.6, 2.0, 1.0])
    affine[:3, 3] = [10, -4, 3]
    image = nib.Nifti1Image(data, affine)
    if kind == "scaled":
        image.header.set_slope_inter(0.5, 3.0)
    if kind == "extension":
        image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"scvbench"))
    path = tmp_path / f"{kind}.nii.gz"
    nib.save(image, path)
    expected = nib.as_closest_canonical(nib.load(path))
    got, got_affine = io.load_canonical(path)
    want = np.asanyarray(expected.dataobj)
    assert got.dtype == want.dtype
    assert np.array_equal(got, want)
    assert np.array_equal(got_affine, expected.affine)
    assert got.flags.writeable == (kind != "plain")  # the plain one: the inflated bytes


def test_load_canonical_refuses_a_header_claiming_too_many_voxels_before_inflating(tmp_path):
    import gzip

    import nibabel as nib
    import numpy as np

    from scvbench.errors import ScvbenchError

    header = nib.Nifti1Header()
    header.set_data_shape((4000, 4000, 4000))
    header.set_data_dtype(np.uint8)
    header["vox_offset"] = 352
    path = tmp_path / "bomb.nii.gz"
    path.write_bytes(gzip.compress(header.binaryblock + b"\0" * 4 + b"\0" * 4096))
    with pytest.raises(ScvbenchError, match=r"bomb\.nii\.gz: its header claims 4000 x 4000 x 4000"):
        io.load_canonical(path)


def test_a_truncated_gzipped_nifti_is_refused_in_one_line_naming_it(tmp_path):
    import gzip

    import nibabel as nib
    import numpy as np

    from scvbench.errors import ScvbenchError

    path = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((20, 20, 5), np.uint8), np.eye(4)), path)
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:600]))
    with pytest.raises(ScvbenchError) as caught:
        io.load_canonical(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot read this NIfTI image: the file ends after 600")
    assert "of the 2352 bytes" in message
    assert "\n" not in message
