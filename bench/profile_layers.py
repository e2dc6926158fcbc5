"""Where the time goes: predict's per-layer times beside onnxruntime's per-node profile.

    python bench/profile_layers.py [--threads 1] [--runs 50] [--work build/bench]
                                   [--int8-model models/mobilenet_v2_int8.pnet] [--top 15]
                                   [--pairs] [--interleave] [--only f32|int8]

predict: each layer timed inside the C core with a monotonic clock (pd_net_set_profile), the
median over --runs runs. onnxruntime: its own profiler (SessionOptions.enable_profiling), the
median per node of its kernel time over the same number of runs. Both are grouped by kind of
layer (the first conv, depthwise 3x3 stride 1 or 2, 1x1 conv by output size, add, the rest) so
the two engines' rows line up even though their graphs differ (onnxruntime fuses, we fold).
Uses the models bench/bench_mobilenet.py builds in --work (run it once first).
"""

import argparse
import collections
import json
import os
import pathlib
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import predict  # noqa: E402
from predict.image import preprocess  # noqa: E402


def predict_kind(layer, dims):
    """A group name for one of our layers, dims = (h, w, c) of its output."""
    op = layer["op"]
    if op == "conv":
        k = tuple(layer.get("kernel", (1, 1)))
        if k == (1, 1):
            return f"conv1x1 out {dims[0]}x{dims[1]}"
        return f"conv{k[0]}x{k[1]} s{layer['strides'][0]}"
    if op == "depthwise":
        return f"depthwise s{layer['strides'][0]} out {dims[0]}x{dims[1]}"
    if op == "binary":
        return "add"
    return op


def predict_profile(path, threads, runs, x, between=None):
    """[(name, group, seconds)] per layer: medians of runs runs; with between (a callable,
    e.g. another engine's run, as bench_mobilenet.py interleaves them) called before each."""
    net = predict.load(path, max_batch=1, threads=threads)
    try:
        header = net._header
        core = net._live()
        from predict.network import _channels_first
        xin = [_channels_first(x, net._shape(net._inputs[0][1]))]
        for _ in range(3):
            core.run(xin, channels_first=True)
        if between is None:
            seconds = core.profile(xin, runs=runs, channels_first=True)
        else:
            samples = []
            for _ in range(runs):
                between()
                samples.append(core.profile(xin, runs=1, channels_first=True))
            seconds = list(np.median(np.array(samples), axis=0))
        rows = []
        for layer, s in zip(header["layers"], seconds):
            t = header["tensors"][layer["output"]]
            shape = t["shape"]
            dims = tuple(shape[-3:-1]) + (shape[-1],) if len(shape) == 3 else (
                tuple(shape[2:4]) + (shape[1],) if len(shape) == 4 else (1, 1, shape[-1]))
            rows.append((layer.get("name", layer["op"]), predict_kind(layer, dims), s))
        return rows
    finally:
        net.close()


def ort_profile(path, threads, runs, x):
    """[(node name, group, seconds)] per node: median kernel time over runs."""
    import onnxruntime as ort

    tmp = tempfile.mkdtemp(prefix="ortprof")
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tmp, "ort")
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    for _ in range(3):
        s.run(None, {name: x})
    per_node = collections.defaultdict(list)
    first = True
    for _ in range(runs):
        s.run(None, {name: x})
    trace = json.loads(pathlib.Path(s.end_profiling()).read_text())
    # The warm-up runs are the first 3 of each node's events: drop them.
    events = [e for e in trace if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    for e in events:
        per_node[e["name"][: -len("_kernel_time")]].append((e["args"].get("op_name", "?"), e["dur"] * 1e-6))
    del first
    rows = []
    for node, items in per_node.items():
        op = items[0][0]
        rows.append((node, op, float(np.median([d for _, d in items[3:]] or [d for _, d in items]))))
    return rows


def print_groups(title, rows):
    groups = collections.OrderedDict()
    for _, g, s in rows:
        groups.setdefault(g, [0, 0.0])
        groups[g][0] += 1
        groups[g][1] += s
    total = sum(s for _, _, s in rows)
    print(f"\n{title}: {1e3 * total:.3f} ms summed over {len(rows)} layers")
    for g, (n, s) in sorted(groups.items(), key=lambda kv: -kv[1][1]):
        print(f"  {g:28s} {n:3d} layers {1e3 * s:8.3f} ms {100 * s / total:5.1f}%")


def print_top(title, rows, top):
    print(f"\n{title}: the {top} slowest")
    for name, g, s in sorted(rows, key=lambda r: -r[2])[:top]:
        print(f"  {1e3 * s:7.3f} ms  {g:28s} {name}")


def layer_key(name):
    """The source layer a node or layer comes from: features.N.conv.M, features.N or the name."""
    parts = name.replace("_token", ".").split(".")
    if len(parts) >= 4 and parts[0] == "features" and parts[2] == "conv":
        return ".".join(parts[:4])
    if parts[0] == "features" and len(parts) >= 2:
        return ".".join(parts[:2])
    return parts[0] if parts[0] != "classifier" else "classifier"


def print_pairs(ours, theirs):
    """Ours beside theirs per source layer, in our order, with the difference."""
    a, b = collections.OrderedDict(), collections.defaultdict(float)
    groups = {}
    for name, g, s in ours:
        k = layer_key(name)
        a[k] = a.get(k, 0.0) + s
        groups.setdefault(k, g)
    for name, _, s in theirs:
        k = layer_key(name)
        # onnxruntime names a fused conv after its batch norm: the linear projection of
        # block N (conv.2 here) is its conv.3, features.1's (conv.1 here) its conv.2.
        if k not in a:
            block, _, idx = k.rpartition(".")
            if idx.isdigit() and f"{block}.{int(idx) - 1}" in a:
                k = f"{block}.{int(idx) - 1}"
        b[k] += s
    print("\nper source layer: predict ms, onnxruntime ms, difference (+ = we are slower)")
    for k, s in a.items():
        print(f"  {k:22s} {groups[k]:28s} {1e3 * s:7.3f} {1e3 * b.get(k, 0.0):7.3f} "
              f"{1e3 * (s - b.get(k, 0.0)):+7.3f}")
    rest = sum(v for k, v in b.items() if k not in a)
    print(f"  onnxruntime nodes matching no layer of ours: {1e3 * rest:.3f} ms")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--work", default=str(ROOT / "build" / "bench"))
    ap.add_argument("--int8-model", default=str(ROOT / "models" / "mobilenet_v2_int8.pnet"))
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--interleave", action="store_true",
                    help="run onnxruntime before each of predict's runs, as the bench interleaves them "
                         "(caches then start cold, as in the bench)")
    ap.add_argument("--pairs", action="store_true", help="each source layer side by side")
    ap.add_argument("--only", choices=("f32", "int8"), help="one precision only")
    args = ap.parse_args(argv)
    work = pathlib.Path(args.work)
    from converters.default_model import PREPROCESS
    photo = sorted((work / "photos").glob("*.jpg"))[0]
    x = np.ascontiguousarray(preprocess(str(photo), PREPROCESS)[None], dtype=np.float32)
    pairs = [("f32", str(work / "mobilenet_v2.pnet"), str(work / "mobilenet_v2.onnx")),
             ("int8", args.int8_model, str(work / "mobilenet_v2_int8_qdq.onnx"))]
    for kind, ours, theirs in pairs:
        if args.only and kind != args.only:
            continue
        between = None
        if args.interleave:
            from bench_mobilenet import ort_session
            session = ort_session(theirs, args.threads)
            name = session.get_inputs()[0].name
            between = lambda: session.run(None, {name: x})  # noqa: E731
        p = predict_profile(ours, args.threads, args.runs, x, between)
        o = ort_profile(theirs, args.threads, args.runs, x)
        print_groups(f"predict {kind}, {args.threads} thread(s)", p)
        print_top(f"predict {kind}", p, args.top)
        print_groups(f"onnxruntime {kind}, {args.threads} thread(s)", o)
        print_top(f"onnxruntime {kind}", o, args.top)
        if args.pairs:
            print_pairs(p, o)
    return 0


if __name__ == "__main__":
    sys.exit(main())
