"""The results database: idempotent upserts, resume queries, and its exports."""
import csv
import json

import numpy as np
import pytest

from batch_helpers import rows
from predict.batch.export import ExportError, export_db, iter_records
from predict.batch.sink_sqlite import SqliteSink
from predict.batch.worker import FEATURE_DTYPE

SHA = "ab" * 32


def ok(path, features=None):
    return (path, [1, 0], [0.75, 0.25], features, None, 3.0, 1.5)


def failed(path):
    return (path, None, None, None, f"{path}: no such file", 0.1, None)


def test_writes_are_idempotent_and_done_answers_for_one_model(tmp_path):
    db = tmp_path / "tags.sqlite"
    with SqliteSink(db) as sink:
        m = sink.model_id(SHA, "m.pnet", ["cat", "dog"])
        other = sink.model_id("cd" * 32, "n.pnet", ["x", "y"])
        sink.write(m, [ok("/a.jpg"), failed("/b.jpg")], "host:1")
        sink.write(m, [ok("/a.jpg"), failed("/b.jpg")], "host:2")   # a retried shard
        assert sink.done(m, ["/a.jpg", "/b.jpg", "/c.jpg"]) == {"/a.jpg", "/b.jpg"}
        assert sink.done(m, ["/a.jpg", "/b.jpg"], retry_failed=True) == {"/a.jpg"}
        assert sink.done(other, ["/a.jpg"]) == set()
        assert sink.counts(m) == (1, 1)
        # a later success replaces the failure: still one row
        sink.write(m, [ok("/b.jpg")], "host:3")
        assert sink.counts(m) == (2, 0)
        assert sink.model_id(SHA, "m.pnet", ["cat", "dog"]) == m
    got = rows(str(db))
    assert got["/a.jpg"]["label"] == "dog" and got["/a.jpg"]["labels"] == ["dog", "cat"]
    assert got["/a.jpg"]["worker"] == "host:2" and got["/b.jpg"]["worker"] == "host:3"


def test_done_handles_more_paths_than_sqlite_parameters(tmp_path):
    with SqliteSink(tmp_path / "t.sqlite") as sink:
        m = sink.model_id(SHA, "m.pnet", ["cat", "dog"])
        paths = [f"/p/{i}.jpg" for i in range(2500)]
        sink.write(m, [failed(p) for p in paths[::2]], "w")
        assert sink.done(m, paths) == set(paths[::2])


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "tags.sqlite"
    vector = np.linspace(-1, 1, 8).astype(np.float32)
    with SqliteSink(path) as sink:
        m = sink.model_id(SHA, "m.pnet", ["cat", "dog"], features_dim=8)
        sink.write(m, [ok("/b.jpg", vector.astype(FEATURE_DTYPE).tobytes()), failed("/a.jpg")],
                   "w:1")
    return str(path), vector


def test_export_jsonl_in_path_order_with_features(db, tmp_path):
    path, vector = db
    out = tmp_path / "out.jsonl"
    assert export_db(path, str(out), "jsonl") == 2
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["path"] for r in records] == ["/a.jpg", "/b.jpg"]
    assert records[0]["error"] == "/a.jpg: no such file" and records[0]["label"] is None
    assert records[1]["model"] == SHA and records[1]["scores"] == [0.75, 0.25]
    np.testing.assert_allclose(records[1]["features"], vector, atol=1e-3)


def test_export_csv(db, tmp_path):
    path, _ = db
    out = tmp_path / "out.csv"
    assert export_db(path, str(out), "csv") == 2
    with open(out, newline="") as f:
        table = list(csv.DictReader(f))
    assert "features" not in table[0]
    assert table[1]["label"] == "dog" and json.loads(table[1]["labels"]) == ["dog", "cat"]
    assert table[0]["error"] == "/a.jpg: no such file"


def test_export_parquet(db, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    path, vector = db
    out = tmp_path / "out.parquet"
    assert export_db(path, str(out), "parquet") == 2
    table = pq.read_table(out).to_pylist()
    assert table[1]["labels"] == ["dog", "cat"] and table[0]["features"] is None
    np.testing.assert_allclose(table[1]["features"], vector, atol=1e-3)


def test_export_refuses_what_it_cannot_do(db, tmp_path):
    path, _ = db
    with pytest.raises(ExportError, match="no such results database"):
        list(iter_records(str(tmp_path / "missing.sqlite")))
    with pytest.raises(ExportError, match="unknown export format"):
        export_db(path, "x", "xml")
    with pytest.raises(ExportError, match="give -o FILE"):
        export_db(path, "-", "parquet")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ExportError, match="not a predict results database"):
        list(iter_records(str(junk)))
