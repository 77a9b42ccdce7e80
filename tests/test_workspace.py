"""Work folders carry their owner and are swept when it is gone; locks name their holder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from scvbench.errors import ScvbenchError
from scvbench.workspace import exclusive_lock, private_tempdir, sweep_stale, tagged


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_folders_of_gone_owners_on_this_host_are_swept(tmp_path):
    host = socket.gethostname()
    dead = tmp_path / f"sub-001.{_dead_pid()}@{host}"
    alive = tmp_path / f"sub-002.{os.getppid()}@{host}"
    mine = tmp_path / tagged("sub-003")
    elsewhere = tmp_path / f"sub-004.{_dead_pid()}@{host}-other"
    untagged = tmp_path / "sub-005"
    for folder in (dead, alive, mine, elsewhere, untagged):
        folder.mkdir()
    assert sweep_stale(tmp_path, "sub-") == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (alive, mine, elsewhere, untagged)
    )


def test_private_tempdirs_are_private_and_removed():
    with private_tempdir("work") as folder:
        assert folder.stat().st_mode & 0o777 == 0o700
        assert f"{os.getpid()}@{socket.gethostname()}+" in folder.name
        (folder / "x").write_text("patient data")
    assert not folder.exists()


def test_a_held_lock_names_its_holder_and_is_released(tmp_path):
    lock = tmp_path / "root.lock"
    with exclusive_lock(lock, "the BIDS root"):
        assert lock.read_text().strip() == str(os.getpid())
        with pytest.raises(ScvbenchError, match=f"the BIDS root is in use by PID {os.getpid()}"):
            with exclusive_lock(lock, "the BIDS root"):
                pass
    assert not lock.exists()
    with exclusive_lock(lock, "the BIDS root"):  # free again
        pass


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    lock = tmp_path / "root.lock"
    lock.write_text(f"{_dead_pid()}\n")  # the file stays after a kill; its flock does not
    with exclusive_lock(lock, "the BIDS root"):
        assert lock.read_text().strip() == str(os.getpid())
