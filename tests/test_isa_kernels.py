"""Every SIMD kernel family this CPU runs against the reference family, on
awkward shapes: 1, primes, just below and above the vector widths (8, 16) and
the tiles (GEMM rows 6 / 12, panels of 16, k blocks of 256, conv tiles of 96
pixels).  Each family is forced with PREDICT_ISA; families the CPU or build
lacks are skipped (the ARM ones run under qemu, see `make cross`).  Floats
agree within 1e-5 of the largest value; ops that are one IEEE operation per
element (binary, pools) agree exactly."""

import numpy as np
import pytest

from native_helpers import Graph, act, assert_close, to_core, window, window_out
from predict import _native
from predict.errors import NativeError
from predict.layout import pack_panels16

FAMILIES = ["avx2", "avx512", "neon", "neondot"]
RUNNABLE = _native.runnable_isas()


def run_with(isa, graph, xs, monkeypatch, threads=1):
    """Builds graph with the family isa and runs the source-layout inputs xs."""
    monkeypatch.setenv("PREDICT_ISA", isa)
    with graph.build(max_batch=xs[0].shape[0]) as net:
        assert net.isa == isa
        if threads != 1:
            net.set_threads(threads)
        return net.run([to_core(x) for x in xs])[0]


def against_ref(isa, graph, xs, monkeypatch, exact=False):
    if isa not in RUNNABLE:
        pytest.skip(f"this CPU or build cannot run {isa}")
    want = run_with("ref", graph, xs, monkeypatch)
    got = run_with(isa, graph, xs, monkeypatch)
    if exact:
        np.testing.assert_array_equal(got, want)
    else:
        assert_close(got, want)


def conv_graph(rng, cin, h, w, cout, kernel=(1, 1), strides=(1, 1), dilations=(1, 1),
               pads=(0, 0, 0, 0), groups=1, a=None, packed=False, bias=True):
    oh = window_out(h, kernel[0], strides[0], dilations[0], pads[0], pads[2])
    ow = window_out(w, kernel[1], strides[1], dilations[1], pads[1], pads[3])
    weight = rng.standard_normal((cout, kernel[0], kernel[1], cin // groups)).astype(np.float32)
    g = Graph()
    x = g.input([cin, h, w])
    extra = {"weight_layout": "panels16"} if packed else {}
    blob = g.blob(pack_panels16(weight, groups) if packed else weight)
    b = g.blob(rng.standard_normal(cout)) if bias else None
    g.output(g.layer("conv", [x], [cout, oh, ow], **window(kernel, strides, dilations, pads),
                     groups=groups, weight=blob, bias=b, act=a or act("clip", -1, 1.5), **extra))
    return g


# GEMM shapes through a pointwise conv: (pixels as h x w, cin = k, cout = n)
GEMM = [(1, 1, 1, 1), (1, 1, 5, 7), (1, 5, 3, 8), (1, 11, 17, 15), (2, 6, 8, 16), (1, 13, 9, 17),
        (3, 5, 31, 33), (1, 23, 255, 31), (1, 25, 257, 24), (7, 7, 300, 50), (4, 29, 16, 96)]


@pytest.mark.parametrize("isa", FAMILIES)
@pytest.mark.parametrize("shape", GEMM, ids=lambda s: "m{}xk{}xn{}".format(s[0] * s[1], s[2], s[3]))
def test_gemm(isa, shape, monkeypatch):
    h, w, k, n = shape
    rng = np.random.default_rng(h * w + k + n)
    g = conv_graph(rng, k, h, w, n)
    against_ref(isa, g, [rng.standard_normal((2, k, h, w)).astype(np.float32)], monkeypatch)


@pytest.mark.parametrize("isa", FAMILIES)
@pytest.mark.parametrize("kind", ["none", "relu", "leakyrelu", "hardswish", "sigmoid"])
def test_gemm_output_stages(isa, kind, monkeypatch):
    rng = np.random.default_rng(2)
    g = conv_graph(rng, 19, 5, 5, 21, a=act(kind, 0.1 if kind == "leakyrelu" else 0), bias=False)
    against_ref(isa, g, [rng.standard_normal((1, 19, 5, 5)).astype(np.float32)], monkeypatch)


@pytest.mark.parametrize("isa", FAMILIES)
@pytest.mark.parametrize("batch,k,n", [(1, 1, 1), (1, 1280, 1000), (3, 17, 15), (13, 33, 17)])
def test_fc(isa, batch, k, n, monkeypatch):
    rng = np.random.default_rng(k + n)
    g = Graph()
    x = g.input([k])
    g.output(g.layer("fc", [x], [n], weight=g.blob(rng.standard_normal((n, k))),
                     bias=g.blob(rng.standard_normal(n)), act=act()))
    against_ref(isa, g, [rng.standard_normal((batch, k)).astype(np.float32)], monkeypatch)


# (cin, h, w, cout, kernel, strides, dilations, pads, groups): im2col + GEMM
CONVS = [
    (3, 15, 17, 32, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), 1),     # the stem, > one 96-pixel tile
    (3, 30, 34, 32, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), 1),     # rows of 16 inside: 12 + 4
    (3, 26, 41, 24, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), 1),     # 20 inside: 12 + 8, n 16 + 8
    (3, 11, 9, 8, (3, 3), (1, 1), (1, 1), (0, 1, 1, 0), 1),
    (9, 10, 11, 12, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1), 3),    # groups
    (5, 9, 9, 17, (3, 3), (1, 1), (2, 2), (2, 2, 2, 2), 1),      # dilation
    (8, 13, 13, 7, (5, 5), (2, 2), (1, 1), (2, 2, 2, 2), 1),
    (16, 6, 6, 33, (1, 1), (2, 2), (1, 1), (0, 0, 0, 0), 1),     # 1x1 that needs im2col
]


@pytest.mark.parametrize("isa", FAMILIES)
@pytest.mark.parametrize("case", CONVS, ids=lambda c: f"c{c[0]}_{c[1]}x{c[2]}_o{c[3]}_k{c[4][0]}s{c[5][0]}d{c[6][0]}g{c[8]}")
def test_conv(isa, case, monkeypatch):
    cin, h, w, cout, kernel, strides, dilations, pads, groups = case
    rng = np.random.default_rng(cin + h + cout)
    g = conv_graph(rng, cin, h, w, cout, kernel, strides, dilations, pads, groups)
    against_ref(isa, g, [rng.standard_normal((2, cin, h, w)).astype(np.float32)], monkeypatch)


# (c, h, w, kernel, strides, dilations, pads)
DEPTHWISE = [
    (1, 1, 1, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),
    (7, 5, 6, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),
    (8, 9, 9, (3, 3), (2, 2), (1, 1), (0, 0, 1, 1)),
    (9, 13, 11, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1)),
    (16, 12, 12, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),
    (17, 7, 7, (5, 5), (1, 1), (1, 1), (2, 2, 2, 2)),
    (33, 11, 10, (5, 5), (2, 2), (1, 1), (2, 2, 2, 2)),
    (24, 2, 3, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),            # no interior pixel
    (10, 9, 9, (3, 3), (1, 1), (2, 2), (2, 2, 2, 2)),            # dilation: the general path
    (12, 8, 9, (3, 1), (1, 2), (1, 1), (1, 0, 1, 0)),            # non-square
    (200, 6, 6, (3, 3), (1, 1), (1, 1), (0, 0, 0, 0)),           # no padding, wide
]


@pytest.mark.parametrize("isa", FAMILIES)
@pytest.mark.parametrize("case", DEPTHWISE, ids=lambda c: f"c{c[0]}_{c[1]}x{c[2]}_k{c[3][0]}{c[3][1]}s{c[4][0]}d{c[5][0]}")
@pytest.mark.parametrize("kind", ["clip", "hardswish", "relu", "leakyrelu", "none"])
def test_depthwise(isa, case, kind, monkeypatch):
    c, h, w, kernel, strides, dilations, pads = case
    rng = np.random.default_rng(c + h + w)
    oh = window_out(h, kernel[0], strides[0], dilations[0], pads[0], pads[2])
    ow = window_out(w, kernel[1], strides[1], dilations[1], pads[1], pads[3])
    g = Graph()
    x = g.input([c, h, w])
    g.output(g.layer("depthwise", [x], [c, oh, ow], **window(kernel, strides, dilations, pads),
                     weight=g.blob(rng.standard_normal((kernel[0], kernel[1], c))),
                     bias=g.blob(rng.standard_normal(c)),
                     act=act(kind, 0.1 if kind == "leakyrelu" else 0, 6 if kind == "clip" else 0)))
    against_ref(isa, g, [rng.standard_normal((2, c, h, w)).astype(np.float32) * 3], monkeypatch)


@pytest.mark.parametrize("isa", FAMILIES)
@pytest.mark.parametrize("c,h,w", [(1, 1, 1), (7, 3, 3), (8, 2, 5), (9, 1, 1), (17, 4, 3)])
@pytest.mark.parametrize("kind", ["relu", "clip", "leakyrelu", "silu"])
def test_add_with_nan_is_exact(isa, c, h, w, kind, monkeypatch):
    """One IEEE operation per element: equal to the reference bit for bit,
    NaN and signed zeros going through relu/clip as the reference's compares do."""
    rng = np.random.default_rng(c * h * w)
    g = Graph()
    a, b = g.input([c, h, w]), g.input([c, h, w])
    g.output(g.layer("add", [a, b], [c, h, w], act=act(kind, -0.5 if kind != "leakyrelu" else 0.1, 0.5)))
    xa = rng.standard_normal((2, c, h, w)).astype(np.float32)
    xb = rng.standard_normal((2, c, h, w)).astype(np.float32)
    xa.flat[:: 3] = np.nan
    xb.flat[1:: 4] = -0.0
    xa.flat[1:: 4] = -0.0
    if isa not in RUNNABLE:
        pytest.skip(f"this CPU or build cannot run {isa}")
    outs = []
    for family in ("ref", isa):
        monkeypatch.setenv("PREDICT_ISA", family)
        with g.build(max_batch=2) as net:
            outs.append(net.run([to_core(xa), to_core(xb)])[0])
    np.testing.assert_array_equal(outs[1].view(np.uint32), outs[0].view(np.uint32))


@pytest.mark.parametrize("isa", FAMILIES)
@pytest.mark.parametrize("c,h,w", [(1, 1, 1), (7, 7, 7), (8, 3, 5), (17, 4, 4), (1280, 7, 7)])
def test_global_avgpool_is_exact(isa, c, h, w, monkeypatch):
    rng = np.random.default_rng(c + h)
    g = Graph()
    x = g.input([c, h, w])
    g.output(g.layer("global_avgpool", [x], [c, 1, 1]))
    against_ref(isa, g, [rng.standard_normal((3, c, h, w)).astype(np.float32)], monkeypatch, exact=True)


@pytest.mark.parametrize("isa", ["ref"] + FAMILIES)
@pytest.mark.parametrize("k", [37, 300])
def test_a_pixel_does_not_depend_on_its_tile(isa, k, monkeypatch):
    """Every GEMM tile variant (12 rows x 1 or 2 panels, 8, 5, 4 rows, duplicated
    rows) sums in the same order: a pixel of a 25-pixel image equals the same
    pixel alone, bit for bit; so does a sample of a batch."""
    if isa not in RUNNABLE:
        pytest.skip(f"this CPU or build cannot run {isa}")
    rng = np.random.default_rng(k)
    weight = rng.standard_normal((40, 1, 1, k)).astype(np.float32)

    def pointwise(w):
        g = Graph()
        x = g.input([k, 1, w])
        g.output(g.layer("conv", [x], [40, 1, w], **window((1, 1)), groups=1, weight=g.blob(weight),
                         bias=None, act=act()))
        return g
    xs = rng.standard_normal((3, k, 1, 25)).astype(np.float32)
    whole = run_with(isa, pointwise(25), [xs], monkeypatch)
    for i in (0, 11, 12, 20, 24):
        np.testing.assert_array_equal(run_with(isa, pointwise(1), [xs[:, :, :, i:i + 1]], monkeypatch)[:, 0, 0],
                                      whole[:, 0, i])
    np.testing.assert_array_equal(run_with(isa, pointwise(25), [xs[1:2]], monkeypatch)[0], whole[1])


def test_packed_and_ohwi_weights_give_the_same_result(monkeypatch):
    """A PANELS16 blob is read in place; an OHWI blob is packed at build: same numbers."""
    rng = np.random.default_rng(4)
    xs = [rng.standard_normal((1, 12, 6, 6)).astype(np.float32)]
    plain = conv_graph(np.random.default_rng(9), 12, 6, 6, 20, (3, 3), pads=(1, 1, 1, 1), groups=2)
    packed = conv_graph(np.random.default_rng(9), 12, 6, 6, 20, (3, 3), pads=(1, 1, 1, 1), groups=2,
                        packed=True)
    for isa in RUNNABLE:
        np.testing.assert_array_equal(run_with(isa, packed, xs, monkeypatch),
                                      run_with(isa, plain, xs, monkeypatch))


def test_default_family_is_the_best_the_cpu_runs(monkeypatch):
    monkeypatch.delenv("PREDICT_ISA", raising=False)
    assert _native.isa() == RUNNABLE[-1]
    assert "ref" in RUNNABLE


@pytest.mark.parametrize("isa", FAMILIES + ["sse9"])
def test_forcing_a_family_the_cpu_lacks_is_an_error(isa, monkeypatch):
    if isa in RUNNABLE:
        pytest.skip(f"this CPU runs {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)
    with pytest.raises(NativeError, match=f"PREDICT_ISA={isa}") as info:
        _native.isa()
    assert info.value.status == "PD_ERR_UNSUPPORTED"
    g = Graph()
    x = g.input([4])
    g.output(g.layer("activation", [x], [4], act=act("relu")))
    with pytest.raises(NativeError, match=f"PREDICT_ISA={isa}"):
        g.build()


def test_the_core_packs_ohwi_weights_like_python(monkeypatch):
    """With Python's packing off, the core packs an OHWI weight at build (pack.c)."""
    rng = np.random.default_rng(6)
    xs = [rng.standard_normal((1, 12, 6, 6)).astype(np.float32)]
    g = conv_graph(np.random.default_rng(9), 12, 6, 6, 20, (3, 3), pads=(1, 1, 1, 1), groups=2)
    want = run_with("ref", g, xs, monkeypatch)
    monkeypatch.setattr(_native, "_PACK_IN_PYTHON", False)
    np.testing.assert_array_equal(run_with("ref", g, xs, monkeypatch), want)
    fc = Graph()
    x = fc.input([19])
    fc.output(fc.layer("fc", [x], [35], weight=fc.blob(rng.standard_normal((35, 19))), bias=None,
                       act=act()))
    xf = [rng.standard_normal((2, 19)).astype(np.float32)]
    packed = run_with("ref", fc, xf, monkeypatch)
    monkeypatch.setattr(_native, "_PACK_IN_PYTHON", True)
    np.testing.assert_array_equal(run_with("ref", fc, xf, monkeypatch), packed)
