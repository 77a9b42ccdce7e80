"""Reading a submission safely: archives, file checks, and one line per problem.

A submission is a folder, or a ``.zip`` / ``.tar.gz`` / ``.tgz`` of one, in BIDS-derivative
form (see ``scvbench predict``). Archives are unpacked into a fresh temporary folder only after
every member is checked: no absolute path, no ``..``, no link or device, at most
:data:`MAX_FILES` files and :data:`MAX_BYTES` bytes unpacked (counted while unpacking, so a
member that lies about its size is stopped too), and no member that expands more than
:data:`MAX_RATIO` times (zip bombs).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from scvbench.errors import ScvbenchError
from scvbench.workspace import private_tempdir

__all__ = [
    "MAX_BYTES",
    "MAX_FILES",
    "MAX_RATIO",
    "InvalidSubmission",
    "UnsafeArchive",
    "open_submission",
    "submission_root",
]

MAX_FILES = 20_000
MAX_BYTES = 8 * 1024**3
MAX_RATIO = 200


class InvalidSubmission(ScvbenchError):
    """A submission that cannot be scored as given (exit status 2)."""


class UnsafeArchive(InvalidSubmission):
    """An archive that could write outside its folder or exhaust the disk."""


def _check_name(archive: Path, name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"{archive}: member {name!r} has an absolute path; refused")
    if ".." in path.parts:
        raise UnsafeArchive(f"{archive}: member {name!r} leaves the archive's folder (..); refused")
    return path


def _copy_limited(source, target: Path, budget: list[int], archive: Path, name: str, limit: int):
    written = 0
    with open(target, "wb") as out:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise UnsafeArchive(
                    f"{archive}: unpacks to more than {MAX_BYTES / 1024**3:.0f} GiB; refused"
                )
            if written > limit:
                raise UnsafeArchive(
                    f"{archive}: member {name!r} expands beyond its declared or allowed size "
                    "(a zip bomb?); refused"
                )
            out.write(chunk)


def _extract(archive: Path, dest: Path, entries) -> None:
    """Write checked members (name, is a folder, declared size, opener) under ``dest``."""
    budget = [MAX_BYTES]
    for name, is_dir, size, opener in entries:
        target = dest / _check_name(archive, name)
        if is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        source = opener()
        if source is None:
            continue
        with source:
            _copy_limited(source, target, budget, archive, name, size)


def _unzip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > MAX_FILES:
            raise UnsafeArchive(f"{archive}: {len(members)} members (limit {MAX_FILES}); refused")
        for info in members:
            _check_name(archive, info.filename)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchive(f"{archive}: member {info.filename!r} is a link; refused")
            if info.compress_size and info.file_size / info.compress_size > MAX_RATIO:
                raise UnsafeArchive(
                    f"{archive}: member {info.filename!r} expands {info.file_size} / "
                    f"{info.compress_size} times (a zip bomb?); refused"
                )
        _extract(
            archive,
            dest,
            [(i.filename, i.is_dir(), i.file_size, lambda i=i: zf.open(i)) for i in members],
        )


def _untar(archive: Path, dest: Path) -> None:
    archive_size = archive.stat().st_size
    declared = 0
    with tarfile.open(archive, "r:*") as tf:
        members = []
        for member in tf:
            members.append(member)
            if len(members) > MAX_FILES:
                raise UnsafeArchive(f"{archive}: more than {MAX_FILES} members; refused")
            _check_name(archive, member.name)
            if member.issym() or member.islnk():
                raise UnsafeArchive(f"{archive}: member {member.name!r} is a link; refused")
            if not (member.isfile() or member.isdir()):
                raise UnsafeArchive(f"{archive}: member {member.name!r} is not a file; refused")
            declared += member.size
            if declared > MAX_RATIO * max(archive_size, 1) or declared > MAX_BYTES:
                raise UnsafeArchive(
                    f"{archive}: unpacks to more than {MAX_RATIO} times its size (a "
                    "compression bomb?); refused"
                )
        _extract(
            archive,
            dest,
            [(m.name, m.isdir(), m.size, lambda m=m: tf.extractfile(m)) for m in members],
        )


def _refuse_links(folder: Path) -> None:
    """A submission folder holds its own files: a link (to the reference masks, say) is refused."""
    for parent, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            entry = Path(parent) / name
            if entry.is_symlink():
                raise UnsafeArchive(
                    f"{folder}: {entry.relative_to(folder)} is a link; a submission holds its "
                    "own files (copy the predictions in)"
                )


def submission_root(folder: Path) -> Path:
    """The submission's root: the folder with dataset_description.json (one level down at most).

    Parameters
    ----------
    folder : Path
        An unpacked submission.

    Returns
    -------
    Path
        The folder holding ``dataset_description.json`` (``folder`` when none does).
    """
    if (folder / "dataset_description.json").exists():
        return folder
    children = [c for c in folder.iterdir() if not c.name.startswith(".")]
    if len(children) == 1 and (children[0] / "dataset_description.json").exists():
        return children[0]
    return folder


@contextlib.contextmanager
def open_submission(path: str | Path) -> Iterator[Path]:
    """Yield the submission's root folder; an archive is checked and unpacked to a temp folder.

    Parameters
    ----------
    path : path
        A folder, ``.zip`` or ``.tar.gz``.

    Yields
    ------
    Path
        The root folder (a temporary one, removed afterwards, for an archive).

    Raises
    ------
    UnsafeArchive
        Absolute or parent paths, links, devices, or over the size caps.
    """
    path = Path(path)
    if path.is_dir():
        _refuse_links(path)
        yield submission_root(path)
        return
    if not path.exists():
        raise ScvbenchError(f"{path}: no such submission folder or archive")
    name = path.name.lower()
    if not (name.endswith((".zip", ".tar.gz", ".tgz", ".tar"))):
        raise ScvbenchError(f"{path}: a submission is a folder or a .zip / .tar.gz of one")
    with private_tempdir("submission") as dest:
        try:
            if name.endswith(".zip"):
                _unzip(path, dest)
            else:
                _untar(path, dest)
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as err:
            raise ScvbenchError(f"{path}: damaged archive ({err})") from None
        yield submission_root(dest)
