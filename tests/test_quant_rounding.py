"""GPTQ rounding of int8 weights (converters.rounding): the same scales and range as
round-to-nearest, a smaller output error on the inputs it was given."""

import numpy as np
import pytest

from converters import rounding
from predict import quant


def _inputs(rng, n, k):
    # correlated, uneven inputs (as activations are), one input always zero
    x = rng.standard_normal((n, k)) @ rng.standard_normal((k, k)) * rng.uniform(0.1, 3, k)
    x[:, 1] = 0
    return np.maximum(x, 0)


@pytest.mark.parametrize("seed", range(4))
def test_gptq_keeps_scales_and_range_and_lowers_output_error(seed):
    rng = np.random.default_rng(seed)
    k, out = int(rng.integers(2, 60)), int(rng.integers(1, 20))
    x = _inputs(rng, 400, k)
    w = rng.standard_normal((out, k)) * rng.uniform(0.01, 1, (out, 1))
    q, s = rounding.gptq(w, x.T @ x)
    q0, s0 = quant.quantize_weights(w, 0)
    assert q.dtype == np.int8 and q.shape == w.shape
    assert int(np.abs(q).max()) <= 127
    np.testing.assert_array_equal(s, s0)
    err = np.sum((x @ (q * s[:, None] - w).T) ** 2)
    err0 = np.sum((x @ (q0 * s0[:, None] - w).T) ** 2)
    assert err <= err0
    if k > 8:
        assert err < 0.8 * err0   # a real gain, not a tie


def test_gptq_of_an_exact_grid_is_the_grid():
    """Weights already on the int8 grid round to themselves (nothing to move)."""
    rng = np.random.default_rng(5)
    q0 = rng.integers(-127, 128, (4, 9))
    q0[:, 0] = 127
    w = q0 * 0.01
    x = _inputs(rng, 100, 9)
    q, s = rounding.gptq(w, x.T @ x)
    np.testing.assert_array_equal(q, q0)


def test_candidates_are_fc_and_pointwise_convs():
    layers = [{"op": "fc"}, {"op": "conv", "kernel": [1, 1], "strides": [1, 1], "groups": 1,
                             "pads": [0, 0, 0, 0]},
              {"op": "conv", "kernel": [3, 3], "strides": [1, 1], "groups": 1,
               "pads": [1, 1, 1, 1]}, {"op": "depthwise"}]
    assert rounding.candidates({"layers": layers}, range(4)) == [0, 1]
