"""The C core's pooling: max and average windows (ceil mode, padding counted
or not) and the global pools, against numpy references that pad explicitly:
-inf for max; for average a map of the cells that count, summed like the data."""

import numpy as np
import pytest

from native_helpers import Graph, assert_close, run_source, window_out


def padded(a, size_h, size_w, pads, out_h, out_w, kernel, strides, dilations, value):
    """a (..., H, W) padded by pads, and past them (ceil mode) up to the last window."""
    (kh, kw), (sh, sw), (dh, dw), (pt, pl, pb, pr) = kernel, strides, dilations, pads
    extra_b = max(pb, (out_h - 1) * sh + (kh - 1) * dh + 1 - size_h - pt)
    extra_r = max(pr, (out_w - 1) * sw + (kw - 1) * dw + 1 - size_w - pl)
    widths = [(0, 0)] * (a.ndim - 2) + [(pt, extra_b), (pl, extra_r)]
    return np.pad(a, widths, constant_values=value)


def taps(a, out_h, out_w, kernel, strides, dilations):
    """Every kernel tap's view (..., out_h, out_w) of a padded array."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    for i in range(kh):
        for j in range(kw):
            yield a[..., i * dh:i * dh + (out_h - 1) * sh + 1:sh, j * dw:j * dw + (out_w - 1) * sw + 1:sw]


def out_size(h, w, kernel, strides, dilations, pads, ceil_mode):
    return (window_out(h, kernel[0], strides[0], dilations[0], pads[0], pads[2], ceil_mode),
            window_out(w, kernel[1], strides[1], dilations[1], pads[1], pads[3], ceil_mode))


def maxpool_ref(x, kernel, strides, dilations, pads, ceil_mode):
    h, w = x.shape[2:]
    oh, ow = out_size(h, w, kernel, strides, dilations, pads, ceil_mode)
    xp = padded(x.astype(np.float64), h, w, pads, oh, ow, kernel, strides, dilations, -np.inf)
    return np.max(list(taps(xp, oh, ow, kernel, strides, dilations)), axis=0)


def avgpool_ref(x, kernel, strides, pads, ceil_mode, count_include_pad):
    h, w = x.shape[2:]
    one = (1, 1)
    oh, ow = out_size(h, w, kernel, strides, one, pads, ceil_mode)
    xp = padded(x.astype(np.float64), h, w, pads, oh, ow, kernel, strides, one, 0.0)
    # The cells that count, in padded coordinates: the input, plus with
    # count_include_pad the padding; never what lies past it (ceil mode).
    cells = np.zeros(xp.shape[2:])
    pt, pl, pb, pr = pads
    if count_include_pad:
        cells[:pt + h + pb, :pl + w + pr] = 1
    else:
        cells[pt:pt + h, pl:pl + w] = 1
    sums = np.sum(list(taps(xp, oh, ow, kernel, strides, one)), axis=0)
    counts = np.sum(list(taps(cells, oh, ow, kernel, strides, one)), axis=0)
    return sums / counts


# (batch, c, h, w, kernel, strides, dilations, pads, ceil_mode)
MAX_CASES = [
    (1, 1, 1, 1, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), False),
    (3, 5, 8, 8, (2, 2), (2, 2), (1, 1), (0, 0, 0, 0), False),
    (2, 3, 7, 9, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), False),
    (1, 4, 6, 6, (3, 3), (2, 2), (1, 1), (0, 0, 0, 0), True),     # ceil adds a partial window
    (2, 3, 5, 5, (2, 2), (2, 2), (1, 1), (1, 1, 1, 1), True),     # ceil, then reduced by one
    (1, 2, 11, 10, (3, 2), (3, 3), (2, 3), (2, 1, 0, 2), False),  # dilation, stride 3
    (1, 7, 13, 13, (3, 3), (3, 3), (1, 1), (1, 0, 2, 1), True),
]


@pytest.mark.parametrize("case", MAX_CASES, ids=lambda c: "x".join(map(str, c[:4])) + f"_k{c[4]}s{c[5]}d{c[6]}p{c[7]}c{int(c[8])}")
def test_maxpool_matches_reference(case):
    batch, c, h, w, kernel, strides, dilations, pads, ceil_mode = case
    rng = np.random.default_rng(h * w)
    oh, ow = out_size(h, w, kernel, strides, dilations, pads, ceil_mode)
    g = Graph()
    g.output(g.layer("maxpool", [g.input([c, h, w])], [c, oh, ow], kernel=list(kernel), strides=list(strides),
                     dilations=list(dilations), pads=list(pads), ceil_mode=ceil_mode))
    xs = rng.standard_normal((batch, c, h, w)).astype(np.float32) - 5  # padding (0) must never win
    got, = run_source(g, [xs])
    assert_close(got, maxpool_ref(xs, kernel, strides, dilations, pads, ceil_mode))


# (batch, c, h, w, kernel, strides, pads, ceil_mode)
AVG_CASES = [
    (1, 1, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), False),
    (3, 5, 8, 8, (2, 2), (2, 2), (0, 0, 0, 0), False),
    (2, 3, 7, 9, (3, 3), (2, 2), (1, 1, 1, 1), False),
    (1, 4, 6, 6, (3, 3), (2, 2), (0, 0, 0, 0), True),
    (2, 3, 5, 5, (2, 2), (2, 2), (1, 1, 1, 1), True),
    (1, 7, 13, 11, (3, 2), (3, 3), (1, 0, 2, 1), True),
    (1, 2, 10, 7, (5, 3), (2, 1), (2, 1, 0, 2), False),
]


@pytest.mark.parametrize("count_include_pad", [False, True])
@pytest.mark.parametrize("case", AVG_CASES, ids=lambda c: "x".join(map(str, c[:4])) + f"_k{c[4]}s{c[5]}p{c[6]}c{int(c[7])}")
def test_avgpool_divisor_rules(case, count_include_pad):
    batch, c, h, w, kernel, strides, pads, ceil_mode = case
    rng = np.random.default_rng(h * w + 1)
    oh, ow = out_size(h, w, kernel, strides, (1, 1), pads, ceil_mode)
    g = Graph()
    g.output(g.layer("avgpool", [g.input([c, h, w])], [c, oh, ow], kernel=list(kernel), strides=list(strides),
                     pads=list(pads), ceil_mode=ceil_mode, count_include_pad=count_include_pad))
    xs = rng.standard_normal((batch, c, h, w)).astype(np.float32) + 1
    got, = run_source(g, [xs])
    assert_close(got, avgpool_ref(xs, kernel, strides, pads, ceil_mode, count_include_pad))


def test_avgpool_divisor_by_hand():
    """3x3 ones, 2x2 windows, stride 2, pad 1 all round, ceil mode: each window
    has a different number of real, padded and past-the-padding cells."""
    g = Graph()
    g.output(g.layer("avgpool", [g.input([1, 3, 3])], [1, 2, 2], kernel=[2, 2], strides=[2, 2],
                     pads=[1, 1, 1, 1], ceil_mode=True, count_include_pad=True))
    xs = np.ones((1, 1, 3, 3), np.float32)
    got, = run_source(g, [xs])
    # Along each axis the windows start at -1 (a pad cell and a real one) and
    # at 1 (two real cells); a third, at 3, would start past the input.
    assert_close(got[0, 0], [[1 / 4, 2 / 4], [2 / 4, 4 / 4]])
    g.layers[0]["count_include_pad"] = False
    got, = run_source(g, [xs])
    assert_close(got[0, 0], np.ones((2, 2)))


@pytest.mark.parametrize("op,fn", [("global_avgpool", np.mean), ("global_maxpool", np.max)])
@pytest.mark.parametrize("shape", [[1, 1, 1], [5, 7, 3], [16, 1, 9], [3, 13]])
def test_global_pools(op, fn, shape):
    rng = np.random.default_rng(len(shape))
    out_shape = [shape[0]] + [1] * (len(shape) - 1)
    g = Graph()
    g.output(g.layer(op, [g.input(shape)], out_shape))
    xs = rng.standard_normal([3] + shape).astype(np.float32)
    got, = run_source(g, [xs])
    axes = tuple(range(2, xs.ndim))
    assert_close(got, fn(xs.astype(np.float64), axis=axes, keepdims=True))
