"""A path list far longer than anything held in memory streams through with
flat driver memory: every path gets its row (failed: the files do not
exist), and the driver's peak RSS (VmHWM, read by the driver itself at the
end, so a fresh process measures only its own run) does not grow with the
list.  20,000 paths by default; one million under ``-m slow``."""
import os
import re
import sqlite3
import subprocess
import sys

import pytest

from test_network import write_tiny

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# AddressSanitizer keeps freed memory in quarantine: resident memory says nothing there.
pytestmark = pytest.mark.skipif(os.environ.get("PREDICT_SANITIZED") == "1",
                                reason="memory figures are meaningless under AddressSanitizer")


def run_list(tmp_path, count, model):
    listing = tmp_path / f"list{count}.txt"
    with open(listing, "w") as f:
        for i in range(count):
            f.write(f"/nonexistent/predict-test/{i // 1000:04d}/photo{i:07d}.jpg\n")
    db = tmp_path / f"tags{count}.sqlite"
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run(
        [sys.executable, "-m", "predict", "tag", str(listing), "--model", model, "--db", str(db),
         "--workers", "2", "--shard-size", "512", "--no-progress"],
        env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 1, proc.stderr   # every photo failed: they do not exist
    assert f"tagged 0 photos, {count} failed" in proc.stderr, proc.stderr
    peak = float(re.search(r"driver peak memory (\d+) MB", proc.stderr).group(1))
    rate = float(re.search(r"in [\d.]+ s: ([\d.]+) photos/s", proc.stderr).group(1))
    with sqlite3.connect(db) as c:
        n, errors = c.execute(
            "SELECT COUNT(DISTINCT path), SUM(error LIKE '%: no such file') FROM photos").fetchone()
    assert n == errors == count
    return peak, rate


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.pnet"
    write_tiny(path)
    return str(path)


def check_flat(tmp_path, model, small, large, slack_mb):
    peak_small, _ = run_list(tmp_path, small, model)
    peak_large, rate = run_list(tmp_path, large, model)
    print(f"\ndriver peak RSS: {peak_small:.0f} MB for {small:,} paths, {peak_large:.0f} MB for "
          f"{large:,} paths ({rate:,.0f} paths/s)")
    assert peak_large - peak_small < slack_mb, (peak_small, peak_large)


def test_twenty_thousand_paths_stream_with_flat_driver_memory(tmp_path, model):
    check_flat(tmp_path, model, 2_000, 20_000, slack_mb=8)


@pytest.mark.slow
def test_a_million_paths_stream_with_flat_driver_memory(tmp_path, model):
    check_flat(tmp_path, model, 20_000, 1_000_000, slack_mb=12)
