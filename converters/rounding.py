"""Rounding of int8 weights by their effect on the layer's output (GPTQ), not one by one.

Round-to-nearest makes each weight's error as small as it can be alone; the errors of a
row then add up in the output as ``(w_q - w) . x``. GPTQ (Frantar et al. 2023, "GPTQ:
Accurate Post-Training Quantization for Generative Pre-trained Transformers", after Optimal
Brain Quantization) rounds the weights of a row one input at a time and moves each rounding
error onto the weights not yet rounded, weighted by the inverse of ``H = X^T X`` (X the
layer's inputs on calibration data), so that the row's output error over those inputs is
what is minimized. The scales stay those of ``predict.quant.quantize_weights`` (max |w| / 127
per output channel) and every value stays in [-127, 127]: the file and the kernels do not
change, only which integers the weights are.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((500, 8)); w = rng.standard_normal((3, 8))
    >>> q, s = gptq(w, x.T @ x)
    >>> q.dtype, bool(np.abs(q).max() <= 127)
    (dtype('int8'), True)
"""

import numpy as np

from predict import quant

__all__ = ["gptq", "candidates", "hessians", "rounded_weights"]


def gptq(w, h, damp=0.01, block=128):
    """(int8 q [out, K], float64 scales [out]) of a weight matrix ``w`` [out, K] given the
    input Gram matrix ``h`` = X^T X [K, K]; the scales are quantize_weights' own.

    ``damp`` (a fraction of the mean diagonal) keeps ``h`` invertible; inputs that are
    always zero (a zero diagonal) take no error (their weights round to nearest)."""
    w = np.array(w, np.float64)
    _, scales = quant.quantize_weights(w, 0)
    k = w.shape[1]
    h = np.array(h, np.float64)
    dead = np.diag(h) <= 0
    h[dead, :] = 0
    h[:, dead] = 0
    h[dead, dead] = 1.0
    h += damp * np.mean(np.diag(h)) * np.eye(k)
    # Upper Cholesky factor of H^-1: row j holds how the error of input j spreads to j+1...
    u = np.linalg.cholesky(np.linalg.inv(h)).T
    q = np.empty(w.shape, np.float64)
    # Blocks of inputs: errors spread inside the block at once, onto the rest in one product.
    for b0 in range(0, k, block):
        b1 = min(b0 + block, k)
        wb, errs = w[:, b0:b1], np.empty((w.shape[0], b1 - b0))
        for j in range(b1 - b0):
            col = wb[:, j]
            q[:, b0 + j] = np.clip(np.rint(col / scales), -127, 127)
            errs[:, j] = (col - q[:, b0 + j] * scales) / u[b0 + j, b0 + j]
            wb[:, j + 1:] -= np.outer(errs[:, j], u[b0 + j, b0 + j + 1:b1])
        w[:, b1:] -= errs @ u[b0:b1, b1:]
    return q.astype(np.int8), scales


def candidates(header, layers):
    """The layers of ``layers`` (indices) whose weights GPTQ rounds: fc and pointwise conv
    (one GEMM over input rows: X is simply the input's pixels)."""
    out = []
    for i in layers:
        layer = header["layers"][i]
        if layer["op"] == "fc" or (layer["op"] == "conv" and layer["kernel"] == [1, 1]
                                   and layer["strides"] == [1, 1] and layer["groups"] == 1
                                   and list(layer["pads"]) == [0, 0, 0, 0]):
            out.append(i)
    return out


def hessians(header, arrays, batches, layers, run_all):
    """{layer index: X^T X} of each layer's float input rows over ``batches`` (core layout:
    a pixel's channels for a conv, the flattened sample for an fc). ``run_all`` is
    converters.quantize._run_all."""
    tensors = {i: header["layers"][i]["inputs"][0] for i in layers}
    out = {}
    for outs in run_all(header, arrays, batches, sorted(set(tensors.values()))):
        for i, t in tensors.items():
            v = np.asarray(outs[t], np.float64)
            rows = v.reshape(len(v), -1) if header["layers"][i]["op"] == "fc" else \
                v.reshape(-1, v.shape[-1])
            g = rows.T @ rows
            out[i] = g if i not in out else out[i] + g
    return out


def rounded_weights(header, arrays, batches, layers, run_all, unpack):
    """{layer index: (q OHWI int8, scales)} for the GPTQ candidates among ``layers``;
    ``unpack(layer)`` gives a layer's float weight as OHWI float64."""
    chosen = candidates(header, layers)
    if not chosen:
        return {}
    grams = hessians(header, arrays, batches, chosen, run_all)
    out = {}
    for i in chosen:
        w = unpack(header["layers"][i])
        q, scales = gptq(w.reshape(w.shape[0], -1), grams[i])
        out[i] = (q.reshape(w.shape), scales)
    return out
