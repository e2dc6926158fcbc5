"""The default executor: a process pool on this machine, one worker per core.

Workers start from a fork server that has already imported numpy, Pillow and
predict (fast to start, and no fork of a driver that has threads).  Each
worker ignores Ctrl-C, so only the driver handles it and stops cleanly, and
asks Linux to kill it when its parent dies, so a killed driver leaves no
orphans behind.

    >>> make = process_pool(2)
    >>> with make() as pool:
    ...     pool.submit(pow, 2, 10).result()
    1024
"""

import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

__all__ = ["default_workers", "process_pool"]

_PR_SET_PDEATHSIG = 1


def default_workers():
    """The cores this process may use (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _init_worker():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # best effort: without it an orphan still exits when its queue closes


def _context():
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["predict.batch.worker"])
        return context
    return multiprocessing.get_context("spawn")


def process_pool(workers, mp_context=None):
    """A function making a ProcessPoolExecutor of ``workers`` processes.

    The runner calls it again to replace a pool broken by a dead worker.
    ``mp_context`` overrides the multiprocessing start method (tests use
    "fork" to carry a patched module into the workers).
    """
    context = mp_context or _context()

    def make():
        return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker)

    return make
