"""The C core's memory plan: one arena shared by tensors whose lifetimes do not
meet, results unaffected by the sharing, and how the batch, constants and
graph inputs/outputs are handled."""

import numpy as np
import pytest

from native_helpers import Graph, act, act_ref, assert_close, conv_ref, run_source, window


def rounded(nbytes):
    return -(-nbytes // 64) * 64


def chain(n_layers, shape=(8, 6, 6)):
    g = Graph()
    t = g.input(list(shape))
    for i in range(n_layers):
        t = g.layer("activation", [t], list(shape), act=act("leakyrelu", 0.5))
    g.output(t)
    return g


@pytest.mark.parametrize("n_layers", [1, 2, 7])
def test_a_chain_needs_two_tensors_whatever_its_length(n_layers):
    size = rounded(8 * 6 * 6 * 4)
    with chain(n_layers).build() as net:
        assert net.arena_bytes == 2 * size  # each layer's input and output, ping-pong
        if n_layers > 1:
            assert net.arena_bytes < (n_layers + 1) * size  # the sum of all the tensors


def test_arena_does_not_grow_with_max_batch():
    """Samples run one after the other through the whole net: one sample's arena."""
    with chain(5).build(max_batch=1) as one, chain(5).build(max_batch=3) as three:
        assert three.arena_bytes == one.arena_bytes == 2 * rounded(8 * 6 * 6 * 4)


def test_chain_results_are_right_after_reuse():
    xs = np.random.default_rng(0).standard_normal((3, 8, 6, 6)).astype(np.float32)
    got, = run_source(chain(7), [xs])
    want = xs.astype(np.float64)
    for _ in range(7):
        want = act_ref(want, act("leakyrelu", 0.5))
    assert_close(got, want)


def residual_block(rng):
    """x -> conv a -> conv b -> add(b, x) -> relu, with x read again at the end:
    x must survive the two convs that could otherwise reuse its memory."""
    w1 = rng.standard_normal((4, 3, 3, 4)).astype(np.float32)
    w2 = rng.standard_normal((4, 1, 1, 4)).astype(np.float32)
    g = Graph()
    x = g.input([4, 7, 7])
    a = g.layer("conv", [x], [4, 7, 7], **window((3, 3), pads=(1, 1, 1, 1)), groups=1, weight=g.blob(w1),
                bias=None, act=act("relu"))
    b = g.layer("conv", [a], [4, 7, 7], **window((1, 1)), groups=1, weight=g.blob(w2), bias=None, act=act())
    y = g.layer("add", [b, x], [4, 7, 7], act=act("relu"))
    g.output(y)
    return g, w1, w2, a


def test_residual_block_keeps_its_input_alive():
    rng = np.random.default_rng(1)
    g, w1, w2, _ = residual_block(rng)
    xs = rng.standard_normal((3, 4, 7, 7)).astype(np.float32)
    got, = run_source(g, [xs])
    a = act_ref(conv_ref(xs, w1, None, pads=(1, 1, 1, 1)), act("relu"))
    want = act_ref(conv_ref(a, w2, None) + xs, act("relu"))
    assert_close(got, want)
    with g.build() as net:
        assert net.arena_bytes == 3 * rounded(4 * 7 * 7 * 4)  # x, a and b are alive together


def test_an_intermediate_output_is_not_overwritten():
    """Exposing an inner tensor (features) keeps it until the end of the run."""
    rng = np.random.default_rng(2)
    g, w1, _, a = residual_block(rng)
    xs = rng.standard_normal((2, 4, 7, 7)).astype(np.float32)
    with g.build(max_batch=2, outputs=[a, g.outputs[0]["tensor"]]) as net:
        core = np.ascontiguousarray(xs.transpose(0, 2, 3, 1))
        got_a, got_y = net.run([core])
    assert_close(got_a.transpose(0, 3, 1, 2), act_ref(conv_ref(xs, w1, None, pads=(1, 1, 1, 1)), act("relu")))
    assert got_y.shape == (2, 7, 7, 4)


def test_a_smaller_batch_than_planned():
    xs = np.random.default_rng(3).standard_normal((3, 8, 6, 6)).astype(np.float32)
    with chain(3).build(max_batch=4) as net:
        for n in (1, 3, 2):
            core = np.ascontiguousarray(xs[:n].transpose(0, 2, 3, 1))
            got, = net.run([core])
            want = act_ref(act_ref(act_ref(core, act("leakyrelu", 0.5)), act("leakyrelu", 0.5)),
                           act("leakyrelu", 0.5))
            assert_close(got, want)


def test_layers_of_constants_are_broadcast_over_the_batch():
    """A layer reading only constants computes one sample; every sample gets it."""
    c = np.array([-1.0, 2.0, -3.0], np.float32)
    g = Graph()
    x = g.input([3])
    k = g.layer("activation", [g.tensor([3], c)], [3], act=act("relu"))
    g.output(g.layer("add", [x, k], [3], act=act()))
    xs = np.arange(9, dtype=np.float32).reshape(3, 3)
    got, = run_source(g, [xs])
    assert_close(got, xs + np.maximum(c, 0))


def test_graph_input_and_constant_as_outputs():
    c = np.array([4.0, 5.0], np.float32)
    g = Graph()
    x = g.input([2])
    g.output(x)
    g.output(g.tensor([2], c))
    g.output(g.layer("activation", [x], [2], act=act("relu")))
    xs = np.array([[-1, 1], [2, -2]], np.float32)
    got_x, got_c, got_y = run_source(g, [xs])
    np.testing.assert_array_equal(got_x, xs)
    np.testing.assert_array_equal(got_c, [c, c])
    np.testing.assert_array_equal(got_y, np.maximum(xs, 0))


def test_unread_tensor_and_no_layers():
    g = Graph()
    x = g.input([3])
    g.layer("activation", [x], [3], act=act("relu"))  # nobody reads it
    g.output(x)
    xs = np.array([[1, -2, 3]], np.float32)
    got, = run_source(g, [xs])
    np.testing.assert_array_equal(got, xs)


@pytest.mark.parametrize("n_branches", [2, 5])
def test_branches_into_concat(n_branches):
    """Every branch stays alive until the concat reads them all."""
    g = Graph()
    x = g.input([2, 3, 3])
    branches = [g.layer("activation", [x], [2, 3, 3], act=act("clip", -i, i)) for i in range(n_branches)]
    g.output(g.layer("concat", branches, [2 * n_branches, 3, 3]))
    xs = np.random.default_rng(4).standard_normal((2, 2, 3, 3)).astype(np.float32) * 3
    got, = run_source(g, [xs])
    assert_close(got, np.concatenate([np.clip(xs, -i, i) for i in range(n_branches)], axis=1))
    with g.build() as net:
        # peak at the concat: its output and every branch; x (dead by then)
        # fits in the output's place
        branch, out = rounded(2 * 3 * 3 * 4), rounded(2 * n_branches * 3 * 3 * 4)
        assert net.arena_bytes == out + n_branches * branch


def test_uint8_tensors_take_a_byte_an_element():
    """An int8 chain's arena holds its uint8 tensors at one byte an element (plus a cache line
    after each, for SIMD loads past the last pixel), a float32 tensor at four."""
    from predict._native import NativeNet
    from test_quant_exact import NONE, _blobs, _io, _stage, _tensor

    rng = np.random.default_rng(3)
    c, h, w = 24, 20, 19
    arrays = []
    layers = []
    for i in range(3):
        arrays += [rng.integers(-127, 128, (c, 1, 1, c)).astype(np.int8),
                   rng.integers(-2**12, 2**12, c).astype(np.int32)]
        layers.append({"op": "conv", "name": f"c{i}", "inputs": [i], "output": i + 1,
                       "weight": len(arrays) - 2, "bias": len(arrays) - 1, "act": NONE,
                       "quant": _stage(rng, arrays, c), "kernel": [1, 1], "strides": [1, 1],
                       "dilations": [1, 1], "pads": [0, 0, 0, 0], "groups": 1})
    tensors = [_tensor(f"t{i}", [c, h, w], 0.1, 5) for i in range(4)]
    header = _blobs(_io({"tensors": tensors, "layers": layers}), arrays)
    with NativeNet(header, arrays) as net:
        assert net.arena_bytes == 2 * rounded(c * h * w + 64)  # ping-pong, bytes
        x = rng.integers(0, 256, (1, h, w, c)).astype(np.uint8)
        with NativeNet(header, arrays, outputs=[1, 2, 3]) as plain:
            assert plain.arena_bytes == 3 * rounded(c * h * w + 64)  # t2 reuses the input's
            np.testing.assert_array_equal(net.run([x])[0], plain.run([x])[-1])
