"""The results database: one SQLite file, written by the driver alone.

Tables::

    models(id, sha256 UNIQUE, path, labels JSON, features_dim, added_at)
    photos(path, model -> models.id,           -- the key: one row per photo and model
           label, score,                       -- the top class, for quick queries
           classes, labels, scores,            -- the top K, JSON arrays, most likely first
           features,                           -- float16 little-endian bytes, or NULL
           error,                              -- NULL, or why the photo failed
           decode_ms, infer_ms, worker, tagged_at)

``models.sha256`` is the model's identity: its checksum, or with a predictor
(``predict tag --predictor``) ``MODEL_SHA256:PREDICTOR_SHA256`` (the predictor
file's sha256), with the predictor's classes as labels, so tags of the bare
model and of each predictor are rows of their own.

Writes are upserts on ``(path, model)``: a shard written twice (retried after
a worker died, or listed twice) leaves one row, so nothing is duplicated, and
a re-run asks ``done()`` which photos this model has already tagged and
skips them.  The database is in WAL mode and each shard is one transaction:
a killed driver loses at most the shards in flight, never a written one.

    >>> sink = SqliteSink(":memory:")
    >>> model = sink.model_id("ab" * 32, "m.pnet", ["cat", "dog"], 4)
    >>> sink.write(model, [("/p/a.jpg", [1, 0], [0.9, 0.1], None, None, 2.0, 1.0)], "w:1")
    >>> sink.done(model, ["/p/a.jpg", "/p/b.jpg"])
    {'/p/a.jpg'}
    >>> sink.counts(model)
    (1, 0)
"""

import json
import sqlite3
import time

__all__ = ["SCHEMA_VERSION", "SqliteSink"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    labels TEXT NOT NULL,
    features_dim INTEGER,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS photos (
    path TEXT NOT NULL,
    model INTEGER NOT NULL REFERENCES models(id),
    label TEXT,
    score REAL,
    classes TEXT,
    labels TEXT,
    scores TEXT,
    features BLOB,
    error TEXT,
    decode_ms REAL,
    infer_ms REAL,
    worker TEXT,
    tagged_at REAL NOT NULL,
    PRIMARY KEY (path, model)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS photos_label ON photos (model, label);
"""

_UPSERT = """
INSERT INTO photos (path, model, label, score, classes, labels, scores, features, error,
                    decode_ms, infer_ms, worker, tagged_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (path, model) DO UPDATE SET
    label = excluded.label, score = excluded.score, classes = excluded.classes,
    labels = excluded.labels, scores = excluded.scores, features = excluded.features,
    error = excluded.error, decode_ms = excluded.decode_ms, infer_ms = excluded.infer_ms,
    worker = excluded.worker, tagged_at = excluded.tagged_at
"""

# SQLite's limit on bound parameters was 999 before 3.32; stay under it.
_IN_CHUNK = 900


class SqliteSink:
    """The driver's writer of a results database (created if missing)."""

    def __init__(self, path):
        self.path = str(path)
        # isolation_level=None: transactions are explicit (BEGIN ... COMMIT in write).
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a committed shard survives the process dying;
        # only an OS crash can lose the very last commits, which a re-run redoes.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif row[0] != str(SCHEMA_VERSION):
            raise ValueError(f"{self.path}: results schema {row[0]}, this predict writes "
                             f"{SCHEMA_VERSION}")
        self._labels = {}

    def model_id(self, sha256, path, labels, features_dim=None):
        """The id of a model in this database, adding it on first use."""
        row = self._db.execute("SELECT id, labels FROM models WHERE sha256 = ?",
                               (sha256,)).fetchone()
        if row is None:
            cursor = self._db.execute(
                "INSERT INTO models (sha256, path, labels, features_dim, added_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (sha256, str(path), json.dumps(list(labels)), features_dim, time.time()))
            model = cursor.lastrowid
        else:
            model = row[0]
            if features_dim is not None:
                self._db.execute("UPDATE models SET features_dim = ? WHERE id = ?",
                                 (features_dim, model))
        self._labels[model] = list(labels)
        return model

    def done(self, model, paths, retry_failed=False):
        """The subset of ``paths`` (a list) that already has a row for ``model``.

        With ``retry_failed`` a row with an error does not count as done.
        """
        found = set()
        where = "model = ? AND error IS NULL" if retry_failed else "model = ?"
        for start in range(0, len(paths), _IN_CHUNK):
            part = paths[start:start + _IN_CHUNK]
            marks = ",".join("?" * len(part))
            found.update(p for (p,) in self._db.execute(
                f"SELECT path FROM photos WHERE {where} AND path IN ({marks})", [model, *part]))
        return found

    def write(self, model, rows, worker):
        """Upserts rows (``predict.batch.worker`` tuples) in one transaction."""
        labels = self._labels[model]
        now = time.time()
        records = []
        for path, classes, scores, features, error, decode_ms, infer_ms in rows:
            if classes:
                names = [labels[c] if c < len(labels) else str(c) for c in classes]
                records.append((path, model, names[0], scores[0], json.dumps(classes),
                                json.dumps(names), json.dumps(scores), features, None,
                                decode_ms, infer_ms, worker, now))
            else:
                records.append((path, model, None, None, None, None, None, None, error,
                                decode_ms, infer_ms, worker, now))
        self._db.execute("BEGIN")
        try:
            self._db.executemany(_UPSERT, records)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def counts(self, model):
        """(photos tagged, photos failed) for ``model``."""
        ok, failed = self._db.execute(
            "SELECT COUNT(*) - COUNT(error), COUNT(error) FROM photos WHERE model = ?",
            (model,)).fetchone()
        return ok, failed

    def close(self):
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
