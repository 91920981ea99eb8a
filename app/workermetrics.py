"""Metrics summed over the worker processes of ``claimscan serve --workers N``.

A scrape reaches one worker, and a worker only knows its own counts, so with per-worker registries
every scrape answered from a different series and ``rate()`` saw counters jump. prometheus_client's
multiprocess mode fixes that: every worker writes its values to memory-mapped files in one directory
(``PROMETHEUS_MULTIPROC_DIR``), and the worker that answers a scrape reads all the files and adds
them up. The counts of a worker that died stay in its files, so totals never go back.

prometheus_client picks file-backed values when it is first imported, from the environment, so
the supervisor exports the directory before it starts a worker; a process that only sees the
variable later would keep its values in memory where no scrape finds them, and is refused.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import CollectorRegistry, values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

__all__ = ["DIRECTORY_VARIABLE", "forget_worker", "scrape_registry", "shared_by_workers", "shared_directory"]

DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
logger = logging.getLogger("uvicorn.error")


def shared_by_workers() -> bool:
    """Whether this process's metrics go to the directory its sibling workers share."""
    if DIRECTORY_VARIABLE not in os.environ:
        return False
    if values.ValueClass is values.MutexValue:
        raise RuntimeError(
            f"{DIRECTORY_VARIABLE} was set after prometheus_client was imported, so this process would keep its "
            "metrics in memory where no scrape reads them; set it before the process starts"
        )
    return True


def scrape_registry() -> CollectorRegistry:
    """A registry whose only collector reads every worker's files, for ``/metrics`` to render."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


@contextmanager
def shared_directory() -> Iterator[Path]:
    """The directory the supervisor's workers share, exported to every process started inside.

    An operator's own ``PROMETHEUS_MULTIPROC_DIR`` is used and left in place (wiping it between runs
    is then theirs to do). Otherwise a fresh private directory is made for this run and removed
    afterwards, so a run never adds up another run's leftovers.
    """
    given = os.environ.get(DIRECTORY_VARIABLE)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        if any(directory.glob("*.db")):
            logger.warning("%s=%s holds files from an earlier run; they count too", DIRECTORY_VARIABLE, directory)
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix="claimscan-metrics-"))
    os.environ[DIRECTORY_VARIABLE] = str(directory)
    try:
        yield directory
    finally:
        os.environ.pop(DIRECTORY_VARIABLE, None)
        shutil.rmtree(directory, ignore_errors=True)


def forget_worker(pid: int) -> None:
    """A worker has exited: drop the gauges that describe a live process (the model it served).

    Its counters and histogram stay, so the totals over all workers keep growing.
    """
    mark_process_dead(pid)
