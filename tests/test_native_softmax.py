"""The C core's softmax along channels: stable for large inputs."""

import numpy as np
import pytest

from native_helpers import Graph, assert_close, run_source


def softmax_ref(x):
    z = x.astype(np.float64) - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("shape", [[1], [10], [1000], [7, 3, 5], [4, 9]])
def test_softmax_along_channels(shape):
    rng = np.random.default_rng(len(shape))
    g = Graph()
    g.output(g.layer("softmax", [g.input(shape)], shape))
    xs = rng.standard_normal([3] + shape).astype(np.float32) * 5
    got, = run_source(g, [xs])
    assert_close(got, softmax_ref(xs))


def test_softmax_does_not_overflow():
    g = Graph()
    g.output(g.layer("softmax", [g.input([4])], [4]))
    xs = np.array([[1000, 999, -1000, 1000], [-1e30, 0, 0, 1e30]], np.float32)
    got, = run_source(g, [xs])
    assert np.all(np.isfinite(got))
    assert_close(got, softmax_ref(xs))
