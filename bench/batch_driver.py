"""How many results per second the batch driver sustains into SQLite, model replaced by a no-op.

The whole driver path of `predict tag` runs: a streamed source, shards, the
resume query per chunk, the runner over a process pool, and the SQLite sink
(one transaction per shard).  Only the worker's task is replaced by one that
returns top-5 rows without decoding or inferring, so this measures what a
hundred fast nodes would ask of one driver.  Target: >= 5,000 results/s.

    python bench/batch_driver.py [--photos 200000] [--shard-size 256] [--workers 2]
"""
import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from predict.batch import runner  # noqa: E402
from predict.batch.local import process_pool  # noqa: E402
from predict.batch.progress import peak_rss_mb  # noqa: E402
from predict.batch.shards import make_shards  # noqa: E402
from predict.batch.sink_sqlite import SqliteSink  # noqa: E402


def noop_task(paths, job):
    """What tag_shard returns, without the work: top-5 of 1000 classes per photo."""
    rows = [(p, [281, 285, 282, 283, 284], [0.7, 0.1, 0.08, 0.05, 0.02], None, None, 4.0, 3.0)
            for p in paths]
    return {"worker": f"noop:{os.getpid()}", "rows": rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=200_000)
    parser.add_argument("--shard-size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "tags.sqlite")
        with SqliteSink(db) as sink:
            model = sink.model_id("00" * 32, "noop.pnet", [f"class {i}" for i in range(1000)])
            written = [0]

            def on_result(shard, result):
                sink.write(model, result["rows"], result["worker"])
                written[0] += len(result["rows"])

            paths = (f"/photos/{i // 1000:05d}/IMG_{i:08d}.jpg" for i in range(args.photos))
            shards = make_shards(paths, args.shard_size,
                                 lambda chunk: sink.done(model, chunk), {})
            start = time.perf_counter()
            runner.run(process_pool(args.workers), shards, noop_task, None, on_result=on_result,
                       on_isolated=None, max_in_flight=2 * args.workers)
            seconds = time.perf_counter() - start
        size = os.path.getsize(db)
    print(f"{written[0]:,} results in {seconds:.2f} s: {written[0] / seconds:,.0f} results/s "
          f"into SQLite (shards of {args.shard_size}, {args.workers} no-op workers); "
          f"database {size / written[0]:.0f} bytes/row; driver peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
