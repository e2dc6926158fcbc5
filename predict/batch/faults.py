"""What went wrong with a shard, and what to do about it.

Three kinds of failure reach the driver:

- A photo that cannot be read, decoded, or is too large: the worker catches
  it and returns that photo's row with its error.  Nothing here.
- A worker process died (killed, out of memory, a crash in a decoder).  A
  local ``ProcessPoolExecutor`` then fails *every* shard in flight with
  ``BrokenProcessPool``: those shards are victims, not culprits, so they are
  only marked suspect (``COLLATERAL``).  Dask reschedules the tasks of a dead
  worker itself and raises ``KilledWorker`` only for a task that was on dying
  workers too often (``BLAMED``).
- Anything else (the model does not load on a worker, a bug): the run
  stops with that error.

Suspect shards are run alone (``predict.batch.runner``); a shard that dies
alone is split in two, down to a single photo, and a single photo that dies
alone ``ISOLATE_AFTER`` times is recorded as failed with ``crash_error``.

    >>> from concurrent.futures.process import BrokenProcessPool
    >>> loss(BrokenProcessPool("a child died")), loss(ValueError("bug"))
    ('collateral', None)
"""

from concurrent.futures import BrokenExecutor, CancelledError

from predict.batch.shards import Shard

__all__ = ["BLAMED", "COLLATERAL", "ISOLATE_AFTER", "after_solo_crash", "crash_error", "loss"]

COLLATERAL = "collateral"
BLAMED = "blamed"
# A photo is declared a worker killer after dying alone this many times:
# once could be the out-of-memory killer picking a bad moment.
ISOLATE_AFTER = 2

# Dask's exception, matched by name so that the local runtime never imports dask.
_BLAMED_NAMES = {"KilledWorker"}


def loss(exc):
    """COLLATERAL or BLAMED if ``exc`` (a future's exception) means a worker died, else None.

    >>> class KilledWorker(Exception): pass
    >>> loss(KilledWorker("task", None, 3))
    'blamed'
    """
    if isinstance(exc, BrokenExecutor):
        return COLLATERAL
    if type(exc).__name__ in _BLAMED_NAMES:
        return BLAMED
    if isinstance(exc, CancelledError):  # a cluster that cancelled our task when a worker left
        return COLLATERAL
    return None


def after_solo_crash(shard):
    """The shards to try next after ``shard`` died alone, and the paths given up on.

    Returns ``(retry: list[Shard], isolated: list[(path, deaths)])``.

    >>> after_solo_crash(Shard(("a", "b", "c")))
    ([Shard(paths=('a', 'b'), blame=0), Shard(paths=('c',), blame=0)], [])
    >>> after_solo_crash(Shard(("a",)))
    ([Shard(paths=('a',), blame=1)], [])
    >>> after_solo_crash(Shard(("a",), blame=1))
    ([], [('a', 2)])
    """
    if len(shard) > 1:
        return shard.split(), []
    blame = shard.blame + 1
    if blame >= ISOLATE_AFTER:
        return [], [(shard.paths[0], blame)]
    return [Shard(shard.paths, blame)], []


def crash_error(deaths):
    """The error recorded for a photo isolated as a worker killer.

    >>> crash_error(2)
    'worker process died while tagging this photo, alone, 2 times; isolated and not retried'
    """
    return (f"worker process died while tagging this photo, alone, {deaths} times; "
            f"isolated and not retried")
