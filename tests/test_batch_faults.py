"""Faults on a local process pool: a photo that kills its worker is isolated, a
worker killed from outside costs nothing, and a driver killed (SIGKILL) or
interrupted (Ctrl-C) mid-run resumes on the next run.  Afterwards every photo
has exactly one row, with the same tags as an undisturbed run."""
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from batch_helpers import assert_same_tags, make_collection, model, rows  # noqa: F401
from predict.batch import faults, tag, worker
from predict.batch.local import process_pool

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTOS = 1200


@pytest.fixture(scope="module")
def listing(tmp_path_factory):
    """A path list of PHOTOS photos: symlinks to 30 real-photo files, so the
    run lasts long enough to disturb it, yet costs little to make."""
    folder = tmp_path_factory.mktemp("many")
    bases = make_collection(str(folder / "bases"), 30, megapixels=(0.2, 0.6), png_every=0)
    links = folder / "links"
    links.mkdir()
    paths = []
    for i in range(PHOTOS):
        path = links / f"{i:05d}.jpg"
        os.symlink(bases[i % len(bases)], path)
        paths.append(str(path))
    path = folder / "list.txt"
    path.write_text("\n".join(paths) + "\n")
    return str(path), paths


@pytest.fixture(scope="module")
def undisturbed(model, listing, tmp_path_factory):
    db = str(tmp_path_factory.mktemp("clean") / "tags.sqlite")
    summary = tag([listing[0]], model, db, workers=2, shard_size=16, progress=False)
    assert summary["failed"] == 0
    return rows(db)


def test_a_photo_that_kills_its_worker_is_isolated(model, tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    good = make_collection(str(folder), 20)
    poison = str(folder / "roll1" / "poison.jpg")
    os.link(good[0], poison)
    real_decode = worker._decode

    def deadly(path, spec, max_pixels):
        if "poison" in path:
            os._exit(70)   # what a segfault in a decoder looks like from outside
        return real_decode(path, spec, max_pixels)

    # "fork" carries the patched module into the workers.
    monkeypatch.setattr(worker, "_decode", deadly)
    db = str(tmp_path / "tags.sqlite")
    summary = tag([str(folder)], model, db, workers=2, shard_size=4, progress=False,
                  make_executor=process_pool(2, multiprocessing.get_context("fork")))
    got = rows(db)
    assert sorted(got) == sorted(good + [poison])
    assert got[poison]["error"] == faults.crash_error(faults.ISOLATE_AFTER)
    assert [p for p, r in got.items() if r["error"]] == [poison]
    assert summary["isolated"] == 1 and summary["crashes"] >= 1 + faults.ISOLATE_AFTER


def _parents():
    """{pid: parent pid} of every process (from /proc)."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    out[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return out


def descendants(pid, depth=None):
    """Pids of the processes below ``pid``; only those exactly ``depth`` levels down if given."""
    parents = _parents()
    out, level = [], [pid]
    for d in range(1, 100):
        level = [p for p, parent in parents.items() if parent in level]
        if not level:
            break
        if depth is None or d == depth:
            out += level
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _default_sigint():
    # A test run started in the background by a non-interactive shell inherits SIGINT
    # ignored (POSIX), and so would the run under test: give it a terminal's Ctrl-C.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_tag(listing, model, db, *extra):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-m", "predict", "tag", listing, "--model", model, "--db", db,
         "--workers", "2", "--shard-size", "16", "--no-progress", *extra],
        env=env, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)


def wait_for_rows(db, at_least, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended too early: {proc.stderr.read()}"
        try:
            with sqlite3.connect(db, timeout=5) as c:
                n = c.execute("SELECT COUNT(*) FROM photos").fetchone()[0]
            if n >= at_least:
                return n
        except sqlite3.OperationalError:
            pass  # not created yet
        time.sleep(0.02)
    raise AssertionError("no rows appeared")


def workers_of(proc):
    """The pool's worker processes: the driver's grandchildren (children of the fork server)."""
    return descendants(proc.pid, depth=2)


def test_a_worker_killed_mid_run_loses_nothing(model, listing, undisturbed, tmp_path):
    db = str(tmp_path / "tags.sqlite")
    proc = start_tag(listing[0], model, db)
    wait_for_rows(db, 32, proc)
    victims = workers_of(proc)
    assert victims, descendants(proc.pid)
    os.kill(victims[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "shards lost to dead workers were retried; 0 photos isolated" in err
    assert_same_tags(rows(db), undisturbed)


def test_a_driver_killed_mid_run_resumes_and_leaves_no_orphans(model, listing, undisturbed,
                                                              tmp_path):
    db = str(tmp_path / "tags.sqlite")
    proc = start_tag(listing[0], model, db)
    done = wait_for_rows(db, 48, proc)
    below = descendants(proc.pid)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in below) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [(p, open(f"/proc/{p}/cmdline").read()) for p in below if alive(p)]
    assert not survivors, f"processes outlived their driver: {survivors}"
    partial = len(rows(db))
    assert done <= partial < PHOTOS
    again = start_tag(listing[0], model, db)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert f"{partial} already done (skipped)" in err
    assert_same_tags(rows(db), undisturbed)


def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(model, listing, undisturbed, tmp_path):
    db = str(tmp_path / "tags.sqlite")
    proc = start_tag(listing[0], model, db)
    wait_for_rows(db, 32, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted after" in err and "run the same command again to resume" in err
    assert "Traceback" not in err
    partial = len(rows(db))
    assert 0 < partial < PHOTOS
    again = start_tag(listing[0], model, db)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert_same_tags(rows(db), undisturbed)
