"""One participant fan-out for every step: a process pool or a plain loop, one progress bar."""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from tqdm.auto import tqdm

__all__ = ["available_cpus", "map_participants", "retain_freed_memory", "worker_count"]

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # glibc's mallopt parameters (malloc.h)


def retain_freed_memory() -> bool:
    """Make glibc's allocator keep freed memory for reuse (this process, from now on).

    By default glibc maps every array of 32 MB or more afresh and unmaps it when freed, so a
    process that makes many large temporaries (the generator: dozens per subject) pays a page
    fault for every page of every one of them: a quarter of the synthetic generator's CPU time on
    a ``paper`` cohort. Served from the heap and kept there, freed arrays are reused; values are
    unchanged (tested). The peak memory is the same; it is not handed back until the process
    ends, so only processes that end with their work call this (the generator's workers, the
    command line). Elsewhere than glibc it does nothing.

    Returns
    -------
    bool
        Whether the allocator was changed.
    """
    global _RETAINED
    if _RETAINED is None:
        try:
            glibc = os.confstr("CS_GNU_LIBC_VERSION") or ""
        except (AttributeError, ValueError, OSError):
            glibc = ""
        _RETAINED = glibc.startswith("glibc") and _mallopt(_M_MMAP_MAX, 0)
        _RETAINED = _RETAINED and _mallopt(_M_TRIM_THRESHOLD, 2**30)
    return _RETAINED


_RETAINED: bool | None = None


def _mallopt(parameter: int, value: int) -> bool:
    try:
        return bool(ctypes.CDLL(None).mallopt(parameter, value))
    except (OSError, AttributeError):
        return False


def worker_count(nprocs: int, n_items: int, cpus: int | None = None) -> int:
    """Processes worth starting: no more than the items or the CPUs, and at least one.

    Parameters
    ----------
    nprocs : int
        Processes asked for (``--nprocs``).
    n_items : int
        Participants (or subjects) to run.
    cpus : int, optional
        CPUs available (default: :func:`available_cpus`).

    Returns
    -------
    int
        ``nprocs`` capped: ``--nprocs 999`` starts as many processes as there are CPUs.

    Examples
    --------
    >>> worker_count(8, 3, cpus=16)
    3
    >>> worker_count(999, 30, cpus=2)
    2
    >>> worker_count(2, 0, cpus=4)
    1
    """
    cpus = available_cpus() if cpus is None else cpus
    return max(1, min(int(nprocs), int(n_items), int(cpus)))


def map_participants(
    fn: Callable[[Item], Result],
    items: Iterable[Item],
    nprocs: int = 1,
    desc: str = "",
    unit: str = "participant",
    progress: bool | None = None,
    catch: tuple[type[BaseException], ...] = (),
) -> Iterator[tuple[Item, Result | None, BaseException | None]]:
    """Run ``fn`` on every item, in forked worker processes when ``nprocs > 1``.

    Parameters
    ----------
    fn : callable
        A picklable function of one item (a module-level function or a ``functools.partial``).
    items : iterable
        The work, one item a participant (or subject).
    nprocs : int
        Processes at most; one process (a plain loop, no pool) when 1 or a single item.
    desc, unit : str
        The progress bar's label and unit.
    progress : bool or None
        Show the bar (True), hide it (False), or show it only on a terminal (None).
    catch : tuple of exception types
        Failures of these types are yielded as the item's error, so that one participant's
        failure does not stop the others; any other exception propagates.

    Returns
    -------
    iterator of (item, result, error)
        In completion order; ``result`` is None when ``error`` is set.
    """
    todo = list(items)
    workers = worker_count(nprocs, len(todo))
    if workers < nprocs and workers < len(todo):
        log.info("%s: %d processes, not %d: the CPUs available", desc, workers, nprocs)
    bar = tqdm(
        total=len(todo), desc=desc, unit=unit, disable=None if progress is None else not progress
    )
    try:
        if workers == 1:
            for item in todo:
                try:
                    result = fn(item)
                except catch as err:
                    yield item, None, err
                else:
                    yield item, result, None
                bar.update()
            return
        context = multiprocessing.get_context("fork")  # workers share what was loaded before
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(fn, item): item for item in todo}
            for future in cf.as_completed(futures):
                try:
                    result = future.result()
                except catch as err:
                    yield futures[future], None, err
                else:
                    yield futures[future], result, None
                bar.update()
    finally:
        bar.close()
