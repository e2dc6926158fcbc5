"""The float-to-integer conversions of the int8 path, done once at conversion time.

docs/quantization.md is the specification; this module is its only implementation of the
parameter arithmetic (IEEE-754 double), so the C core and ``predict.quant_ref`` only ever see
integers: weight bytes, int32 biases, multipliers ``m`` with shifts ``n`` (``M = m * 2^-n``),
clamps and 256-entry tables.

    >>> quantize_multiplier(0.5)
    (1073741824, 31)
    >>> choose_qparams(-1.0, 3.0)
    (0.01568627543747425, 64)
"""

import math

import numpy as np

from predict.errors import ConversionError

M_MIN, M_MAX = 1 << 30, 1 << 31       # a multiplier m lies in [M_MIN, M_MAX)
SHIFT_MIN, SHIFT_MAX = 1, 62
BIAS_LIMIT = 1 << 29                  # |q_b| below this, or the layer stays float32
K_LIMIT = 32767                       # longest int8 dot product (255 * 127 * K < 2^30)


def _f32(value):
    """A scale rounded to float32: the core stores scales as float32, and every integer
    parameter is derived from the same rounded value, so Python and C agree on it."""
    return float(np.float32(value))


def quantize_multiplier(real):
    """(m, n) with ``real = m * 2^-n``, ``2^30 <= m < 2^31``, ``1 <= n <= 62``.

    Raises ConversionError when ``real`` is not finite and > 0 or n falls outside [1, 62]
    (``real >= 2^30`` or ``real < 2^-32``): the caller keeps that layer in float32.

        >>> quantize_multiplier(1.0)
        (1073741824, 30)
        >>> quantize_multiplier(0.0)
        Traceback (most recent call last):
        ...
        predict.errors.ConversionError: multiplier 0.0 must be finite and > 0
    """
    real = float(real)
    if not (math.isfinite(real) and real > 0.0):
        raise ConversionError(f"multiplier {real} must be finite and > 0")
    f, e = math.frexp(real)           # real = f * 2^e, 0.5 <= f < 1
    m, n = round(f * (1 << 31)), 31 - e
    if m == M_MAX:
        m, n = M_MIN, n - 1
    if not SHIFT_MIN <= n <= SHIFT_MAX:
        raise ConversionError(f"multiplier {real} needs shift {n}, outside [{SHIFT_MIN}, "
                              f"{SHIFT_MAX}]")
    return m, n


def quantize_multipliers(reals):
    """``quantize_multiplier`` of each value, as an int32 array [2, n] (row 0 m, row 1 n): the
    ``params`` blob of a layer.

        >>> quantize_multipliers([1.0, 0.25]).tolist()
        [[1073741824, 1073741824], [30, 32]]
    """
    pairs = [quantize_multiplier(r) for r in np.asarray(reals, np.float64).ravel()]
    return np.array(pairs, np.int64).T.astype(np.int32).reshape(2, len(pairs))


def add_multipliers(real_a, real_b):
    """int32 params [2, 2] for add/sub: ``m_a, m_b`` under one shift ``n`` chosen so that the
    larger of the two lies in [2^30, 2^31).

        >>> add_multipliers(0.5, 0.25).tolist()
        [[1073741824, 536870912], [31, 31]]
    """
    _, n = quantize_multiplier(max(real_a, real_b))
    ms = [round(float(r) * 2.0 ** n) for r in (real_a, real_b)]
    ms = [min(m, M_MAX - 1) for m in ms]
    return np.array([ms, [n, n]], np.int32)


def choose_qparams(lo, hi):
    """(scale, zero_point) of a uint8 tensor whose real values span [lo, hi].

    The range is widened to include 0 (real zero must be exact: it is padding), ``s = (hi -
    lo) / 255`` rounded to float32, ``z = round(-lo / s)`` clamped to [0, 255]. A range of
    width 0 gets s = 1/255.

        >>> choose_qparams(0.0, 6.0)
        (0.0235294122248888, 0)
    """
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConversionError(f"range [{lo}, {hi}] is not finite")
    scale = _f32((hi - lo) / 255.0) if hi > lo else _f32(1.0 / 255.0)
    if scale <= 0.0:
        scale = _f32(1.0 / 255.0)
    zero = int(min(255, max(0, round(-lo / scale))))
    return scale, zero


def quantize_weights(w, axis):
    """int8 weights symmetric per output channel along ``axis``, in [-127, 127].

    Returns (q int8, scales float64 per channel): ``s = max|w| / 127`` (1 for a channel of
    zeros), ``q = round_half_even(w / s)``.

        >>> q, s = quantize_weights(np.array([[1.0, -0.5], [0.0, 0.0]]), 0)
        >>> q.tolist(), s.tolist()
        ([[127, -64], [0, 0]], [0.007874015748031496, 1.0])
    """
    w = np.asarray(w, np.float64)
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    amax = np.abs(moved).max(axis=1)
    scales = np.where(amax > 0, amax / 127.0, 1.0)
    q = np.clip(np.rint(moved / scales[:, None]), -127, 127).astype(np.int8)
    q = np.moveaxis(q.reshape(np.moveaxis(w, axis, 0).shape), 0, axis)
    return np.ascontiguousarray(q), scales


def quantize_bias(bias, s_in, w_scales, z_in, w_q, axis):
    """int32 bias with the zero-point term folded in: ``B[c] = round(b[c] / (s_in s_w[c])) -
    z_in * sum_k w[c, k]``.

    Raises ConversionError when ``|q_b| >= 2^29`` (the layer stays float32).

        >>> b = quantize_bias(np.array([1.0]), 0.5, np.array([0.25]), 3, np.array([[2, -1]]), 0)
        >>> b.tolist()
        [5]
    """
    cout = w_q.shape[axis]
    b = np.zeros(cout) if bias is None else np.asarray(bias, np.float64)
    qb = np.rint(b / (float(s_in) * np.asarray(w_scales, np.float64)))
    if np.any(np.abs(qb) >= BIAS_LIMIT):
        raise ConversionError(f"bias needs {int(np.abs(qb).max())} >= 2^29 at input scale {s_in}")
    wsum = np.moveaxis(w_q.astype(np.int64), axis, 0).reshape(cout, -1).sum(axis=1)
    return (qb.astype(np.int64) - int(z_in) * wsum).astype(np.int32)


def act_clamp(kind, alpha, beta, scale, zero):
    """(lo, hi) bytes of a clamp activation (none, relu, clip) on an output (scale, zero).

        >>> act_clamp("clip", 0.0, 6.0, 6.0 / 255, 0)
        (0, 255)
    """
    lo, hi = 0, 255
    if kind == "relu":
        lo = max(0, zero)
    elif kind == "clip":
        lo = max(0, zero + round(alpha / scale)) if math.isfinite(alpha) else 0
        hi = min(255, zero + round(beta / scale)) if math.isfinite(beta) else 255
        lo, hi = min(lo, 255), max(hi, 0)
        if lo > hi:
            lo = hi = min(max(zero, lo), hi)
    elif kind != "none":
        raise ConversionError(f"activation {kind} is not a clamp")
    return int(lo), int(hi)


CLAMP_ACTS = ("none", "relu", "clip")


def act_function(kind, alpha, beta):
    """The float64 numpy function of an activation (format.md's definitions)."""
    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))
    return {
        "none": lambda x: x,
        "relu": lambda x: np.maximum(x, 0.0),
        "clip": lambda x: np.minimum(np.maximum(x, alpha), beta),
        "hardswish": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
        "hardsigmoid": lambda x: np.clip(alpha * x + beta, 0.0, 1.0),
        "sigmoid": sigmoid,
        "silu": lambda x: x * sigmoid(x),
        "leakyrelu": lambda x: np.where(x >= 0, x, alpha * x),
    }[kind]


def act_lut(kind, alpha, beta, s_mid, z_mid, s_out, z_out):
    """The 256-entry uint8 table of an activation from (s_mid, z_mid) to (s_out, z_out):
    ``T[i] = clamp(z_out + round_half_even(f(s_mid (i - z_mid)) / s_out), 0, 255)``.

        >>> act_lut("relu", 0, 0, 1.0, 128, 1.0, 0)[[0, 128, 255]].tolist()
        [0, 0, 127]
    """
    real = act_function(kind, alpha, beta)(s_mid * (np.arange(256, dtype=np.float64) - z_mid))
    return np.clip(z_out + np.rint(real / s_out), 0, 255).astype(np.uint8)


def softmax_table(s_in):
    """``E[d] = round(exp(-s_in d) 2^16)`` for d in [0, 255], int32.

        >>> softmax_table(0.1)[:3].tolist()
        [65536, 59299, 53656]
    """
    return np.rint(np.exp(-float(s_in) * np.arange(256, dtype=np.float64)) * 65536.0).astype(
        np.int32)


SOFTMAX_SCALE, SOFTMAX_ZERO = 1.0 / 256.0, 0
