"""The one participant fan-out: results, failures and the number of processes it starts."""

from __future__ import annotations

import concurrent.futures as cf
import functools
import os
import subprocess
import sys

import pytest

from scvbench import parallel
from scvbench.errors import ScvbenchError


def _square_or_fail(x: int) -> int:
    if x == 3:
        raise ScvbenchError("three fails")
    return x * x


@pytest.mark.parametrize("nprocs", [1, 2])
def test_results_and_caught_failures(nprocs):
    out = {
        item: (result, None if error is None else str(error))
        for item, result, error in parallel.map_participants(
            _square_or_fail, [1, 2, 3, 4], nprocs, "test", catch=(ScvbenchError,), progress=False
        )
    }
    assert out == {1: (1, None), 2: (4, None), 3: (None, "three fails"), 4: (16, None)}


def test_other_failures_propagate():
    with pytest.raises(ScvbenchError):
        list(parallel.map_participants(_square_or_fail, [3], 1, "test", progress=False))


def test_processes_are_capped_at_the_items_and_the_cpus(monkeypatch):
    """--nprocs 999 used to fork ~1000 processes; at most one per CPU and per item now."""
    started = []

    class Recording(cf.ProcessPoolExecutor):
        def __init__(self, max_workers=None, **kwargs):
            started.append(max_workers)
            super().__init__(max_workers=max_workers, **kwargs)

    monkeypatch.setattr(parallel.cf, "ProcessPoolExecutor", Recording)
    monkeypatch.setattr(parallel, "available_cpus", lambda: 2)
    square = functools.partial(pow, exp=2)
    done = sorted(
        r for _, r, _ in parallel.map_participants(square, range(6), 999, "t", progress=False)
    )
    assert done == [0, 1, 4, 9, 16, 25] and started == [2]
    assert parallel.worker_count(999, 1) == 1 and parallel.worker_count(3, 10, cpus=8) == 3


@pytest.mark.skipif(
    not (getattr(os, "confstr", None) and "glibc" in (os.confstr("CS_GNU_LIBC_VERSION") or "")),
    reason="glibc's allocator only",
)
def test_retained_memory_serves_large_arrays_again_without_page_faults():
    """Freed 80 MB arrays come back from the heap: no fresh pages (the generator's workers)."""
    script = (
        "import resource, sys\n"
        "import numpy as np\n"
        "from scvbench.parallel import retain_freed_memory\n"
        "if sys.argv[1] == 'retain':\n"
        "    assert retain_freed_memory() and retain_freed_memory()\n"
        "np.ones(10_000_000)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(20):\n"
        "    a = np.ones(10_000_000)\n"
        "    del a\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    faults = {
        mode: int(
            subprocess.run(
                [sys.executable, "-c", script, mode], capture_output=True, text=True, check=True
            ).stdout
        )
        for mode in ("default", "retain")
    }
    assert faults["default"] > 1000  # every array mapped afresh
    assert faults["retain"] < faults["default"] / 20
