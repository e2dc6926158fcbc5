"""Choices of an int8 graph by the network's output error (converters.output_search): the
search itself on a known objective, and range tuning on a small real graph."""

import math

import numpy as np
import pytest

from converters import output_search as osr


def test_mean_kl_is_zero_on_equal_logits_and_positive_otherwise():
    rng = np.random.default_rng(0)
    f = rng.normal(0, 3, (5, 10))
    assert osr.mean_kl(f, f) == pytest.approx(0.0, abs=1e-12)
    assert osr.mean_kl(f, f + 7.0) == pytest.approx(0.0, abs=1e-12)    # shift-invariant
    assert osr.mean_kl(f, f + rng.normal(0, 0.1, f.shape)) > 0


def test_tune_ranges_keeps_only_improvements_and_never_gets_worse():
    best = {0: (0.0, 1.25), 1: (-0.7, 0.7), 2: (0.0, 3.0)}
    base = {0: (0.0, 1.0), 1: (-1.0, 1.0), 2: (0.0, 3.0)}
    calls = []

    def objective(r):
        calls.append(dict(r))
        return sum(abs(r[t][1] - best[t][1]) + abs(r[t][0] - best[t][0]) for t in r)
    out = osr.tune_ranges([0, 1, 2], base, objective)
    # one sweep: the start, then one trial per factor and tensor
    assert len(calls) == 1 + 3 * len(osr.RANGE_FACTORS)
    assert out[0] == pytest.approx((0.0, 1.25)) and out[1] == pytest.approx((-0.7, 0.7))
    assert out[2] == base[2]
    assert objective(out) < objective(base)


def test_range_tuning_on_a_small_graph_lowers_the_output_kl():
    pytest.importorskip("onnx")
    from tests.test_quant_calibrate import _float_net, _inputs
    from converters.quantize import (_logits, _quantizable, _with_blobs, prepare,
                                     quantize_model, tunable_tensors, tune_ranges)
    header, arrays = _float_net()
    _, x = _inputs(header, 12)
    # percentile 90 clips the inputs' tails: wider ranges lower the output error
    prep = prepare(header, arrays, x[:6], method="percentile", percentile=90)
    int8 = {i for i in range(len(prep.header["layers"])) if _quantizable(prep.header, i, ())}
    tensors = tunable_tensors(prep, int8)
    assert tensors and all(t not in prep.fixed for t in tensors)
    ref = _logits(*prep.source, [x[6:]])

    def kl():
        qh, qa = prep.build(int8)
        return osr.mean_kl(ref.reshape(len(ref), -1), _logits(_with_blobs(qh, qa), qa, [x[6:]]))
    before = kl()
    tuned = tune_ranges(prep, int8, x[6:])
    assert prep.ranges.tuned == {}                   # left as it was
    assert set(tuned) <= set(tensors)
    prep.ranges.tuned = tuned
    after = kl()
    assert tuned and after < before and math.isfinite(after)
    _, _, report = quantize_model(header, arrays, x[:6], heldout=x[6:], validation=x[6:],
                                  method="percentile", percentile=90, tune=True)
    names = {header["tensors"][t]["name"] for t in tuned}
    assert set(report["tuned_ranges"]) == names
