"""The runner: shards out to an executor, a bounded number at a time, results back.

Written once against ``concurrent.futures.Executor``: a local process pool
and Dask's ``Client.get_executor()`` run the same code.  At most
``max_in_flight`` shards are submitted and not yet collected, and the shards
come from a lazy iterator, so the driver's memory does not grow with the
collection.

Worker deaths (``predict.batch.faults``): a shard lost as a bystander is
queued as a *suspect*.  Suspects run alone: the runner stops taking new
shards, lets the ones in flight finish, then submits one suspect with
nothing beside it, so that if a worker dies now, that shard did it.  A
guilty shard is split in halves, and a single photo that kills its worker
alone ``faults.ISOLATE_AFTER`` times is given up with an error row.  A pool
broken by a death is replaced by calling ``make_executor`` again.

    >>> from concurrent.futures import ThreadPoolExecutor
    >>> from predict.batch.shards import make_shards
    >>> out = []
    >>> stats = run(lambda: ThreadPoolExecutor(2), make_shards(iter("abcde"), 2),
    ...             lambda paths, job: [p.upper() for p in paths], None,
    ...             on_result=lambda shard, result: out.extend(result),
    ...             on_isolated=None, max_in_flight=2)
    >>> sorted(out), stats["shards"]
    (['A', 'B', 'C', 'D', 'E'], 3)
"""

from collections import deque
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, wait

from predict.batch import faults

__all__ = ["run"]


def run(make_executor, shards, task, job, *, on_result, on_isolated, max_in_flight,
        on_crash=None):
    """Runs ``task(shard.paths, job)`` for every shard; returns counters.

    ``make_executor()`` gives an Executor (called again when one breaks);
    ``on_result(shard, result)`` receives each finished shard, in the driver;
    ``on_isolated(path, deaths)`` each photo given up as a worker killer;
    ``on_crash(kind)`` (optional) hears of every shard lost to a dead worker.
    An exception that is not a worker's death stops the run and is raised.
    The executor is shut down on the way out, also on Ctrl-C, without
    waiting for work nobody will collect.

    Returns ``{"shards": finished, "crashes": shards lost to dead workers,
    "isolated": photos given up, "executors": executors made}``.
    """
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
    stats = {"shards": 0, "crashes": 0, "isolated": 0, "executors": 1}
    executor = make_executor()
    generation = 0            # which executor a future belongs to
    pending = {}              # future -> (shard, generation, ran alone)
    suspects = deque()
    source = iter(shards)
    exhausted = False
    try:
        while True:
            # Fill the window: suspects first, each alone; else fresh shards.
            while True:
                if suspects:
                    if pending:
                        break
                    shard, alone = suspects.popleft(), True
                elif exhausted or len(pending) >= max_in_flight:
                    break
                else:
                    shard, alone = next(source, None), False
                    if shard is None:
                        exhausted = True
                        break
                try:
                    future = executor.submit(task, shard.paths, job)
                except BrokenExecutor:
                    # It broke after our last look; a new one takes this shard.
                    executor, generation = _replace(executor, make_executor, stats), generation + 1
                    future = executor.submit(task, shard.paths, job)
                pending[future] = (shard, generation, alone)
                if alone:
                    break
            if not pending:
                return stats
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                shard, born, alone = pending.pop(future)
                error = future.exception()
                if error is None:
                    stats["shards"] += 1
                    on_result(shard, future.result())
                    continue
                kind = faults.loss(error)
                if kind is None:
                    raise error
                stats["crashes"] += 1
                if on_crash is not None:
                    on_crash(kind)
                broken = broken or (isinstance(error, BrokenExecutor) and born == generation)
                if alone or kind == faults.BLAMED:
                    retry, isolated = faults.after_solo_crash(shard)
                    suspects.extendleft(reversed(retry))
                    for path, deaths in isolated:
                        stats["isolated"] += 1
                        on_isolated(path, deaths)
                else:
                    suspects.append(shard)
            if broken:
                executor, generation = _replace(executor, make_executor, stats), generation + 1
    finally:
        for future in pending:
            future.cancel()
        _shutdown(executor)


def _shutdown(executor):
    try:
        executor.shutdown(wait=False, cancel_futures=True)
    except TypeError:  # Dask's ClientExecutor.shutdown has no cancel_futures
        executor.shutdown(wait=False)


def _replace(executor, make_executor, stats):
    _shutdown(executor)
    stats["executors"] += 1
    return make_executor()
