"""Fused expand 1x1 -> depthwise (-> project 1x1 (-> residual add, sub or mul)) groups
(native/src/fuse.c): bit for bit the layer-by-layer result, float32 and int8, every kernel
family this CPU runs, 1 to 3 threads.

A net runs a group fused when its wide tensors are read by the next layer only and are large
(>= 512 KiB); asking for them as outputs keeps the same layers unfused, which is the reference
here. The fused net holds no arena memory for the wide tensors, which proves it fused."""

import numpy as np
import pytest

from native_helpers import Graph, act, to_core, window
from predict import _native, quant_ref
from predict.quant import add_multipliers
from predict._native import NativeNet
from test_quant_exact import NONE, _blobs, _io, _stage, _tensor

ISAS = ["ref", "avx2", "avx512", "neon", "neondot"]

# (height, width, input channels or 0 for no expand, wide channels, output channels or None for
#  no project, depthwise kernel, stride, dilation, pads top/left/bottom/right)
CASES = [
    (37, 37, 16, 104, 24, 3, 1, 1, (1, 1, 1, 1)),
    (38, 41, 8, 96, 40, 3, 2, 1, (1, 1, 1, 1)),
    (40, 37, 24, 100, None, 3, 2, 1, (0, 0, 1, 1)),
    (33, 35, 12, 120, 17, 5, 1, 2, (4, 3, 2, 4)),
    (36, 36, 16, 112, 16, 5, 2, 1, (2, 2, 2, 2)),
    (37, 39, 0, 104, 16, 3, 1, 1, (1, 1, 1, 1)),
    (83, 80, 0, 96, 24, 3, 2, 1, (0, 1, 1, 0)),
]


def _runnable(isa, monkeypatch):
    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)


def _expand_input(h, w, expand):
    """(height, width) of an expand conv's input whose output is h x w; expand is (kernel,
    stride, pads) or None for a 1x1 conv."""
    if expand is None:
        return h, w
    ke, se, pe = expand
    return (h - 1) * se + ke - pe[0] - pe[2], (w - 1) * se + ke - pe[1] - pe[3]


def float_group(rng, h, w, cin, cw, cout, k, stride, dil, pads, expand=None):
    g = Graph()
    ke, se, pe = expand or (1, 1, (0, 0, 0, 0))
    x = g.input([cin or cw] + list(_expand_input(h, w, expand)))
    e = x if not cin else g.layer("conv", [x], [cw, h, w], **window((ke, ke), (se, se), (1, 1), pe),
                                  groups=1,
                                  weight=g.blob(rng.standard_normal((cw, ke, ke, cin)) * 0.3),
                                  bias=g.blob(rng.standard_normal(cw)), act=act("clip", 0, 6))
    ext = (k - 1) * dil + 1
    ho = (h + pads[0] + pads[2] - ext) // stride + 1
    wo = (w + pads[1] + pads[3] - ext) // stride + 1
    d = g.layer("depthwise", [e], [cw, ho, wo], **window((k, k), (stride, stride), (dil, dil), pads),
                weight=g.blob(rng.standard_normal((k, k, cw))), bias=g.blob(rng.standard_normal(cw)),
                act=act("relu"))
    if cout is None:
        g.output(d)
        return g, [e]
    p = g.layer("conv", [d], [cout, ho, wo], **window((1, 1)), groups=1,
                weight=g.blob(rng.standard_normal((cout, 1, 1, cw)) * 0.2), bias=None, act=act())
    g.output(p)
    return g, [e, d] if cin else [d]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("isa", ISAS)
def test_float_group_equals_layer_by_layer(case, isa, monkeypatch):
    _runnable(isa, monkeypatch)
    rng = np.random.default_rng(len(case) + case[0])
    g, inner = float_group(rng, *case)
    h, w, cin = case[0], case[1], case[2]
    x = to_core(rng.standard_normal((2, cin or case[3], h, w)).astype(np.float32))
    with g.build(max_batch=2) as fused:
        y_ids = [o["tensor"] for o in g.header()["outputs"]]
        with NativeNet(g.header(), g.arrays, max_batch=2, outputs=y_ids + inner) as plain:
            want = plain.run([x])[0]
        if cin:  # the wide tensor lives in scratch, not the arena
            assert fused.arena_bytes < case[0] * case[1] * case[3] * 4
        else:    # the input lives on, the depthwise output is never stored: less than both
            assert fused.arena_bytes < (x[0].size + g.tensors[inner[0]]["shape"][0] * want[0].size
                                        // want.shape[-1]) * 4
        for threads in (1, 2, 3):
            fused.set_threads(threads)
            np.testing.assert_array_equal(fused.run([x])[0], want)


def int8_group(rng, h, w, cin, cw, cout, k, stride, dil, pads, float_project=False, expand=None,
               residual=None):
    """(header, arrays) of an int8 group; residual = (op, project output first) appends that
    binary layer of the project output and the net input (of the project output's shape)."""
    ext = (k - 1) * dil + 1
    ho = (h + pads[0] + pads[2] - ext) // stride + 1
    wo = (w + pads[1] + pads[3] - ext) // stride + 1
    ke, se, pe = expand or (1, 1, (0, 0, 0, 0))
    arrays = [rng.integers(-127, 128, (cw, ke, ke, max(cin, 1))).astype(np.int8),
              rng.integers(-2**14, 2**14, cw).astype(np.int32)]
    e = {"op": "conv", "name": "expand", "inputs": [0], "output": 1, "weight": 0, "bias": 1,
         "act": NONE, "quant": _stage(rng, arrays, cw), "kernel": [ke, ke], "strides": [se, se],
         "dilations": [1, 1], "pads": list(pe), "groups": 1}
    arrays += [rng.integers(-127, 128, (k, k, cw)).astype(np.int8),
               rng.integers(-2**14, 2**14, cw).astype(np.int32)]
    d = {"op": "depthwise", "name": "dw", "inputs": [1], "output": 2, "weight": len(arrays) - 2,
         "bias": len(arrays) - 1, "act": NONE, "quant": _stage(rng, arrays, cw), "kernel": [k, k],
         "strides": [stride, stride], "dilations": [dil, dil], "pads": list(pads)}
    tensors = [_tensor("x", [cin or cw] + list(_expand_input(h, w, expand)), 0.1, rng.integers(0, 256)),
               _tensor("wide", [cw, h, w], 0.05, rng.integers(0, 256)),
               _tensor("mid", [cw, ho, wo], 0.07, rng.integers(0, 256))]
    layers = [e, d]
    if cout is not None:
        arrays += [rng.integers(-127, 128, (cout, 1, 1, cw)).astype(np.int8),
                   rng.integers(-2**14, 2**14, cout).astype(np.int32)]
        weight, bias = len(arrays) - 2, len(arrays) - 1
        quant = _stage(rng, arrays, cout)
        if float_project:  # the float output stage (run_q8.c): never part of a group
            quant.update(zero=0, lo=0, hi=255)
        layers.append({"op": "conv", "name": "project", "inputs": [2], "output": 3,
                       "weight": weight, "bias": bias, "act": NONE,
                       "quant": quant, "kernel": [1, 1], "strides": [1, 1],
                       "dilations": [1, 1], "pads": [0, 0, 0, 0], "groups": 1})
        tensors.append(_tensor("y", [cout, ho, wo]) if float_project else
                       _tensor("y", [cout, ho, wo], 0.2, 7))
    if not cin:  # no expand: the depthwise reads the input (tensor 1 and its layer go)
        del tensors[1], layers[0]
        d.update(inputs=[0], output=1)
        for layer in layers[1:]:
            layer.update(inputs=[1], output=2)
    if residual is not None:
        op, project_first = residual
        y = layers[-1]["output"]
        if op == "mul":
            q = _stage(rng, arrays, 1)
        else:
            arrays.append(add_multipliers(*(2.0 ** rng.uniform(-8, 1, 2))))
            q = {"params": len(arrays) - 1, "zero": int(rng.integers(0, 256)), "lo": 0, "hi": 255,
                 "lut": None, "table": None}
        layers.append({"op": op, "name": "residual", "inputs": [y, 0] if project_first else [0, y],
                       "output": y + 1, "act": NONE, "quant": q})
        tensors.append(_tensor("r", tensors[y]["shape"], 0.15, rng.integers(0, 256)))
    header = _blobs(_io({"tensors": tensors, "layers": layers}), arrays)
    return header, arrays


def _int8_unfused_checked_by_numpy(rng, header, arrays):
    """(a random uint8 batch of 2, the group's output run layer by layer), that output
    asserted equal to the numpy twin's."""
    x = rng.integers(0, 256, (2,) + quant_ref.core_hwc(header["tensors"][0]["shape"])).astype(np.uint8)
    y = header["outputs"][0]["tensor"]
    inner = [layer["output"] for layer in header["layers"][:-1]]
    with NativeNet(header, arrays, max_batch=2, outputs=[y] + inner) as plain:
        want = plain.run([x])[0]
    values = {0: x}
    for layer in header["layers"]:
        values[layer["output"]] = quant_ref.run_layer(header, arrays, layer,
                                                      [values[t] for t in layer["inputs"]])
    np.testing.assert_array_equal(want, values[y])
    return x, want


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("isa", ISAS)
def test_int8_group_equals_layer_by_layer_and_numpy(case, isa, monkeypatch):
    _runnable(isa, monkeypatch)
    h, w, cin = case[0], case[1], case[2]
    # int8 wide tensors are 4x smaller: make them as large again so the group fuses
    case = (2 * h, 2 * w) + tuple(case[2:])
    rng = np.random.default_rng(case[0] + case[3])
    header, arrays = int8_group(rng, *case)
    x, want = _int8_unfused_checked_by_numpy(rng, header, arrays)
    with NativeNet(header, arrays, max_batch=2) as fused:
        if cin:  # (a uint8 tensor takes a byte an element in the arena)
            assert fused.arena_bytes < case[0] * case[1] * case[3]
        else:
            mid = header["tensors"][1]["shape"]
            assert fused.arena_bytes < x[0].size + mid[0] * mid[1] * mid[2]
        for threads in (1, 2, 3):
            fused.set_threads(threads)
            np.testing.assert_array_equal(fused.run([x])[0], want)


@pytest.mark.parametrize("case", [CASES[0], CASES[5]])
@pytest.mark.parametrize("isa", ISAS)
def test_int8_project_with_float_output_stays_out_of_groups(case, isa, monkeypatch):
    """An int8 project conv writing float32 (the float output stage) is never fused: the
    expand -> depthwise pair before it may be, and the result is the layer-by-layer one."""
    _runnable(isa, monkeypatch)
    case = (2 * case[0], 2 * case[1]) + tuple(case[2:])
    rng = np.random.default_rng(case[0] + 7)
    header, arrays = int8_group(rng, *case, float_project=True)
    x = rng.integers(0, 256, (2,) + quant_ref.core_hwc(header["tensors"][0]["shape"])).astype(np.uint8)
    y = header["outputs"][0]["tensor"]
    inner = [layer["output"] for layer in header["layers"][:-1]]
    with NativeNet(header, arrays, max_batch=2, outputs=[y] + inner) as plain:
        want = plain.run([x])[0]
    assert want.dtype == np.float32
    with NativeNet(header, arrays, max_batch=2) as fused:
        for threads in (1, 2):
            fused.set_threads(threads)
            np.testing.assert_array_equal(fused.run([x])[0].view(np.uint32), want.view(np.uint32))


@pytest.mark.parametrize("isa", ISAS)
def test_int8_expand_with_float_output_before_a_float_depthwise_is_not_fused(isa, monkeypatch):
    """int8 in, float32 out, then a float32 depthwise: neither precision's group."""
    _runnable(isa, monkeypatch)
    rng = np.random.default_rng(11)
    h, w, cin, cw = 40, 38, 8, 104
    arrays = [rng.integers(-127, 128, (cw, 1, 1, cin)).astype(np.int8),
              rng.integers(-2**14, 2**14, cw).astype(np.int32)]
    quant = _stage(rng, arrays, cw)
    quant.update(zero=0, lo=0, hi=255)
    e = {"op": "conv", "name": "expand", "inputs": [0], "output": 1, "weight": 0, "bias": 1,
         "act": NONE, "quant": quant, "kernel": [1, 1], "strides": [1, 1], "dilations": [1, 1],
         "pads": [0, 0, 0, 0], "groups": 1}
    arrays += [rng.standard_normal((3, 3, cw)).astype(np.float32), rng.standard_normal(cw).astype(np.float32)]
    d = {"op": "depthwise", "name": "dw", "inputs": [1], "output": 2, "weight": len(arrays) - 2,
         "bias": len(arrays) - 1, "act": NONE, "kernel": [3, 3], "strides": [1, 1], "dilations": [1, 1],
         "pads": [1, 1, 1, 1]}
    tensors = [_tensor("x", [cin, h, w], 0.1, 3), _tensor("wide", [cw, h, w]), _tensor("mid", [cw, h, w])]
    header = _blobs(_io({"tensors": tensors, "layers": [e, d]}), arrays)
    x = rng.integers(0, 256, (2, h, w, cin)).astype(np.uint8)
    with NativeNet(header, arrays, max_batch=2, outputs=[2, 1]) as plain:
        want = plain.run([x])[0]
    with NativeNet(header, arrays, max_batch=2) as net:
        np.testing.assert_array_equal(net.run([x])[0].view(np.uint32), want.view(np.uint32))


# Groups whose project output has the input's shape (stride 1, as many output channels as
# input ones), with and without an expand layer: a residual block.
RESIDUAL_CASES = [
    (37, 37, 16, 104, 16, 3, 1, 1, (1, 1, 1, 1)),
    (33, 35, 12, 120, 12, 5, 1, 2, (4, 3, 4, 5)),
    (37, 39, 0, 104, 104, 3, 1, 1, (1, 1, 1, 1)),
]
RESIDUAL_OPS = [("add", True), ("sub", False), ("sub", True), ("mul", False)]


@pytest.mark.parametrize("case", RESIDUAL_CASES)
@pytest.mark.parametrize("op, project_first", RESIDUAL_OPS)
@pytest.mark.parametrize("isa", ISAS)
def test_float_residual_joins_the_group(case, op, project_first, isa, monkeypatch):
    """With several threads, the binary layer of the project output and the block input runs
    in the group, in its operand order, and the project output then needs no arena bytes; at
    one thread it stays a layer of its own.  The same bytes either way."""
    _runnable(isa, monkeypatch)
    rng = np.random.default_rng(case[0] + case[3] + len(op))
    g, inner = float_group(rng, *case)
    y = g.outputs.pop()["tensor"]
    x_id = g.inputs[0]["tensor"]
    r = g.output(g.layer(op, [y, x_id] if project_first else [x_id, y], g.shape(y),
                         act=act("relu")))
    x = to_core(rng.standard_normal((2,) + tuple(g.shape(x_id))).astype(np.float32))
    with NativeNet(g.header(), g.arrays, max_batch=2, outputs=[r, y] + inner) as plain:
        want = plain.run([x])[0]
    with g.build(max_batch=2) as fused:
        assert fused.arena_bytes > 2.5 * x[0].nbytes   # one thread: the project output is stored
        # with several threads, the input and the result alone: no project output between them
        fused.set_threads(2)
        assert fused.arena_bytes < 2.5 * x[0].nbytes
        for threads in (1, 2, 3):
            fused.set_threads(threads)
            np.testing.assert_array_equal(fused.run([x])[0], want)


@pytest.mark.parametrize("case", RESIDUAL_CASES)
@pytest.mark.parametrize("op, project_first", RESIDUAL_OPS)
@pytest.mark.parametrize("isa", ISAS)
def test_int8_residual_joins_the_group(case, op, project_first, isa, monkeypatch):
    _runnable(isa, monkeypatch)
    case = (2 * case[0], 2 * case[1]) + tuple(case[2:])
    rng = np.random.default_rng(case[0] + case[3] + len(op))
    header, arrays = int8_group(rng, *case, residual=(op, project_first))
    x, want = _int8_unfused_checked_by_numpy(rng, header, arrays)
    with NativeNet(header, arrays, max_batch=2) as fused:
        fused.set_threads(2)
        assert fused.arena_bytes < 2.5 * x[0].nbytes
        for threads in (1, 2, 3):
            fused.set_threads(threads)
            np.testing.assert_array_equal(fused.run([x])[0], want)


def test_a_residual_read_twice_stays_out_of_the_group():
    """A project output that another layer reads too is stored: the binary layer runs alone."""
    rng = np.random.default_rng(5)
    g, inner = float_group(rng, *RESIDUAL_CASES[0])
    y = g.outputs.pop()["tensor"]
    r = g.output(g.layer("add", [y, g.inputs[0]["tensor"]], g.shape(y)))
    twice = g.output(g.layer("activation", [y], g.shape(y), act=act("relu")))
    x = to_core(rng.standard_normal((1,) + tuple(g.shape(0))).astype(np.float32))
    with NativeNet(g.header(), g.arrays, max_batch=1, outputs=[r, twice, y] + inner) as plain:
        want = plain.run([x])[:2]
    with g.build() as fused:
        fused.set_threads(2)
        assert fused.arena_bytes > 2.5 * x[0].nbytes
        for threads in (1, 2):
            fused.set_threads(threads)
            for got, expected in zip(fused.run([x]), want):
                np.testing.assert_array_equal(got, expected)


def prologue(rng, h, w, c, pads, value, act_kind="none"):
    """An int8 net's input: constant pad -> float32 depthwise 1x1 -> quantize -> an int8 conv."""
    arrays = [rng.standard_normal((1, 1, c)).astype(np.float32) * 60,
              (rng.standard_normal(c) * 100 + 120).astype(np.float32),
              rng.integers(-127, 128, (8, 3, 3, c)).astype(np.int8),
              rng.integers(-2**12, 2**12, 8).astype(np.int32)]
    hp, wp = h + pads[0] + pads[2], w + pads[1] + pads[3]
    layers = [
        {"op": "pad", "name": "pad", "inputs": [0], "output": 1, "pads": list(pads),
         "mode": "constant", "value": value},
        {"op": "depthwise", "name": "pixels", "inputs": [1], "output": 2, "weight": 0, "bias": 1,
         "act": {"kind": act_kind, "alpha": 0.0, "beta": 0.0}, "kernel": [1, 1], "strides": [1, 1],
         "dilations": [1, 1], "pads": [0, 0, 0, 0]},
        {"op": "quantize", "name": "q", "inputs": [2], "output": 3},
        {"op": "conv", "name": "stem", "inputs": [3], "output": 4, "weight": 2, "bias": 3, "act": NONE,
         "quant": _stage(rng, arrays, 8), "kernel": [3, 3], "strides": [2, 2], "dilations": [1, 1],
         "pads": [0, 0, 0, 0], "groups": 1}]
    tensors = [_tensor("x", [c, h, w]), _tensor("padded", [c, hp, wp]), _tensor("pixels", [c, hp, wp]),
               _tensor("q", [c, hp, wp], rng.choice([1.0, 0.75, 2.0]), int(rng.integers(0, 30))),
               _tensor("y", [8, (hp - 3) // 2 + 1, (wp - 3) // 2 + 1], 0.3, 9)]
    return _blobs(_io({"tensors": tensors, "layers": layers}), arrays), arrays


@pytest.mark.parametrize("case", [(37, 41, 3, (1, 1, 1, 1), 0.0, "none"),
                                  (64, 50, 3, (0, 2, 3, 1), -0.7, "relu"),
                                  (9, 300, 4, (2, 0, 0, 5), 1.5, "none"),
                                  (3, 3, 1, (3, 2, 3, 4), 2.0, "none"),
                                  (70, 17, 17, (0, 0, 0, 0), 0.0, "relu"),
                                  (200, 3, 2, (1, 0, 2, 1), -3.0, "none")])
@pytest.mark.parametrize("isa", ISAS)
def test_input_prologue_equals_layer_by_layer(case, isa, monkeypatch):
    """pad -> depthwise 1x1 -> quantize runs fused in bands (no arena for its float32 tensors)
    with the bytes of the layer-by-layer run, at 1 to 3 threads and batch 2."""
    _runnable(isa, monkeypatch)
    rng = np.random.default_rng(case[0] + case[1])
    header, arrays = prologue(rng, *case)
    h, w, c = case[0], case[1], case[2]
    x = (rng.standard_normal((2, h, w, c)) * 1.5).astype(np.float32)
    x[0, 0, 0] = np.nan
    with NativeNet(header, arrays, max_batch=2, outputs=[4, 1, 2, 3]) as plain:
        want = plain.run([x])
    with NativeNet(header, arrays, max_batch=2, outputs=[4, 3]) as fused:
        hp, wp = header["tensors"][1]["shape"][1:]
        if h * w * c >= 1000:  # (tiny tensors: the 64-byte alignment of each dominates)
            assert fused.arena_bytes < (h * w + hp * wp) * c * 4  # the input, less than a float copy
        for threads in (1, 2, 3):
            fused.set_threads(threads)
            got = fused.run([x])
            np.testing.assert_array_equal(got[1], want[3])
            np.testing.assert_array_equal(got[0], want[0])


@pytest.mark.parametrize("case", [(37, 41, 3, (1, 1, 1, 1), 0.0, "none"),
                                  (64, 50, 3, (0, 2, 3, 1), -0.7, "relu"),
                                  (3, 3, 1, (3, 2, 3, 4), 2.0, "none"),
                                  (70, 17, 17, (0, 0, 0, 0), 0.0, "relu")])
@pytest.mark.parametrize("isa", ISAS)
def test_input_prologue_reads_the_callers_input(case, isa, monkeypatch):
    """A net input read only by the prologue has no arena bytes: the prologue reads the caller's
    float32 (h, w, c) or (c, h, w) samples, or 8-bit pixels through the lookup table, and gives
    the bytes of the layer-by-layer run of the same float values, at 1 to 3 threads, batch 2."""
    _runnable(isa, monkeypatch)
    rng = np.random.default_rng(case[0] * case[1] + 5)
    header, arrays = prologue(rng, *case)
    h, w, c = case[0], case[1], case[2]
    px = rng.integers(0, 256, (2, h, w, c)).astype(np.uint8)
    table = np.ascontiguousarray((rng.standard_normal((c, 256)) * 2).astype(np.float32))
    table[0, 7] = np.nan
    px[1, 0, 0, 0] = 7
    x = table[np.arange(c), px]  # the float32 values the pixels enter the net as
    with NativeNet(header, arrays, max_batch=2, outputs=[4, 1, 2, 3]) as plain:
        want = plain.run([x])
        np.testing.assert_array_equal(plain.run([px], pixels=table)[3], want[3])
    hp, wp = header["tensors"][1]["shape"][1:]
    ho, wo = header["tensors"][4]["shape"][1:]
    with NativeNet(header, arrays, max_batch=2, outputs=[4, 3]) as fused:
        # the arena holds the quantized input and the conv's output, each a uint8 tensor plus a
        # cache line, 64-byte aligned: no float32 input
        assert fused.arena_bytes <= -(-(hp * wp * c + 64) // 64) * 64 + -(-(8 * ho * wo + 64) // 64) * 64
        for threads in (1, 2, 3):
            fused.set_threads(threads)
            for got in (fused.run([x]), fused.run([np.ascontiguousarray(x.transpose(0, 3, 1, 2))],
                                                  channels_first=True),
                        fused.run([px], pixels=table)):
                np.testing.assert_array_equal(got[1], want[3])
                np.testing.assert_array_equal(got[0], want[0])


# (a case of CASES with an expand layer, the expand conv's (kernel, stride, pads)): a conv with a
# window (an image stem: 3x3 stride 2 on 3 channels) as the group's expand layer, its rows
# computed band by band from the input rows they read, as a short image
CONV_EXPANDS = [
    (CASES[0][:2] + (3,) + CASES[0][3:], (3, 2, (0, 0, 1, 1))),
    (CASES[1][:2] + (3,) + CASES[1][3:], (3, 2, (1, 1, 1, 1))),
    (CASES[2], (3, 1, (1, 1, 1, 1))),
    (CASES[3][:2] + (4,) + CASES[3][3:], (5, 2, (2, 1, 2, 2))),
]


@pytest.mark.parametrize("case", CONV_EXPANDS)
@pytest.mark.parametrize("isa", ISAS)
def test_float_group_with_conv_expand_equals_layer_by_layer(case, isa, monkeypatch):
    _runnable(isa, monkeypatch)
    case, expand = case
    rng = np.random.default_rng(case[0] + expand[0])
    g, inner = float_group(rng, *case, expand=expand)
    x = to_core(rng.standard_normal([2] + g.tensors[0]["shape"]).astype(np.float32))
    with g.build(max_batch=2) as fused:
        y_ids = [o["tensor"] for o in g.header()["outputs"]]
        with NativeNet(g.header(), g.arrays, max_batch=2, outputs=y_ids + inner) as plain:
            want = plain.run([x])[0]
        assert fused.arena_bytes < case[0] * case[1] * case[3] * 4  # the wide tensor: scratch
        for threads in (1, 2, 3):
            fused.set_threads(threads)
            np.testing.assert_array_equal(fused.run([x])[0], want)


@pytest.mark.parametrize("case", CONV_EXPANDS)
@pytest.mark.parametrize("isa", ISAS)
def test_int8_group_with_conv_expand_equals_layer_by_layer_and_numpy(case, isa, monkeypatch):
    _runnable(isa, monkeypatch)
    case, expand = case
    case = (2 * case[0], 2 * case[1]) + tuple(case[2:])
    rng = np.random.default_rng(case[0] + expand[0] + 1)
    header, arrays = int8_group(rng, *case, expand=expand)
    x, want = _int8_unfused_checked_by_numpy(rng, header, arrays)
    with NativeNet(header, arrays, max_batch=2) as fused:
        assert fused.arena_bytes < case[0] * case[1] * case[3]  # the wide tensor: scratch
        for threads in (1, 2, 3):
            fused.set_threads(threads)
            np.testing.assert_array_equal(fused.run([x])[0], want)


SMALL = (14, 14, 16, 64, 24, 3, 1, 1, (1, 1, 1, 1))   # wide tensors far below the threshold


@pytest.mark.parametrize("precision", ["float32", "int8"])
@pytest.mark.parametrize("isa", ISAS)
def test_small_blocks_fuse_with_several_threads_only(precision, isa, monkeypatch):
    """A block too small to fuse at one thread runs fused with two or more (each thread on its
    own rows: net.c plans again when the thread count crosses 1): the wide tensor leaves the
    arena, and back at one thread it returns. Every run gives the layer-by-layer bytes."""
    _runnable(isa, monkeypatch)
    rng = np.random.default_rng(77)
    h, w, cin, cw = SMALL[:4]
    if precision == "float32":
        g, inner = float_group(rng, *SMALL)
        header, arrays = g.header(), g.arrays
        x = to_core(rng.standard_normal((1, cin, h, w)).astype(np.float32))
        wide = h * w * cw * 4
    else:
        header, arrays = int8_group(rng, *SMALL)
        inner = [1, 2]
        x = rng.integers(0, 256, (1, h, w, cin)).astype(np.uint8)
        wide = h * w * cw
    outputs = [o["tensor"] for o in header["outputs"]]
    with NativeNet(header, arrays, max_batch=1, outputs=outputs + inner) as plain:
        want = plain.run([x])[0]
    with NativeNet(header, arrays, max_batch=1) as net:
        alone = net.arena_bytes
        assert alone >= wide                      # one thread: layer by layer
        for threads, fused in ((2, True), (3, True), (1, False), (2, True)):
            net.set_threads(threads)
            assert (net.arena_bytes < wide) == fused, (threads, net.arena_bytes, wide)
            assert net.arena_bytes == alone or fused
            np.testing.assert_array_equal(net.run([x])[0], want)
