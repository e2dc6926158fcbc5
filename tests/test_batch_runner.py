"""predict.batch.runner over plain executors: bounded in flight, lazy source,
worker deaths as Dask reports them (KilledWorker), errors that stop the run."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from predict.batch import faults, runner
from predict.batch.shards import Shard, make_shards


class CountingPool(ThreadPoolExecutor):
    """A thread pool that records the most futures ever outstanding."""

    def __init__(self):
        super().__init__(4)
        self.outstanding = self.most = 0
        self.lock = threading.Lock()

    def submit(self, fn, *args):
        with self.lock:
            self.outstanding += 1
            self.most = max(self.most, self.outstanding)
        future = super().submit(fn, *args)
        future.add_done_callback(self._done)
        return future

    def _done(self, _):
        with self.lock:
            self.outstanding -= 1


def test_in_flight_is_bounded_and_the_source_is_pulled_lazily():
    pool = CountingPool()
    pulled = {"n": 0, "ahead": 0}
    finished = []

    def source():
        for i in range(200):
            pulled["n"] += 1
            pulled["ahead"] = max(pulled["ahead"], pulled["n"] - len(finished))
            yield Shard((f"p{i}",))

    def on_result(shard, result):
        finished.append(result)

    stats = runner.run(lambda: pool, source(), lambda paths, job: paths[0], None,
                       on_result=on_result, on_isolated=None, max_in_flight=3)
    assert stats["shards"] == 200 and sorted(finished) == sorted(f"p{i}" for i in range(200))
    assert pool.most <= 3 and pulled["ahead"] <= 4


class KilledWorker(Exception):
    """Named like Dask's: the runner recognises it by name."""


class DaskLikePool(ThreadPoolExecutor):
    """Fails a task holding "poison" the way Dask does after repeated deaths."""

    def __init__(self):
        super().__init__(2)
        self.submitted = []

    def submit(self, fn, paths, job):
        self.submitted.append(paths)

        def task():
            if any("poison" in p for p in paths):
                raise KilledWorker("tag_shard-123", None, 3)
            return [p.upper() for p in paths]

        return super().submit(task)


def test_a_shard_that_kills_workers_is_split_until_the_photo_is_isolated():
    pool = DaskLikePool()
    paths = [f"p{i}" for i in range(13)]
    paths[6] = "poison"
    out, isolated = [], []
    stats = runner.run(lambda: pool, make_shards(iter(paths), 8), None, None,
                       on_result=lambda shard, result: out.extend(result),
                       on_isolated=lambda path, deaths: isolated.append((path, deaths)),
                       max_in_flight=2)
    assert isolated == [("poison", faults.ISOLATE_AFTER)]
    assert sorted(out) == sorted(p.upper() for p in paths if p != "poison")
    assert stats["isolated"] == 1 and stats["crashes"] == 5  # 8 -> 4 -> 2 -> 1 -> 1
    # every photo but the poison was tagged exactly once
    assert len(out) == 12


def test_an_error_that_is_no_worker_death_stops_the_run():
    def task(paths, job):
        raise RuntimeError("the model did not load")

    with pytest.raises(RuntimeError, match="did not load"):
        runner.run(lambda: ThreadPoolExecutor(1), make_shards(iter("abc"), 1), task, None,
                   on_result=None, on_isolated=None, max_in_flight=2)
