"""The C core's convolution (im2col + GEMM, and the 1x1 plain-GEMM path)
against a float64 numpy reference (explicit padding, one einsum per tap)."""

import numpy as np
import pytest

from native_helpers import Graph, act, act_ref, assert_close, conv_ref, run_source, window, window_out

# (batch, cin, h, w, cout, kernel, strides, dilations, pads, groups)
CASES = [
    (1, 1, 1, 1, 1, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1),      # everything 1
    (3, 5, 7, 7, 11, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1),     # pointwise: one GEMM over the batch
    (2, 3, 9, 9, 8, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 1),      # the common 3x3
    (1, 3, 11, 13, 7, (3, 3), (2, 2), (1, 1), (0, 1, 1, 0), 1),    # stride 2, asymmetric pads
    (3, 7, 10, 8, 5, (2, 3), (3, 2), (1, 1), (1, 2, 0, 1), 1),     # stride 3, odd kernel, primes
    (1, 4, 9, 9, 6, (3, 3), (1, 1), (2, 3), (2, 0, 1, 2), 1),      # dilation
    (2, 6, 6, 5, 9, (3, 1), (1, 2), (1, 1), (1, 0, 1, 0), 3),      # groups
    (1, 8, 5, 5, 8, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 8),      # groups = channels through conv
    (1, 4, 6, 6, 6, (1, 1), (2, 2), (1, 1), (0, 0, 0, 0), 2),      # 1x1 that still needs im2col
    (1, 3, 4, 4, 2, (4, 4), (1, 1), (1, 1), (0, 0, 0, 0), 1),      # kernel = input: one pixel out
]


def conv_graph(rng, batch, cin, h, w, cout, kernel, strides, dilations, pads, groups, bias=True, a=None):
    oh = window_out(h, kernel[0], strides[0], dilations[0], pads[0], pads[2])
    ow = window_out(w, kernel[1], strides[1], dilations[1], pads[1], pads[3])
    weight = rng.standard_normal((cout, kernel[0], kernel[1], cin // groups)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32) if bias else None
    g = Graph()
    x = g.input([cin, h, w])
    y = g.layer("conv", [x], [cout, oh, ow], **window(kernel, strides, dilations, pads), groups=groups,
                weight=g.blob(weight), bias=None if b is None else g.blob(b), act=a or act())
    g.output(y)
    xs = rng.standard_normal((batch, cin, h, w)).astype(np.float32)
    return g, xs, weight, b


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:5])) + f"_k{c[5]}s{c[6]}d{c[7]}p{c[8]}g{c[9]}")
def test_conv_matches_reference(case):
    rng = np.random.default_rng(sum(case[:5]))
    batch, cin, h, w, cout, kernel, strides, dilations, pads, groups = case
    g, xs, weight, b = conv_graph(rng, *case)
    got, = run_source(g, [xs])
    assert_close(got, conv_ref(xs, weight, b, strides, dilations, pads, groups))


@pytest.mark.parametrize("pointwise", [True, False])
@pytest.mark.parametrize("kind", ["relu", "clip", "hardswish", "sigmoid", "silu", "leakyrelu"])
def test_conv_fused_activation_and_no_bias(kind, pointwise):
    rng = np.random.default_rng(7)
    a = act(kind, *{"clip": (-0.5, 0.7), "leakyrelu": (0.1, 0)}.get(kind, (0, 0)))
    k = (1, 1) if pointwise else (3, 3)
    p = (0, 0, 0, 0) if pointwise else (1, 1, 1, 1)
    g, xs, weight, _ = conv_graph(rng, 2, 3, 5, 5, 4, k, (1, 1), (1, 1), p, 1, bias=False, a=a)
    got, = run_source(g, [xs])
    assert_close(got, act_ref(conv_ref(xs, weight, None, pads=p), a))


def test_conv_1d_signal():
    """A [C, L] tensor is core (1, L, C): a 1-D conv uses kh = 1, no top/bottom pads."""
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((6, 1, 3, 4)).astype(np.float32)
    g = Graph()
    x = g.input([4, 17])
    y = g.layer("conv", [x], [6, 9], **window((1, 3), (1, 2), (1, 1), (0, 1, 0, 1)), groups=1,
                weight=g.blob(weight), bias=None, act=act())
    g.output(y)
    xs = rng.standard_normal((2, 4, 17)).astype(np.float32)
    got, = run_source(g, [xs])
    want = conv_ref(xs[:, :, None, :], weight, None, (1, 2), (1, 1), (0, 1, 0, 1))[:, :, 0, :]
    assert_close(got, want)


def test_scratch_is_one_im2col_tile_per_thread():
    rng = np.random.default_rng(0)
    g, _, _, _ = conv_graph(rng, 1, 6, 10, 10, 4, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 2)
    with g.build(max_batch=4) as net:
        # one tile of 96 output pixels (PD_CONV_TILE) x 3*3*3 taps of one group,
        # whatever the batch and image size, rounded up to 64 bytes, per thread
        tile = -(-96 * 27 * 4 // 64) * 64
        assert net.scratch_bytes == tile
        net.set_threads(3)
        assert net.scratch_bytes == 3 * tile
    g, _, _, _ = conv_graph(rng, 1, 6, 10, 10, 4, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), 1)
    with g.build() as net:
        assert net.scratch_bytes == 0  # the pointwise path reads the input directly
