"""Cross-layer equalization of a float32 graph before int8 calibration.

Activations are quantized per tensor, so a channel whose values span a small part of its
tensor's range keeps few of the 256 levels: in MobileNetV2 a third to two thirds of the
channels of features.14-17's expanded tensors stay below 1/8 of the range. When a producer
(conv or depthwise, ReLU / ReLU6 or no activation) feeds exactly one consumer that reads each
channel through its own weights (a depthwise, or a conv with one group), the channel can be
scaled by ``k > 0`` in the producer (weights and bias of that output channel) and by ``1 / k``
in the consumer (that input channel's weights) without changing the network (Nagel et al.,
"Data-Free Quantization Through Weight Equalization and Bias Correction", 2019).

- conv -> depthwise (expand -> depthwise): both sides have per-channel weight scales, so the
  scaling costs no weight precision: each channel is brought up to the tensor's largest
  channel maximum (``k = R / max_c``).
- depthwise -> 1x1 conv (depthwise -> project): the consumer's weights are quantized per
  *output* channel, so shrinking an input column costs that column precision; the scaling is
  split (``k = (R / max_c) ** strength``): the strength (0, 0.25 ... 1) is the one whose
  simulated int8 error of the pair's product is smallest on calibration rows, else 0.5.

ReLU6 is ``clip(0, 6)``: the bound 6 does not scale. Channels are only scaled up (``k >= 1``)
and never past ``R``, the tensor's largest value on the calibration inputs, which is at most
6; so on those inputs no scaled channel reaches the clip it did not reach before, and the
scaled network equals the original there. (A value past its channel's calibrated maximum
times ``R / max_c`` would be clipped earlier than in float; int8 clips it at the tensor's
range ``R`` anyway.)

    >>> h, a, scales = equalize(header, arrays, channel_max)   # doctest: +SKIP
"""

import copy

import numpy as np

from predict.layout import pack_panels16, unpack_panels16

# Fused activations that commute with a positive per-channel scale (clip only with alpha 0,
# and only because the scaled channels never reach beta on the calibration inputs).
_HOMOGENEOUS = ("none", "relu", "clip")
MAX_SCALE = 1024.0


def _consumers(header):
    uses = {}
    for i, layer in enumerate(header["layers"]):
        for t in layer["inputs"]:
            uses.setdefault(t, []).append(i)
    return uses


def pairs(header):
    """[(producer index, consumer index, kind)] that can be equalized; kind is "to_depthwise"
    or "to_conv"."""
    uses = _consumers(header)
    graph_outs = {io["tensor"] for io in header["outputs"]}
    if header.get("features") is not None:
        graph_outs.add(header["features"])
    out = []
    for i, layer in enumerate(header["layers"]):
        if layer["op"] not in ("conv", "depthwise") or layer["output"] in graph_outs:
            continue
        if layer["op"] == "conv" and layer.get("groups", 1) != 1:
            continue
        act = layer.get("act") or {"kind": "none", "alpha": 0.0}
        if act["kind"] not in _HOMOGENEOUS or (act["kind"] == "clip" and act["alpha"] != 0.0):
            continue
        users = uses.get(layer["output"], [])
        if len(users) != 1:
            continue
        nxt = header["layers"][users[0]]
        if nxt["op"] == "depthwise":
            out.append((i, users[0], "to_depthwise"))
        elif nxt["op"] == "conv" and nxt.get("groups", 1) == 1 and nxt["inputs"] == [layer["output"]]:
            out.append((i, users[0], "to_conv"))
    return out


def _ohwi(layer, array):
    w = np.asarray(array, np.float32)
    if layer.get("weight_layout", "ohwi") == "panels16":
        w = unpack_panels16(w, layer.get("groups", 1))
    return w.astype(np.float64)


def _store(layer, w):
    w = np.ascontiguousarray(w, np.float32)
    if layer.get("weight_layout", "ohwi") == "panels16":
        return pack_panels16(w, layer.get("groups", 1))
    return w


def _scales(m, strength):
    top = float(m.max()) if m.size else 0.0
    if top <= 0.0:
        return np.ones_like(m)
    k = np.where(m > 0, (top / np.maximum(m, 1e-30)) ** strength, 1.0)
    return np.clip(k, 1.0, MAX_SCALE)


def best_strength(x, w, m, choices=(0.0, 0.25, 0.5, 0.75, 1.0)):
    """The exponent whose scaling gives the smallest squared error of ``x @ w.T`` when x
    (rows of a calibration tensor, [n, C]) is quantized per tensor (its min/max range) and
    w ([O, C]) per output channel: the measured trade-off of a depthwise -> conv pair."""
    errs = [_pair_error(x, w, m, st) for st in choices]
    return choices[int(np.argmin(errs))]


def equalize(header, arrays, channel_max, *, strength=0.5, pair_list=None, samples=None):
    """A copy of (header, arrays) with equalized channels, and {tensor: per-channel scale}.

    ``channel_max[t]`` is the largest absolute value of each channel (last axis, NHWC) of
    tensor ``t`` on the calibration inputs. ``strength`` is the exponent of the depthwise ->
    conv scaling (0: none, 1: full).
    """
    h = copy.deepcopy(header)
    arrays = list(arrays)
    scales = {}
    for p, c, kind in (pairs(header) if pair_list is None else pair_list):
        prod, cons = h["layers"][p], h["layers"][c]
        t = prod["output"]
        m = np.asarray(channel_max[t], np.float64)
        alpha = 1.0 if kind == "to_depthwise" else strength
        if kind == "to_conv" and samples is not None and t in samples:
            wc = _ohwi(cons, arrays[cons["weight"]])
            if wc.shape[1:3] == (1, 1):
                alpha = best_strength(samples[t], wc.reshape(wc.shape[0], -1), m)
        k = _scales(m, alpha)
        if np.all(k == 1.0):
            continue
        # producer: output channel c of its weights and bias times k[c]
        wp = _ohwi(prod, arrays[prod["weight"]])
        if prod["op"] == "depthwise":          # [kh, kw, C]
            wp = wp * k
        else:                                  # OHWI
            wp = wp * k[:, None, None, None]
        arrays.append(_store(prod, wp))
        prod["weight"] = len(arrays) - 1
        if prod.get("bias") is not None:
            arrays.append((np.asarray(arrays[prod["bias"]], np.float64) * k).astype(np.float32))
            prod["bias"] = len(arrays) - 1
        # consumer: input channel c of its weights divided by k[c]
        wc = _ohwi(cons, arrays[cons["weight"]])
        wc = wc / k                            # depthwise [kh, kw, C] and OHWI [.., Cin]
        arrays.append(_store(cons, wc))
        cons["weight"] = len(arrays) - 1
        scales[t] = k
    return h, arrays, scales


def residual_groups(header):
    """Channel groups of residual streams: [(tensors, producers, consumers)].

    A stream is the set of tensors tied together by ``add`` layers (MobileNetV2's linear
    bottleneck outputs and their sums). Scaling channel c of every tensor of the stream by the
    same ``k`` is exact when each producer is a conv or an add with no activation (rows and
    bias of the convs times k) and each consumer outside the stream is a one-group conv or a
    depthwise (its input channel c divided by k).
    """
    uses = _consumers(header)
    producer = {layer["output"]: i for i, layer in enumerate(header["layers"])}
    graph_outs = {io["tensor"] for io in header["outputs"]}
    if header.get("features") is not None:
        graph_outs.add(header["features"])
    seen, groups = set(), []
    for i, layer in enumerate(header["layers"]):
        if layer["op"] != "add" or i in seen:
            continue
        tensors, todo, ok = set(), [layer["output"], *layer["inputs"]], True
        while todo and ok:
            t = todo.pop()
            if t in tensors:
                continue
            tensors.add(t)
            p = producer.get(t)
            if p is None or t in graph_outs:
                ok = False
                break
            pl = header["layers"][p]
            act = (pl.get("act") or {"kind": "none"})["kind"]
            if pl["op"] == "add":
                todo += [pl["output"], *pl["inputs"]]
            elif not (pl["op"] == "conv" and pl.get("groups", 1) == 1 and act == "none"):
                ok = False
            for u in uses.get(t, []):
                if header["layers"][u]["op"] == "add":
                    todo += [header["layers"][u]["output"], *header["layers"][u]["inputs"]]
        if not ok:
            continue
        prods = sorted(producer[t] for t in tensors)
        cons = sorted({u for t in tensors for u in uses.get(t, [])} - set(prods))
        if any(header["layers"][u]["op"] == "add" for u in cons):
            continue
        if not all(_reads_channels(header["layers"][u]) for u in cons):
            continue
        seen.update(p for p in prods if header["layers"][p]["op"] == "add")
        groups.append((sorted(tensors), prods, cons))
    return groups


def _reads_channels(layer):
    if layer["op"] == "depthwise":
        return True
    return layer["op"] == "conv" and layer.get("groups", 1) == 1 and len(layer["inputs"]) == 1


def equalize_groups(header, arrays, channel_max, samples=None, groups=None,
                    choices=(0.0, 0.25, 0.5, 0.75, 1.0)):
    """Scales each residual stream's channels (``residual_groups``) towards the stream's
    largest channel, with the strength whose simulated int8 error at the stream's 1x1
    consumers is smallest on the calibration rows ``samples`` (0.5 without samples).
    Returns (header, arrays)."""
    h = copy.deepcopy(header)
    arrays = list(arrays)
    for tensors, prods, cons in (residual_groups(header) if groups is None else groups):
        m = np.max([np.asarray(channel_max[t], np.float64) for t in tensors], axis=0)
        strength = 0.5
        if samples is not None:
            errs = np.zeros(len(choices))
            for u in cons:
                layer = h["layers"][u]
                w = _ohwi(layer, arrays[layer["weight"]])
                t = layer["inputs"][0]
                if layer["op"] != "conv" or w.shape[1:3] != (1, 1) or t not in samples:
                    continue
                errs += [_pair_error(samples[t], w.reshape(w.shape[0], -1), m, st)
                         for st in choices]
            strength = choices[int(np.argmin(errs))] if errs.any() else strength
        k = _scales(m, strength)
        if np.all(k == 1.0):
            continue
        for p in prods:
            layer = h["layers"][p]
            if layer["op"] == "add":
                continue
            w = _ohwi(layer, arrays[layer["weight"]]) * k[:, None, None, None]
            arrays.append(_store(layer, w))
            layer["weight"] = len(arrays) - 1
            if layer.get("bias") is not None:
                arrays.append((np.asarray(arrays[layer["bias"]], np.float64) * k).astype(np.float32))
                layer["bias"] = len(arrays) - 1
        for u in cons:
            layer = h["layers"][u]
            arrays.append(_store(layer, _ohwi(layer, arrays[layer["weight"]]) / k))
            layer["weight"] = len(arrays) - 1
    return h, arrays


def _pair_error(x, w, m, strength):
    from predict import quant
    x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)
    k = _scales(m, strength)
    xk, wk = x * k, w / k
    s, z = quant.choose_qparams(xk.min(), xk.max())
    xq = s * (np.clip(np.rint(xk / s) + z, 0, 255) - z)
    wq, ws = quant.quantize_weights(wk, 0)
    return float(np.sum((xq @ (wq * ws[:, None]).T - x @ w.T) ** 2))
