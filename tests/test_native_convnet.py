"""The C core's classic-convnet ops (lrn, conv_transpose, resize, channel_shuffle, slice)
against plain numpy written from their definitions, on awkward shapes (1, primes, odd
channel counts), with threads; and the core's refusal of descriptions it must not run."""

import numpy as np
import pytest

from native_helpers import Graph, act, act_ref, assert_close, run_source
from predict import graph as pgraph
from predict.errors import ModelFormatError, NativeError


# -- lrn ------------------------------------------------------------------------------------

def lrn_ref(x, size, alpha, beta, k):
    x = x.astype(np.float64)
    c = x.shape[1]
    y = np.empty_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + size // 2)
        square = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        y[:, ch] = x[:, ch] / (k + alpha / size * square) ** beta
    return y


@pytest.mark.parametrize("shape,size", [([1, 1, 1], 1), ([7, 3, 5], 5), ([17, 2, 2], 4),
                                        ([3, 11], 3), ([2, 4, 4], 9)])
def test_lrn_matches_numpy(shape, size):
    g = Graph()
    g.output(g.layer("lrn", [g.input(shape)], shape, size=size, alpha=1e-2, beta=0.75, k=2.0))
    x = np.random.default_rng(size).standard_normal([2] + shape).astype(np.float32) * 3
    got, = run_source(g, [x])
    assert_close(got, lrn_ref(x, size, 1e-2, 0.75, 2.0))


# -- conv_transpose -------------------------------------------------------------------------

def conv_transpose_ref(x, w, bias, strides, dilations, pads, out_hw, groups):
    """Scatter: input pixel (i, j) adds x * w[.., a, b, ..] at output (i*s + a*d - pad)."""
    n, cin, h, wd = x.shape
    _, kh, kw, og = w.shape
    ig = cin // groups
    y = np.zeros((n, og * groups) + tuple(out_hw))
    for i in range(h):
        for j in range(wd):
            for a in range(kh):
                for b in range(kw):
                    oh = i * strides[0] + a * dilations[0] - pads[0]
                    ow = j * strides[1] + b * dilations[1] - pads[1]
                    if not (0 <= oh < out_hw[0] and 0 <= ow < out_hw[1]):
                        continue
                    for g in range(groups):
                        xs = x[:, g * ig:(g + 1) * ig, i, j].astype(np.float64)
                        y[:, g * og:(g + 1) * og, oh, ow] += xs @ w[g * ig:(g + 1) * ig, a, b, :]
    if bias is not None:
        y += bias[None, :, None, None]
    return y


CT_CASES = [
    # (cin, cout, h, w, kernel, strides, dilations, pads, output_padding, groups)
    (1, 1, 1, 1, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0), (0, 0), 1),
    (3, 5, 4, 3, (3, 3), (2, 2), (1, 1), (1, 1, 1, 1), (1, 1), 1),
    (6, 4, 5, 5, (3, 2), (3, 2), (2, 1), (0, 1, 2, 0), (2, 1), 2),
    (4, 4, 7, 2, (4, 4), (2, 2), (1, 1), (1, 1, 1, 1), (0, 0), 4),
    (17, 3, 3, 5, (1, 3), (1, 2), (1, 1), (0, 1, 0, 1), (0, 1), 1),
]


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("case", CT_CASES, ids=[str(i) for i in range(len(CT_CASES))])
def test_conv_transpose_matches_numpy(case, threads):
    cin, cout, h, w, kernel, strides, dil, pads, extra, groups = case
    out_hw = [s * (n - 1) + (k - 1) * d + 1 - pb - pe + e for n, k, s, d, pb, pe, e in
              zip((h, w), kernel, strides, dil, pads[:2], pads[2:], extra)]
    rng = np.random.default_rng(cin * 31 + cout)
    weight = rng.standard_normal((cin, *kernel, cout // groups)).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    g = Graph()
    g.output(g.layer("conv_transpose", [g.input([cin, h, w])], [cout, *out_hw],
                     kernel=list(kernel), strides=list(strides), dilations=list(dil),
                     pads=list(pads), output_padding=list(extra), groups=groups,
                     weight=g.blob(weight), bias=g.blob(bias), act=act("relu")))
    x = rng.standard_normal((3, cin, h, w)).astype(np.float32)
    with g.build(max_batch=3) as net:
        net.set_threads(threads)
        from native_helpers import from_core, to_core
        got = from_core(net.run([to_core(x)])[0], [cout, *out_hw])
    want = act_ref(conv_transpose_ref(x, weight, bias, strides, dil, pads, out_hw, groups),
                   act("relu"))
    assert_close(got, want)


# -- resize ---------------------------------------------------------------------------------

def resize_axis(n, m, scale, coord, mode, nearest):
    """(left, right, right weight) per output index, from ONNX's formulas in float32."""
    f32 = np.float32
    out = []
    for x in range(m):
        if coord == "align_corners":
            v = f32(x) * f32(n - 1) / f32(m - 1) if m > 1 else f32(0)
        elif coord == "asymmetric":
            v = f32(x) / f32(scale)
        elif coord == "tf_half_pixel_for_nn":
            v = (f32(x) + f32(0.5)) / f32(scale)
        elif coord == "pytorch_half_pixel" and m == 1:
            v = f32(0)
        else:
            v = (f32(x) + f32(0.5)) / f32(scale) - f32(0.5)
        if mode == "nearest":
            fl = np.floor(v)
            r = {"floor": fl, "ceil": np.ceil(v), "round_prefer_floor": fl + (v - fl > 0.5),
                 "round_prefer_ceil": fl + (v - fl >= 0.5)}[nearest]
            i = int(min(max(r, 0), n - 1))
            out.append((i, i, 0.0))
        else:
            v = min(max(float(v), 0.0), n - 1.0)
            i = int(np.floor(v))
            out.append((i, min(i + 1, n - 1), v - i))
    return out


def resize_ref(x, out_hw, scales, coord, mode, nearest):
    n, c, h, w = x.shape
    rows = resize_axis(h, out_hw[0], scales[0], coord, mode, nearest)
    cols = resize_axis(w, out_hw[1], scales[1], coord, mode, nearest)
    y = np.zeros((n, c) + tuple(out_hw))
    x = x.astype(np.float64)
    for i, (h0, h1, fh) in enumerate(rows):
        for j, (w0, w1, fw) in enumerate(cols):
            top = x[:, :, h0, w0] * (1 - fw) + x[:, :, h0, w1] * fw
            bottom = x[:, :, h1, w0] * (1 - fw) + x[:, :, h1, w1] * fw
            y[:, :, i, j] = top * (1 - fh) + bottom * fh
    return y


RESIZE_CASES = [
    ("nearest", "asymmetric", "floor", [3, 4, 5], [8, 10], [2.0, 2.0]),
    ("nearest", "half_pixel", "round_prefer_floor", [2, 5, 4], [7, 3], [1.4, 0.75]),
    ("nearest", "half_pixel", "round_prefer_ceil", [1, 3, 3], [9, 9], [3.0, 3.0]),
    ("nearest", "align_corners", "ceil", [5, 4, 6], [2, 11], [0.5, 11 / 6]),
    ("linear", "half_pixel", "floor", [3, 5, 4], [10, 6], [2.0, 1.5]),
    ("linear", "pytorch_half_pixel", "floor", [4, 6, 6], [1, 3], [1 / 6, 0.5]),
    ("linear", "align_corners", "floor", [2, 4, 7], [7, 13], [1.75, 13 / 7]),
    ("linear", "asymmetric", "floor", [1, 1, 1], [4, 3], [4.0, 3.0]),
    ("nearest", "tf_half_pixel_for_nn", "round_prefer_ceil", [3, 5, 4], [7, 9], [1.4, 2.25]),
    ("linear", "tf_half_pixel_for_nn", "floor", [2, 4, 4], [8, 3], [2.0, 0.75]),
]


@pytest.mark.parametrize("case", RESIZE_CASES, ids=[f"{c[0]}-{c[1]}-{i}" for i, c in
                                                    enumerate(RESIZE_CASES)])
def test_resize_matches_numpy(case):
    mode, coord, nearest, shape, out_hw, scales = case
    g = Graph()
    g.output(g.layer("resize", [g.input(shape)], [shape[0], *out_hw], mode=mode,
                     coordinate_transformation_mode=coord, nearest_mode=nearest,
                     scales=scales, size=out_hw))
    x = np.random.default_rng(len(out_hw) + shape[0]).standard_normal([2] + shape).astype(
        np.float32)
    got, = run_source(g, [x])
    assert_close(got, resize_ref(x, out_hw, scales, coord, mode, nearest))


# -- channel shuffle and slice ---------------------------------------------------------------

@pytest.mark.parametrize("shape,groups", [([6, 3, 2], 2), ([12, 1, 1], 3), ([15, 5], 5),
                                          ([7, 2, 2], 1), ([8], 4)])
def test_channel_shuffle_is_reshape_transpose_reshape(shape, groups):
    g = Graph()
    g.output(g.layer("channel_shuffle", [g.input(shape)], shape, groups=groups))
    x = np.random.default_rng(groups).standard_normal([2] + shape).astype(np.float32)
    got, = run_source(g, [x])
    c = shape[0]
    want = x.reshape((2, groups, c // groups, *shape[1:])).swapaxes(1, 2).reshape(x.shape)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape,starts,ends", [([5, 4, 3], [1, 0, 0], [4, 4, 3]),
                                               ([3, 7, 6], [0, 2, 1], [3, 5, 6]),
                                               ([13, 5], [12, 1], [13, 4]),
                                               ([9], [2], [7]), ([1, 1, 1], [0, 0, 0],
                                                                 [1, 1, 1])])
def test_slice_matches_numpy(shape, starts, ends):
    g = Graph()
    out = [e - b for b, e in zip(starts, ends)]
    g.output(g.layer("slice", [g.input(shape)], out, starts=starts, ends=ends))
    x = np.random.default_rng(len(shape)).standard_normal([2] + shape).astype(np.float32)
    got, = run_source(g, [x])
    want = x[(slice(None),) + tuple(slice(b, e) for b, e in zip(starts, ends))]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("shape", [[3, 5, 7], [1, 4, 2], [6, 1, 1], [5, 9], [1, 3], [4]],
                         ids=lambda v: "x".join(map(str, v)))
def test_transpose_matches_numpy_for_every_perm(shape):
    import itertools

    x = np.random.default_rng(len(shape)).standard_normal([2] + shape).astype(np.float32)
    for perm in itertools.permutations(range(len(shape))):
        g = Graph()
        g.output(g.layer("transpose", [g.input(shape)], [shape[p] for p in perm],
                         perm=list(perm)))
        got, = run_source(g, [x])
        np.testing.assert_array_equal(got, x.transpose([0] + [p + 1 for p in perm]))


# -- refusals --------------------------------------------------------------------------------

def _build_error(g):
    with pytest.raises(NativeError) as info:
        g.build()
    return info.value


def _one_layer(op, in_shape, out_shape, **keys):
    g = Graph()
    g.output(g.layer(op, [g.input(in_shape)], out_shape, **keys))
    return g


def test_core_refuses_bad_descriptions():
    e = _build_error(_one_layer("lrn", [4, 3, 3], [4, 3, 3], size=0, alpha=1.0, beta=1.0, k=1.0))
    assert e.status == "PD_ERR_ARGUMENT" and "size 0" in str(e)
    e = _build_error(_one_layer("channel_shuffle", [6, 2, 2], [6, 2, 2], groups=4))
    assert e.status == "PD_ERR_SHAPE" and "groups 4" in str(e)
    e = _build_error(_one_layer("slice", [5, 4, 4], [3, 4, 4], starts=[3, 0, 0], ends=[6, 4, 4]))
    assert e.status == "PD_ERR_SHAPE" and "does not fit" in str(e)
    e = _build_error(_one_layer("resize", [2, 3, 3], [2, 6, 6], mode="linear",
                                coordinate_transformation_mode="half_pixel",
                                nearest_mode="floor", scales=[0.0, 2.0], size=[6, 6]))
    assert e.status == "PD_ERR_ARGUMENT" and "scales" in str(e)
    e = _build_error(_one_layer("transpose", [2, 3, 4], [3, 4, 2], perm=[1, 1, 0]))
    assert e.status == "PD_ERR_ARGUMENT" and "not a permutation" in str(e)
    e = _build_error(_one_layer("transpose", [2, 3, 4], [3, 2, 4], perm=[1, 2, 0]))
    assert e.status == "PD_ERR_SHAPE"
    g = Graph()
    w = g.blob(np.ones((2, 3, 3, 2), np.float32))
    g.output(g.layer("conv_transpose", [g.input([2, 4, 4])], [2, 11, 11], kernel=[3, 3],
                     strides=[2, 2], dilations=[1, 1], pads=[0, 0, 0, 0],
                     output_padding=[0, 0], groups=1, weight=w, bias=None, act=act()))
    e = _build_error(g)   # 2 * 3 + 3 = 9, plus at most 1 of output padding: 11 is too big
    assert e.status == "PD_ERR_SHAPE" and "do not follow" in str(e)
    g = Graph()
    w = g.blob(np.ones((2, 3, 3, 3), np.float32))   # Cout/groups 3, the output has 2
    g.output(g.layer("conv_transpose", [g.input([2, 4, 4])], [2, 9, 9], kernel=[3, 3],
                     strides=[2, 2], dilations=[1, 1], pads=[0, 0, 0, 0],
                     output_padding=[0, 0], groups=1, weight=w, bias=None, act=act()))
    assert "expected (2, 3, 3, 2)" in str(_build_error(g))


def test_graph_validation_of_the_new_ops():
    def header(op, in_shape, out_shape, blobs=(), **keys):
        g = Graph()
        g.output(g.layer(op, [g.input(in_shape)], out_shape, **keys))
        for b in blobs:
            g.blob(b)
        h = g.header()
        h.update(format="pnet", version=1, features=None, preprocess=None, labels=[],
                 provenance={})
        h["blobs"] = [{"offset": 64 * i * 1000, "nbytes": a.nbytes, "dtype": "float32",
                       "shape": list(a.shape)} for i, a in enumerate(g.arrays)]
        return h

    with pytest.raises(ModelFormatError, match="groups 4 does not divide the channels 6"):
        pgraph.validate(header("channel_shuffle", [6, 2, 2], [6, 2, 2], groups=4))
    with pytest.raises(ModelFormatError, match="nearest_mode 'round'"):
        pgraph.validate(header("resize", [2, 3, 3], [2, 6, 6], mode="nearest",
                               coordinate_transformation_mode="asymmetric",
                               nearest_mode="round", scales=[2.0, 2.0], size=[6, 6]))
    with pytest.raises(ModelFormatError, match="has shape \\[2, 6, 6\\], but resize"):
        pgraph.validate(header("resize", [2, 3, 3], [2, 6, 6], mode="nearest",
                               coordinate_transformation_mode="asymmetric",
                               nearest_mode="floor", scales=[2.0, 2.0], size=[6, 7]))
    with pytest.raises(ModelFormatError, match="do not cut a window"):
        pgraph.validate(header("slice", [4, 3, 3], [2, 3, 3], starts=[3, 0, 0], ends=[5, 3, 3]))
    with pytest.raises(ModelFormatError, match="k is 0.0, must be > 0"):
        pgraph.validate(header("lrn", [4, 3, 3], [4, 3, 3], size=3, alpha=1.0, beta=1.0, k=0.0))
    with pytest.raises(ModelFormatError, match="output_padding \\[2, 0\\] must be below"):
        pgraph.validate(header("conv_transpose", [2, 4, 4], [2, 11, 9], kernel=[3, 3],
                               strides=[2, 2], dilations=[1, 1], pads=[0, 0, 0, 0],
                               output_padding=[2, 0], groups=1, weight=0, bias=None,
                               act=act(), blobs=[np.ones((2, 3, 3, 2), np.float32)]))
    ok = header("conv_transpose", [2, 4, 4], [4, 10, 9], kernel=[3, 3], strides=[2, 2],
                dilations=[1, 1], pads=[0, 0, 0, 0], output_padding=[1, 0], groups=2,
                weight=0, bias=None, act=act(), blobs=[np.ones((2, 3, 3, 2), np.float32)])
    pgraph.validate(ok)


def test_new_ops_have_no_int8_layer():
    """An int8 (uint8 output) layer of an op without an int8 kernel is refused, by the
    header validation and by the core."""
    g = Graph()
    x = g.input([4, 3, 3])
    q = g.tensor([4, 3, 3])
    g.tensors[q].update(dtype="uint8", scale=0.1, zero_point=128)
    g.layers.append({"op": "quantize", "name": "q", "inputs": [x], "output": q})
    out = g.tensor([4, 3, 3])
    g.tensors[out].update(dtype="uint8", scale=0.1, zero_point=128)
    g.layers.append({"op": "channel_shuffle", "name": "s", "inputs": [q], "output": out,
                     "groups": 2, "quant": {"params": None, "zero": 128, "lo": 0, "hi": 255,
                                            "lut": None, "table": None}})
    g.output(out)
    e = _build_error(g)
    assert e.status == "PD_ERR_UNSUPPORTED" and "no int8 kernel" in str(e)
    with pytest.raises(ModelFormatError, match="channel_shuffle has no int8 kernel"):
        pgraph.validate(dict(g.header(), format="pnet", version=1, features=None,
                             preprocess=None, labels=[], provenance={}, blobs=[]))
