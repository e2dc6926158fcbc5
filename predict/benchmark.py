"""How fast and how lean one model runs on this machine: ``predict bench``.

``measure(model)`` times loading the model, inference at batch 1 (median and 90th percentile)
and throughput at a larger batch, and runs a fresh Python process that imports predict, loads
the model and classifies one photo, reporting that process's peak resident memory (what a
1 GB board has to hold). It needs nothing but predict itself; ``bench/`` holds the side-by-side
comparisons with onnxruntime.

    >>> r = measure("models/mobilenet_v2.pnet", runs=5)     # doctest: +SKIP
    >>> r["latency_ms"]["median"], r["fresh_process"]["peak_rss_mb"]   # doctest: +SKIP
    (3.2, 48.1)
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

__all__ = ["measure", "report"]

# Runs in a fresh interpreter: imports, loads, classifies one photo, and reports its own peak
# resident memory. Linux has the high-water mark in /proc/self/status (VmHWM); elsewhere
# ru_maxrss of the process itself (kilobytes on Linux and BSD, bytes on macOS).
_CHILD = r"""
import json, sys, time
def rss(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if key != "VmHWM:":
        return None
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024
model, photo, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
import predict
after_imports = rss("VmRSS:")
t0 = time.perf_counter()
net = predict.load(model, threads=threads, max_batch=1)
load = time.perf_counter() - t0
top = net.classify(photo, top=1)[0]
print(json.dumps({"after_imports": after_imports, "peak": rss("VmHWM:"), "load_s": load,
                  "top": [top[0], float(top[1])]}))
"""


def _synthetic_photo(folder):
    """A 640x480 JPEG with smooth colours and some texture, when no photo is given."""
    from PIL import Image

    y, x = np.mgrid[0:480, 0:640].astype(np.float32)
    rgb = np.stack([x / 640 * 255, y / 480 * 255, (np.sin(x / 9) * np.cos(y / 7) + 1) * 127], -1)
    path = os.path.join(folder, "synthetic.jpg")
    Image.fromarray(rgb.astype(np.uint8)).save(path, quality=90)
    return path


def _fresh_process(model, photo, threads):
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, os.path.abspath(model), os.path.abspath(photo),
         str(threads)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path},
        timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"the fresh process failed: {result.stderr.strip()[-2000:]}")
    out = json.loads(result.stdout.strip().splitlines()[-1])
    mb = 1 / 2**20
    return {"peak_rss_mb": out["peak"] * mb,
            "rss_after_imports_mb": None if out["after_imports"] is None
            else out["after_imports"] * mb,
            "load_ms": out["load_s"] * 1e3, "top": out["top"]}


def _timed(fn, runs):
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return np.asarray(seconds)


def measure(model, photo=None, *, threads=1, batch=8, runs=30, fresh=True):
    """Measures one model on this machine; returns a dict (see ``report`` for the fields).

    ``photo`` is the photo the fresh process classifies and the inputs are made from (a
    synthetic 640x480 JPEG when None); ``runs`` batch-1 runs give the latency median and
    90th percentile, ``max(3, runs // 4)`` batch runs the throughput; ``fresh=False`` skips
    the fresh-process memory measurement.

    >>> measure("models/mobilenet_v2.pnet", runs=5)["latency_ms"]   # doctest: +SKIP
    {'median': 3.2, 'p90': 3.4, 'runs': 5}
    """
    import predict
    from predict import _native
    from predict.image import preprocess

    if runs < 1 or batch < 1 or threads < 1:
        raise ValueError("runs, batch and threads must be >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        if photo is None:
            photo = _synthetic_photo(tmp)
        loads = []
        for _ in range(5):
            start = time.perf_counter()
            net = predict.load(model, threads=threads, max_batch=batch)
            loads.append(time.perf_counter() - start)
            net.close()
        with predict.load(model, threads=threads, max_batch=batch) as net:
            x1 = preprocess(photo, net.preprocess_spec)[None]
            xb = np.repeat(x1, batch, axis=0)
            for _ in range(3):
                net.run(x1)     # warm up: first touches of the weights and the arena
            one = _timed(lambda: net.run(x1), runs)
            many = _timed(lambda: net.run(xb), max(3, runs // 4))
            info = net.info()
        result = {
            "model": os.path.abspath(model), "file_mb": os.path.getsize(model) / 2**20,
            "sha256": info["sha256"], "isa": _native.isa(), "threads": threads,
            "load_ms": float(np.median(loads)) * 1e3,
            "latency_ms": {"median": float(np.median(one)) * 1e3,
                           "p90": float(np.percentile(one, 90)) * 1e3, "runs": runs},
            "throughput": {"batch": batch, "images_per_s": batch / float(np.median(many))},
            "fresh_process": _fresh_process(model, photo, threads) if fresh else None,
        }
    return result


def report(result):
    """The text ``predict bench`` prints for a ``measure`` result.

    >>> print(report(measure("models/mobilenet_v2.pnet", runs=5)))   # doctest: +SKIP
    model      models/mobilenet_v2.pnet (13.6 MB) ...
    """
    lat, thr = result["latency_ms"], result["throughput"]
    lines = [
        f"model      {result['model']} ({result['file_mb']:.1f} MB)",
        f"kernels    {result['isa']}, {result['threads']} thread(s)",
        f"load       {result['load_ms']:.1f} ms (median of 5)",
        f"batch 1    median {lat['median']:.2f} ms, p90 {lat['p90']:.2f} ms ({lat['runs']} runs)",
        f"batch {thr['batch']:<4} {thr['images_per_s']:.1f} images/s",
    ]
    fresh = result["fresh_process"]
    if fresh is not None:
        after = fresh["rss_after_imports_mb"]
        lines.append(
            f"memory     a fresh process that loads the model and classifies one photo peaks at "
            f"{fresh['peak_rss_mb']:.1f} MB resident"
            + (f" ({after:.1f} MB after importing predict)" if after is not None else ""))
    return "\n".join(lines)
