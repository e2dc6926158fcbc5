"""The C core's concatenation along channels, including a constant input."""

import numpy as np
import pytest

from native_helpers import Graph, assert_close, run_source


@pytest.mark.parametrize("channels,spatial", [([1], [1, 1]), ([3, 5], [4, 6]), ([1, 7, 2, 4], [3, 3]),
                                              ([2, 3, 1], [9]), ([5, 11], [])])
def test_concat_matches_numpy(channels, spatial):
    rng = np.random.default_rng(sum(channels))
    g = Graph()
    ins = [g.input([c] + spatial) for c in channels]
    g.output(g.layer("concat", ins, [sum(channels)] + spatial))
    xs = [rng.standard_normal([3, c] + spatial).astype(np.float32) for c in channels]
    got, = run_source(g, xs)
    assert_close(got, np.concatenate(xs, axis=1))


def test_concat_with_a_constant_broadcasts_it_over_the_batch():
    rng = np.random.default_rng(0)
    const = rng.standard_normal((2, 3, 3)).astype(np.float32)
    g = Graph()
    x = g.input([4, 3, 3])
    g.output(g.layer("concat", [g.tensor([2, 3, 3], const), x], [6, 3, 3]))
    xs = rng.standard_normal((3, 4, 3, 3)).astype(np.float32)
    got, = run_source(g, [xs])
    assert_close(got, np.concatenate([np.broadcast_to(const, (3, 2, 3, 3)), xs], axis=1))
