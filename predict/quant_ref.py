"""The int8 kernels in numpy: the same integer arithmetic as the reference C kernels, bit for bit.

docs/quantization.md is the specification; native/src/kernels/ref/*_q8_ref.c is the C side.
Arrays are in the core's layout, NHWC with the batch first: ``(n, h, w, c)``. Only integers
are computed here (int64 where C uses int64; 32-bit wrapping where C wraps), except at the
float32 boundaries (quantize, dequantize), which use float32 exactly as C does.

``run_layer`` applies one layer of a header (an int8 layer, a quantize or a dequantize) to
core arrays, so a whole int8 network can be checked layer by layer against the C core::

    >>> x = np.array([[[[0.0, 0.5, 1.0, -2.0]]]], np.float32)
    >>> quantize(x, 1.0 / 255, 0).ravel().tolist()
    [0, 127, 255, 0]
"""

import numpy as np

from predict.layout import unpack_q8panels16

_I64 = np.int64


def rq(x, m, n):
    """``(x * m + 2^(n-1)) >> n`` in int64 (arithmetic shift): the one rounding rule.

        >>> rq(np.array([5, -5]), 1 << 30, 31).tolist()
        [3, -2]
    """
    x, m, n = np.asarray(x, _I64), np.asarray(m, _I64), np.asarray(n, _I64)
    return (x * m + (np.left_shift(_I64(1), n - 1))) >> n


def out_stage(v, zero, lo, hi, lut=None):
    """``clamp(zero + v, lo, hi)`` as uint8, then through ``lut`` if given."""
    q = np.clip(np.asarray(v, _I64) + zero, lo, hi).astype(np.uint8)
    return q if lut is None else np.asarray(lut, np.uint8)[q]


def _wrap32(acc):
    """int64 -> int32 with two's-complement wrapping, as the C sum in uint32 does."""
    return ((acc + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def gemm(a, w, bias, mult, shift, zero, lo, hi, lut=None):
    """uint8 a [M, K] times int8 w [N, K]^T plus int32 bias [N], requantized per column.

        >>> gemm(np.array([[1, 2]], np.uint8), np.array([[3, 4]], np.int8), np.array([5]),
        ...      [1 << 30], [30], 0, 0, 255).tolist()
        [[16]]
    """
    acc = a.astype(_I64) @ w.astype(_I64).T
    if bias is not None:
        acc = acc + np.asarray(bias, _I64)
    return out_stage(rq(_wrap32(acc), mult, shift), zero, lo, hi, lut)


def rq_real(m, n):
    """The float output stage's multiplier ``M = m * 2^-n`` as a float64 (exact).

        >>> rq_real([1 << 30], [31]).tolist()
        [0.5]
    """
    return np.ldexp(np.asarray(m, np.float64), -np.asarray(n, np.int64).astype(np.int32))


def float_stage(acc, mult, shift):
    """int32 sums to float32: ``(float)((double)x * M)`` per column, the two IEEE roundings
    of the C kernels (the double product, then the narrowing to float32).

        >>> float_stage(np.array([[3, -3]]), [1 << 30, 1 << 30], [31, 32]).tolist()
        [[1.5, -0.75]]
    """
    return (np.asarray(acc, _I64).astype(np.float64) * rq_real(mult, shift)).astype(np.float32)


def gemm_f32(a, w, bias, mult, shift):
    """uint8 a [M, K] times int8 w [N, K]^T plus int32 bias [N], to float32 by
    ``float_stage`` (an int8 GEMM with float32 output, docs/quantization.md).

        >>> gemm_f32(np.array([[1, 2]], np.uint8), np.array([[3, 4]], np.int8), np.array([5]),
        ...          [1 << 30], [32]).tolist()
        [[4.0]]
    """
    acc = a.astype(_I64) @ w.astype(_I64).T
    if bias is not None:
        acc = acc + np.asarray(bias, _I64)
    return float_stage(_wrap32(acc), mult, shift)


def _taps(out, k, s, d, pad, size):
    """Input coordinates [out, k] of every tap of a window axis, and whether each is inside."""
    coords = np.arange(out)[:, None] * s - pad + np.arange(k)[None, :] * d
    return coords, (coords >= 0) & (coords < size)


def _gather(x, win, fill):
    """Patches [n, oh, ow, kh, kw, c] of NHWC x, with ``fill`` outside the input."""
    n, h, w, c = x.shape
    ih, vh = _taps(win["oh"], win["kh"], win["sh"], win["dh"], win["pt"], h)
    iw, vw = _taps(win["ow"], win["kw"], win["sw"], win["dw"], win["pl"], w)
    patches = x[:, np.clip(ih, 0, h - 1)[:, None, :, None], np.clip(iw, 0, w - 1)[None, :, None, :], :]
    valid = (vh[:, None, :, None] & vw[None, :, None, :])[None, ..., None]
    return np.where(valid, patches, fill), valid


def _window(layer, in_hw, out_hw):
    kh, kw = layer["kernel"]
    sh, sw = layer["strides"]
    dh, dw = layer.get("dilations", [1, 1])
    pt, pl, pb, pr = layer["pads"]
    return dict(kh=kh, kw=kw, sh=sh, sw=sw, dh=dh, dw=dw, pt=pt, pl=pl, pb=pb, pr=pr,
                ih=in_hw[0], iw=in_hw[1], oh=out_hw[0], ow=out_hw[1])


def conv(x, w, bias, win, groups, z_in, mult, shift, zero, lo, hi, lut=None):
    """Convolution of NHWC uint8 x with OHWI int8 w: im2col with z_in in the padding, then
    ``gemm`` per group."""
    patches, _ = _gather(x, win, np.uint8(z_in))
    n, oh, ow = patches.shape[:3]
    cin, cout = x.shape[3], w.shape[0]
    cg, og = cin // groups, cout // groups
    outs = []
    for g in range(groups):
        cols = patches[..., g * cg:(g + 1) * cg].reshape(n * oh * ow, -1)
        sl = slice(g * og, (g + 1) * og)
        outs.append(gemm(cols, w[sl].reshape(og, -1), None if bias is None else bias[sl],
                         np.asarray(mult)[sl], np.asarray(shift)[sl], zero, lo, hi, lut))
    return np.concatenate(outs, axis=1).reshape(n, oh, ow, cout)


def depthwise(x, w, bias, win, z_in, mult, shift, zero, lo, hi, lut=None):
    """Depthwise convolution, HWC int8 w; padding taps are z_in."""
    patches, _ = _gather(x, win, np.uint8(z_in))
    acc = (patches.astype(_I64) * w.astype(_I64)[None, None, None]).sum(axis=(3, 4))
    if bias is not None:
        acc = acc + np.asarray(bias, _I64)
    return out_stage(rq(_wrap32(acc), mult, shift), zero, lo, hi, lut)


def maxpool(x, win):
    """Max of the cells inside the input; an empty window gives 0."""
    patches, _ = _gather(x, win, np.uint8(0))
    return patches.max(axis=(3, 4))


def _counts(out, k, s, d, pad_begin, lo, hi):
    coords = np.arange(out)[:, None] * s - pad_begin + np.arange(k)[None, :] * d
    return ((coords >= lo) & (coords < hi)).sum(axis=1)


def avgpool(x, win, count_include_pad, z_in, mult, shift, zero, lo, hi):
    """Sum of (q - z_in) over cells inside the input, requantized with the multiplier of the
    window's divisor (index divisor - 1)."""
    patches, valid = _gather(x, win, np.uint8(z_in))
    sums = (patches.astype(_I64) - z_in).sum(axis=(3, 4))
    if count_include_pad:
        rows = _counts(win["oh"], win["kh"], win["sh"], win["dh"], win["pt"], -win["pt"],
                       win["ih"] + win["pb"])
        cols = _counts(win["ow"], win["kw"], win["sw"], win["dw"], win["pl"], -win["pl"],
                       win["iw"] + win["pr"])
    else:
        rows = _counts(win["oh"], win["kh"], win["sh"], win["dh"], win["pt"], 0, win["ih"])
        cols = _counts(win["ow"], win["kw"], win["sw"], win["dw"], win["pl"], 0, win["iw"])
    d = (rows[:, None] * cols[None, :] - 1)[None, :, :, None]
    return out_stage(rq(sums, np.asarray(mult)[d], np.asarray(shift)[d]), zero, lo, hi)


def global_avgpool(x, z_in, mult, shift, zero, lo, hi):
    """Sum over h, w of (q - z_in), one multiplier (for the divisor h * w)."""
    sums = (x.astype(_I64) - z_in).sum(axis=(1, 2), keepdims=True)
    return out_stage(rq(sums, mult[0], shift[0]), zero, lo, hi)


def global_maxpool(x):
    return x.max(axis=(1, 2), keepdims=True)


def binary(kind, a, za, b, zb, mult, shift, zero, lo, hi, lut=None):
    """add / sub with (m_a, m_b) under one shift, or mul with one multiplier; b broadcasts."""
    da, db = a.astype(_I64) - za, b.astype(_I64) - zb
    if kind == "mul":
        v = rq(da * db, mult[0], shift[0])
    else:
        x = da * _I64(mult[0]) + (-db if kind == "sub" else db) * _I64(mult[1])
        v = (x + (_I64(1) << _I64(shift[0] - 1))) >> _I64(shift[0])
    return out_stage(np.broadcast_to(v, a.shape), zero, lo, hi, lut)


def concat(xs, zs, mult, shift, zero, lo, hi):
    """Each input requantized to the output's (scale, zero) with its own multiplier."""
    parts = [out_stage(rq(x.astype(_I64) - z, m, n), zero, lo, hi)
             for x, z, m, n in zip(xs, zs, mult, shift)]
    return np.concatenate(parts, axis=3)


def softmax(x, table):
    """Integer softmax along channels (output scale 1/256, zero 0)."""
    d = x.max(axis=3, keepdims=True).astype(_I64) - x.astype(_I64)
    e = np.asarray(table, _I64)[d]
    s = e.sum(axis=3, keepdims=True)
    return np.minimum(255, (e * 256 + s // 2) // s).astype(np.uint8)


def reshape(x, out_hwc):
    """Reshape in the channels-first source order (as reshape_q8_ref.c)."""
    n = x.shape[0]
    src = np.moveaxis(x, 3, 1).reshape(n, -1)         # source (c, h, w) order
    h, w, c = out_hwc
    return np.ascontiguousarray(np.moveaxis(src.reshape(n, c, h, w), 1, 3))


def pad(x, pads, mode, value):
    """Spatial padding; a constant pad writes the byte ``value``."""
    top, left, bottom, right = pads
    width = ((0, 0), (top, bottom), (left, right), (0, 0))
    if mode == "constant":
        return np.pad(x, width, mode="constant", constant_values=np.uint8(value))
    return np.pad(x, width, mode={"reflect": "reflect", "edge": "edge"}[mode])


def quantize(x, scale, zero):
    """float32 -> uint8: ``clamp(rint(x / s) + z, 0, 255)`` in float32; NaN gives z."""
    x = np.asarray(x, np.float32)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        r = np.rint(x / np.float32(scale)) + np.float32(zero)
        q = np.clip(r, 0, 255)
    return np.where(np.isnan(x) | np.isnan(r), np.uint8(zero), q).astype(np.uint8)


def dequantize(q, scale, zero):
    """uint8 -> float32: ``s * (float)(q - z)``."""
    return np.float32(scale) * (q.astype(np.int32) - zero).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# One layer of a header.



def ohwi_weight(layer, arrays, ohwi_shape):
    """A conv / fc layer's int8 weight as OHWI ``ohwi_shape``, unpacked from q8panels16
    (predict.layout) when the file stores it packed.

        >>> from predict.layout import pack_q8panels16
        >>> w = np.arange(-9, 9, dtype=np.int8).reshape(3, 6)
        >>> layer = {"weight": 0, "weight_layout": "q8panels16"}
        >>> bool((ohwi_weight(layer, [pack_q8panels16(w)], (3, 6)) == w).all())
        True
    """
    w = arrays[layer["weight"]]
    if layer.get("weight_layout") == "q8panels16":
        return unpack_q8panels16(w, ohwi_shape, layer.get("groups", 1))
    return w.reshape(ohwi_shape)


def core_hwc(shape):
    """(h, w, c) of a source-order shape (as predict._native.core_dims, without the C core)."""
    dims = list(shape)
    if len(dims) == 1:
        return (1, 1, dims[0])
    if len(dims) == 2:
        return (1, dims[1], dims[0])
    return (dims[1], dims[2], dims[0])


def run_layer(header, arrays, layer, inputs):
    """One int8 layer (or quantize / dequantize) of ``header`` on core arrays ``inputs``.

    Returns the output in the core layout, uint8 (float32 for dequantize, and for a conv or
    fc with a float32 output tensor: the float output stage, then its relu / clip in float32).
    This is the numpy twin of native/src/run_q8.c and reads the same fields.
    """
    tensors = header["tensors"]
    op = layer["op"]
    t_out = tensors[layer["output"]]
    t_in = tensors[layer["inputs"][0]]
    x = inputs[0]
    if op == "quantize":
        return quantize(x, t_out["scale"], t_out["zero_point"])
    if op == "dequantize":
        return dequantize(x, t_in["scale"], t_in["zero_point"])
    q = layer["quant"]
    params = arrays[q["params"]] if q.get("params") is not None else np.zeros((2, 0), np.int32)
    mult, shift = params[0].astype(_I64), params[1].astype(_I64)
    lut = arrays[q["lut"]] if q.get("lut") is not None else None
    stage = (mult, shift, q["zero"], q["lo"], q["hi"])
    z_in = t_in.get("zero_point", 0)
    in_hw, out_hwc = core_hwc(t_in["shape"])[:2], core_hwc(t_out["shape"])
    if op in ("conv", "depthwise", "maxpool", "avgpool"):
        win = _window(layer, in_hw, out_hwc[:2])
    if op in ("conv", "fc") and t_out.get("dtype") == "float32":
        return _float_output(layer, arrays, x, out_hwc, mult, shift)
    if op == "conv":
        kh, kw = layer["kernel"]
        w = ohwi_weight(layer, arrays, (out_hwc[2], kh, kw, x.shape[3] // layer["groups"]))
        bias = arrays[layer["bias"]] if layer["bias"] is not None else None
        return conv(x, w, bias, win, layer["groups"], z_in, *stage, lut)
    if op == "depthwise":
        bias = arrays[layer["bias"]] if layer["bias"] is not None else None
        return depthwise(x, arrays[layer["weight"]], bias, win, z_in, *stage, lut)
    if op == "fc":
        bias = arrays[layer["bias"]] if layer["bias"] is not None else None
        w = ohwi_weight(layer, arrays, (out_hwc[2], x[0].size))
        y = gemm(x.reshape(x.shape[0], -1), w, bias, *stage, lut)
        return y.reshape(x.shape[0], 1, 1, -1)
    if op == "maxpool":
        return maxpool(x, win)
    if op == "avgpool":
        return avgpool(x, win, layer["count_include_pad"], z_in, *stage)
    if op == "global_avgpool":
        return global_avgpool(x, z_in, *stage)
    if op == "global_maxpool":
        return global_maxpool(x)
    if op in ("add", "sub", "mul"):
        zb = tensors[layer["inputs"][1]]["zero_point"]
        return binary(op, x, z_in, inputs[1], zb, *stage, lut)
    if op == "concat":
        zs = [tensors[t]["zero_point"] for t in layer["inputs"]]
        return concat(inputs, zs, mult, shift, q["zero"], q["lo"], q["hi"])
    if op == "softmax":
        return softmax(x, arrays[q["table"]])
    if op == "reshape":
        return reshape(x, out_hwc)
    if op == "pad":
        return pad(x, layer["pads"], layer["mode"], q["zero"])
    if op == "activation":
        return lut[x]
    raise ValueError(f"no int8 kernel for op {op!r}")


def _float_output(layer, arrays, x, out_hwc, mult, shift):
    """A pointwise conv or an fc with the float output stage (graph checks the shape), then
    its fused relu / clip in float32, as the C reference applies them."""
    cout = out_hwc[2]
    conv = layer["op"] == "conv"
    rows = x.reshape(-1, x.shape[3]) if conv else x.reshape(x.shape[0], -1)
    w = ohwi_weight(layer, arrays, (cout, 1, 1, x.shape[3]) if conv else (cout, rows.shape[1]))
    bias = arrays[layer["bias"]] if layer["bias"] is not None else None
    y = gemm_f32(rows, w.reshape(cout, -1), bias, mult, shift)
    act = layer.get("act") or {"kind": "none"}
    if act["kind"] == "relu":
        y = np.where(y < 0, np.float32(0), y)
    elif act["kind"] == "clip":
        lo, hi = np.float32(act["alpha"]), np.float32(act["beta"])
        y = np.where(y < lo, lo, np.where(y > hi, hi, y))
    return y.reshape(x.shape[0], *out_hwc) if conv else y.reshape(x.shape[0], 1, 1, -1)


__all__ = ["rq", "out_stage", "gemm", "rq_real", "float_stage", "gemm_f32", "conv", "depthwise", "maxpool", "avgpool",
           "global_avgpool", "global_maxpool", "binary", "concat", "softmax", "reshape", "pad",
           "quantize", "dequantize", "run_layer", "core_hwc"]
