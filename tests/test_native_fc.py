"""The C core's fully connected layer (a GEMM over the batch) against numpy."""

import numpy as np
import pytest

from native_helpers import Graph, act, act_ref, assert_close, run_source


@pytest.mark.parametrize("batch,k,cout", [(1, 1, 1), (3, 17, 5), (2, 64, 10), (1, 1280, 7)])
@pytest.mark.parametrize("bias", [True, False])
def test_fc_matches_matmul(batch, k, cout, bias):
    rng = np.random.default_rng(k + cout)
    weight = rng.standard_normal((cout, k)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32) if bias else None
    g = Graph()
    x = g.input([k])
    g.output(g.layer("fc", [x], [cout], weight=g.blob(weight), bias=None if b is None else g.blob(b),
                     act=act()))
    xs = rng.standard_normal((batch, k)).astype(np.float32)
    got, = run_source(g, [xs])
    want = xs.astype(np.float64) @ weight.T.astype(np.float64) + (0 if b is None else b)
    assert_close(got, want)


@pytest.mark.parametrize("a", [act("relu"), act("sigmoid"), act("hardsigmoid", 0.2, 0.5)], ids=lambda a: a["kind"])
def test_fc_fused_activation(a):
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((6, 9)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    g = Graph()
    g.output(g.layer("fc", [g.input([9])], [6], weight=g.blob(weight), bias=g.blob(b), act=a))
    xs = rng.standard_normal((3, 9)).astype(np.float32)
    got, = run_source(g, [xs])
    assert_close(got, act_ref(xs.astype(np.float64) @ weight.T + b, a))


def test_fc_flattens_a_spatial_input_in_core_order():
    """K = h * w * c of the core sample, in NHWC order (the converter only feeds
    [K] tensors, but the core's rule is this one)."""
    rng = np.random.default_rng(2)
    weight = rng.standard_normal((4, 2 * 3 * 5)).astype(np.float32)
    g = Graph()
    g.output(g.layer("fc", [g.input([5, 2, 3])], [4], weight=g.blob(weight), bias=None, act=act()))
    xs = rng.standard_normal((2, 5, 2, 3)).astype(np.float32)
    with g.build(max_batch=2) as net:
        core = np.ascontiguousarray(xs.transpose(0, 2, 3, 1))
        got, = net.run([core])
    assert_close(got.reshape(2, 4), core.reshape(2, -1).astype(np.float64) @ weight.T)
