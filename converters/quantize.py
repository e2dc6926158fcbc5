"""int8 quantization of a float32 .pnet graph, calibrated on photos, with an accuracy report.

docs/quantization.md is the arithmetic; ``predict.quant`` turns scales into integers. This
module decides which layers go int8, measures activation ranges on calibration inputs with the
C core's float path, builds the mixed int8/float32 graph (quantize / dequantize at each
boundary), measures it against the float model on held-out inputs and falls back to float32
the layers whose own error is too large.

    >>> header, arrays = converters.onnx_import.convert_onnx("m.onnx")       # doctest: +SKIP
    >>> qh, qa, report = quantize_model(header, arrays, calib, heldout=held)  # doctest: +SKIP
    >>> report["top1_agreement"]                                             # doctest: +SKIP
    0.98
"""

import copy
import math
import os

import numpy as np

from predict import quant
from predict.layout import pack_q8panels16, unpack_panels16
from predict.errors import ConversionError

METHODS = ("minmax", "percentile", "entropy", "mse")
MSE_BINS = 8192
# Ops with an int8 kernel; a layer with a constant input stays float32 (constants are float).
INT8_OPS = ("conv", "depthwise", "fc", "maxpool", "avgpool", "global_avgpool", "global_maxpool",
            "add", "sub", "mul", "concat", "reshape", "pad", "activation", "softmax")
# Ops whose output keeps the input's (scale, zero point): they move or select bytes.
SAME_SCALE_OPS = ("maxpool", "global_maxpool", "reshape", "pad")
# Weightless ops the automatic fallback may keep float32 (they join two paths).
FREE_FALLBACK_OPS = ("add", "sub", "mul", "concat")
# Fused activations an int8 GEMM with float32 output applies (in float32).
FLOAT_OUTPUT_ACTS = ("none", "relu", "clip")


def _pointwise(layer):
    return (layer["op"] == "conv" and layer["kernel"] == [1, 1] and layer["strides"] == [1, 1]
            and layer["groups"] == 1 and list(layer["pads"]) == [0, 0, 0, 0])


def float_outputs(header, int8):
    """The int8 layers that write float32 straight from their int32 sums (docs/quantization.md,
    "Float output"): an fc or pointwise conv, with a clamp or no activation, whose output a
    float32 layer reads or the graph returns. Requantizing such an output to uint8 only to
    dequantize it adds an error (and a pass) for nothing; the classifier's logits are the
    first case (uint8 logits turn near ties into ties)."""
    readers = {}
    for i, layer in enumerate(header["layers"]):
        for t in layer["inputs"]:
            readers.setdefault(t, set()).add(i)
    returned = {io["tensor"] for io in header["outputs"]}
    out = set()
    for i in int8:
        layer = header["layers"][i]
        if not (layer["op"] == "fc" or _pointwise(layer)):
            continue
        if (layer.get("act") or {"kind": "none"})["kind"] not in FLOAT_OUTPUT_ACTS:
            continue
        t = layer["output"]
        if t in returned or any(r not in int8 for r in readers.get(t, ())):
            out.add(i)
    return out


def _to_core(x):
    """NCHW-ish source batch (n, C, *spatial) -> NHWC core batch."""
    x = np.asarray(x, np.float32)
    if x.ndim == 2:
        return np.ascontiguousarray(x[:, None, None, :])
    if x.ndim == 3:
        return np.ascontiguousarray(np.moveaxis(x, 1, -1)[:, None])
    return np.ascontiguousarray(np.moveaxis(x, 1, -1))


def _run_all(header, arrays, batches, tensors):
    """Runs the C core on each batch, yielding {tensor: core array} for ``tensors``."""
    from predict._native import NativeNet
    tensors = list(tensors)
    size = max(len(b) for b in batches)
    with NativeNet(header, arrays, max_batch=size, outputs=tensors) as net:
        for batch in batches:
            yield dict(zip(tensors, net.run([_to_core(batch)])))


def _computed(header):
    return [t for t, tensor in enumerate(header["tensors"]) if tensor["blob"] is None]


def _split_lut_acts(header):
    """A copy of a float header in which each layer with a non-clamp fused activation writes
    its pre-activation to a new tensor, followed by an activation layer: calibration needs the
    pre-activation range (the LUT's input). Returns (header, {layer index: pre tensor})."""
    h = copy.deepcopy(header)
    layers, pre = [], {}
    for i, layer in enumerate(header["layers"]):
        act = layer.get("act")
        if act is None or act["kind"] in quant.CLAMP_ACTS:
            layers.append(copy.deepcopy(layer))
            continue
        t = len(h["tensors"])
        h["tensors"].append(dict(h["tensors"][layer["output"]], name=f"{layer['name']}:pre"))
        first = copy.deepcopy(layer)
        first["output"], first["act"] = t, {"kind": "none", "alpha": 0.0, "beta": 0.0}
        layers += [first, {"op": "activation", "name": f"{layer['name']}:act", "inputs": [t],
                           "output": layer["output"], "act": copy.deepcopy(act)}]
        pre[i] = t
    h["layers"] = layers
    return h, pre


class _Ranges:
    """Per tensor [lo, hi] from calibration outputs, by method."""

    def __init__(self, method, percentile):
        if method not in METHODS:
            raise ConversionError(f"calibration method {method!r} (known: {', '.join(METHODS)})")
        self.method, self.percentile = method, percentile
        self.values = {}
        self.hists = {}
        self.tuned = {}     # tensor -> (lo, hi) chosen by the output error (output_search)

    def add(self, t, array):
        a = np.asarray(array, np.float32).ravel()
        if not np.all(np.isfinite(a)):
            raise ConversionError(f"tensor {t} has non-finite values on a calibration input")
        if self.method in ("minmax", "mse"):
            lo, hi = float(a.min()), float(a.max())
            old = self.values.get(t)
            self.values[t] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
        else:
            # A bounded sample per tensor and batch keeps memory small on big activations.
            if a.size > 200_000:
                a = a[np.random.default_rng(t).integers(0, a.size, 200_000)]
            self.values.setdefault(t, []).append(a)

    needs_histograms = property(lambda self: self.method == "mse")

    def add_histogram(self, t, array):
        """Second pass of the mse method: a histogram of every value over [min, max]."""
        lo, hi = min(self.values[t][0], 0.0), max(self.values[t][1], 0.0)
        hist, _ = np.histogram(np.asarray(array, np.float32).ravel(), bins=MSE_BINS,
                               range=(lo, hi if hi > lo else lo + 1.0))
        self.hists[t] = hist if t not in self.hists else self.hists[t] + hist

    def range(self, t):
        if t in self.tuned:
            return self.tuned[t]
        if self.method == "minmax":
            return self.values[t]
        if self.method == "mse":
            return _mse_range(self.hists[t], *self.values[t])
        a = np.concatenate(self.values[t])
        if self.method == "percentile":
            p = self.percentile
            return float(np.percentile(a, 100 - p)), float(np.percentile(a, p))
        return _entropy_range(a)


def _mse_range(hist, lo, hi, steps=100):
    """The range [f lo, f hi] (f in (0, 1]) whose uint8 quantization (choose_qparams, clamp)
    has the smallest mean squared error over the values a histogram on [lo, hi] counts: the
    values it clips cost their distance to the bound, the others their rounding error."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi <= lo:
        return lo, hi
    edges = np.linspace(lo, hi, len(hist) + 1)
    x = (edges[:-1] + edges[1:]) / 2
    nz = hist > 0
    x, w = x[nz], hist[nz].astype(np.float64)
    best, best_err = (lo, hi), math.inf
    for f in np.linspace(1.0, 0.02, steps):
        s, z = quant.choose_qparams(lo * f, hi * f)
        q = np.clip(np.rint(x / s) + z, 0, 255)
        err = float(np.sum(w * (s * (q - z) - x) ** 2))
        if err < best_err:
            best_err, best = err, (lo * f, hi * f)
    return best


def _entropy_range(a, bins=2048, levels=256):
    """The clipping range minimizing the KL divergence between the histogram of ``a`` and its
    256-level quantization (TensorRT's method, on the range [min, max] with 0 included)."""
    lo, hi = min(float(a.min()), 0.0), max(float(a.max()), 0.0)
    if hi <= lo:
        return lo, hi
    hist, edges = np.histogram(a, bins=bins, range=(lo, hi))
    zero_bin = int(np.clip(np.searchsorted(edges, 0.0) - 1, 0, bins - 1))
    best, best_kl = (lo, hi), math.inf
    for width in range(levels, bins + 1, 64):
        # Windows containing the zero bin, as far to the right as the data allows.
        start = int(np.clip(zero_bin - width * (-lo) / (hi - lo), 0, bins - width))
        inner = hist[start:start + width].astype(np.float64)
        # p: the clipped distribution, outliers folded into the edge bins; q: the inner bins
        # merged into `levels` levels and spread back over their non-empty bins. (q from the
        # unfolded bins, so that clipping has a cost.)
        p = inner.copy()
        p[0] += hist[:start].sum()
        p[-1] += hist[start + width:].sum()
        if p.sum() == 0:
            continue
        q = np.zeros(width)
        for c in np.array_split(np.arange(width), levels):
            nz = inner[c] > 0
            if nz.any():
                q[c[nz]] = inner[c].sum() / nz.sum()
        pn, qn = p / p.sum(), q / max(q.sum(), 1e-300)
        mask = pn > 0
        kl = float(np.sum(pn[mask] * np.log(pn[mask] / np.maximum(qn[mask], 1e-300))))
        if kl < best_kl:
            best_kl, best = kl, (float(edges[start]), float(edges[start + width]))
    return best


class _Builder:
    """Builds the mixed graph from the float header, the int8 layer set and tensor qparams."""

    def __init__(self, header, arrays, int8, qparams, pre_ranges, rounded=None):
        self.src, self.src_arrays = header, arrays
        self.rounded = rounded or {}      # layer index -> (int8 weights, scales) of GPTQ
        self.int8, self.qparams, self.pre_ranges = int8, qparams, pre_ranges
        self.float_out = float_outputs(header, int8)
        self.h = copy.deepcopy(header)
        self.arrays = list(arrays)
        self.layers = []
        self.q_of, self.f_of = {}, {}     # float tensor -> its uint8 copy, and back

    def blob(self, array):
        self.arrays.append(np.ascontiguousarray(array))
        self.h["blobs"] = None
        return len(self.arrays) - 1

    def new_tensor(self, like, dtype, suffix, qp=None):
        t = dict(self.h["tensors"][like], name=self.h["tensors"][like]["name"] + suffix,
                 dtype=dtype, blob=None)
        t.pop("scale", None)
        t.pop("zero_point", None)
        if qp is not None:
            t["scale"], t["zero_point"] = qp
        self.h["tensors"].append(t)
        return len(self.h["tensors"]) - 1

    def as_uint8(self, t):
        """The uint8 version of tensor t, quantizing it here if it is float."""
        if self.h["tensors"][t]["dtype"] == "uint8":
            return t
        if t not in self.q_of:
            self.q_of[t] = self.new_tensor(t, "uint8", ":q", self.qparams[t])
            self.layers.append({"op": "quantize", "name": self.h["tensors"][t]["name"] + ":quantize",
                                "inputs": [t], "output": self.q_of[t]})
        return self.q_of[t]

    def as_float(self, t):
        if self.h["tensors"][t]["dtype"] == "float32":
            return t
        if t not in self.f_of:
            self.f_of[t] = self.new_tensor(t, "float32", ":f")
            self.layers.append({"op": "dequantize", "name": self.h["tensors"][t]["name"] + ":dequantize",
                                "inputs": [t], "output": self.f_of[t]})
        return self.f_of[t]

    def build(self):
        for i, layer in enumerate(self.src["layers"]):
            layer = copy.deepcopy(layer)
            if i in self.float_out:
                layer["inputs"] = [self.as_uint8(t) for t in layer["inputs"]]
                self.quantize_layer(i, layer)
            elif i in self.int8:
                layer["inputs"] = [self.as_uint8(t) for t in layer["inputs"]]
                out = self.h["tensors"][layer["output"]]
                out["dtype"] = "uint8"
                out["scale"], out["zero_point"] = self.qparams[layer["output"]]
                self.quantize_layer(i, layer)
            else:
                layer["inputs"] = [self.as_float(t) for t in layer["inputs"]]
            self.layers.append(layer)
        for io in self.h["outputs"]:
            io["tensor"] = self.as_float(io["tensor"])
        if self.h.get("features") is not None:
            self.h["features"] = self.as_float(self.h["features"])
        self.h["layers"] = self.layers
        for key in ("blobs", "format", "version"):   # write_pnet adds them
            self.h.pop(key, None)
        return _compact(self.h, self.arrays)

    def quantize_layer(self, i, layer):
        """Integer parameters of int8 layer i (ConversionError: it must stay float32)."""
        tensors, op = self.h["tensors"], layer["op"]
        s_in = tensors[layer["inputs"][0]]["scale"]
        act = layer.get("act") or {"kind": "none", "alpha": 0.0, "beta": 0.0}
        if i in self.float_out:
            # float32 output: M = s_in * s_w (no output scale), the activation in float32
            s_out = z_out = None
            q = {"params": None, "zero": 0, "lo": 0, "hi": 255, "lut": None, "table": None}
        else:
            s_out, z_out = tensors[layer["output"]]["scale"], tensors[layer["output"]]["zero_point"]
            q = {"params": None, "zero": z_out, "lo": 0, "hi": 255, "lut": None, "table": None}
        s_mid, z_mid = s_out, z_out
        # A standalone activation always runs as a table (the core's int8 activation reads
        # one), even a clamp (a ReLU after a concat, as in ShuffleNet).
        if i in self.float_out:
            s_mid = 1.0
        elif act["kind"] in quant.CLAMP_ACTS and op != "activation":
            q["lo"], q["hi"] = quant.act_clamp(act["kind"], act["alpha"], act["beta"], s_out, z_out)
        else:
            s_mid, z_mid = quant.choose_qparams(*self.pre_ranges[i]) if op != "activation" else (
                s_in, tensors[layer["inputs"][0]]["zero_point"])
            q["lut"] = self.blob(quant.act_lut(act["kind"], act["alpha"], act["beta"], s_mid, z_mid,
                                               s_out, z_out))
            q["zero"] = z_mid
        if op in ("conv", "depthwise", "fc"):
            w = _ohwi(layer, self.src_arrays)
            layer.pop("weight_layout", None)
            axis = 2 if op == "depthwise" else 0
            wq, ws = self.rounded[i] if i in self.rounded else quant.quantize_weights(w, axis)
            b = None if layer["bias"] is None else np.asarray(self.src_arrays[layer["bias"]],
                                                              np.float64)
            z_in = tensors[layer["inputs"][0]]["zero_point"]
            k = w.size // w.shape[axis]
            if k > quant.K_LIMIT:
                raise ConversionError(f"reduction length {k} above {quant.K_LIMIT}")
            qb = quant.quantize_bias(b, s_in, ws, z_in, wq, axis)
            if op == "depthwise":
                layer["weight"] = self.blob(wq)
            else:  # the int8 kernels' packed layout (predict.layout, docs/format.md)
                layer["weight"] = self.blob(pack_q8panels16(wq, layer.get("groups", 1)))
                layer["weight_layout"] = "q8panels16"
            layer["bias"] = self.blob(qb)
            q["params"] = self.blob(quant.quantize_multipliers(s_in * ws / s_mid))
        elif op == "avgpool":
            kh, kw = layer["kernel"]
            q["params"] = self.blob(quant.quantize_multipliers(
                [s_in / (s_mid * d) for d in range(1, kh * kw + 1)]))
        elif op == "global_avgpool":
            shape = tensors[layer["inputs"][0]]["shape"]
            q["params"] = self.blob(quant.quantize_multipliers([s_in / (s_mid * math.prod(shape[1:]))]))
        elif op in ("add", "sub"):
            s_b = tensors[layer["inputs"][1]]["scale"]
            q["params"] = self.blob(quant.add_multipliers(s_in / s_mid, s_b / s_mid))
        elif op == "mul":
            s_b = tensors[layer["inputs"][1]]["scale"]
            q["params"] = self.blob(quant.quantize_multipliers([s_in * s_b / s_mid]))
        elif op == "concat":
            q["params"] = self.blob(quant.quantize_multipliers(
                [tensors[t]["scale"] / s_out for t in layer["inputs"]]))
        elif op == "softmax":
            q["table"] = self.blob(quant.softmax_table(s_in))
        elif op == "pad":
            if layer["mode"] == "constant":
                q["zero"] = int(np.clip(z_out + round(layer["value"] / s_out), 0, 255))
        elif op == "activation":
            q["zero"] = 0   # the LUT alone maps input bytes to output bytes: rq is unused
        layer["quant"] = q


def _ohwi(layer, arrays):
    """A float layer's weight as float64 in the int8 kernels' order (OHWI; HWC for
    depthwise), unpacking the float engine's panels16."""
    w = np.asarray(arrays[layer["weight"]], np.float32)
    if layer.get("weight_layout", "ohwi") == "panels16":
        w = unpack_panels16(w, layer.get("groups", 1))
    return w.astype(np.float64)


def _compact(header, arrays):
    """Drops the blobs no tensor or layer refers to any more (the float weights of int8
    layers) and renumbers the rest."""
    refs = []
    for t in header["tensors"]:
        refs.append((t, "blob"))
    for layer in header["layers"]:
        refs += [(layer, k) for k in ("weight", "bias") if k in layer]
        if "quant" in layer:
            refs += [(layer["quant"], k) for k in ("params", "lut", "table")]
    used = sorted({d[k] for d, k in refs if d[k] is not None})
    new = {old: i for i, old in enumerate(used)}
    for d, k in refs:
        if d[k] is not None:
            d[k] = new[d[k]]
    return header, [arrays[i] for i in used]


def _quantizable(header, i, float_layers):
    layer = header["layers"][i]
    constants = {t for t, tensor in enumerate(header["tensors"]) if tensor["blob"] is not None}
    if layer["op"] not in INT8_OPS or layer["name"] in float_layers:
        return False
    return not any(t in constants for t in layer["inputs"])


def _qparams(header, ranges, int8, fixed=None):
    """(scale, zero) per tensor an int8 layer reads or writes; same-scale ops inherit;
    ``fixed`` {tensor: (scale, zero)} overrides (the pixel input)."""
    qp = dict(fixed or {})
    # A constant is read only by float32 layers (_quantizable): it has no range and no qparams.
    constants = {t for t, tensor in enumerate(header["tensors"]) if tensor["blob"] is not None}
    for i, layer in enumerate(header["layers"]):
        for t in layer["inputs"]:
            if t not in qp and t not in constants:
                qp[t] = quant.choose_qparams(*ranges.range(t))
        out = layer["output"]
        if out in qp:
            continue
        if i in int8 and layer["op"] in SAME_SCALE_OPS:
            qp[out] = qp[layer["inputs"][0]]
        elif i in int8 and layer["op"] == "softmax":
            qp[out] = (quant.SOFTMAX_SCALE, quant.SOFTMAX_ZERO)
        else:
            qp[out] = quant.choose_qparams(*ranges.range(out))
    return qp


def _cosine(a, b):
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return np.sum(a * b, 1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)


def measure(float_header, float_arrays, q_header, q_arrays, batches, layer_reference=None):
    """Accuracy of the int8 graph against the float one on ``batches`` (source layout).

    Returns top-1 agreement, top-5 agreement (the float top-1 inside the int8 top-5), cosine
    similarity of the first output (mean and min) and, per int8 layer, the relative RMS error
    of its dequantized output against the float tensor (error accumulated up to that layer),
    and the layer's own share (its error minus the largest error among its inputs).
    ``layer_reference`` (header, arrays) is the float graph the int8 one was quantized from
    when it is not ``float_header`` itself (an equalized copy, whose channels are scaled):
    per-layer errors are measured against it, the outputs against ``float_header``.
    """
    from predict._native import NativeNet
    names = {layer["output"]: layer["name"] for layer in float_header["layers"]}
    q_tensors = q_header["tensors"]
    # int8 layers' outputs: uint8, or float32 from an int8 GEMM's float output stage
    float_out = {layer["output"] for layer in q_header["layers"] if "quant" in layer
                 and q_tensors[layer["output"]]["dtype"] == "float32"}
    watched = [t for t in names if q_tensors[t]["dtype"] == "uint8" or t in float_out]
    out_f, out_q = float_header["outputs"][0]["tensor"], q_header["outputs"][0]["tensor"]
    top1 = top5 = n = 0
    cos = []
    err_num = {t: 0.0 for t in watched}
    err_den = {t: 0.0 for t in watched}
    size = max(map(len, batches))
    ref_header, ref_arrays = layer_reference or (float_header, float_arrays)
    with NativeNet(float_header, float_arrays, max_batch=size, outputs=[out_f]) as fnet, \
            NativeNet(ref_header, ref_arrays, max_batch=size, outputs=[out_f] + watched) as rnet, \
            NativeNet(q_header, q_arrays, max_batch=size, outputs=[out_q] + watched) as qnet:
        for batch in batches:
            x = _to_core(batch)
            fres, qres = rnet.run([x]), qnet.run([x])
            if layer_reference is not None:
                fres[0] = fnet.run([x])[0]
            f, qv = fres[0].reshape(len(x), -1), qres[0].reshape(len(x), -1)
            ftop = f.argmax(1)
            qtop5 = np.argsort(-qv, axis=1, kind="stable")[:, :5]
            top1 += int(np.sum(qtop5[:, 0] == ftop))
            top5 += int(np.sum(np.any(qtop5 == ftop[:, None], axis=1)))
            n += len(x)
            cos.extend(_cosine(f, qv).tolist())
            for t, fa, qa in zip(watched, fres[1:], qres[1:]):
                if q_tensors[t]["dtype"] == "uint8":
                    s, z = q_tensors[t]["scale"], q_tensors[t]["zero_point"]
                    deq = np.float32(s) * (qa.astype(np.float32) - np.float32(z))
                else:
                    deq = qa
                err_num[t] += float(np.sum((deq.astype(np.float64) - fa) ** 2))
                err_den[t] += float(np.sum(fa.astype(np.float64) ** 2))
    error = {t: math.sqrt(err_num[t] / max(err_den[t], 1e-30)) for t in watched}
    per_layer = []
    for layer in float_header["layers"]:
        t = layer["output"]
        if t in error:
            before = max([error.get(i, 0.0) for i in layer["inputs"]] + [0.0])
            per_layer.append({"name": layer["name"], "op": layer["op"], "error": error[t],
                              "own": max(0.0, error[t] - before)})
    return {"images": n, "top1_agreement": top1 / n, "top5_agreement": top5 / n,
            "cosine_mean": float(np.mean(cos)), "cosine_min": float(np.min(cos)),
            "per_layer": per_layer}


def _channel_max(header, arrays, batches, tensors, rows=4096):
    """({tensor: largest |value| of each channel}, {tensor: sample rows [n, C]}) of float
    tensors on the calibration batches (rows: ``rows`` random positions per batch)."""
    top, samples = {}, {}
    rng = np.random.default_rng(0)
    for outs in _run_all(header, arrays, batches, tensors):
        for t, v in outs.items():
            flat = v.reshape(-1, v.shape[-1])
            m = np.abs(flat).max(axis=0)
            top[t] = m if t not in top else np.maximum(top[t], m)
            samples.setdefault(t, []).append(flat[rng.integers(0, len(flat), min(rows, len(flat)))])
    return top, {t: np.concatenate(s) for t, s in samples.items()}


def equalized(header, arrays, batches, strength=0.5):
    """(header, arrays) with cross-layer equalization (converters.equalize) from channel
    ranges measured on ``batches``."""
    from converters import equalize as eq
    found, groups = eq.pairs(header), eq.residual_groups(header)
    tensors = sorted({header["layers"][p]["output"] for p, _, _ in found}
                     | {t for ts, _, _ in groups for t in ts})
    if not tensors:
        return header, arrays
    top, samples = _channel_max(header, arrays, batches, tensors)
    h, a, _ = eq.equalize(header, arrays, top, strength=strength, pair_list=found,
                          samples=samples)
    # streams after pairs: a stream's consumers are the expand convs the pairs scaled by row
    return eq.equalize_groups(h, a, top, samples, groups)


def _logits(header, arrays, batches):
    """The first output of a graph on ``batches``, [n, outputs].  The samples of a batch run
    in parallel on the machine's cores (the same numbers as one thread's, bit for bit): the
    layer sensitivities, the float fallback and the range tuning run the network hundreds of
    times, and the tuning is most of ``make model-int8``'s time."""
    from predict._native import NativeNet
    out = header["outputs"][0]["tensor"]
    threads = max(1, min(os.cpu_count() or 1, 8))
    with NativeNet(header, arrays, max_batch=max(map(len, batches)), outputs=[out],
                   threads=threads) as net:
        return np.concatenate([net.run([_to_core(b)])[0].reshape(len(b), -1) for b in batches])


def _agreement(f, q):
    top5 = np.argsort(-q, axis=1, kind="stable")[:, :5]
    ftop = f.argmax(1)
    return float(np.mean(top5[:, 0] == ftop)), float(np.mean(np.any(top5 == ftop[:, None], 1)))


def _float_cost(header, arrays, i):
    """Bytes a layer's weights grow by in float32 (4 bytes a weight instead of 1)."""
    layer = header["layers"][i]
    if layer["op"] not in ("conv", "depthwise", "fc"):
        return 0
    return 3 * int(np.asarray(arrays[layer["weight"]]).size)


def sensitivity(prep, int8, batches, reference_logits):
    """{layer index: mean (1 - cosine) of the logits when that layer alone is int8} for the
    layers in ``int8``: how much each layer's quantization moves the output by itself."""
    out = {}
    for i in sorted(int8):
        qh, qa = prep.build({i})
        q = _logits(_with_blobs(qh, qa), qa, batches)
        out[i] = float(np.mean(1.0 - _cosine(reference_logits, q)))
    return out


def auto_fallback(prep, int8, validation, *, budget_bytes, target=(0.95, 0.99), batch=8,
                  log=None):
    """Layers to keep float32, chosen by measured error on ``validation`` inputs (calibration
    inputs, never the held-out ones): weightless joins (add, sub, mul, concat) first, then
    layers by ``sensitivity`` per byte of float weights, taken in that order while their float
    weights fit ``budget_bytes``; of that
    list, the shortest first part with which the validation top-1 / top-5 agreement with
    float32 reach ``target`` falls back (bisection, a few full runs), else all of it.

    Returns ({layer index: reason}, validation (top-1, top-5) at the end).
    """
    batches = [validation[i:i + batch] for i in range(0, len(validation), batch)]
    ref = _logits(*prep.source, batches)

    def score(chosen):
        qh, qa = prep.build(int8 - set(chosen))
        return _agreement(ref, _logits(_with_blobs(qh, qa), qa, batches))

    def meets(result):
        return result[0] >= target[0] and result[1] >= target[1]

    now = score(())
    if meets(now):
        return {}, now
    # Candidates: layers with weights, and the element-wise ops that join paths (a float add
    # keeps a residual stream float from add to add: free in bytes, it stops re-quantizing
    # the skip path at every block). Free ones come first, by sensitivity.
    weighted = [i for i in int8 if _float_cost(prep.header, prep.arrays, i) > 0
                or prep.header["layers"][i]["op"] in FREE_FALLBACK_OPS]
    sens = sensitivity(prep, set(weighted), batches, ref)

    def per_byte(i):
        cost = _float_cost(prep.header, prep.arrays, i)
        return (cost > 0, -sens[i] / max(cost, 1), i)
    order = sorted(weighted, key=per_byte)
    ranked, spent = [], 0
    for i in order:
        cost = _float_cost(prep.header, prep.arrays, i)
        if sens[i] > 0 and spent + cost <= budget_bytes:
            ranked.append(i)
            spent += cost
    results = {0: now, len(ranked): score(ranked)}
    if meets(results[len(ranked)]):
        lo, hi = 0, len(ranked)               # lo fails, hi meets
        while hi - lo > 1:
            mid = (lo + hi) // 2
            results[mid] = score(ranked[:mid])
            lo, hi = (lo, mid) if meets(results[mid]) else (mid, hi)
        keep = hi
    else:
        keep = len(ranked)
    if log:
        log(f"  float32 fallback: {keep} layers ({sum(_float_cost(prep.header, prep.arrays, i) for i in ranked[:keep])} "
            f"bytes), validation top-1 {results[keep][0]:.2%} top-5 {results[keep][1]:.2%} "
            f"(all int8: {now[0]:.2%} / {now[1]:.2%})")
    chosen = {i: f"sensitivity {sens[i]:.2e} (1 - cosine of outputs, alone)" for i in ranked[:keep]}
    return chosen, results[keep]


def tunable_tensors(prep, int8):
    """The tensors of ``prep``'s graph stored as uint8 when ``int8`` (layer indices) are int8
    and whose range is their own: each float tensor quantized for an int8 reader, each uint8
    output of an int8 layer that is not float and does not inherit its input's scale (or
    softmax's fixed one), never a fixed one (the pixel input). In graph order."""
    qp = _qparams(prep.header, prep.ranges, int8, prep.fixed)
    builder = _Builder(prep.header, prep.arrays, int8, qp, prep.pre_ranges, prep.rounded)
    builder.build()
    out = set(builder.q_of)
    for i in int8:
        layer = prep.header["layers"][i]
        if (i not in builder.float_out and layer["op"] not in SAME_SCALE_OPS
                and layer["op"] != "softmax"):
            out.add(layer["output"])
    return sorted(t for t in out if t not in prep.fixed)


def tune_ranges(prep, int8, inputs, *, batch=8, log=None):
    """{tensor: (lo, hi)} of the ranges, among a few scalings of each calibrated one
    (converters.output_search.tune_ranges), that lower the mean KL divergence of the int8
    graph's outputs from the float graph's on ``inputs`` (validation inputs, never held-out
    ones); only the tensors whose range changed. ``prep.ranges`` is left as it was."""
    from converters import output_search as osr
    batches = [inputs[i:i + batch] for i in range(0, len(inputs), batch)]
    ref = _logits(*prep.source, batches)
    saved = dict(prep.ranges.tuned)
    prep.ranges.tuned = {}
    tensors = tunable_tensors(prep, int8)
    base = {t: prep.ranges.range(t) for t in tensors}

    def objective(chosen):
        prep.ranges.tuned = dict(chosen)
        try:
            qh, qa = prep.build(int8)
        except ConversionError:          # a multiplier out of range: not a candidate
            return math.inf
        return osr.mean_kl(ref, _logits(_with_blobs(qh, qa), qa, batches))
    try:
        if log:
            log(f"  range tuning: {len(tensors)} tensors on {len(inputs)} inputs")
        chosen = osr.tune_ranges(tensors, base, objective, log=log,
                                 label=lambda t: prep.header["tensors"][t]["name"])
    finally:
        prep.ranges.tuned = saved
    return {t: r for t, r in chosen.items() if r != base[t]}


class Prepared:
    """The graph to quantize (after equalization and the pixel rewrite) and its calibrated
    ranges: ``prepare``'s result."""

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def build(self, int8):
        """(header, arrays) of the mixed graph with the layers ``int8`` (indices) in int8."""
        qp = _qparams(self.header, self.ranges, int8, self.fixed)
        return _Builder(self.header, self.arrays, int8, qp, self.pre_ranges, self.rounded).build()


ROUNDINGS = ("nearest", "gptq")


def prepare(header, arrays, calibration, *, method="minmax", percentile=99.99, batch=8,
            equalize=False, strength=0.5, pixel_input=False, rounding="nearest"):
    """Equalizes and rewrites (as asked) a float graph, calibrates its ranges and, with
    ``rounding="gptq"``, rounds the weights of its fc and pointwise convs by their output
    error on the calibration inputs (converters.rounding)."""
    if rounding not in ROUNDINGS:
        raise ConversionError(f"rounding {rounding!r} (known: {', '.join(ROUNDINGS)})")
    batches = [calibration[i:i + batch] for i in range(0, len(calibration), batch)]
    if not batches:
        raise ConversionError("quantization needs at least one calibration input")
    source = (header, arrays)
    if equalize:
        header, arrays = equalized(header, arrays, batches, strength)
    fixed, float_names = {}, ()
    if pixel_input:
        from converters import pixel_input as px
        done = px.rewrite(header, arrays)
        if done is not None:
            header, arrays, fixed, float_names = done
    reference = None if header is source[0] else (header, arrays)
    split, pre = _split_lut_acts(header)
    ranges = _Ranges(method, percentile)
    wanted = _computed(split)
    for outs in _run_all(split, arrays, batches, wanted):
        for t, a in outs.items():
            ranges.add(t, a)
    if ranges.needs_histograms:
        for outs in _run_all(split, arrays, batches, wanted):
            for t, a in outs.items():
                ranges.add_histogram(t, a)
    pre_ranges = {i: ranges.range(t) for i, t in pre.items()}
    rounded = {}
    if rounding == "gptq":
        from converters import rounding as rd
        layers = [i for i in range(len(header["layers"])) if _quantizable(header, i, ())]
        rounded = rd.rounded_weights(header, arrays, batches, layers, _run_all,
                                     lambda layer: _ohwi(layer, arrays))
    return Prepared(source=source, reference=reference, header=header, arrays=arrays,
                    ranges=ranges, pre_ranges=pre_ranges, fixed=fixed,
                    float_names=tuple(float_names), rounded=rounded)


def quantize_model(header, arrays, calibration, *, heldout=None, method="minmax",
                   percentile=99.99, float_layers=(), max_layer_error=None, batch=8,
                   equalize=False, strength=0.5, pixel_input=False, fallback_budget=None,
                   fallback_target=(0.95, 0.99), validation=None, rounding="nearest",
                   tune=False, tuning=None, log=None):
    """The int8 version of a validated float32 header and its arrays.

    ``calibration`` and ``heldout`` are float32 arrays (n, C, *spatial) of preprocessed
    inputs (source layout); held-out inputs measure the result and must not be calibration
    ones. ``equalize`` applies cross-layer equalization (converters.equalize) first, with
    ``strength`` for depthwise -> conv pairs where it cannot be measured; ``pixel_input``
    gives the first convolution of an image model the exact pixels (converters.pixel_input);
    ``rounding="gptq"`` rounds fc and pointwise conv weights by output error (converters.rounding). ``float_layers`` names layers to keep float32; with ``max_layer_error``, int8 layers
    whose own relative error on the held-out inputs passes it fall back to float32 too.
    With ``fallback_budget`` (bytes of float32 weights), ``auto_fallback`` keeps float32 the
    layers that move the output most, measured on ``validation`` inputs (default: every
    fourth calibration input, then left out of the ranges), until ``fallback_target``.
    With ``tune``, ``tune_ranges`` then chooses the int8 tensors' ranges by the output error
    on ``tuning`` inputs (default: the validation ones).
    Returns (header without blobs, arrays, report); the report also goes in the header's
    ``quantization`` map.
    """
    calibration = np.asarray(calibration, np.float32)
    if (fallback_budget is not None or tune) and validation is None and len(calibration) >= 4:
        validation = calibration[3::4]
        calibration = np.concatenate([calibration[i::4] for i in range(3)])
    prep = prepare(header, arrays, calibration, method=method, percentile=percentile,
                   batch=batch, equalize=equalize, strength=strength, pixel_input=pixel_input,
                   rounding=rounding)
    source, reference = prep.source, prep.reference
    header, arrays, ranges, pre_ranges, fixed = (prep.header, prep.arrays, prep.ranges,
                                                 prep.pre_ranges, prep.fixed)
    prep_names = prep.float_names
    float_layers = tuple(float_layers) + prep_names
    unknown = set(float_layers) - {layer["name"] for layer in header["layers"]}
    if unknown:
        raise ConversionError(f"--float-layers names no layer: {', '.join(sorted(unknown))}")
    int8 = {i for i in range(len(header["layers"])) if _quantizable(header, i, float_layers)}
    fallback = {}
    if fallback_budget is not None and validation is not None and len(validation):
        chosen, _ = auto_fallback(prep, int8, np.asarray(validation, np.float32),
                                  budget_bytes=fallback_budget, target=fallback_target,
                                  batch=batch, log=log)
        fallback.update((header["layers"][i]["name"], why) for i, why in chosen.items())
        pixel_conv = [i for i, layer in enumerate(header["layers"])
                      if set(layer["inputs"]) & set(fixed)]
        if fixed and all(i in chosen for i in pixel_conv):
            # The first conv stays float32: reading exact pixels gains nothing, so the graph
            # is prepared again without the pixel rewrite (layer names are the same).
            prep = prepare(source[0], source[1], calibration, method=method,
                           percentile=percentile, batch=batch, equalize=equalize,
                           strength=strength, pixel_input=False, rounding=rounding)
            reference = prep.reference
            header, arrays, ranges, pre_ranges, fixed = (prep.header, prep.arrays, prep.ranges,
                                                         prep.pre_ranges, prep.fixed)
            float_layers = tuple(n for n in float_layers if n not in prep_names)
            int8 = {i for i in range(len(header["layers"]))
                    if _quantizable(header, i, float_layers)}
        int8 = {i for i in int8 if header["layers"][i]["name"] not in fallback}
    qh = qa = None
    for _ in range(len(header["layers"]) + 1):
        qp = _qparams(header, ranges, int8, fixed)
        try:
            qh, qa = _Builder(header, arrays, int8, qp, pre_ranges, prep.rounded).build()
            break
        except ConversionError:
            # Find the layer that cannot be int8 and keep it float32.
            bad = _first_failing(header, arrays, int8, qp, pre_ranges)
            fallback[header["layers"][bad]["name"]] = "parameters out of range"
            int8.discard(bad)
    tuning = validation if tuning is None else tuning
    tuned = {}
    if tune and tuning is not None and len(tuning):
        tuned = tune_ranges(prep, int8, np.asarray(tuning, np.float32), batch=batch, log=log)
        ranges.tuned = tuned
        qh, qa = prep.build(int8)
    held = heldout if heldout is not None and len(heldout) else calibration
    held_batches = [np.asarray(held[i:i + batch], np.float32) for i in range(0, len(held), batch)]
    report = measure(*source, _with_blobs(qh, qa), qa, held_batches, reference)
    if max_layer_error is not None:
        worst = [p for p in report["per_layer"] if p["own"] > max_layer_error]
        if worst:
            names = {p["name"] for p in worst}
            for i, layer in enumerate(header["layers"]):
                if layer["name"] in names:
                    int8.discard(i)
                    fallback[layer["name"]] = f"own error {dict((p['name'], p['own']) for p in worst)[layer['name']]:.3f}"
            qh, qa = _Builder(header, arrays, int8, _qparams(header, ranges, int8, fixed),
                              pre_ranges, prep.rounded).build()
            report = measure(*source, _with_blobs(qh, qa), qa, held_batches, reference)
    report.update({
        "method": method, "rounding": rounding, "calibration_images": int(len(calibration)),
        "tuned_ranges": {header["tensors"][t]["name"]: [float(lo), float(hi)]
                         for t, (lo, hi) in sorted(tuned.items())},
        "validation_images": int(len(validation)) if validation is not None else 0,
        "heldout_images": int(len(held)), "heldout_is_calibration": heldout is None,
        "int8_layers": len(int8), "float_layers": sorted(
            header["layers"][i]["name"] for i in range(len(header["layers"])) if i not in int8),
        "fallback": fallback,
    })
    qh["quantization"] = report
    return qh, qa, report


def _first_failing(header, arrays, int8, qp, pre_ranges):
    for i in sorted(int8):
        try:
            _Builder(header, arrays, {i}, qp, pre_ranges).build()
        except ConversionError:
            return i
    raise ConversionError("quantization failed on no single layer")


def _with_blobs(header, arrays):
    """A header with the blob entries write_pnet would make, so NativeNet can use it."""
    from predict.format import DTYPES
    h = dict(header)
    blobs, offset = [], 0
    for a in arrays:
        name = next(k for k, v in DTYPES.items() if np.dtype(a.dtype).newbyteorder("<") == v)
        blobs.append({"offset": offset, "nbytes": a.nbytes, "dtype": name, "shape": list(a.shape)})
        offset += (a.nbytes + 63) // 64 * 64
    h["blobs"] = blobs
    return h


def format_report(report):
    """Human-readable lines of a quantization report (``predict convert`` prints them)."""
    lines = [f"int8 accuracy on {report['images']} held-out inputs"
             f"{' (the calibration ones: no held-out set given)' if report.get('heldout_is_calibration') else ''}:",
             f"  top-1 agreement with float32   {report['top1_agreement']:.2%}",
             f"  float top-1 in int8 top-5      {report['top5_agreement']:.2%}",
             f"  cosine of outputs  mean {report['cosine_mean']:.4f}  min {report['cosine_min']:.4f}",
             f"  int8 layers {report.get('int8_layers')}, float32 layers "
             f"{len(report.get('float_layers', []))}"]
    worst = sorted(report["per_layer"], key=lambda p: -p["own"])[:5]
    if worst:
        lines.append("  largest per-layer errors (own / accumulated relative RMS):")
        lines += [f"    {p['name']:<32} {p['own']:.4f} / {p['error']:.4f}" for p in worst]
    for name, why in report.get("fallback", {}).items():
        lines.append(f"  kept float32: {name} ({why})")
    return lines


def calibrate_and_quantize(header, arrays, photos, *, method="mse", float_layers=(),
                           max_layer_error=None, min_agreement=None, seed=0, log=print,
                           equalize=True, pixel_input=True, fallback_budget=None,
                           rounding="gptq", tune=False):
    """Quantizes a float header with a list of photos (paths or HxWx3 arrays), using the
    model's own preprocessing; returns (header, arrays, report).

    With 8 photos or more, every fourth one is held out (with two crops/flips of each); with
    fewer, calibration uses the photos and the held-out set is distinct crops/flips of them.
    ``min_agreement`` (0..1) raises ConversionError when top-1 agreement is below it.
    ``equalize``, ``pixel_input``, ``fallback_budget``, ``rounding`` and ``tune`` are
    ``quantize_model``'s (the fallback and the tuned ranges are chosen on every fourth
    calibration input, kept out of the ranges).

        >>> qh, qa, rep = calibrate_and_quantize(h, a, folder_photos("photos/"))  # doctest: +SKIP
    """
    from converters import calibration as cal
    spec = header.get("preprocess")
    if spec is None:
        raise ConversionError("calibration with photos needs an image model (a preprocess spec)")
    photos = list(photos)
    if len(photos) >= 8:
        held_photos = photos[3::4]
        calib_photos = [p for i, p in enumerate(photos) if i % 4 != 3]
        calib = cal.preprocess_all(calib_photos, spec)
        _, held = cal.split_sets(held_photos, spec, calib_variants=0, held_variants=2, seed=seed)
    else:
        calib = cal.preprocess_all(photos, spec)
        rng_photos = [p for p in photos]
        _, held = cal.split_sets(rng_photos, spec, calib_variants=0, held_variants=4, seed=seed)
        held = held[len(photos):]       # the variants only: the photos themselves calibrated
    qh, qa, report = quantize_model(header, arrays, calib, heldout=held, method=method,
                                    float_layers=float_layers, max_layer_error=max_layer_error,
                                    equalize=equalize, pixel_input=pixel_input,
                                    fallback_budget=fallback_budget, rounding=rounding,
                                    tune=tune, log=log)
    for line in format_report(report):
        log(line)
    if min_agreement is not None and report["top1_agreement"] < min_agreement:
        raise ConversionError(f"int8 top-1 agreement {report['top1_agreement']:.2%} is below "
                              f"--min-agreement {min_agreement:.2%}; keep more layers float32 "
                              f"(--float-layers) or calibrate on more photos")
    return qh, qa, report
