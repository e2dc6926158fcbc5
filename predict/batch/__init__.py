"""Batch tagging of photo collections far larger than memory.

``tag(sources, model, db)`` streams photos from folders, path lists or
patterns, in shards, through a local process pool or a Dask cluster, into a
resumable SQLite database; ``export_db(db, out, format)`` writes it as JSON
lines, CSV or Parquet.  The command line is ``predict tag`` and ``predict
export``.  One job per file:

- ``source``: the photos, streamed;      ``shards``: grouping, skipping done ones;
- ``runner``: shards in flight over any ``concurrent.futures.Executor``;
- ``worker``: one shard in a worker process (network cached, photos decoded, batched);
- ``faults``: what a dead worker means;  ``local`` / ``cluster``: the executors;
- ``sink_sqlite``: the results database; ``export``: its exports;
- ``progress``: the bar and the summary; ``tagging``: all of it together.
"""

from predict.batch.export import export_db
from predict.batch.tagging import tag

__all__ = ["export_db", "tag"]
