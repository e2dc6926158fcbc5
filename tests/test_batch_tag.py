"""predict tag end to end on a local process pool, with a tiny model: the same
tags as `predict classify` one by one, broken files recorded, resumable
re-runs, features, path lists of missing files, and the command line."""
import json
import os

import numpy as np

import predict
from batch_helpers import assert_same_tags, collection_fixture, model, rows  # noqa: F401
from predict.batch import tag
from predict.batch.worker import FEATURE_DTYPE
from predict.cli import main
from test_network import write_tiny


collection = collection_fixture(48)


def classify_one_by_one(model, paths, capsys):
    """{path: (classes, scores) or error} from `predict classify --json`, one photo a call."""
    out = {}
    for path in paths:
        main(["classify", "--json", "--top", "3", "--model", model, path])
        (line,) = capsys.readouterr().out.splitlines()
        record = json.loads(line)
        out[path] = record.get("error") or (
            [p["index"] for p in record["predictions"]],
            [p["probability"] for p in record["predictions"]])
    return out


def test_tags_match_classify_and_every_broken_file_has_its_error(model, collection, tmp_path,
                                                                 capsys):
    folder, good, broken = collection
    db = str(tmp_path / "tags.sqlite")
    summary = tag([folder], model, db, top=3, workers=2, shard_size=5, batch=4, progress=False)
    assert summary["photos"] == len(good) + len(broken) and summary["failed"] == len(broken)
    assert not summary["interrupted"] and summary["crashes"] == 0
    got = rows(db)
    assert sorted(got) == sorted(good + list(broken.values()))
    reference = classify_one_by_one(model, sorted(got), capsys)
    for path, row in got.items():
        if isinstance(reference[path], str):
            assert row["error"] == reference[path] and row["classes"] is None
            continue
        assert row["error"] is None, row["error"]
        assert row["classes"] == reference[path][0]
        np.testing.assert_allclose(row["scores"], reference[path][1], atol=1e-5)
        assert row["labels"][0] == row["label"] == ["cat", "dog", "bird"][row["classes"][0]]
        assert row["decode_ms"] > 0 and row["infer_ms"] > 0 and ":" in row["worker"]
    expected = {"zero": "empty (zero bytes)", "text": "not an image",
                "truncated": "truncated", "corrupt": "not an image", "bomb": "decompression bomb"}
    for kind, path in broken.items():
        assert expected[kind] in got[path]["error"], (kind, got[path]["error"])


def test_a_rerun_skips_what_is_done_and_retry_failed_redoes_failures(model, collection, tmp_path):
    folder, good, broken = collection
    db = str(tmp_path / "tags.sqlite")
    first = tag([folder], model, db, workers=2, shard_size=7, progress=False)
    before = rows(db)
    again = tag([folder], model, db, workers=2, shard_size=7, progress=False)
    assert again["photos"] == 0 and again["skipped"] == first["photos"]
    retried = tag([folder], model, db, workers=2, retry_failed=True, progress=False)
    assert retried["photos"] == len(broken) and retried["skipped"] == len(good)
    after = rows(db)
    assert_same_tags(before, after, atol=0)
    # another model tags the same photos into rows of its own
    other = str(tmp_path / "other.pnet")
    write_tiny(other, seed=3)
    tag([folder], other, db, workers=1, progress=False)
    import sqlite3
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT COUNT(*) FROM photos").fetchone()[0] == 2 * len(before)


def test_features_are_stored_as_float16(model, collection, tmp_path):
    _, good, _ = collection
    db = str(tmp_path / "tags.sqlite")
    tag(good[:6], model, db, features=True, workers=1, progress=False)
    got = rows(db)
    with predict.load(model) as net:
        want = net.features(good[:6])
    for path, vector in zip(good[:6], want):
        stored = np.frombuffer(got[path]["features"], FEATURE_DTYPE)
        np.testing.assert_allclose(stored, vector, rtol=2e-3, atol=1e-3)


def test_the_command_line_tags_a_path_list_and_exports(model, collection, tmp_path, capsys):
    _, good, _ = collection
    listing = tmp_path / "list.txt"
    missing = [str(tmp_path / "gone" / f"{i}.jpg") for i in range(3)]
    listing.write_text("\n".join(good[:4] + missing) + "\n")
    db = str(tmp_path / "t.sqlite")
    code = main(["tag", str(listing), "--model", model, "--db", db, "--workers", "1",
                 "--no-progress", "--top", "2"])
    err = capsys.readouterr().err
    assert code == 1, err   # some photos failed
    assert "tagged 4 photos, 3 failed, 0 already done" in err and f"results in {db}" in err
    got = rows(db)
    assert all(got[p]["error"].endswith("no such file") for p in missing)
    assert all(len(got[p]["classes"]) == 2 for p in good[:4])
    assert main(["export", db, "--format", "jsonl"]) == 0
    exported = [json.loads(line) for line in open(db[:-len(".sqlite")] + ".jsonl")]
    assert sorted(r["path"] for r in exported) == sorted(got)
    assert main(["tag", str(tmp_path / "nothing-here"), "--model", model, "--db", db]) == 2
    assert "no such folder, file or pattern" in capsys.readouterr().err


def test_the_local_runtime_never_imports_dask(model, collection, tmp_path):
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (
        "import sys\n"
        "from predict.cli import main\n"
        f"code = main(['tag', {collection[1][0]!r}, '--model', {model!r}, '--db', "
        f"{str(tmp_path / 't.sqlite')!r}, '--workers', '1', '--no-progress'])\n"
        "assert code == 0, code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', "
        "'pyarrow'))\n"
        "assert not loaded, loaded\n")
    env = dict(os.environ, PYTHONPATH=repo + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_a_shard_gives_the_same_rows_decoded_inline_or_by_a_thread(model, collection, tmp_path):
    """Job.decoders 0 (decoding on the inference thread, what a worker per core does) and 1 (a
    decoding thread ahead, where cores are spare): the same rows in the same order, broken,
    missing and partial-batch photos included."""
    import dataclasses

    from predict.batch.worker import Job, tag_shard

    _, good, broken = collection
    paths = good[:9] + list(broken.values()) + [str(tmp_path / "gone.jpg")] + good[9:12]
    with predict.load(model) as net:
        job = Job(model, net.sha256, top=3, batch=4)
    assert job.decoders == 0
    inline = tag_shard(paths, job)["rows"]
    threaded = tag_shard(paths, dataclasses.replace(job, decoders=1))["rows"]
    assert [r[0] for r in inline] == [r[0] for r in threaded] == paths
    for a, b in zip(inline, threaded):
        assert a[1:5] == b[1:5]   # classes, scores, features, error; not the timings
    assert sum(r[4] is not None for r in inline) == len(broken) + 1


def test_the_local_pool_decodes_on_a_thread_only_with_cores_to_spare(monkeypatch, model,
                                                                   collection, tmp_path):
    import predict.batch.tagging as tagging

    seen = []

    def run(make_executor, shards, task, job, **kwargs):
        seen.append(job.decoders)
        return {"crashes": 0, "isolated": 0}

    monkeypatch.setattr(tagging.runner, "run", run)
    monkeypatch.setattr(tagging, "default_workers", lambda: 4)
    photo = collection[1][0]
    for workers in (None, 4, 2):
        tag([photo], model, str(tmp_path / "t.sqlite"), workers=workers, progress=False)
    assert seen == [0, 0, 1]


def test_reading_ahead_is_only_a_hint(tmp_path):
    """posix_fadvise on the next photos: a FIFO does not block it, a missing file is silent."""
    from predict.batch.worker import _read_ahead

    fifo = tmp_path / "fifo.jpg"
    os.mkfifo(fifo)
    _read_ahead(str(fifo))     # with a blocking open, this would wait for a writer forever
    _read_ahead(str(tmp_path / "missing.jpg"))
    _read_ahead(str(tmp_path))
