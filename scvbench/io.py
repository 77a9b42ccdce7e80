"""Atomic file writes: every output appears whole or not at all."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from isal import igzip, isal_zlib
from PIL import Image

from scvbench.core.layout import slices_first
from scvbench.errors import ScvbenchError

__all__ = [
    "atomic_path",
    "dumps_json",
    "load_canonical",
    "open_nifti",
    "replace_directory",
    "save_nifti",
    "write_bytes",
    "write_json",
    "write_png",
    "write_text",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` and move it onto ``path`` on success.

    The temporary file keeps the final suffixes (``.nii.gz``) so that writers that look at the
    extension behave the same; it is removed if the block raises.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates the file private (0600); outputs get the usual mode under the umask
    os.chmod(tmp_path, 0o666 & ~_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def dumps_json(obj: Any) -> str:
    """Serialise ``obj`` the one way scvbench does: sorted keys, indent 2, final newline."""
    return json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n"


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (deterministic bytes)."""
    write_text(path, dumps_json(obj))


def save_nifti(path: str | os.PathLike[str], data: np.ndarray, affine: np.ndarray) -> None:
    """Save ``data`` with ``affine`` as NIfTI-1 (qform and sform both set, code 1), atomically.

    64-bit integers (which NIfTI readers handle badly, and nibabel refuses to write without a
    stated type) are stored as int32 when every value fits, else as float32.
    """
    data = np.asarray(data)
    if data.dtype.kind in "iu" and data.dtype.itemsize == 8:
        low, high = (int(data.min()), int(data.max())) if data.size else (0, 0)
        fits = np.iinfo(np.int32).min <= low and high <= np.iinfo(np.int32).max
        data = data.astype(np.int32 if fits else np.float32)
    if data.ndim == 3 and data.flags.c_contiguous and not data.flags.f_contiguous:
        data = slices_first(data).T  # NIfTI's order (first index fastest), without nibabel's copy
    image = nib.Nifti1Image(data, np.asarray(affine, dtype=float))
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm")
    if str(path).endswith(".nii.gz"):
        # ISA-L's gzip (igzip): standard gzip files, several times faster than zlib's at level 1
        # and smaller; mtime 0 keeps the bytes deterministic.
        write_bytes(path, igzip.compress(image.to_bytes(), compresslevel=1, mtime=0))
        return
    with atomic_path(path) as tmp:
        nib.save(image, tmp)


def replace_directory(source: Path, target: Path) -> None:
    """Move the finished directory ``source`` onto ``target``, removing what was there.

    Both must sit on one file system; ``target`` is either absent, empty, or a directory the
    caller has checked may be replaced.
    """
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old)
    else:
        os.replace(source, target)


def move_file(source: Path, target: Path) -> None:
    """Move ``source`` onto ``target`` atomically, also from another file system.

    A work folder on node-local scratch and an output folder on a shared file system cannot be
    joined by a rename: the file is then copied beside ``target`` and renamed over it.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError as err:
        if err.errno != errno.EXDEV:
            raise
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        os.unlink(source)


def write_png(path: Path, image: np.ndarray) -> None:
    """Write an 8-bit grayscale PNG atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(image), mode="L").save(tmp, format="PNG")


#: The most voxels scvbench reads from one image (a 512 x 512 x 400 SWI has 0.1 G).
MAX_VOXELS = 1 << 30


def header_shape(path: Path, expected: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The shape a NIfTI header claims, checked before any data is read.

    A header can claim any size (132 bytes that announce 2000 x 2000 x 500 voxels, a 2 MB
    gzip that expands to gigabytes): the shape is refused before the data is touched when it
    exceeds :data:`MAX_VOXELS` or, given ``expected``, holds another number of voxels.
    """
    try:
        shape = tuple(int(n) for n in nib.load(str(path)).shape)
    except Exception as err:  # nibabel raises many types for damaged headers
        raise ScvbenchError(
            f"{path}: cannot read this NIfTI header ({type(err).__name__}: {err})"
        ) from None
    return _checked_shape(path, shape, expected)


def _checked_shape(path, shape: tuple[int, ...], expected=None) -> tuple[int, ...]:
    voxels = int(np.prod(shape, dtype=np.int64)) if shape else 0
    if voxels > MAX_VOXELS:
        raise ScvbenchError(
            f"{path}: its header claims {' x '.join(map(str, shape))} voxels, more than "
            f"{MAX_VOXELS} scvbench reads; not an image of this study"
        )
    if expected is not None and voxels != int(np.prod(expected, dtype=np.int64)):
        raise ScvbenchError(
            f"{path}: its header claims shape {shape}, the reference grid is {tuple(expected)}; "
            "write the image on the reference grid"
        )
    return shape


_NIFTI1_HEADER = 348


def _gzipped_nifti1(path: Path, expected=None) -> nib.Nifti1Image | None:
    """A ``.nii.gz`` NIfTI-1 image read in one pass with ISA-L's inflate (None: another kind).

    The header is inflated first and its shape checked (:func:`header_shape`'s rules); then only
    the bytes the header accounts for are inflated, so a gzip bomb behind a small header is
    never expanded. Where the header has no extensions and no scaling, the image's array is a
    read-only view of the inflated bytes (no copy); else nibabel reads them. About three times
    as fast as ``nibabel.load`` with Python's gzip.
    """
    raw = path.read_bytes()
    head = isal_zlib.decompressobj(31).decompress(raw, _NIFTI1_HEADER)  # 31: a gzip member
    if len(head) < _NIFTI1_HEADER or _NIFTI1_HEADER not in (
        int.from_bytes(head[:4], "little"),
        int.from_bytes(head[:4], "big"),
    ):
        return None  # NIfTI-2, or not NIfTI at all: nibabel says which
    header = nib.Nifti1Header.from_fileobj(BytesIO(head), check=False)
    shape = _checked_shape(path, tuple(int(n) for n in header.get_data_shape()), expected)
    voxels = int(np.prod(shape, dtype=np.int64)) if shape else 0
    offset = max(int(header["vox_offset"]), _NIFTI1_HEADER + 4)
    dtype = header.get_data_dtype()
    size = offset + voxels * dtype.itemsize
    body = isal_zlib.decompressobj(31).decompress(raw, size)  # the header again: 348 bytes
    if len(body) < size:
        raise ScvbenchError(
            f"{path}: cannot read this NIfTI image: the file ends after {len(body)} of the "
            f"{size} bytes its header describes (truncated); write it again"
        )
    slope, inter = header.get_slope_inter()
    plain = slope in (None, 1.0) and inter in (None, 0.0)
    if not plain or offset != _NIFTI1_HEADER + 4 or not shape:
        return nib.Nifti1Image.from_bytes(body)  # scaled or extended: nibabel's reading
    data = np.frombuffer(body, dtype, voxels, offset).reshape(shape, order="F")
    return nib.Nifti1Image(data, header.get_best_affine(), header)


def open_nifti(path: str | os.PathLike[str], expected: tuple[int, ...] | None = None):
    """A NIfTI image, its header's shape checked before any data is read (:func:`header_shape`).

    ``.nii.gz`` NIfTI-1 files are inflated in one pass with ISA-L; other files (and any that
    pass fails on) go through ``nibabel.load``, whose exceptions propagate.

    Parameters
    ----------
    path : path
        A ``.nii`` or ``.nii.gz`` file.
    expected : tuple of int, optional
        The grid the image must have as many voxels as.

    Returns
    -------
    nibabel.Nifti1Image or nibabel.Nifti2Image
        The image, its data in memory (``.nii.gz``) or on demand.
    """
    path = Path(path)
    image = None
    if path.name.endswith(".nii.gz"):
        try:
            image = _gzipped_nifti1(path, expected)
        except ScvbenchError:
            raise
        except Exception:  # damaged: nibabel's reading below names what is wrong
            image = None
    if image is None:
        header_shape(path, expected)
        image = nib.load(str(path))
    return image


def load_canonical(path: Path):
    """Load a NIfTI image reoriented to RAS+ voxel order, or raise one error naming the file.

    Returns ``(data, affine)``. The array of a ``.nii.gz`` file without scaling or header
    extensions is a read-only view of the inflated file (:func:`open_nifti`): copy it to
    change it.
    """
    try:
        image = nib.as_closest_canonical(open_nifti(path))
        data = np.asanyarray(image.dataobj)
    except ScvbenchError:
        raise
    except Exception as err:  # nibabel raises many types for damaged files
        reason = " ".join(str(err).split())  # nibabel's messages run over several lines
        raise ScvbenchError(
            f"{path}: cannot read this NIfTI image ({reason}); re-run scvbench convert for it"
        ) from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ScvbenchError(f"{path}: expected a 3-D image, got shape {data.shape}")
    if min(data.shape) < 2:
        raise ScvbenchError(f"{path}: image of shape {data.shape} is too small")
    return data, image.affine
