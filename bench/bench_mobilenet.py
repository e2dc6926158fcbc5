"""predict against onnxruntime on the same MobileNetV2, side by side, in one run.

    python bench/bench_mobilenet.py [--rounds 15] [--work build/bench] [--int8-model P]

Rows: predict float32, predict int8, onnxruntime float32, onnxruntime int8 (its static QDQ
quantization: per-channel int8 weights, uint8 activations, after quant_pre_process, calibrated on
the sample photos). predict's int8 model is, like onnxruntime's, int8 in every layer (the default
model's converter with --no-fallback, built once into --work; `make model-int8` keeps layers
float32 for accuracy and runs slower). A row whose model cannot be made here prints "n/a".
Figures, per engine:

- latency at batch 1, 1 and 2 threads: median and p90 of every call, and the spread of the
  per-round medians. Engines are interleaved call by call (A B C D, A B C D, ..., the order
  flipping every round; MEASURING.md): the machine is shared, so ratios measured in one run mean
  more than absolute times. With 2 threads, engine by engine within each round instead
  (onnxruntime's workers spin on after its calls and would take the core from the next call);
- throughput at batch 8 (images per second), 1 and 2 threads;
- peak RSS of a fresh process that imports the engine, loads the model and classifies one photo
  (VmHWM from /proc/self/status, read inside the child), with its RSS after the imports; each
  child imports only what that engine's user needs (onnxruntime's prepares the photo with a few
  lines of Pillow and numpy);
- model file size and load time (median of several loads, warm file cache).

GEMM efficiency: a chain of 1x1 convolutions (a pure GEMM) timed in predict, as a fraction of
this machine's float32 FMA peak, 16 multiply-adds per cycle per core (Zen 4: two 256-bit FMAs
per cycle, a 512-bit one counting as two) times the clock measured by bench/peak.c (a chain of
dependent integer adds retires one per cycle: adds per second is the clock; the same tool counts
the FMAs 12 independent chains retire per cycle, to check the 16, with AVX2 and with AVX-512:
a Xeon with two 512-bit FMA units retires up to 32, so there 16 is half its peak). The whole network's
efficiency is its multiply-adds over its 1-thread latency, against the same peak. int8: the same
chains in int8 (uint8 activations, q8panels16 weights, requantized outputs) against 64 uint8 x
int8 multiply-adds per cycle per core (one 512-bit vpdpbusd; peak.c counts what 12 independent
vpdpbusd chains retire, to check the 64; such a Xeon retires up to 128) times the same clock;
shown when the CPU has VNNI.

It prints a table with ratios (predict / onnxruntime: below 1 is faster, smaller) and writes
bench/results/<date>-<cpu>.json.
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import predict  # noqa: E402
from predict import _native  # noqa: E402
from predict.image import preprocess  # noqa: E402

ENGINES = ("predict-f32", "predict-int8", "ort-f32", "ort-int8")


def cpu_name():
    """The CPU's model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# -- models -------------------------------------------------------------------------------------

def sample_photos(work):
    """The sample photos as JPEG files in work/photos (skimage ships them; nothing downloaded)."""
    folder = work / "photos"
    if not folder.is_dir() or not any(folder.glob("*.jpg")):
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(ROOT / "tools" / "sample_photos.py"), str(folder)],
                       check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                       stdout=subprocess.DEVNULL)
    return sorted(str(p) for p in folder.glob("*.jpg"))


def build_models(work, int8_model, photos):
    """Paths of the four models (None where one cannot be made), built once into work."""
    from converters.default_model import PREPROCESS, build

    f32, onnx_path = work / "mobilenet_v2.pnet", work / "mobilenet_v2.onnx"
    if not f32.exists() or not onnx_path.exists():
        build(str(f32), onnx_path=str(onnx_path))
    models = {"predict-f32": str(f32), "ort-f32": str(onnx_path),
              "predict-int8": None, "ort-int8": None}
    notes = {}
    if int8_model:
        models["predict-int8"] = int8_model
    else:
        out = work / "mobilenet_v2_int8_fast.pnet"
        if not out.exists():
            # All int8, as onnxruntime's QDQ model is; absent here means n/a.
            r = subprocess.run([sys.executable, "-m", "converters.default_model", "-o", str(out),
                                "--int8-from", str(f32), "--no-fallback"], cwd=ROOT,
                               capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
            if r.returncode != 0:
                notes["predict-int8"] = "no int8 converter in this build"
        if out.exists():
            models["predict-int8"] = str(out)
    try:
        models["ort-int8"] = ort_int8(work, onnx_path, photos, PREPROCESS)
    except Exception as e:  # onnxruntime.quantization missing or failing: a row of n/a
        notes["ort-int8"] = f"quantize_static failed: {e}"
    return models, notes


def ort_int8(work, onnx_path, photos, spec):
    """onnxruntime's own int8 model at its best (MEASURING.md): QDQ, per-channel, uint8
    activations, after quant_pre_process, calibrated on the sample photos."""
    out = work / "mobilenet_v2_int8_qdq.onnx"
    if out.exists():
        return str(out)
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = work / "mobilenet_v2_pre.onnx"
    quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)
    import onnx
    name = onnx.load(str(pre), load_external_data=False).graph.input[0].name
    batches = [preprocess(p, spec)[None].astype(np.float32) for p in photos]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(batches)

        def get_next(self):
            x = next(self.items, None)
            return None if x is None else {name: x}

    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return str(out)


# -- engines ------------------------------------------------------------------------------------

def ort_session(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def open_engine(engine, path, threads, batch):
    """(run(x) for an NCHW float32 batch, close())."""
    if engine.startswith("predict"):
        net = predict.load(path, max_batch=batch, threads=threads)
        return (lambda x: net.run(x)), net.close
    session = ort_session(path, threads)
    name = session.get_inputs()[0].name
    return (lambda x: session.run(None, {name: x})), (lambda: None)


def timed_rounds(models, threads, batch, rounds, calls, x):
    """Per engine: every call's seconds, and each round's median; engines interleaved
    call by call at 1 thread, block by block at more."""
    live = {e: open_engine(e, p, threads, batch) for e, p in models.items() if p}
    times = {e: [] for e in live}
    medians = {e: [] for e in live}
    try:
        for run, _ in live.values():        # warm up: first calls fault pages in, plan caches
            for _ in range(2):
                run(x)
        for r in range(rounds):
            # Call by call, A B C A B C ... (the order flips every round): the engines
            # see the same moments of a shared machine, so their ratio holds.
            order = list(live) if r % 2 == 0 else list(reversed(list(live)))
            this = {e: [] for e in live}
            if threads == 1:
                for _ in range(calls):
                    for e in order:
                        t0 = time.perf_counter()
                        live[e][0](x)
                        this[e].append(time.perf_counter() - t0)
            else:
                # With 2+ threads, engine by engine within the round: onnxruntime's idle
                # workers spin on after its call (its default, part of its best), and the
                # next engine's call would find the other core taken (for tens of ms: a
                # pause lets them go to sleep). The first two calls of each block, with cold
                # caches, are not counted.
                for e in order:
                    time.sleep(0.1)
                    for i in range(calls + 2):
                        t0 = time.perf_counter()
                        live[e][0](x)
                        if i >= 2:
                            this[e].append(time.perf_counter() - t0)
            for e in live:
                times[e] += this[e]
                medians[e].append(float(np.median(this[e])))
    finally:
        for _, close in live.values():
            close()
    return times, medians


def latency_stats(times, medians):
    return {e: {"median_ms": 1e3 * float(np.median(t)), "p90_ms": 1e3 * float(np.percentile(t, 90)),
                "round_medians_ms": [round(1e3 * m, 3) for m in medians[e]],
                "spread_ms": [round(1e3 * min(medians[e]), 3), round(1e3 * max(medians[e]), 3)]}
            for e, t in times.items()}


# Each child imports what a user of that engine needs and nothing else: predict's own package
# (the model carries its preprocessing), or onnxruntime with the few lines of Pillow and numpy
# its user writes to prepare a photo. Importing predict's package into the onnxruntime child,
# as this bench once did, added predict's own memory to both sides and flattered the ratio.
CHILD = r"""
import json, sys, time
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
engine, path, photo, spec = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
if engine.startswith("predict"):
    import predict
else:
    import numpy as np
    from PIL import Image
    import onnxruntime as ort
after_imports = status("VmRSS:")
t0 = time.perf_counter()
if engine.startswith("predict"):
    net = predict.load(path, max_batch=1)
    load = time.perf_counter() - t0
    top = net.classify(photo, top=1)[0][0]
else:
    so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    load = time.perf_counter() - t0
    img = Image.open(photo).convert("RGB")
    k = spec["resize"] / min(img.size)
    img = img.resize((round(img.width * k), round(img.height * k)), Image.Resampling.BILINEAR)
    h, w = spec["size"]
    x0, y0 = (img.width - w) // 2, (img.height - h) // 2
    x = np.asarray(img.crop((x0, y0, x0 + w, y0 + h)), np.float32) / np.float32(spec["scale"])
    x = (x - np.float32(spec["mean"])) / np.float32(spec["std"])
    x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    top = int(np.argmax(s.run(None, {s.get_inputs()[0].name: x})[0]))
print(json.dumps({"rss_after_imports": after_imports, "peak_rss": status("VmHWM:"),
                  "first_load_s": load, "top": top}))
"""


def child_memory(engine, path, photo):
    """Peak RSS (VmHWM) of a fresh process that loads the model and classifies one photo."""
    import compileall

    from converters.default_model import PREPROCESS

    # An installed package has its bytecode compiled (pip does it; onnxruntime's is). Run from
    # the source tree under PYTHONDONTWRITEBYTECODE, predict's modules would be compiled in the
    # child on every import, and the compiler's memory counted as predict's.
    compileall.compile_dir(str(ROOT / "predict"), quiet=1)

    r = subprocess.run([sys.executable, "-c", CHILD, engine, path, photo, json.dumps(PREPROCESS)],
                       cwd=ROOT,
                       capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(r.stdout.strip().splitlines()[-1])


def load_seconds(engine, path, repeats=5):
    """Median seconds to open the model ready to run (warm file cache)."""
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        _, close = open_engine(engine, path, 1, 1)
        seconds.append(time.perf_counter() - t0)
        close()
    return float(np.median(seconds))


# -- GEMM efficiency ----------------------------------------------------------------------------

def measure_peak(work):
    """Clock and FMA throughput from bench/peak.c, compiled with the host compiler."""
    exe = work / "peak"
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    flags = ["-mavx2", "-mfma"] if platform.machine().lower() in ("x86_64", "amd64") else []
    subprocess.run([cc, "-O2", *flags, "-o", str(exe), str(ROOT / "bench" / "peak.c")], check=True)
    return json.loads(subprocess.run([str(exe)], capture_output=True, text=True,
                                     check=True).stdout)


def gemm_chain(n, hw, layers):
    """A header of `layers` 1x1 convolutions n -> n on an hw x hw image: pure GEMMs."""
    rng = np.random.default_rng(0)
    tensors = [{"name": "t0", "shape": [n, hw, hw], "dtype": "float32", "blob": None}]
    arrays, lays = [], []
    for i in range(layers):
        arrays.append((rng.standard_normal((n, 1, 1, n)) / np.sqrt(n)).astype(np.float32))
        tensors.append({"name": f"t{i + 1}", "shape": [n, hw, hw], "dtype": "float32", "blob": None})
        lays.append({"op": "conv", "name": f"c{i}", "inputs": [i], "output": i + 1,
                     "kernel": [1, 1], "strides": [1, 1], "dilations": [1, 1], "pads": [0, 0, 0, 0],
                     "groups": 1, "weight": i, "bias": None,
                     "act": {"kind": "none", "alpha": 0.0, "beta": 0.0}})
    header = {"tensors": tensors, "layers": lays, "inputs": [{"name": "x", "tensor": 0}],
              "outputs": [{"name": "y", "tensor": layers}]}
    return header, arrays


def gemm_chain_int8(n, hw, layers):
    """The same chain in int8: uint8 activations, q8panels16 weights, per-channel multipliers
    that keep the outputs spread over the bytes (so the work is the real one)."""
    from predict import quant
    from predict.layout import pack_q8panels16
    rng = np.random.default_rng(0)
    s_act, z_act = 0.05, 128
    tensors = [{"name": f"t{i}", "shape": [n, hw, hw], "dtype": "uint8", "scale": s_act,
                "zero_point": z_act, "blob": None} for i in range(layers + 1)]
    arrays, lays = [], []
    for i in range(layers):
        wq = rng.integers(-127, 128, (n, 1, 1, n)).astype(np.int8)
        s_w = np.full(n, 1.0 / (127 * np.sqrt(n)))
        arrays += [pack_q8panels16(wq), rng.integers(-1000, 1000, n).astype(np.int32),
                   quant.quantize_multipliers(s_act * s_w / s_act * 8)]
        lays.append({"op": "conv", "name": f"c{i}", "inputs": [i], "output": i + 1,
                     "kernel": [1, 1], "strides": [1, 1], "dilations": [1, 1], "pads": [0, 0, 0, 0],
                     "groups": 1, "weight": 3 * i, "bias": 3 * i + 1, "weight_layout": "q8panels16",
                     "act": {"kind": "none", "alpha": 0.0, "beta": 0.0},
                     "quant": {"params": 3 * i + 2, "zero": z_act, "lo": 0, "hi": 255, "lut": None,
                               "table": None}})
    header = {"tensors": tensors, "layers": lays, "inputs": [{"name": "x", "tensor": 0}],
              "outputs": [{"name": "y", "tensor": layers}]}
    return header, arrays


def gemm_efficiency_int8(peak_macs, rounds):
    """uint8 x int8 multiply-adds per second of predict's int8 GEMM (1x1 conv chains, with
    requantization), 1 thread, vs the measured vpdpbusd peak; None without VNNI."""
    if not peak_macs:
        return None
    out = {}
    for n, hw in ((256, 28), (512, 28), (1024, 14)):
        layers = 6
        header, arrays = gemm_chain_int8(n, hw, layers)
        x = np.random.default_rng(1).integers(0, 256, (1, hw, hw, n)).astype(np.uint8)
        with _native.NativeNet(header, arrays) as net:
            net.run([x])
            best = min(_best_of(lambda: net.run([x]), 3) for _ in range(rounds))
        macs = layers * hw * hw * n * n
        out[f"m{hw * hw}_k{n}_n{n}"] = {"gmacs": macs / best / 1e9,
                                         "fraction_of_peak": macs / best / peak_macs}
    return out


def gemm_efficiency(peak_macs, rounds):
    """Multiply-adds per second of predict's GEMM on large shapes, 1 thread, vs the peak."""
    out = {}
    for n, hw in ((256, 28), (512, 28), (1024, 14)):
        layers = 6
        header, arrays = gemm_chain(n, hw, layers)
        x = np.random.default_rng(1).standard_normal((1, hw, hw, n)).astype(np.float32)
        with _native.NativeNet(header, arrays) as net:
            net.run([x])
            best = min(_best_of(lambda: net.run([x]), 3) for _ in range(rounds))
        macs = layers * hw * hw * n * n
        out[f"m{hw * hw}_k{n}_n{n}"] = {"gmacs": macs / best / 1e9,
                                         "fraction_of_peak": macs / best / peak_macs}
    return out


def _best_of(fn, n):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


# -- report -------------------------------------------------------------------------------------

def ratio(a, b):
    return None if a is None or b is None else a / b


def fmt(v, spec=".2f"):
    return "n/a" if v is None else format(v, spec)


def print_table(res):
    lat, thr, mem = res["latency"], res["throughput_batch8"], res["memory"]
    print(f"\n{res['date']}  {res['cpu']}  kernels {res['isa']}\n")
    head = f"{'engine':<13}" + "".join(f"{h:>10}" for h in (
        "t1 med", "t1 p90", "t2 med", "t2 p90", "b8 t1/s", "b8 t2/s", "peakRSS", "RSS imp",
        "file MB", "load ms"))
    print(head + "\n" + "-" * len(head))
    for e in ENGINES:
        def g(d, t, k):
            return d.get(t, {}).get(e, {}).get(k)
        row = [g(lat, "1", "median_ms"), g(lat, "1", "p90_ms"), g(lat, "2", "median_ms"),
               g(lat, "2", "p90_ms"), g(thr, "1", "images_per_s"), g(thr, "2", "images_per_s"),
               mem.get(e, {}).get("peak_rss_mb"), mem.get(e, {}).get("rss_after_imports_mb"),
               res["file_mb"].get(e), res["load_ms"].get(e)]
        print(f"{e:<13}" + "".join(f"{fmt(v, '.1f' if i >= 4 else '.2f'):>10}"
                                   for i, v in enumerate(row)))
    print("\nratios predict / onnxruntime (latency, memory, size, load: < 1 is better; "
          "throughput: > 1 is better)")
    for kind in ("f32", "int8"):
        r = res["ratios"][kind]
        print(f"  {kind:<5} latency t1 {fmt(r['latency_t1'], '.3f')}  t2 {fmt(r['latency_t2'], '.3f')}"
              f"  throughput b8 t1 {fmt(r['throughput_b8_t1'], '.3f')}  t2 {fmt(r['throughput_b8_t2'], '.3f')}"
              f"  peak RSS {fmt(r['peak_rss'], '.3f')}  load {fmt(r['load'], '.3f')}")
    p = res["peak"]
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float("nan")
    print(f"\nload average {load:.1f} on {os.cpu_count()} CPUs during the run (figures from a busy "
          "machine are slow and noisy; the ratios, measured interleaved, hold better)")
    for t in ("1", "2"):
        spread = {e: v["spread_ms"] for e, v in res["latency"][t].items()}
        print(f"  per-round medians, {t} thread(s): " +
              ", ".join(f"{e} {lo:.2f}-{hi:.2f} ms" for e, (lo, hi) in spread.items()))
    print(f"\nclock {p['clock_hz'] / 1e9:.2f} GHz (dependent adds), FMA {p['fma_per_cycle']:.1f} "
          f"float32 multiply-adds/cycle measured with AVX2"
          + (f", {p['fma512_per_cycle']:.1f} with AVX-512" if p.get("fma512_per_cycle") else "")
          + f"; peak used {res['peak_gmacs']:.1f} GMAC/s (16/cycle)")
    for k, v in res["gemm"].items():
        print(f"  GEMM {k}: {v['gmacs']:.1f} GMAC/s = {100 * v['fraction_of_peak']:.0f}% of peak")
    print(f"  MobileNetV2 float32, 1 thread: {100 * res['network_fraction_of_peak']:.0f}% of peak")
    if res.get("gemm_int8"):
        print(f"int8: vpdpbusd {p.get('vnni_per_cycle', 0):.1f} uint8 x int8 multiply-adds/cycle measured; "
              f"peak used {res['peak_int8_gmacs']:.1f} GMAC/s (64/cycle)")
        for k, v in res["gemm_int8"].items():
            print(f"  int8 GEMM {k} (with requantization): {v['gmacs']:.1f} GMAC/s = "
                  f"{100 * v['fraction_of_peak']:.0f}% of peak")
    for e, note in res["notes"].items():
        print(f"  {e}: n/a ({note})")


def markdown(res):
    """The README's table of a result (python bench/bench_mobilenet.py --markdown FILE)."""
    lat, thr, mem = res["latency"], res["throughput_batch8"], res["memory"]
    lines = [f"`make bench`, {res['date'][:10]}, {res['cpu']} ({res['cpu_count']} vCPUs, kernels "
             f"{res['isa']}; load average {res.get('load_average_at_start') or 0:.1f} at the start), "
             "MobileNetV2 224x224:", "",
             "| engine | batch 1, 1 thread: median / p90 ms | batch 1, 2 threads: median / p90 ms "
             "| batch 8 img/s, 1 / 2 threads | peak RSS MB | file MB | load ms |",
             "|---|---|---|---|---|---|---|"]
    for e in ENGINES:
        def g(d, t, k):
            return d.get(t, {}).get(e, {}).get(k)
        if e not in res["file_mb"]:
            lines.append(f"| {e} | n/a | n/a | n/a | n/a | n/a | n/a |")
            continue
        lines.append(
            f"| {e} | {fmt(g(lat, '1', 'median_ms'))} / {fmt(g(lat, '1', 'p90_ms'))} "
            f"| {fmt(g(lat, '2', 'median_ms'))} / {fmt(g(lat, '2', 'p90_ms'))} "
            f"| {fmt(g(thr, '1', 'images_per_s'), '.1f')} / {fmt(g(thr, '2', 'images_per_s'), '.1f')} "
            f"| {fmt(mem[e]['peak_rss_mb'], '.1f')} | {fmt(res['file_mb'][e], '.1f')} "
            f"| {fmt(res['load_ms'][e], '.1f')} |")
    r = res["ratios"]["f32"]
    lines += ["", f"predict / onnxruntime float32: latency {fmt(r['latency_t1'], '.2f')} (1 thread), "
              f"{fmt(r['latency_t2'], '.2f')} (2 threads); batch-8 throughput {fmt(r['throughput_b8_t1'], '.2f')}"
              f" / {fmt(r['throughput_b8_t2'], '.2f')}; peak RSS {fmt(r['peak_rss'], '.2f')}; load time "
              f"{fmt(r['load'], '.2f')}. GEMM: " + ", ".join(
                  f"{k} {100 * v['fraction_of_peak']:.0f}%" for k, v in res["gemm"].items())
              + f" of a {res['peak_gmacs']:.1f} GMAC/s peak (16 per cycle at a measured "
              f"{res['peak']['clock_hz'] / 1e9:.2f} GHz)."]
    return "\n".join(lines)


def latency_only(present, rounds, calls, x1):
    """The quick check while working on kernels: batch-1 medians and ratios, 1 and 2 threads.
    Besides the ratio of the medians, the median of the per-round ratios: each round's engines
    ran in the same few hundred milliseconds of a shared machine."""
    print(f"load average {os.getloadavg()[0]:.1f} at the start; {rounds} rounds of {calls} calls")
    for threads in (1, 2):
        times, medians = timed_rounds(present, threads, 1, rounds, calls, x1)
        stats = latency_stats(times, medians)
        line = ", ".join(f"{e} {v['median_ms']:.2f} ms" for e, v in stats.items())
        print(f"{threads} thread(s): {line}")
        for kind in ("f32", "int8"):
            p, o = f"predict-{kind}", f"ort-{kind}"
            if p in medians and o in medians:
                per_round = [a / b for a, b in zip(medians[p], medians[o])]
                print(f"  {kind:<5} ratio of medians {stats[p]['median_ms'] / stats[o]['median_ms']:.3f}, "
                      f"median of round ratios {float(np.median(per_round)):.3f} "
                      f"(rounds {min(per_round):.3f}-{max(per_round):.3f})")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # 15 rounds: two-thread calls run episodically ~2x slow on a shared host (MEASURING.md), and
    # with 7 rounds one or two slow blocks moved an engine's 2-thread median by 5-10% between runs
    ap.add_argument("--rounds", type=int, default=15, help="interleaved rounds per figure")
    ap.add_argument("--calls", type=int, default=10, help="batch-1 calls per engine per round")
    ap.add_argument("--work", default=str(ROOT / "build" / "bench"), help="models and tools")
    ap.add_argument("--int8-model", help="a predict int8 .pnet of the same MobileNetV2 (default: "
                    "the all-int8 one, built once into --work)")
    ap.add_argument("--out", help="the JSON result file (default bench/results/<date>-<cpu>.json)")
    ap.add_argument("--latency-only", action="store_true",
                    help="batch-1 latency ratios only (1 and 2 threads), printed, no result file")
    ap.add_argument("--markdown", metavar="JSON", help="print a result file as the README's table")
    args = ap.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(pathlib.Path(args.markdown).read_text(encoding="utf-8"))))
        return 0

    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    photos = sample_photos(work)
    models, notes = build_models(work, args.int8_model, photos)
    present = {e: p for e, p in models.items() if p}
    from converters.default_model import PREPROCESS
    x1 = np.ascontiguousarray(preprocess(photos[0], PREPROCESS)[None], dtype=np.float32)
    x8 = np.concatenate([x1] * 8)

    if args.latency_only:
        return latency_only(present, args.rounds, args.calls, x1)
    first_peak = measure_peak(work)
    res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "cpu": cpu_name(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
           "isa": _native.isa(), "cpu_features": _native.cpu_features(),
           "load_average_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
           "models": models, "notes": notes, "latency": {}, "throughput_batch8": {}}
    for threads in (1, 2):
        times, medians = timed_rounds(present, threads, 1, args.rounds, args.calls, x1)
        res["latency"][str(threads)] = latency_stats(times, medians)
        times, medians = timed_rounds(present, threads, 8, args.rounds, max(2, args.calls // 4), x8)
        res["throughput_batch8"][str(threads)] = {
            e: {"images_per_s": 8 / float(np.median(t)), "batch_median_ms": 1e3 * float(np.median(t))}
            for e, t in times.items()}
    res["memory"] = {}
    for e, p in present.items():
        m = child_memory(e, p, photos[0])
        res["memory"][e] = {"peak_rss_mb": m["peak_rss"] / 2**20,
                            "rss_after_imports_mb": m["rss_after_imports"] / 2**20,
                            "first_load_ms": 1e3 * m["first_load_s"], "top_class": m["top"]}
    res["file_mb"] = {e: os.path.getsize(p) / 2**20 for e, p in present.items()}
    res["load_ms"] = {e: 1e3 * load_seconds(e, p) for e, p in present.items()}

    # The clock again, after the run: a core shared with another process measures slow,
    # so the faster of the two measurements stands (MEASURING.md).
    later = measure_peak(work)
    res["peak"] = max(first_peak, later, key=lambda p: p["clock_hz"])
    res["peak_measurements_hz"] = [first_peak["clock_hz"], later["clock_hz"]]
    res["peak_gmacs"] = 16 * res["peak"]["clock_hz"] / 1e9
    res["gemm"] = gemm_efficiency(res["peak_gmacs"] * 1e9, max(3, args.rounds // 2))
    # int8: 64 uint8 x int8 multiply-adds per cycle per core (one 512-bit vpdpbusd), times the
    # same measured clock; peak.c's own vpdpbusd count checks the 64.
    res["peak_int8_gmacs"] = 64 * res["peak"]["clock_hz"] / 1e9 if res["peak"].get("vnni_per_second") else None
    res["gemm_int8"] = gemm_efficiency_int8((res["peak_int8_gmacs"] or 0) * 1e9, max(3, args.rounds // 2))
    with predict.load(models["predict-f32"]) as net:
        macs = net.info()["macs"]
    res["network_macs"] = macs
    res["network_fraction_of_peak"] = macs / (res["latency"]["1"]["predict-f32"]["median_ms"] / 1e3) / (
        res["peak_gmacs"] * 1e9)

    def get(d, e, k):
        return d.get(e, {}).get(k)
    res["ratios"] = {}
    for kind in ("f32", "int8"):
        p, o = f"predict-{kind}", f"ort-{kind}"
        res["ratios"][kind] = {
            "latency_t1": ratio(get(res["latency"]["1"], p, "median_ms"), get(res["latency"]["1"], o, "median_ms")),
            "latency_t2": ratio(get(res["latency"]["2"], p, "median_ms"), get(res["latency"]["2"], o, "median_ms")),
            "throughput_b8_t1": ratio(get(res["throughput_batch8"]["1"], p, "images_per_s"),
                                      get(res["throughput_batch8"]["1"], o, "images_per_s")),
            "throughput_b8_t2": ratio(get(res["throughput_batch8"]["2"], p, "images_per_s"),
                                      get(res["throughput_batch8"]["2"], o, "images_per_s")),
            "peak_rss": ratio(get(res["memory"], p, "peak_rss_mb"), get(res["memory"], o, "peak_rss_mb")),
            "load": ratio(res["load_ms"].get(p), res["load_ms"].get(o)),
        }
    print_table(res)
    out = pathlib.Path(args.out) if args.out else ROOT / "bench" / "results" / (
        f"{res['date'][:10]}-{res['cpu'].split()[0].lower()}-{platform.machine()}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
