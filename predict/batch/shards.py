"""Photos grouped into shards: the unit of work sent to a worker.

A shard is a few hundred paths: big enough that sending it and writing its
results costs little next to tagging it, small enough that losing one to a
dead worker loses little.  ``make_shards`` reads the path stream a chunk at a
time, drops the paths the sink already holds for this model (that is how a
re-run resumes), and yields shards, never holding more than one chunk.

    >>> shards = make_shards(iter(["a", "b", "c", "d", "e"]), size=2)
    >>> [s.paths for s in shards]
    [('a', 'b'), ('c', 'd'), ('e',)]
"""

from dataclasses import dataclass
from itertools import islice

__all__ = ["Shard", "make_shards"]


@dataclass(frozen=True)
class Shard:
    """Paths to tag together.  ``blame`` counts the times this shard was
    running alone on a worker that died (see predict.batch.faults).

    >>> Shard(("a", "b")).split()
    [Shard(paths=('a',), blame=0), Shard(paths=('b',), blame=0)]
    """

    paths: tuple
    blame: int = 0

    def __len__(self):
        return len(self.paths)

    def split(self):
        """Two halves, blame reset: each half has to prove itself guilty again."""
        middle = (len(self.paths) + 1) // 2
        return [Shard(self.paths[:middle]), Shard(self.paths[middle:])]


def make_shards(paths, size, skip=None, counter=None):
    """Yields Shards of up to ``size`` paths from the iterable ``paths``.

    ``skip(chunk) -> set`` names the paths of a chunk (a list) that need no
    work; they are dropped, and counted in ``counter["skipped"]`` when a
    counter dict is given.  The order of the stream is kept.

    >>> counts = {"skipped": 0}
    >>> [s.paths for s in make_shards(iter("abcde"), 2, lambda c: {"b", "d"}, counts)]
    [('a', 'c'), ('e',)]
    >>> counts
    {'skipped': 2}
    """
    if size < 1:
        raise ValueError(f"shard size must be >= 1, got {size}")
    paths = iter(paths)
    pending = []
    # Ask the sink about several shards' worth at once: fewer queries.
    chunk_size = max(size, 512)
    while True:
        chunk = list(islice(paths, chunk_size))
        if not chunk:
            break
        done = skip(chunk) if skip is not None else ()
        if done:
            if counter is not None:
                counter["skipped"] = counter.get("skipped", 0) + sum(1 for p in chunk if p in done)
            chunk = [p for p in chunk if p not in done]
        pending.extend(chunk)
        while len(pending) >= size:
            yield Shard(tuple(pending[:size]))
            del pending[:size]
    if pending:
        yield Shard(tuple(pending))
