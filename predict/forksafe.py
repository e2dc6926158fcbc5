"""Locks that a forked child gets back unheld.

A lock that another thread holds when the process forks stays held forever in
the child, where that thread does not exist: the child's first use of it
would hang.  Every ``ForkSafeLock`` alive at a fork is replaced in the child by
a new, unheld one (one ``os.register_at_fork`` hook for all of them).  The
objects the locks guard need nothing: the C core keeps no state between runs
beyond what a run rewrites from its inputs.

    >>> lock = ForkSafeLock()
    >>> with lock:
    ...     pass
"""

import os
import threading
import weakref

__all__ = ["ForkSafeLock"]

_LIVE = weakref.WeakSet()


class ForkSafeLock:
    """A ``threading.Lock`` (``threading.RLock`` with ``reentrant=True``), used
    as a context manager, that a forked child gets back unheld.

    >>> lock = ForkSafeLock(reentrant=True)
    >>> with lock, lock:
    ...     pass
    """

    __slots__ = ("_lock", "_reentrant", "__weakref__")

    def __init__(self, reentrant=False):
        self._reentrant = reentrant
        self._lock = self._new()
        _LIVE.add(self)

    def _new(self):
        return threading.RLock() if self._reentrant else threading.Lock()

    def __enter__(self):
        self._lock.acquire()
        return self

    def __exit__(self, *exc):
        self._lock.release()


def _after_fork_in_child():
    for lock in list(_LIVE):
        lock._lock = lock._new()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
