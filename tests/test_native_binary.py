"""The C core's add, sub, mul and div: per-dim broadcasting of the second
input, constants (batch 1) on either side, fused activations."""

import numpy as np
import pytest

from native_helpers import Graph, act, act_ref, assert_close, from_core, run_source, to_core

OPS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}

# (a shape, b shape) in source order without batch
SHAPES = [
    ([1], [1]),
    ([5, 7, 3], [5, 7, 3]),
    ([5, 7, 3], [5, 1, 1]),        # per-channel, like a folded scale
    ([5, 7, 3], [1, 7, 3]),        # per-pixel, broadcast over channels
    ([5, 7, 3], [1, 1, 1]),
    ([6, 4, 5], [6, 1, 5]),
    ([6, 4, 5], [1, 4, 1]),
    ([11], [1]),
    ([4, 9], [4, 1]),
]


def operands(rng, shape, batch):
    x = rng.standard_normal([batch] + shape).astype(np.float32)
    return np.where(np.abs(x) < 0.1, 0.5, x).astype(np.float32)  # keep div well away from 0


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("a_shape,b_shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_binary_broadcast_of_two_inputs(op, a_shape, b_shape):
    rng = np.random.default_rng(len(a_shape) * 10 + len(b_shape))
    g = Graph()
    a, b = g.input(a_shape), g.input(b_shape)
    g.output(g.layer(op, [a, b], a_shape, act=act()))
    xa, xb = operands(rng, a_shape, 3), operands(rng, b_shape, 3)
    got, = run_source(g, [xa, xb])
    assert_close(got, OPS[op](xa.astype(np.float64), xb))


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("a_shape,b_shape", SHAPES[1:5], ids=lambda s: "x".join(map(str, s)))
def test_binary_with_a_constant_second_input(op, a_shape, b_shape):
    """A constant has batch 1 and broadcasts over the batch; its blob is in the
    source order and the core must see it channels-last."""
    rng = np.random.default_rng(3)
    cb = operands(rng, b_shape, 1)[0]
    g = Graph()
    a = g.input(a_shape)
    g.output(g.layer(op, [a, g.tensor(b_shape, cb)], a_shape, act=act()))
    xa = operands(rng, a_shape, 3)
    got, = run_source(g, [xa])
    assert_close(got, OPS[op](xa.astype(np.float64), cb[None]))


def test_binary_with_a_constant_first_input():
    rng = np.random.default_rng(4)
    ca = operands(rng, [3, 4, 5], 1)[0]
    g = Graph()
    b = g.input([3, 4, 5])
    g.output(g.layer("sub", [g.tensor([3, 4, 5], ca), b], [3, 4, 5], act=act()))
    xb = operands(rng, [3, 4, 5], 2)
    got, = run_source(g, [xb])
    assert_close(got, ca[None].astype(np.float64) - xb)


@pytest.mark.parametrize("a", [act("relu"), act("clip", 0, 6), act("sigmoid")], ids=lambda a: a["kind"])
def test_binary_fused_activation(a):
    rng = np.random.default_rng(5)
    g = Graph()
    x, y = g.input([4, 3, 3]), g.input([4, 3, 3])
    g.output(g.layer("add", [x, y], [4, 3, 3], act=a))
    xa, xb = (rng.standard_normal((2, 4, 3, 3)).astype(np.float32) * 4 for _ in range(2))
    got, = run_source(g, [xa, xb])
    assert_close(got, act_ref(xa.astype(np.float64) + xb, a))


def test_division_by_zero_is_ieee():
    g = Graph()
    x, y = g.input([3]), g.input([3])
    g.output(g.layer("div", [x, y], [3], act=act()))
    got, = run_source(g, [np.array([[1, -1, 0]], np.float32), np.zeros((1, 3), np.float32)])
    assert got[0, 0] == np.inf and got[0, 1] == -np.inf and np.isnan(got[0, 2])


@pytest.mark.parametrize("op", OPS)
def test_a_binary_split_over_threads_equals_one_thread(op):
    """Two inputs of one shape, big enough that the rows are cut over the threads (run.c,
    one sample: a batch is split by samples instead); fresh inputs for every thread count,
    so a part left unwritten could not pass with the previous run's values."""
    rng = np.random.default_rng(11)
    shape = [24, 37, 23]
    g = Graph()
    a, b = g.input(shape), g.input(shape)
    g.output(g.layer(op, [a, b], shape, act=act("relu")))
    with g.build(max_batch=1) as net:
        for threads in (2, 3, 5, 1):
            net.set_threads(threads)
            xa, xb = operands(rng, shape, 1), operands(rng, shape, 1)
            got, = net.run([to_core(xa), to_core(xb)])
            want = np.maximum(OPS[op](xa.astype(np.float64), xb), 0)
            assert_close(from_core(got, shape), want)
