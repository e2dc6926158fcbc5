"""predict tag on a real Dask LocalCluster of worker processes: the same tags as
the local pool and as `predict classify`, the model shipped through the
cluster, a worker killed mid-run, and a photo that kills workers isolated."""
import json
import os
import signal
import sqlite3
import threading
import time

import pytest

pytest.importorskip("distributed")

import dask  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

from batch_helpers import assert_same_tags, collection_fixture, make_collection, model, rows  # noqa: E402,F401
from predict.batch import faults, tag  # noqa: E402
from predict.cli import main  # noqa: E402

WORKERS = 3


@pytest.fixture(scope="module")
def cluster():
    # One death per task before Dask gives up on it (KilledWorker), so that
    # isolating a poison photo costs a few worker restarts, not dozens.
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                          dashboard_address=None) as c:
            with Client(c) as client:
                yield c, client


collection = collection_fixture(60)


def test_dask_gives_the_same_tags_as_the_local_pool_and_classify(cluster, model, collection,
                                                                 tmp_path, capsys):
    folder, good, broken = collection
    local, remote = str(tmp_path / "local.sqlite"), str(tmp_path / "dask.sqlite")
    tag([folder], model, local, top=3, workers=2, shard_size=6, progress=False)
    summary = tag([folder], model, remote, top=3, shard_size=6, progress=False,
                  scheduler=cluster[0].scheduler_address)
    assert summary["photos"] == len(good) + len(broken) and summary["failed"] == len(broken)
    got = rows(remote)
    assert_same_tags(got, rows(local))
    assert len({r["worker"] for r in got.values()}) >= 2   # the work was spread
    main(["classify", "--json", "--top", "3", "--model", model, *sorted(got)])
    for line in capsys.readouterr().out.splitlines():
        record = json.loads(line)
        row = got[record["path"]]
        if "error" in record:
            assert row["error"] == record["error"]
        else:
            assert row["classes"] == [p["index"] for p in record["predictions"]]
    # every worker loaded the model from the copy the cluster shipped to it
    client = cluster[1]

    def loaded_from():
        from predict.batch import worker

        return [net.path for net in worker._networks.values()], dict(worker._model_files)

    for paths, files in client.run(loaded_from).values():
        shipped = [p for p in files.values()]
        assert shipped and all(p not in (model,) for p in shipped)
        assert all(p in shipped for p in paths)


def pids(client):
    return list(client.run(os.getpid).values())


def kill_when(db, at_least, pid, fired):
    """In a thread: SIGKILL ``pid`` once ``db`` has ``at_least`` rows."""
    def watch():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with sqlite3.connect(db, timeout=5) as c:
                    if c.execute("SELECT COUNT(*) FROM photos").fetchone()[0] >= at_least:
                        os.kill(pid, signal.SIGKILL)
                        fired.append(pid)
                        return
            except sqlite3.OperationalError:
                pass
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_a_dask_worker_killed_mid_run_loses_nothing(cluster, model, tmp_path):
    c, client = cluster
    folder = tmp_path / "photos"
    bases = make_collection(str(folder / "bases"), 20, megapixels=(0.2, 0.6), png_every=0)
    listing = tmp_path / "list.txt"
    paths = []
    for i in range(600):
        link = folder / f"{i:04d}.jpg"
        os.symlink(bases[i % len(bases)], link)
        paths.append(str(link))
    listing.write_text("\n".join(paths))
    local, remote = str(tmp_path / "local.sqlite"), str(tmp_path / "dask.sqlite")
    tag([str(listing)], model, local, workers=2, shard_size=16, progress=False)
    client.wait_for_workers(WORKERS, timeout=60)
    fired = []
    watcher = kill_when(remote, 48, pids(client)[0], fired)
    summary = tag([str(listing)], model, remote, shard_size=16, progress=False,
                  scheduler=c.scheduler_address)
    watcher.join()
    assert fired, "the run ended before a worker could be killed"
    assert summary["failed"] == 0 and summary["isolated"] == 0
    assert_same_tags(rows(remote), rows(local))


def test_a_photo_that_kills_dask_workers_is_isolated(cluster, model, tmp_path):
    from batch_dask_helpers import PoisonPlugin

    c, client = cluster
    folder = tmp_path / "photos"
    good = make_collection(str(folder), 8)
    poison = str(folder / "roll2" / "poison.jpg")
    os.link(good[0], poison)
    client.wait_for_workers(WORKERS, timeout=60)
    client.register_plugin(PoisonPlugin())
    try:
        db = str(tmp_path / "tags.sqlite")
        summary = tag([str(folder)], model, db, shard_size=2, progress=False,
                      scheduler=c.scheduler_address)
    finally:
        client.unregister_worker_plugin(PoisonPlugin.name)
    got = rows(db)
    assert sorted(got) == sorted(good + [poison])
    assert got[poison]["error"] == faults.crash_error(faults.ISOLATE_AFTER)
    assert [p for p, r in got.items() if r["error"]] == [poison]
    assert summary["isolated"] == 1


@pytest.mark.slow
def test_thousands_of_camera_sized_photos_on_dask_match_local_and_classify(cluster, model,
                                                                          tmp_path, capsys):
    """1,200 JPEG/PNG files of 1-12 megapixels (120 distinct encodings, each
    linked under 10 names) through Dask, the local pool and classify."""
    folder = tmp_path / "camera"
    distinct = make_collection(str(folder / "distinct"), 120, megapixels=(1.0, 12.0), png_every=8)
    paths = []
    for copy in range(10):
        for i, src in enumerate(distinct):
            dst = folder / f"card{copy}" / f"{i:03d}{os.path.splitext(src)[1]}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, dst)
            paths.append(str(dst))
    local, remote = str(tmp_path / "local.sqlite"), str(tmp_path / "dask.sqlite")
    fast = tag([str(folder)], model, local, top=3, workers=2, progress=False)
    cluster[1].wait_for_workers(WORKERS, timeout=60)
    spread = tag([str(folder)], model, remote, top=3, progress=False,
                 scheduler=cluster[0].scheduler_address)
    with capsys.disabled():
        print(f"\nlocal pool: {fast['photos_per_second']:.1f} photos/s; Dask ({WORKERS} workers): "
              f"{spread['photos_per_second']:.1f} photos/s")
    got = rows(remote)
    assert len(got) == len(paths) + len(distinct) and not any(r["error"] for r in got.values())
    assert_same_tags(got, rows(local))
    for start in range(0, len(paths), 200):
        main(["classify", "--json", "--top", "3", "--model", model, *paths[start:start + 200]])
        for line in capsys.readouterr().out.splitlines():
            record = json.loads(line)
            assert got[record["path"]]["classes"] == [p["index"] for p in record["predictions"]]


def test_the_command_line_starts_a_local_dask_cluster(model, collection, tmp_path, capsys):
    folder, good, broken = collection
    db = str(tmp_path / "tags.sqlite")
    code = main(["tag", folder, "--model", model, "--db", db, "--dask-local", "2",
                 "--no-progress", "--shard-size", "16"])
    err = capsys.readouterr().err
    assert code == 1, err   # the broken files failed
    assert f"tagged {len(good)} photos, {len(broken)} failed" in err
    assert len(rows(db)) == len(good) + len(broken)
