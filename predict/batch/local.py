"""The default executor: a process pool on this machine, one worker per core.

Workers start from a fork server that has already imported numpy, Pillow and
predict (fast to start, and no fork of a driver that has threads).  Each
worker ignores Ctrl-C, so only the driver handles it and stops cleanly, and
watches the driver: when the driver dies (even by SIGKILL) its workers exit,
then the fork server, so a killed driver leaves no orphans behind.  (Linux's
PR_SET_PDEATHSIG cannot do it: a worker's parent is the fork server, which
itself lives as long as any worker holds its "alive" pipe.)

    >>> make = process_pool(2)
    >>> with make() as pool:
    ...     pool.submit(pow, 2, 10).result()
    1024
"""

import multiprocessing
import os
import select
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

__all__ = ["default_workers", "process_pool"]

def default_workers():
    """The cores this process may use (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _watch(driver):
    """Exits this worker as soon as the driver process is gone."""
    try:
        fd = os.pidfd_open(driver)   # Linux >= 5.3: readable once the process has exited
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
    else:
        while True:
            time.sleep(1.0)
            try:
                os.kill(driver, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                continue
    os._exit(0)


def _init_worker(driver):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch, args=(driver,), name="predict-watch-driver",
                     daemon=True).start()


# What the fork server imports once, so that no worker imports it again: the
# driver's main script ("__main__", when it was run from a path: every worker
# would otherwise import it afresh, with everything it imports), the worker's
# code with the C core (loading it and its cffi module took 9 ms in each
# worker) and Pillow's JPEG plugin (which image.py otherwise imports at a
# worker's first photo), and the modules multiprocessing itself imports in
# each new process.
_PRELOAD = ["__main__", "predict.batch.worker", "predict._native", "PIL.JpegImagePlugin",
            "multiprocessing.popen_forkserver", "multiprocessing.synchronize",
            "concurrent.futures.process", "runpy"]


def _context():
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
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
        return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                                   initargs=(os.getpid(),))

    return make
