"""Exports of a results database: JSON lines, CSV, Parquet.

Rows are streamed from SQLite in path order and written as they come, so an
export of ten million rows needs no more memory than one of ten.  Fields:
path, model (sha256), label, score, classes, labels, scores, features,
error, decode_ms, infer_ms, worker, tagged_at.  In JSON lines and Parquet
the lists are lists and ``features`` a list of floats (or null); CSV has
the lists as JSON text and leaves the features out (a row of 1,280 numbers
is no spreadsheet cell).  Parquet needs pyarrow: ``pip install
'predict[parquet]'``.

    >>> from predict.batch.sink_sqlite import SqliteSink
    >>> import tempfile, os
    >>> db = os.path.join(tempfile.mkdtemp(), "tags.sqlite")
    >>> with SqliteSink(db) as sink:
    ...     m = sink.model_id("ab" * 32, "m.pnet", ["cat", "dog"])
    ...     sink.write(m, [("/a.jpg", [0], [0.75], None, None, 1.0, 2.0)], "w")
    >>> export_db(db, db + ".jsonl", "jsonl")
    1
    >>> print(open(db + ".jsonl").read().split(', "classes"')[0])
    {"path": "/a.jpg", "model": "abab...abab", "label": "cat", "score": 0.75
"""

import csv
import json
import os
import sqlite3
import sys

import numpy as np

from predict.batch.worker import FEATURE_DTYPE
from predict.errors import PredictError

__all__ = ["FIELDS", "FORMATS", "export_db", "iter_records"]

FORMATS = ("jsonl", "csv", "parquet")
FIELDS = ("path", "model", "label", "score", "classes", "labels", "scores", "features", "error",
          "decode_ms", "infer_ms", "worker", "tagged_at")
_LISTS = ("classes", "labels", "scores")

_QUERY = """
SELECT p.path, m.sha256, p.label, p.score, p.classes, p.labels, p.scores, p.features, p.error,
       p.decode_ms, p.infer_ms, p.worker, p.tagged_at
FROM photos AS p JOIN models AS m ON m.id = p.model
ORDER BY p.path, m.sha256
"""


class ExportError(PredictError, ValueError):
    """The database cannot be exported as asked."""


def iter_records(db):
    """Yields one dict per row of the database ``db`` (lists decoded, features as float32)."""
    if not os.path.isfile(db):
        raise ExportError(f"{db}: no such results database")
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        for row in connection.execute(_QUERY):
            record = dict(zip(FIELDS, row))
            for key in _LISTS:
                if record[key] is not None:
                    record[key] = json.loads(record[key])
            if record["features"] is not None:
                record["features"] = np.frombuffer(record["features"], FEATURE_DTYPE).astype(
                    np.float32)
            yield record
    except sqlite3.DatabaseError as e:
        raise ExportError(f"{db}: not a predict results database ({e})") from None
    finally:
        connection.close()


def _jsonl(records, f):
    n = 0
    for record in records:
        if record["features"] is not None:
            record["features"] = record["features"].tolist()
        f.write(json.dumps(record) + "\n")
        n += 1
    return n


def _csv(records, f):
    fields = [k for k in FIELDS if k != "features"]
    writer = csv.writer(f)
    writer.writerow(fields)
    n = 0
    for record in records:
        writer.writerow(["" if record[k] is None else
                         json.dumps(record[k]) if k in _LISTS else record[k] for k in fields])
        n += 1
    return n


def _parquet(records, path, rows_per_group=10_000):
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("Parquet export needs pyarrow: pip install 'predict[parquet]'") from None
    schema = pa.schema([
        ("path", pa.string()), ("model", pa.string()), ("label", pa.string()),
        ("score", pa.float64()), ("classes", pa.list_(pa.int32())),
        ("labels", pa.list_(pa.string())), ("scores", pa.list_(pa.float64())),
        ("features", pa.list_(pa.float32())), ("error", pa.string()),
        ("decode_ms", pa.float64()), ("infer_ms", pa.float64()), ("worker", pa.string()),
        ("tagged_at", pa.float64()),
    ])
    n = 0
    with pq.ParquetWriter(path, schema) as writer:
        group = []

        def flush():
            columns = {k: [r[k] for r in group] for k in FIELDS}
            writer.write_table(pa.table(columns, schema=schema))
            group.clear()

        for record in records:
            group.append(record)
            n += 1
            if len(group) >= rows_per_group:
                flush()
        if group or n == 0:
            flush()
    return n


def export_db(db, out, fmt):
    """Writes every row of ``db`` to ``out`` (a path, or "-" for standard output)
    in ``fmt`` (jsonl, csv or parquet); returns the number of rows."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    records = iter_records(db)
    if fmt == "parquet":
        if out == "-":
            raise ExportError("Parquet is a binary file: give -o FILE")
        tmp = f"{out}.tmp{os.getpid()}"
        try:
            n = _parquet(records, tmp)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return n
    write = _jsonl if fmt == "jsonl" else _csv
    if out == "-":
        return write(records, sys.stdout)
    tmp = f"{out}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            n = write(records, f)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return n
