"""The first convolution of an int8 image model reads pixels, not a quantized normalized input.

An image model's float input is ``x = (pixel / scale - mean[c]) / std[c]``. Quantizing x per
tensor rounds it to steps of about one pixel level that do not line up with the pixel grid
(the three channels have different ``std``), which adds half a pixel level of noise to every
input value: enough to move MobileNetV2's top-1 on one input in twenty. Pixels themselves are
exact in uint8 with ``s = 1, z = 0``, so the graph is rewritten (docs/quantization.md, "The
first layer"):

    x -> pad (zeros, the first conv's pads; float32)
      -> depthwise 1x1 (pixel = x * std * scale + mean * scale; float32)
      -> quantize (s = 1, z = 0: the pixel value, exact)
      -> first conv, int8, no padding, with the normalization folded into its weights:
         w'[o, .., c] = w[o, .., c] / (std[c] scale),  b'[o] = b[o] - sum w[o, .., c] mean[c] / std[c]

The padding cells (real zero of x) become the pixel value ``scale * mean[c]``, rounded by the
quantize step: at most half a pixel level, on border cells only. Until the runtime takes uint8
pixels as a network input, the two float layers undo the preprocessing's normalization; they
cost two passes over the input tensor.

    >>> h, a, fixed, names = rewrite(header, arrays)   # doctest: +SKIP
"""

import copy

import numpy as np

from predict.layout import pack_panels16, unpack_panels16


def rewrite(header, arrays):
    """(header, arrays, {tensor: (scale, zero)} fixed qparams, names of the float layers) of
    the rewritten graph, or None when the model is not an image model whose input feeds one
    ungrouped convolution."""
    spec = header.get("preprocess")
    if spec is None or len(header.get("inputs", [])) != 1:
        return None
    x = header["inputs"][0]["tensor"]
    users = [i for i, layer in enumerate(header["layers"]) if x in layer["inputs"]]
    if len(users) != 1:
        return None
    i = users[0]
    conv = header["layers"][i]
    if conv["op"] != "conv" or conv.get("groups", 1) != 1 or conv["inputs"] != [x]:
        return None
    c, hgt, wid = header["tensors"][x]["shape"]
    if len(spec["mean"]) != c:
        return None
    scale = float(spec["scale"])
    mean = np.asarray(spec["mean"], np.float64)
    std = np.asarray(spec["std"], np.float64)

    h = copy.deepcopy(header)
    arrays = list(arrays)
    pt, pl, pb, pr = conv["pads"]
    shape = [c, hgt + pt + pb, wid + pl + pr]
    base = h["tensors"][x]
    padded, pixels = len(h["tensors"]), len(h["tensors"]) + 1
    for t, suffix in ((padded, ":padded"), (pixels, ":pixels")):
        h["tensors"].append(dict(base, name=base["name"] + suffix, shape=list(shape), blob=None))
    arrays.append((std * scale).astype(np.float32).reshape(1, 1, c))
    w_pix = len(arrays) - 1
    arrays.append((mean * scale).astype(np.float32))
    b_pix = len(arrays) - 1
    name = conv["name"]
    pad = {"op": "pad", "name": f"{name}:pad", "inputs": [x], "output": padded,
           "pads": [pt, pl, pb, pr], "mode": "constant", "value": 0.0}
    to_pixels = {"op": "depthwise", "name": f"{name}:pixels", "inputs": [padded],
                 "output": pixels, "kernel": [1, 1], "strides": [1, 1], "dilations": [1, 1],
                 "pads": [0, 0, 0, 0], "weight": w_pix, "bias": b_pix,
                 "act": {"kind": "none", "alpha": 0.0, "beta": 0.0}}

    new = copy.deepcopy(conv)
    w = np.asarray(arrays[conv["weight"]], np.float32)
    packed = conv.get("weight_layout", "ohwi") == "panels16"
    w = (unpack_panels16(w, 1) if packed else w).astype(np.float64)       # OHWI
    b = (np.zeros(w.shape[0]) if conv.get("bias") is None
         else np.asarray(arrays[conv["bias"]], np.float64))
    b = b - np.einsum("ohwc,c->o", w, mean / std)
    w = (w / (std * scale)).astype(np.float32)
    arrays.append(pack_panels16(w, 1) if packed else np.ascontiguousarray(w))
    new["weight"] = len(arrays) - 1
    arrays.append(b.astype(np.float32))
    new["bias"] = len(arrays) - 1
    new["inputs"], new["pads"] = [pixels], [0, 0, 0, 0]
    h["layers"] = h["layers"][:i] + [pad, to_pixels, new] + h["layers"][i + 1:]
    return h, arrays, {pixels: (1.0, 0)}, (pad["name"], to_pixels["name"])
