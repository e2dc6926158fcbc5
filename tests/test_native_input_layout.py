"""Inputs given channels first (pd_net_set_input_channels_first, NativeNet.run(...,
channels_first=True)): the core's transposing copy gives exactly the NHWC run's result, for
float32 and uint8 inputs, several inputs and batches; a bad input index is refused."""

import numpy as np
import pytest

from native_helpers import Graph, act, window
from predict._native import NativeNet, ffi, lib
from test_quant_exact import NONE, _blobs, _io, _tensor


def two_input_graph(rng):
    g = Graph()
    a = g.input([5, 9, 7])
    b = g.input([5, 9, 7])
    s = g.layer("add", [a, b], [5, 9, 7], act=act())
    g.output(g.layer("conv", [s], [3, 9, 7], **window((3, 3), pads=(1, 1, 1, 1)), groups=1,
                     weight=g.blob(rng.standard_normal((3, 3, 3, 5))), bias=None, act=act()))
    return g


@pytest.mark.parametrize("batch", [1, 3])
def test_float_inputs_channels_first_equal_nhwc(batch):
    rng = np.random.default_rng(batch)
    g = two_input_graph(rng)
    xs = [rng.standard_normal((batch, 5, 9, 7)).astype(np.float32) for _ in range(2)]
    with g.build(max_batch=batch) as net:
        want = net.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for x in xs])[0]
        for _ in range(2):  # switching back and forth
            np.testing.assert_array_equal(net.run(xs, channels_first=True)[0], want)
            np.testing.assert_array_equal(
                net.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for x in xs])[0], want)
        with pytest.raises(Exception, match="expected shape"):
            net.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for x in xs], channels_first=True)


def test_uint8_input_channels_first_equals_nhwc():
    rng = np.random.default_rng(5)
    arrays = [rng.integers(0, 256, 256).astype(np.uint8)]
    layer = {"op": "activation", "name": "lut", "inputs": [0], "output": 1, "act": NONE,
             "quant": {"params": None, "zero": 3, "lo": 0, "hi": 255, "lut": 0, "table": None}}
    header = _io({"tensors": [_tensor("x", [6, 5, 11], 0.1, 3), _tensor("y", [6, 5, 11], 0.1, 3)],
                  "layers": [layer]})
    header = _blobs(header, arrays)
    x = rng.integers(0, 256, (2, 6, 5, 11)).astype(np.uint8)
    with NativeNet(header, arrays, max_batch=2) as net:
        want = net.run([np.ascontiguousarray(x.transpose(0, 2, 3, 1))])[0]
        np.testing.assert_array_equal(net.run([x], channels_first=True)[0], want)


def test_a_bad_input_index_is_refused():
    g = two_input_graph(np.random.default_rng(0))
    with g.build() as net:
        err = ffi.new("char[]", 256)
        for bad in (-1, 2, 40):
            st = lib.pd_net_set_input_channels_first(net._net, bad, 1, err, 256)
            assert ffi.string(lib.pd_status_name(st)) == b"PD_ERR_ARGUMENT"
            assert b"input" in ffi.string(err)


@pytest.mark.parametrize("isa", ["ref", "avx2", "avx512", "neon", "neondot"])
@pytest.mark.parametrize("c, h, w", [(3, 1, 1), (3, 3, 5), (3, 4, 4), (3, 17, 13), (1, 9, 9), (2, 3, 7),
                                     (4, 6, 5), (5, 11, 3)])
def test_channels_last_copy_on_every_family(isa, c, h, w, monkeypatch):
    """The float32 transposing copy (kernels.h channels_last_f32; AVX-512 for 3 channels)."""
    from predict import _native

    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)
    rng = np.random.default_rng(c * 100 + h * 10 + w)
    g = Graph()
    x = g.input([c, h, w])
    g.output(g.layer("activation", [x], [c, h, w], act=act("relu")))
    xs = rng.standard_normal((2, c, h, w)).astype(np.float32)
    with g.build(max_batch=2) as net:
        got = net.run([xs], channels_first=True)[0]
    np.testing.assert_array_equal(got, np.maximum(xs, 0).transpose(0, 2, 3, 1))
