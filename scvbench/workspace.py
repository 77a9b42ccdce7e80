"""Work folders and locks: private, owned by one process, and swept when their owner is gone.

Every work folder scvbench makes carries its owner as ``<pid>@<host>`` in its name. A run
that was killed cannot clean up after itself, so each run first removes the folders of owners
that no longer exist on this host (a folder of another host is never touched: its PID means
nothing here). Locks are ``flock`` locks on a file holding the owner's PID, so that a second
writer is told who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from scvbench.errors import ScvbenchError

__all__ = ["exclusive_lock", "owner_tag", "private_tempdir", "sweep_stale", "tagged"]

_TAGGED = re.compile(r"(?P<pid>\d+)@(?P<host>[^@/\s+]+)(?:\+[A-Za-z0-9_]+)?$")


def owner_tag() -> str:
    """``<pid>@<host>`` of this process: the owner written into work folder names."""
    return f"{os.getpid()}@{socket.gethostname()}"


def tagged(name: str) -> str:
    """``name`` with this process's owner tag: ``sub-001`` -> ``sub-001.1234@node7``."""
    return f"{name}.{owner_tag()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def _stale(name: str) -> bool:
    match = _TAGGED.search(name)
    if match is None or match["host"] != socket.gethostname():
        return False
    pid = int(match["pid"])
    return pid != os.getpid() and not _alive(pid)


def sweep_stale(folder: Path, prefix: str = "") -> list[Path]:
    """Remove the work folders under ``folder`` whose owner process is gone from this host.

    Parameters
    ----------
    folder : Path
        Where the work folders lie (a missing folder holds none).
    prefix : str
        Only names starting with it are considered.

    Returns
    -------
    list of Path
        The folders removed.
    """
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        if entry.name.startswith(prefix) and _stale(entry.name) and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def private_tempdir(kind: str) -> Iterator[Path]:
    """A folder only this user can read, in the system temporary folder, removed on exit.

    Folders of earlier runs killed on this host are removed first, so that nothing they held
    (dcm2niix sidecars with patient data, unpacked submissions) outlives them.

    Parameters
    ----------
    kind : str
        ``work`` or ``submission``: the folder is ``scvbench-<kind>-<pid>@<host>+<random>``.

    Returns
    -------
    Iterator of Path
        The folder (mode 0700).
    """
    prefix = f"scvbench-{kind}-"
    sweep_stale(Path(tempfile.gettempdir()), prefix)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{owner_tag()}+"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created, holding our PID) or refuse at once.

    Parameters
    ----------
    path : Path
        The lock file; it is removed when the lock is released.
    what : str
        What the lock protects, for the message (``the BIDS root out/bids``).

    Returns
    -------
    Iterator of None
        The lock is held inside the ``with`` block.

    Raises
    ------
    ScvbenchError
        Another process holds the lock: its PID is named.
    """
    path = Path(path)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise ScvbenchError(
                f"cannot lock {what} ({path}: {err.strerror}); check that the folder exists "
                "and is writable"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ScvbenchError(
                f"{what} is in use by PID {holder} (lock {path}); wait until it has finished, "
                "or stop it"
            ) from None
        # The file may have been removed by its last holder between our open and our lock.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
