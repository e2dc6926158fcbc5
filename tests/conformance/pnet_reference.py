"""A slow numpy interpreter of a .pnet graph, straight from docs/format.md.

It runs a header and its blob arrays in the source layout (``(N, C, H, W)``,
``(N, C, L)``, ``(N, K)``) with plain numpy, independent of the C core.  The
conformance tests run it beside the engine: when the engine disagrees with an
ONNX test's stored output but this agrees, the converter is right and the core
is not (and the other way round), so a failure names the guilty half.

    >>> import numpy as np
    >>> header = {"tensors": [{"name": "x", "shape": [2], "blob": None},
    ...                       {"name": "y", "shape": [2], "blob": None}],
    ...           "layers": [{"op": "activation", "inputs": [0], "output": 1,
    ...                       "act": {"kind": "relu", "alpha": 0.0, "beta": 0.0}}],
    ...           "inputs": [{"name": "x", "tensor": 0}], "outputs": [{"name": "y", "tensor": 1}]}
    >>> run_reference(header, [], [np.array([[-1.0, 2.0]], np.float32)])[0].tolist()
    [[0.0, 2.0]]
"""

import numpy as np


def apply_act(x, a):
    """format.md's fused activations."""
    kind, alpha, beta = a["kind"], a["alpha"], a["beta"]
    if kind == "none":
        return x
    if kind == "relu":
        return np.maximum(x, 0)
    if kind == "clip":
        return np.minimum(np.maximum(x, alpha), beta)
    if kind == "hardswish":
        return x * np.clip(x + 3, 0, 6) / 6
    if kind == "hardsigmoid":
        return np.clip(alpha * x + beta, 0, 1)
    if kind == "sigmoid":
        return 1 / (1 + np.exp(-x))
    if kind == "silu":
        return x / (1 + np.exp(-x))
    if kind == "leakyrelu":
        return np.where(x >= 0, x, alpha * x)
    raise ValueError(kind)


def _as4d(x):
    """(N, C, L) -> (N, C, 1, L); (N, C, H, W) unchanged."""
    return x[:, :, None, :] if x.ndim == 3 else x


def _windows(x, layer, out_hw, fill):
    """Yield (i, j, patch) per kernel offset; patch is (N, C, OH, OW) of the padded input."""
    (kh, kw), (sh, sw) = layer["kernel"], layer["strides"]
    dh, dw = layer.get("dilations", [1, 1])
    top, left, bottom, right = layer["pads"]
    oh, ow = out_hw
    # Extra end padding for ceil mode: windows may run past the given padding.
    need_h = (oh - 1) * sh + (kh - 1) * dh + 1
    need_w = (ow - 1) * sw + (kw - 1) * dw + 1
    extra_h = max(0, need_h - (x.shape[2] + top + bottom))
    extra_w = max(0, need_w - (x.shape[3] + left + right))
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom + extra_h), (left, right + extra_w)),
                constant_values=fill)
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, :, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw]


def _conv(x, layer, weight, bias, out_shape, groups):
    x = _as4d(x).astype(np.float64)
    oh, ow = (out_shape[1], out_shape[2]) if len(out_shape) == 3 else (1, out_shape[1])
    cout = weight.shape[0]
    cin_g = weight.shape[3]
    out = np.zeros((x.shape[0], cout, oh, ow))
    cout_g = cout // groups
    for i, j, patch in _windows(x, layer, (oh, ow), 0.0):
        for g in range(groups):
            p = patch[:, g * cin_g:(g + 1) * cin_g]
            w = weight[g * cout_g:(g + 1) * cout_g, i, j, :]  # [Cout/g, Cin/g]
            out[:, g * cout_g:(g + 1) * cout_g] += np.einsum("nchw,oc->nohw", p, w)
    if bias is not None:
        out += bias[None, :, None, None]
    return out.reshape((x.shape[0],) + tuple(out_shape))


def _pool(x, layer, out_shape, op):
    x4 = _as4d(x).astype(np.float64)
    oh, ow = (out_shape[1], out_shape[2]) if len(out_shape) == 3 else (1, out_shape[1])
    if op == "maxpool":
        out = np.full((x.shape[0], x4.shape[1], oh, ow), -np.inf)
        for _, _, patch in _windows(x4, layer, (oh, ow), -np.inf):
            out = np.maximum(out, patch)
        return out.reshape((x.shape[0],) + tuple(out_shape))
    total = np.zeros((x.shape[0], x4.shape[1], oh, ow))
    for _, _, patch in _windows(x4, layer, (oh, ow), 0.0):
        total += patch
    # The divisor: cells inside the input, plus (count_include_pad) inside the padding;
    # the ceil-mode overhang past the padding never counts.
    top, left, bottom, right = layer["pads"]
    h, w = x4.shape[2], x4.shape[3]
    mask = np.zeros((1, 1, h + top + bottom, w + left + right))
    if layer["count_include_pad"]:
        mask[:] = 1
    else:
        mask[:, :, top:top + h, left:left + w] = 1
    unpadded = dict(layer, pads=[0, 0, 0, 0])
    count = np.zeros((1, 1, oh, ow))
    for _, _, patch in _windows(mask, unpadded, (oh, ow), 0.0):
        count += patch
    return (total / count).reshape((x.shape[0],) + tuple(out_shape))


def _lrn(x, layer):
    """ONNX LRN over the channel axis."""
    size, c = layer["size"], x.shape[1]
    sq = np.zeros_like(x)
    for ch in range(c):
        lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + size // 2)
        sq[:, ch] = (x[:, lo:hi + 1] ** 2).sum(axis=1)
    return x / (layer["k"] + layer["alpha"] / size * sq) ** layer["beta"]


def _conv_transpose(x, layer, weight, bias, out_shape):
    """Scatter each input pixel through the kernel into the full output, then crop the pads."""
    x4 = _as4d(x)
    n, cin, h, w = x4.shape
    (kh, kw), (sh, sw), (dh, dw) = layer["kernel"], layer["strides"], layer["dilations"]
    top, left = layer["pads"][0], layer["pads"][1]
    groups, og = layer["groups"], weight.shape[3]
    oh, ow = (out_shape[1], out_shape[2]) if len(out_shape) == 3 else (1, out_shape[1])
    full = np.zeros((n, og * groups, (h - 1) * sh + (kh - 1) * dh + 1 + top + oh,
                     (w - 1) * sw + (kw - 1) * dw + 1 + left + ow))
    ig = cin // groups
    for g in range(groups):
        xg = x4[:, g * ig:(g + 1) * ig]
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,co->nohw", xg, weight[g * ig:(g + 1) * ig, i, j, :])
                full[:, g * og:(g + 1) * og, i * dh:i * dh + (h - 1) * sh + 1:sh,
                     j * dw:j * dw + (w - 1) * sw + 1:sw] += contrib
    y = full[:, :, top:top + oh, left:left + ow]
    if bias is not None:
        y = y + bias[None, :, None, None]
    return y.reshape((n,) + tuple(out_shape))


def _resize_taps(layer, axis, n, m):
    """(left index, right index, right weight) per output index, as docs/format.md says."""
    scale = layer["scales"][axis]
    x = np.arange(m, dtype=np.float64)
    coord = layer["coordinate_transformation_mode"]
    if coord == "align_corners":
        v = x * (n - 1) / (m - 1) if m > 1 else np.zeros(m)
    elif coord == "asymmetric":
        v = x / scale
    elif coord == "tf_half_pixel_for_nn":
        v = (x + 0.5) / scale
    elif coord == "pytorch_half_pixel" and m == 1:
        v = np.zeros(m)
    else:
        v = (x + 0.5) / scale - 0.5
    if layer["mode"] == "nearest":
        f = np.floor(v)
        r = {"floor": f, "ceil": np.ceil(v), "round_prefer_floor": np.where(v - f > 0.5, f + 1, f),
             "round_prefer_ceil": np.where(v - f >= 0.5, f + 1, f)}[layer["nearest_mode"]]
        i = np.clip(r, 0, n - 1).astype(int)
        return i, i, np.zeros(m)
    v = np.clip(v, 0, n - 1)
    i0 = np.floor(v).astype(int)
    return i0, np.minimum(i0 + 1, n - 1), v - i0


def _resize(x, layer, out_shape):
    x4 = _as4d(x)
    oh, ow = (out_shape[1], out_shape[2]) if len(out_shape) == 3 else (1, out_shape[1])
    h0, h1, fh = _resize_taps(layer, 0, x4.shape[2], oh)
    w0, w1, fw = _resize_taps(layer, 1, x4.shape[3], ow)
    rows = x4[:, :, h0] * (1 - fh)[:, None] + x4[:, :, h1] * fh[:, None]
    y = rows[:, :, :, w0] * (1 - fw) + rows[:, :, :, w1] * fw
    return y.reshape((x.shape[0],) + tuple(out_shape))


def _binary(op, a, b):
    return {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[op](a, b)


def _blob(arrays, layer, key):
    """A layer's weight or bias blob in float64, or None."""
    return None if layer.get(key) is None else np.asarray(arrays[layer[key]], np.float64)


def run_reference(header, arrays, inputs):
    """Run the graph on source-layout inputs; return the outputs (float32, source layout)."""
    tensors = header["tensors"]
    values = {}
    for t, spec in enumerate(tensors):
        if spec.get("blob") is not None:
            values[t] = np.asarray(arrays[spec["blob"]], np.float64)[None]
    for io, x in zip(header["inputs"], inputs):
        values[io["tensor"]] = np.asarray(x, np.float64)
    for layer in header["layers"]:
        op = layer["op"]
        xs = [values[t] for t in layer["inputs"]]
        out_shape = tensors[layer["output"]]["shape"]
        weight, bias = _blob(arrays, layer, "weight"), _blob(arrays, layer, "bias")
        if op == "conv":
            y = _conv(xs[0], layer, weight, bias, out_shape, layer["groups"])
        elif op == "depthwise":  # weight [kh, kw, C] -> [C, kh, kw, 1]
            y = _conv(xs[0], layer, weight.transpose(2, 0, 1)[..., None], bias, out_shape, weight.shape[2])
        elif op == "fc":
            y = xs[0] @ weight.T + (0 if bias is None else bias)
        elif op in ("maxpool", "avgpool"):
            y = _pool(xs[0], layer, out_shape, op)
        elif op == "global_avgpool":
            y = xs[0].reshape(xs[0].shape[:2] + (-1,)).mean(axis=2).reshape((-1,) + tuple(out_shape))
        elif op == "global_maxpool":
            y = xs[0].reshape(xs[0].shape[:2] + (-1,)).max(axis=2).reshape((-1,) + tuple(out_shape))
        elif op in ("add", "sub", "mul", "div"):
            y = _binary(op, xs[0], xs[1])
        elif op == "concat":
            y = np.concatenate(xs, axis=1)
        elif op == "softmax":
            z = np.exp(xs[0] - xs[0].max(axis=1, keepdims=True))
            y = z / z.sum(axis=1, keepdims=True)
        elif op == "reshape":
            y = xs[0].reshape((xs[0].shape[0],) + tuple(out_shape))
        elif op == "pad":
            top, left, bottom, right = layer["pads"]
            widths = [(0, 0), (0, 0)] + ([(top, bottom)] if xs[0].ndim == 4 else []) + [(left, right)]
            mode = layer["mode"]
            kw = {"constant_values": layer["value"]} if mode == "constant" else {}
            y = np.pad(xs[0], widths, mode=mode, **kw)
        elif op == "activation":
            y = xs[0]
        elif op == "lrn":
            y = _lrn(xs[0], layer)
        elif op == "conv_transpose":
            y = _conv_transpose(xs[0], layer, weight, bias, out_shape)
        elif op == "resize":
            y = _resize(xs[0], layer, out_shape)
        elif op == "channel_shuffle":
            n, c = xs[0].shape[:2]
            g = layer["groups"]
            y = xs[0].reshape((n, g, c // g) + xs[0].shape[2:]).swapaxes(1, 2).reshape(xs[0].shape)
        elif op == "transpose":
            y = xs[0].transpose([0] + [p + 1 for p in layer["perm"]])
        elif op == "slice":
            y = xs[0][(slice(None),) + tuple(slice(b, e) for b, e in zip(layer["starts"],
                                                                         layer["ends"]))]
        else:
            raise ValueError(f"unknown op {op}")
        if "act" in layer:
            y = apply_act(y, layer["act"])
        values[layer["output"]] = y
    return [values[io["tensor"]].astype(np.float32) for io in header["outputs"]]
