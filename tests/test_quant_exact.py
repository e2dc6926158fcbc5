"""The int8 reference C kernels against predict.quant_ref, bit for bit.

Each case builds a one-layer int8 net (quantize -> op -> outputs uint8) with random awkward
shapes (1, primes, odd channels) and random parameters, runs it in the C core and compares
every output byte with the numpy twin. Requantization edge cases (multipliers near 0 and near
1, shifts at both ends, saturation) have their own tests.
"""

import numpy as np
import pytest

from predict import _native, graph, quant, quant_ref
from predict._native import NativeNet
from predict.layout import pack_q8panels16

RNG_SEEDS = range(6)


def _blobs(header, arrays):
    from converters.quantize import _with_blobs
    h = _with_blobs(dict(header, format="pnet", version=1, features=None, preprocess=None,
                         labels=[], provenance={}), arrays)
    graph.validate(h)
    return h


def _tensor(name, shape, scale=None, zero=None):
    t = {"name": name, "shape": list(shape), "dtype": "float32", "blob": None}
    if scale is not None:
        t.update(dtype="uint8", scale=float(np.float32(scale)), zero_point=int(zero))
    return t


def _run(header, arrays, inputs):
    """C outputs and numpy outputs of every layer, given uint8 core inputs."""
    h = _blobs(header, arrays)
    outs = [layer["output"] for layer in h["layers"]]
    with NativeNet(h, arrays, max_batch=len(inputs[0]), outputs=outs) as net:
        got = net.run(inputs)
    values = {io["tensor"]: x for io, x in zip(h["inputs"], inputs)}
    for layer in h["layers"]:
        values[layer["output"]] = quant_ref.run_layer(h, arrays, layer,
                                                      [values[t] for t in layer["inputs"]])
    return got, [values[t] for t in outs]


def _random_rq(rng, n):
    """Multipliers across the whole allowed range: real M from 2^-31 to ~4."""
    reals = 2.0 ** rng.uniform(-31, 2, n)
    return quant.quantize_multipliers(reals)


def _stage(rng, arrays, n, lut=False):
    arrays.append(_random_rq(rng, n))
    lo, hi = sorted(rng.integers(0, 256, 2).tolist())
    q = {"params": len(arrays) - 1, "zero": int(rng.integers(0, 256)), "lo": lo, "hi": hi,
         "lut": None, "table": None}
    if lut:
        arrays.append(rng.integers(0, 256, 256).astype(np.uint8))
        q["lut"] = len(arrays) - 1
    return q


def _io(header, n_in=1):
    header["inputs"] = [{"name": f"x{i}", "tensor": i} for i in range(n_in)]
    header["outputs"] = [{"name": "y", "tensor": header["layers"][-1]["output"]}]
    return header


NONE = {"kind": "none", "alpha": 0.0, "beta": 0.0}


ISAS = ["ref", "avx2", "avx512", "neon", "neondot"]


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("kind", ["conv", "conv1x1", "grouped", "depthwise", "fc"])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("packed", [False, True], ids=["ohwi", "q8panels16"])
def test_gemm_ops_match_numpy(seed, kind, isa, packed, monkeypatch):
    """Every kernel family (PREDICT_ISA), weights OHWI (packed by the core) or packed in the
    file, equals the numpy twin byte for byte."""
    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    if packed and kind == "depthwise":
        pytest.skip("depthwise weights are HWC, never packed")
    monkeypatch.setenv("PREDICT_ISA", isa)
    rng = np.random.default_rng(seed)
    c = int(rng.choice([1, 3, 5, 7, 13])) * (2 if kind == "grouped" else 1)
    h, w = (int(v) for v in rng.choice([1, 2, 5, 7, 11], 2))
    k = 1 if kind == "conv1x1" else int(rng.choice([1, 2, 3]))
    stride, dil = (1, 1) if kind == "conv1x1" else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    ext = (k - 1) * dil + 1
    pads = [0] * 4 if kind == "conv1x1" else [int(rng.integers(0, ext)) for _ in range(4)]
    h, w = max(h, ext), max(w, ext)
    groups = 2 if kind == "grouped" else 1
    cout = c if kind == "depthwise" else int(rng.choice([1, 2, 3, 5, 11, 17, 37, 67])) * groups
    arrays = []
    if kind == "fc":
        arrays.append(rng.integers(-127, 128, (cout, c * h * w)).astype(np.int8))
        shape_in = [c * h * w]
        out_shape = [cout]
    elif kind == "depthwise":
        arrays.append(rng.integers(-127, 128, (k, k, c)).astype(np.int8))
    else:
        arrays.append(rng.integers(-127, 128, (cout, k, k, c // groups)).astype(np.int8))
    arrays.append(rng.integers(-2**29, 2**29, cout).astype(np.int32))
    layer = {"op": "fc" if kind == "fc" else "depthwise" if kind == "depthwise" else "conv",
             "name": "op", "inputs": [0], "output": 1, "weight": 0, "bias": 1, "act": NONE,
             "quant": _stage(rng, arrays, cout, lut=bool(seed % 2))}
    if kind != "fc":
        layer.update(kernel=[k, k], strides=[stride, stride], dilations=[dil, dil], pads=pads)
        if kind != "depthwise":
            layer["groups"] = groups
        shape_in = [c, h, w]
        ho = graph.window_output_size(h, k, stride, dil, pads[0], pads[2])
        wo = graph.window_output_size(w, k, stride, dil, pads[1], pads[3])
        out_shape = [cout, ho, wo]
    if packed:
        arrays[0] = pack_q8panels16(arrays[0], groups)
        layer["weight_layout"] = "q8panels16"
    header = _io({"tensors": [_tensor("x", shape_in, 0.1, rng.integers(0, 256)),
                              _tensor("y", out_shape, 0.2, 7)], "layers": [layer]})
    x = rng.integers(0, 256, (3,) + quant_ref.core_hwc(shape_in)).astype(np.uint8)
    got, want = _run(header, arrays, [x])
    np.testing.assert_array_equal(got[0], want[0])


# (channels, kernel hw, stride, dilation hw, pads t/l/b/r, input hw): image-stem convs, whose
# im2col copies whole kernel rows of at most 16 bytes, around every border case; tiles of 96
# pixels start mid-row; a kernel taller than the fast loop's 16 rows.
STEM_CASES = [(3, (3, 3), 2, (1, 1), (1, 1, 1, 1), (37, 41)),
              (3, (3, 3), 2, (1, 1), (0, 0, 0, 0), (226, 226)),
              (4, (2, 2), 1, (1, 1), (0, 1, 1, 0), (23, 19)),
              (1, (5, 5), 3, (2, 1), (2, 4, 1, 3), (40, 33)),
              (1, (5, 5), 1, (1, 1), (4, 4, 4, 4), (9, 30)),
              (2, (7, 7), 2, (1, 1), (3, 3, 3, 3), (30, 31)),
              (1, (17, 1), 1, (1, 1), (8, 0, 8, 0), (40, 20))]


@pytest.mark.parametrize("case", STEM_CASES)
@pytest.mark.parametrize("isa", ISAS)
def test_stem_convs_match_numpy(case, isa, monkeypatch):
    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)
    c, k, stride, dil, pads, (h, w) = case
    rng = np.random.default_rng(h * w + c)
    cout = 32
    arrays = [rng.integers(-127, 128, (cout, k[0], k[1], c)).astype(np.int8),
              rng.integers(-2**14, 2**14, cout).astype(np.int32)]
    layer = {"op": "conv", "name": "stem", "inputs": [0], "output": 1, "weight": 0, "bias": 1,
             "act": NONE, "quant": _stage(rng, arrays, cout), "kernel": list(k),
             "strides": [stride, stride], "dilations": list(dil), "pads": list(pads), "groups": 1}
    ho = graph.window_output_size(h, k[0], stride, dil[0], pads[0], pads[2])
    wo = graph.window_output_size(w, k[1], stride, dil[1], pads[1], pads[3])
    header = _blobs(_io({"tensors": [_tensor("x", [c, h, w], 0.1, int(rng.integers(0, 256))),
                                     _tensor("y", [cout, ho, wo], 0.2, 7)], "layers": [layer]}), arrays)
    x = rng.integers(0, 256, (2, h, w, c)).astype(np.uint8)
    want = quant_ref.run_layer(header, arrays, layer, [x])
    with NativeNet(header, arrays, max_batch=2) as net:
        for threads in (1, 2):
            net.set_threads(threads)
            np.testing.assert_array_equal(net.run([x])[0], want)


@pytest.mark.parametrize("c", [1, 63, 64, 65, 130, 1280])
@pytest.mark.parametrize("isa", ISAS)
def test_global_avgpool_every_family_matches_numpy(c, isa, monkeypatch):
    """Channel counts around the 64 of a SIMD step, the zero points at random."""
    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)
    rng = np.random.default_rng(c)
    h, w = int(rng.integers(1, 9)), int(rng.integers(1, 9))
    arrays = []
    layer = {"op": "global_avgpool", "name": "op", "inputs": [0], "output": 1,
             "quant": _stage(rng, arrays, 1)}
    header = _io({"tensors": [_tensor("x", [c, h, w], 0.1, rng.integers(0, 256)),
                              _tensor("y", [c, 1, 1], 0.1, 3)], "layers": [layer]})
    x = rng.integers(0, 256, (2, h, w, c)).astype(np.uint8)
    got, want = _run(header, arrays, [x])
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("isa", ISAS)
def test_depthwise_simd_shapes_match_numpy(seed, isa, monkeypatch):
    """The depthwise shapes the SIMD kernels take (16 channels or more, 3x3 and 5x5, others up to
    7x7), with odd channel counts, strides, dilations and uneven padding, on every kernel family,
    equal the numpy twin byte for byte."""
    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)
    rng = np.random.default_rng(500 + seed)
    c = int(rng.choice([16, 17, 24, 33, 40, 97]))
    k = int(rng.choice([3, 5, 3, 5, 2, 7]))
    stride, dil = int(rng.integers(1, 3)), int(rng.choice([1, 1, 2]))
    ext = (k - 1) * dil + 1
    pads = [int(rng.integers(0, ext)) for _ in range(4)]
    h, w = (max(int(v), ext) for v in rng.choice([1, 4, 7, 12, 19], 2))
    arrays = [rng.integers(-127, 128, (k, k, c)).astype(np.int8),
              rng.integers(-2**29, 2**29, c).astype(np.int32)]
    layer = {"op": "depthwise", "name": "op", "inputs": [0], "output": 1, "weight": 0, "bias": 1,
             "act": NONE, "quant": _stage(rng, arrays, c, lut=bool(seed % 2)),
             "kernel": [k, k], "strides": [stride, stride], "dilations": [dil, dil], "pads": pads}
    ho = graph.window_output_size(h, k, stride, dil, pads[0], pads[2])
    wo = graph.window_output_size(w, k, stride, dil, pads[1], pads[3])
    header = _io({"tensors": [_tensor("x", [c, h, w], 0.1, rng.integers(0, 256)),
                              _tensor("y", [c, ho, wo], 0.2, 7)], "layers": [layer]})
    x = rng.integers(0, 256, (2, h, w, c)).astype(np.uint8)
    got, want = _run(header, arrays, [x])
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("k, stride, dil, pads", [(3, 1, 1, (1, 1, 1, 1)), (3, 1, 1, (0, 0, 0, 0)),
                                                  (3, 1, 1, (2, 0, 1, 2)), (5, 1, 1, (2, 2, 2, 2)),
                                                  (3, 2, 1, (1, 1, 1, 1)), (3, 1, 2, (2, 1, 2, 1)),
                                                  (3, (2, 1), 1, (1, 1, 1, 1))])
@pytest.mark.parametrize("w", [1, 2, 3, 4, 5, 8, 13])
@pytest.mark.parametrize("isa", ISAS)
def test_depthwise_of_32_channels_matches_numpy(k, stride, dil, pads, w, isa, monkeypatch):
    """32 channels (MobileNetV2's first depthwise layer): the VNNI kernel loads two adjacent
    pixels' taps at once where every column they read is inside the input; every width from
    one pixel up, padding on either side, odd widths (a last pixel alone), and the strides and
    dilations that must not take that path, equal the numpy twin byte for byte."""
    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)
    sh, sw = stride if isinstance(stride, tuple) else (stride, stride)
    rng = np.random.default_rng(k * 1000 + w * 10 + sh + sw + dil)
    c, h = 32, 6
    ext = (k - 1) * dil + 1
    w = max(w, ext - pads[1] - pads[3])
    arrays = [rng.integers(-127, 128, (k, k, c)).astype(np.int8),
              rng.integers(-2**20, 2**20, c).astype(np.int32)]
    layer = {"op": "depthwise", "name": "op", "inputs": [0], "output": 1, "weight": 0, "bias": 1,
             "act": NONE, "quant": _stage(rng, arrays, c), "kernel": [k, k], "strides": [sh, sw],
             "dilations": [dil, dil], "pads": list(pads)}
    ho = graph.window_output_size(h, k, sh, dil, pads[0], pads[2])
    wo = graph.window_output_size(w, k, sw, dil, pads[1], pads[3])
    header = _io({"tensors": [_tensor("x", [c, h, w], 0.1, int(rng.integers(0, 256))),
                              _tensor("y", [c, ho, wo], 0.2, 7)], "layers": [layer]})
    x = rng.integers(0, 256, (2, h, w, c)).astype(np.uint8)
    got, want = _run(header, arrays, [x])
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("rows", [1, 7, 14, 29, 56])
@pytest.mark.parametrize("isa", ISAS)
def test_depthwise_rows_split_over_threads_match_numpy(rows, isa, monkeypatch):
    """One sample's output rows dealt over 2 to 5 threads (run_q8.c: a multiple of the thread
    count of parts, rows spread evenly); fresh inputs for every thread count, so a row left
    unwritten could not pass with the previous run's bytes."""
    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)
    rng = np.random.default_rng(rows)
    c, w = 80, 9
    arrays = [rng.integers(-127, 128, (3, 3, c)).astype(np.int8),
              rng.integers(-2**20, 2**20, c).astype(np.int32)]
    layer = {"op": "depthwise", "name": "op", "inputs": [0], "output": 1, "weight": 0, "bias": 1,
             "act": NONE, "quant": _stage(rng, arrays, c), "kernel": [3, 3], "strides": [1, 1],
             "dilations": [1, 1], "pads": [1, 1, 1, 1]}
    header = _blobs(_io({"tensors": [_tensor("x", [c, rows, w], 0.1, 3),
                                     _tensor("y", [c, rows, w], 0.2, 7)], "layers": [layer]}), arrays)
    with NativeNet(header, arrays, max_batch=1) as net:
        for threads in (2, 3, 5, 1):
            x = rng.integers(0, 256, (1, rows, w, c)).astype(np.uint8)
            net.set_threads(threads)
            np.testing.assert_array_equal(net.run([x])[0],
                                          quant_ref.run_layer(header, arrays, layer, [x]))


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("op", ["maxpool", "avgpool", "global_avgpool", "global_maxpool"])
def test_pools_match_numpy(seed, op):
    rng = np.random.default_rng(100 + seed)
    c = int(rng.choice([1, 3, 7, 17]))
    h, w = (int(v) for v in rng.choice([1, 2, 5, 7, 13], 2))
    arrays = []
    layer = {"op": op, "name": "op", "inputs": [0], "output": 1}
    out = [c, 1, 1]
    if op in ("maxpool", "avgpool"):
        k = [int(v) for v in rng.integers(1, 4, 2)]
        s = [int(v) for v in rng.integers(1, 3, 2)]
        h, w = max(h, k[0]), max(w, k[1])
        pads = [int(rng.integers(0, k[0])), int(rng.integers(0, k[1])),
                int(rng.integers(0, k[0])), int(rng.integers(0, k[1]))]
        ceil = bool(rng.integers(0, 2))
        layer.update(kernel=k, strides=s, pads=pads, ceil_mode=ceil)
        if op == "maxpool":
            layer["dilations"] = [1, 1]
        else:
            layer["count_include_pad"] = bool(rng.integers(0, 2))
        out = [c, graph.window_output_size(h, k[0], s[0], 1, pads[0], pads[2], ceil),
               graph.window_output_size(w, k[1], s[1], 1, pads[1], pads[3], ceil)]
    if op in ("avgpool", "global_avgpool"):
        n = layer["kernel"][0] * layer["kernel"][1] if op == "avgpool" else 1
        layer["quant"] = _stage(rng, arrays, n)
    else:
        layer["quant"] = {"params": None, "zero": 0, "lo": 0, "hi": 255, "lut": None, "table": None}
    header = _io({"tensors": [_tensor("x", [c, h, w], 0.1, 3), _tensor("y", out, 0.1, 3)],
                  "layers": [layer]})
    x = rng.integers(0, 256, (2, h, w, c)).astype(np.uint8)
    got, want = _run(header, arrays, [x])
    np.testing.assert_array_equal(got[0], want[0])


def _binary_layer(rng, op):
    """(layer, arrays) of an int8 add, sub or mul of tensors 0 and 1 into tensor 2, with
    random requantization."""
    arrays = []
    if op == "mul":
        q = _stage(rng, arrays, 1)
    else:
        arrays.append(quant.add_multipliers(*(2.0 ** rng.uniform(-8, 1, 2))))
        q = {"params": 0, "zero": int(rng.integers(0, 256)), "lo": 0, "hi": 255, "lut": None,
             "table": None}
    return {"op": op, "name": "op", "inputs": [0, 1], "output": 2, "act": NONE, "quant": q}, arrays


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("op", ["add", "sub", "mul"])
@pytest.mark.parametrize("isa", ISAS)
def test_binary_matches_numpy(seed, op, isa, monkeypatch):
    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)
    rng = np.random.default_rng(200 + seed)
    c, h, w = (int(v) for v in rng.choice([1, 3, 5, 7], 3))
    bshape = [c if rng.random() < 0.5 else 1, h if rng.random() < 0.5 else 1,
              w if rng.random() < 0.5 else 1]
    layer, arrays = _binary_layer(rng, op)
    header = _io({"tensors": [_tensor("a", [c, h, w], 0.1, 5), _tensor("b", bshape, 0.3, 200),
                              _tensor("y", [c, h, w], 0.2, 9)], "layers": [layer]}, 2)
    a = rng.integers(0, 256, (2, h, w, c)).astype(np.uint8)
    b = rng.integers(0, 256, (2,) + quant_ref.core_hwc(bshape)).astype(np.uint8)
    got, want = _run(header, arrays, [a, b])
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
@pytest.mark.parametrize("isa", ISAS)
def test_a_binary_split_over_threads_matches_numpy(op, isa, monkeypatch):
    """Inputs of one shape and big enough that the rows are cut over the threads (at least
    8 KiB a part, run_q8.c); odd sizes, so the last part is short.  One sample: a batch is
    split by samples instead (run.c)."""
    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)
    rng = np.random.default_rng(len(op))
    c, h, w = 24, 61, 29
    layer, arrays = _binary_layer(rng, op)
    header = _blobs(_io({"tensors": [_tensor("a", [c, h, w], 0.1, 5), _tensor("b", [c, h, w], 0.3, 200),
                                     _tensor("y", [c, h, w], 0.2, 9)], "layers": [layer]}, 2), arrays)
    with NativeNet(header, arrays, max_batch=1) as net:
        for threads in (2, 3, 5, 1):
            # new inputs each time: a part left unwritten would keep the last run's bytes
            a = rng.integers(0, 256, (1, h, w, c)).astype(np.uint8)
            b = rng.integers(0, 256, (1, h, w, c)).astype(np.uint8)
            net.set_threads(threads)
            np.testing.assert_array_equal(net.run([a, b])[0],
                                          quant_ref.run_layer(header, arrays, layer, [a, b]))


@pytest.mark.parametrize("seed", RNG_SEEDS)
def test_concat_softmax_reshape_pad_lut_match_numpy(seed):
    rng = np.random.default_rng(300 + seed)
    c1, c2, h, w = (int(v) for v in rng.choice([1, 2, 3, 5, 7], 4))
    arrays = [quant.quantize_multipliers([0.1 / 0.15, 0.3 / 0.15]),
              quant.softmax_table(0.15), rng.integers(0, 256, 256).astype(np.uint8)]
    c = c1 + c2
    pads = [int(v) for v in rng.integers(0, 3, 4)]
    mode = str(rng.choice(["constant", "edge"]))
    layers = [
        {"op": "concat", "name": "cat", "inputs": [0, 1], "output": 2,
         "quant": {"params": 0, "zero": 4, "lo": 0, "hi": 255, "lut": None, "table": None}},
        {"op": "softmax", "name": "sm", "inputs": [2], "output": 3,
         "quant": {"params": None, "zero": 0, "lo": 0, "hi": 255, "lut": None, "table": 1}},
        {"op": "reshape", "name": "flat", "inputs": [3], "output": 4,
         "quant": {"params": None, "zero": 0, "lo": 0, "hi": 255, "lut": None, "table": None}},
        {"op": "pad", "name": "pad", "inputs": [2], "output": 5, "pads": pads, "mode": mode,
         "value": 0.0, "quant": {"params": None, "zero": 4, "lo": 0, "hi": 255, "lut": None,
                                 "table": None}},
        {"op": "activation", "name": "lut", "inputs": [5], "output": 6, "act": NONE,
         "quant": {"params": None, "zero": 0, "lo": 0, "hi": 255, "lut": 2, "table": None}},
        {"op": "dequantize", "name": "deq", "inputs": [6], "output": 7},
        {"op": "quantize", "name": "req", "inputs": [7], "output": 8},
    ]
    ph, pw = h + pads[0] + pads[2], w + pads[1] + pads[3]
    tensors = [_tensor("a", [c1, h, w], 0.1, 10), _tensor("b", [c2, h, w], 0.3, 250),
               _tensor("cat", [c, h, w], 0.15, 4), _tensor("sm", [c, h, w], 1 / 256, 0),
               _tensor("flat", [c * h * w], 1 / 256, 0), _tensor("pad", [c, ph, pw], 0.15, 4),
               _tensor("lut", [c, ph, pw], 0.05, 17), _tensor("deq", [c, ph, pw]),
               _tensor("req", [c, ph, pw], 0.013, 100)]
    header = _io({"tensors": tensors, "layers": layers}, 2)
    a = rng.integers(0, 256, (2, h, w, c1)).astype(np.uint8)
    b = rng.integers(0, 256, (2, h, w, c2)).astype(np.uint8)
    got, want = _run(header, arrays, [a, b])
    for g, wv in zip(got, want):
        np.testing.assert_array_equal(g, wv)


def test_quantize_matches_numpy_on_awkward_floats():
    values = np.array([0.0, -0.0, 0.5, 1.5, 2.5, -0.5, 1e30, -1e30, np.inf, -np.inf, np.nan,
                       127.49999, 127.5, 128.5, 3.4e38, 1e-45], np.float32)
    x = np.tile(values, 3).reshape(1, 1, 3, -1)
    header = _io({"tensors": [_tensor("x", [x.shape[3], 3]), _tensor("q", [x.shape[3], 3], 1.0, 128),
                              _tensor("y", [x.shape[3], 3])],
                  "layers": [{"op": "quantize", "name": "q", "inputs": [0], "output": 1},
                             {"op": "dequantize", "name": "d", "inputs": [1], "output": 2}]})
    got, want = _run(header, [], [x])
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert got[0].ravel()[:8].tolist() == [128, 128, 128, 130, 130, 128, 255, 0]


@pytest.mark.parametrize("scale", [1.0, 0.5, 2.0 ** -7, 4.0, 2.0 ** -120, 0.1, 3.0, 0.0078125001])
@pytest.mark.parametrize("isa", ISAS)
def test_quantize_every_family_matches_numpy(scale, isa, monkeypatch):
    """Power-of-two scales (a kernel may multiply by the exact reciprocal) and others."""
    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)
    rng = np.random.default_rng(int(scale * 1000) % 97)
    awkward = np.array([0.0, -0.0, 1e-45, -1e-45, 1e-39, 1.17549435e-38, np.nan, np.inf, -np.inf,
                        3.4e38], np.float32)
    x = np.concatenate([awkward, (rng.standard_normal(301) * 200 * scale).astype(np.float32),
                        ((rng.integers(-300, 300, 64) + 0.5) * scale).astype(np.float32)])
    x = x[:x.size // 3 * 3].reshape(1, 1, -1, 3)
    header = _io({"tensors": [_tensor("x", [3, 1, x.shape[2]]),
                              _tensor("q", [3, 1, x.shape[2]], scale, 100)],
                  "layers": [{"op": "quantize", "name": "q", "inputs": [0], "output": 1}]})
    got, want = _run(header, [], [x])
    np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("real", [2.0 ** -32, 2.0 ** -31.5, 1e-9, 0.49999999, 0.5, 0.9999999999,
                                  1.0, 1.0000001, 2.0 ** 29.9])
def test_requant_edge_multipliers(real):
    """Multipliers near 0 and near 1 and shifts at both ends, on values that saturate."""
    m, n = quant.quantize_multiplier(real)
    assert 2 ** 30 <= m < 2 ** 31 and 1 <= n <= 62
    assert abs(m * 2.0 ** -n - real) <= real * 2.0 ** -30
    rng = np.random.default_rng(7)
    k = 3
    arrays = [rng.integers(-127, 128, (4, k)).astype(np.int8),
              np.array([2**29 - 1, -2**29 + 1, 0, 12345], np.int32),
              np.array([[m] * 4, [n] * 4], np.int32)]
    layer = {"op": "fc", "name": "fc", "inputs": [0], "output": 1, "weight": 0, "bias": 1,
             "act": NONE, "quant": {"params": 2, "zero": 128, "lo": 0, "hi": 255, "lut": None,
                                    "table": None}}
    header = _io({"tensors": [_tensor("x", [k], 1.0, 0), _tensor("y", [4], 1.0, 128)],
                  "layers": [layer]})
    x = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 128]], np.uint8).reshape(3, 1, 1, k)
    got, want = _run(header, arrays, [x])
    np.testing.assert_array_equal(got[0], want[0])


def test_requant_rounds_half_up_and_refuses_out_of_range():
    assert quant_ref.rq(np.array([1, -1, 3, -3]), 1 << 30, 31).tolist() == [1, 0, 2, -1]
    for bad in (0.0, -1.0, float("nan"), float("inf"), 2.0 ** 30, 2.0 ** -33):
        with pytest.raises(Exception):
            quant.quantize_multiplier(bad)
    assert quant.quantize_multiplier(2.0 ** -32) == (1 << 30, 62)
    assert quant.quantize_multiplier(2.0 ** 29) == (1 << 30, 1)


FLOAT_ACTS = [NONE, {"kind": "relu", "alpha": 0.0, "beta": 0.0},
              {"kind": "clip", "alpha": 0.0, "beta": 6.0},
              {"kind": "clip", "alpha": -0.5, "beta": 0.75}]


@pytest.mark.parametrize("seed", RNG_SEEDS)
@pytest.mark.parametrize("kind", ["conv1x1", "fc"])
@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("threads", [1, 2])
def test_float_output_matches_numpy(seed, kind, isa, threads, monkeypatch):
    """An int8 fc / pointwise conv writing float32 (the float output stage): every kernel
    family and a split over threads equal the numpy twin bit for bit (compared as bits),
    on awkward shapes, biases near the limit and multipliers over the whole range."""
    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)
    rng = np.random.default_rng(100 + seed)
    c = int(rng.choice([1, 3, 5, 7, 13, 64]))
    h, w = (int(v) for v in rng.choice([1, 2, 5, 7, 11], 2))
    cout = int(rng.choice([1, 2, 5, 17, 37, 67, 130]))
    k = c * h * w if kind == "fc" else c
    arrays = [pack_q8panels16(rng.integers(-127, 128, (cout, k) if kind == "fc"
                                           else (cout, 1, 1, c)).astype(np.int8)),
              rng.integers(-2**29, 2**29, cout).astype(np.int32),
              _random_rq(rng, cout)]
    act = FLOAT_ACTS[seed % 4]
    layer = {"op": kind[:4] if kind == "conv1x1" else "fc", "name": "op", "inputs": [0],
             "output": 1, "weight": 0, "bias": 1, "weight_layout": "q8panels16", "act": act,
             "quant": {"params": 2, "zero": 0, "lo": 0, "hi": 255, "lut": None, "table": None}}
    shape_in = [k] if kind == "fc" else [c, h, w]
    out_shape = [cout] if kind == "fc" else [cout, h, w]
    if kind == "conv1x1":
        layer.update(kernel=[1, 1], strides=[1, 1], dilations=[1, 1], pads=[0] * 4, groups=1)
    header = _io({"tensors": [_tensor("x", shape_in, 0.1, rng.integers(0, 256)),
                              _tensor("y", out_shape)], "layers": [layer]})
    x = rng.integers(0, 256, (5,) + quant_ref.core_hwc(shape_in)).astype(np.uint8)
    x[0] = 255
    h_ = _blobs(header, arrays)
    with NativeNet(h_, arrays, max_batch=5, outputs=[1], threads=threads) as net:
        got = net.run([x])[0]
    want = quant_ref.run_layer(h_, arrays, layer, [x])
    assert got.dtype == np.float32 and want.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))
    if act["kind"] == "none":   # the stage itself: the exact sums times M, rounded twice
        acc = (x.reshape(len(x), -1, c if kind != "fc" else k).astype(np.int64)
               @ quant_ref.ohwi_weight(layer, arrays, (cout, k)).astype(np.int64).T
               + arrays[1].astype(np.int64))
        m, n = arrays[2]
        exact = np.float32(acc * (m.astype(np.float64) * 2.0 ** -n.astype(np.float64)))
        np.testing.assert_array_equal(want.reshape(exact.shape), exact)


def test_float_output_refuses_what_it_cannot_run():
    """A float-output conv must be pointwise and take no table or non-clamp activation."""
    rng = np.random.default_rng(3)
    arrays = [pack_q8panels16(rng.integers(-127, 128, (4, 3, 3, 2)).astype(np.int8)),
              np.zeros(4, np.int32), quant.quantize_multipliers([0.01] * 4)]
    layer = {"op": "conv", "name": "op", "inputs": [0], "output": 1, "weight": 0, "bias": 1,
             "weight_layout": "q8panels16", "act": NONE, "kernel": [3, 3], "strides": [1, 1],
             "dilations": [1, 1], "pads": [0] * 4, "groups": 1,
             "quant": {"params": 2, "zero": 0, "lo": 0, "hi": 255, "lut": None, "table": None}}
    header = _io({"tensors": [_tensor("x", [2, 5, 5], 0.1, 3), _tensor("y", [4, 3, 3])],
                  "layers": [layer]})
    with pytest.raises(Exception, match="1x1"):
        _blobs(header, arrays)
    from converters.quantize import _with_blobs   # the C core refuses it too
    unchecked = _with_blobs(dict(header, format="pnet", version=1, features=None,
                                 preprocess=None, labels=[], provenance={}), arrays)
    with pytest.raises(_native.NativeError, match="1x1"):
        NativeNet(unchecked, arrays)
    arrays[0] = pack_q8panels16(rng.integers(-127, 128, (4, 1, 1, 2)).astype(np.int8))
    layer.update(kernel=[1, 1], act={"kind": "sigmoid", "alpha": 0.0, "beta": 0.0})
    header["tensors"][1]["shape"] = [4, 5, 5]
    with pytest.raises(Exception, match="activation"):
        _blobs(header, arrays)
