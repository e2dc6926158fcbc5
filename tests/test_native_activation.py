"""The C core's activations, as a layer of their own (the same code is every
fused output stage)."""

import numpy as np
import pytest

from native_helpers import ACT_KINDS, Graph, act, act_ref, assert_close, run_source

PARAMS = {"clip": (-1.0, 2.5), "hardsigmoid": (0.2, 0.5), "leakyrelu": (0.01, 0.0)}


@pytest.mark.parametrize("kind", ACT_KINDS)
def test_activation_matches_reference(kind):
    a = act(kind, *PARAMS.get(kind, (0.0, 0.0)))
    g = Graph()
    g.output(g.layer("activation", [g.input([3, 5, 7])], [3, 5, 7], act=a))
    xs = np.linspace(-8, 8, 3 * 3 * 5 * 7, dtype=np.float32).reshape(3, 3, 5, 7)
    got, = run_source(g, [xs])
    assert_close(got, act_ref(xs, a))


@pytest.mark.parametrize("kind", ["sigmoid", "silu"])
def test_sigmoid_saturates_without_overflow(kind):
    g = Graph()
    g.output(g.layer("activation", [g.input([4])], [4], act=act(kind)))
    got, = run_source(g, [np.array([[-1e30, -100, 100, 1e30]], np.float32)])
    assert np.all(np.isfinite(got[:, 1:3]))
    assert got[0, 2] == (1.0 if kind == "sigmoid" else 100.0)
    assert got[0, 1] == 0.0 or abs(got[0, 1]) < 1e-30


@pytest.mark.parametrize("kind", ACT_KINDS)
def test_nan_passes_through(kind):
    a = act(kind, *PARAMS.get(kind, (0.0, 0.0)))
    g = Graph()
    g.output(g.layer("activation", [g.input([2])], [2], act=a))
    got, = run_source(g, [np.array([[np.nan, 1.0]], np.float32)])
    assert np.isnan(got[0, 0])
