"""The C core's direct depthwise convolution against the grouped numpy
convolution (groups = channels, HWC weights turned into OHWI)."""

import numpy as np
import pytest

from native_helpers import Graph, act, act_ref, assert_close, conv_ref, run_source, window, window_out

# (batch, c, h, w, kernel, strides, dilations, pads)
CASES = [
    (1, 1, 1, 1, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0)),
    (3, 5, 7, 7, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),        # MobileNet's stride 1
    (2, 7, 10, 9, (3, 3), (2, 2), (1, 1), (0, 0, 1, 1)),       # stride 2, TF-style asymmetric pads
    (1, 3, 13, 11, (5, 3), (3, 2), (1, 1), (2, 1, 1, 0)),      # stride 3, odd kernel
    (2, 4, 9, 9, (3, 3), (1, 1), (2, 3), (2, 3, 1, 2)),        # dilation
    (1, 17, 4, 4, (4, 4), (1, 1), (1, 1), (0, 0, 0, 0)),       # kernel = input
]


def depthwise_graph(rng, batch, c, h, w, kernel, strides, dilations, pads, bias=True, a=None):
    oh = window_out(h, kernel[0], strides[0], dilations[0], pads[0], pads[2])
    ow = window_out(w, kernel[1], strides[1], dilations[1], pads[1], pads[3])
    weight = rng.standard_normal((kernel[0], kernel[1], c)).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32) if bias else None
    g = Graph()
    x = g.input([c, h, w])
    g.output(g.layer("depthwise", [x], [c, oh, ow], **window(kernel, strides, dilations, pads),
                     weight=g.blob(weight), bias=None if b is None else g.blob(b), act=a or act()))
    xs = rng.standard_normal((batch, c, h, w)).astype(np.float32)
    want = conv_ref(xs, weight.transpose(2, 0, 1)[..., None], b, strides, dilations, pads, groups=c)
    return g, xs, want


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c[:4])) + f"_k{c[4]}s{c[5]}d{c[6]}p{c[7]}")
def test_depthwise_matches_reference(case):
    rng = np.random.default_rng(sum(case[:4]))
    g, xs, want = depthwise_graph(rng, *case)
    got, = run_source(g, [xs])
    assert_close(got, want)


@pytest.mark.parametrize("a", [act("clip", 0, 6), act("hardswish"), act("relu")], ids=lambda a: a["kind"])
def test_depthwise_fused_activation_without_bias(a):
    rng = np.random.default_rng(5)
    g, xs, want = depthwise_graph(rng, 2, 6, 8, 8, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), bias=False, a=a)
    got, = run_source(g, [xs * 4])
    assert_close(got, act_ref(want * 4, a))
