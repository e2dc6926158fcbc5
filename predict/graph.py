"""The .pnet header schema: every field, every operator's rules and shape inference.

``validate(header)`` is the one gate between a header and the rest of predict: the reader runs
it on every file before any array is handed out, and the writer runs it before writing, so a
header that passes here is one the C core can be given without further checks. It follows
docs/format.md to the letter; every refusal is a ``ModelFormatError`` whose message names the
place (``layer 3 'conv1' (conv)``, ``tensor 7 'x'``, ``blob 2``, ``preprocess``) and the field.

Shapes are in the source order without the batch dimension (``[C, H, W]``, ``[C, L]``, ``[K]``).

The header schema's constants (``VERSION``, ``ALIGN``, ``DTYPES``) are defined here, beside the
checks that use them, and re-exported by ``predict.format`` with the file layout's constants.

Example::

    >>> from predict import graph
    >>> graph.validate({"format": "pnet"})
    Traceback (most recent call last):
    ...
    predict.errors.ModelFormatError: header: missing keys 'version', 'tensors', ...
"""
from __future__ import annotations

import dataclasses
import math
from collections import Counter

import numpy as np

from predict.errors import ModelFormatError
from predict.layout import q8_shape

FORMAT_NAME = "pnet"
VERSION = 1
ALIGN = 64
# Blob dtypes and their little-endian numpy types: float32 for the float path; int8 weights,
# int32 biases / multipliers / tables and uint8 lookup tables for the int8 path.
DTYPES = {"float32": np.dtype("<f4"), "int8": np.dtype("i1"), "uint8": np.dtype("u1"),
          "int32": np.dtype("<i4")}
TENSOR_DTYPES = ("float32", "uint8")
# Optional top-level keys: "quantization" (a map) describes how an int8 model was made and
# holds its accuracy report (docs/format.md).
OPTIONAL_TOP_KEYS = ("quantization",)
QUANT_KEYS = ("params", "zero", "lo", "hi", "lut", "table")
_K_LIMIT = 32767            # longest int8 dot product (docs/quantization.md: overflow)

TOP_KEYS = ("format", "version", "tensors", "layers", "inputs", "outputs", "features", "blobs",
            "preprocess", "labels", "provenance")
ACT_KINDS = ("none", "relu", "clip", "hardswish", "hardsigmoid", "sigmoid", "silu", "leakyrelu")
PAD_MODES = ("constant", "reflect", "edge")
INTERPOLATIONS = ("bilinear", "bicubic", "nearest")
CHANNELS = {"RGB": 3, "BGR": 3, "L": 1}

_INT32_MAX = 2**31 - 1
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_MAX_BLOB_RANK = 4          # a conv weight [Cout, kh, kw, Cin/groups] has the most dims
_MAX_RESIZE = 1 << 16       # a preprocess resize bigger than this is a forged file, not a photo


@dataclasses.dataclass(frozen=True)
class Limits:
    """What a reader accepts, so that a hostile file cannot make it use unbounded memory or time.

    The defaults fit any convnet we mean to run; pass your own to ``read_pnet`` to be stricter::

        >>> from predict.format import Limits, read_pnet
        >>> strict = Limits(max_file_bytes=50 * 2**20)
        >>> read_pnet("model.pnet", limits=strict)        # doctest: +SKIP

    The writer applies the default limits too, so it never writes a file a default reader refuses.

    ``max_activation_bytes`` bounds the C core's memory for a loaded network (its activation
    arena for ``max_batch`` samples plus the convolution scratch); ``predict.load`` checks it,
    since a small file can describe layers whose outputs are huge. MobileNetV2 at 224x224 needs
    about 6 MiB a sample.
    """

    max_file_bytes: int = 2 * 2**30
    max_header_bytes: int = 64 * 2**20
    max_tensor_elements: int = 2**28    # per tensor or blob, one sample
    max_tensors: int = 1_000_000
    max_layers: int = 100_000
    max_blobs: int = 100_000
    max_activation_bytes: int = 4 * 2**30


# ---------------------------------------------------------------------------------------------
# Field checks. Each takes `where` (the place, e.g. "layer 3 'conv1' (conv)") and the field name.

def _fail(where, message):
    raise ModelFormatError(f"{where}: {message}")


def _q(name):
    """A name for a message: quoted, one line, and short even if the file holds a huge one."""
    if not isinstance(name, str):
        return repr(type(name).__name__)
    return repr(name if len(name) <= 60 else name[:57] + "...")


def _type_name(value):
    return "nil" if value is None else type(value).__name__


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int(value, where, field, lo=None, hi=_INT32_MAX):
    if not _is_int(value):
        _fail(where, f"{field} must be an int, not {_type_name(value)}")
    if lo is not None and value < lo:
        _fail(where, f"{field} is {value}, must be >= {lo}")
    if hi is not None and value > hi:
        _fail(where, f"{field} is {value}, must be <= {hi}")
    return value


def _real(value, where, field, finite=True, positive=False):
    """A real number; `finite` means finite in float32, the precision the core computes in."""
    if not _is_real(value):
        _fail(where, f"{field} must be a number, not {_type_name(value)}")
    value = float(value)
    if math.isnan(value):
        _fail(where, f"{field} is NaN")
    if finite and not abs(value) <= _FLOAT32_MAX:
        _fail(where, f"{field} is {value}, must be finite in float32")
    if positive and not value > 0:
        _fail(where, f"{field} is {value}, must be > 0")
    return value


def _str(value, where, field, choices=None):
    if not isinstance(value, str):
        _fail(where, f"{field} must be a string, not {_type_name(value)}")
    if choices is not None and value not in choices:
        _fail(where, f"{field} {_q(value)} is not one of {', '.join(choices)}")
    return value


def _bool(value, where, field):
    if not isinstance(value, bool):
        _fail(where, f"{field} must be a bool, not {_type_name(value)}")
    return value


def _list(value, where, field, min_len=0, max_len=None):
    if not isinstance(value, (list, tuple)):
        _fail(where, f"{field} must be a list, not {_type_name(value)}")
    if len(value) < min_len:
        _fail(where, f"{field} has {len(value)} entries, needs at least {min_len}")
    if max_len is not None and len(value) > max_len:
        _fail(where, f"{field} has {len(value)} entries, at most {max_len} allowed")
    return value


def _plain_ints(value, lo):
    """Whether every entry is a plain int in [lo, int32 max]: the common case, checked without
    building a message per entry (a header has thousands of them; every load checks them)."""
    return all(type(v) is int and lo <= v <= _INT32_MAX for v in value)


def _ints(value, where, field, length, lo):
    _list(value, where, field)
    if len(value) != length:
        _fail(where, f"{field} must have {length} entries, has {len(value)}")
    if _plain_ints(value, lo):
        return list(value)
    return [_int(v, where, f"{field}[{i}]", lo=lo) for i, v in enumerate(value)]


def _shape(value, where, field, max_rank, max_elements):
    _list(value, where, field)
    if not 1 <= len(value) <= max_rank:
        _fail(where, f"{field} {_show(value)} must have 1 to {max_rank} dims")
    dims = (list(value) if _plain_ints(value, 1)
            else [_int(v, where, f"{field}[{i}]", lo=1) for i, v in enumerate(value)])
    if math.prod(dims) > max_elements:
        _fail(where, f"{field} {dims} has {math.prod(dims)} elements, "
                     f"more than the limit of {max_elements}")
    return dims


def _show(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _map(value, where, required, what="keys", optional=()):
    """`value` must be a map holding exactly the `required` string keys, plus any of `optional`."""
    if not isinstance(value, dict):
        _fail(where, f"must be a map, not {_type_name(value)}")
    if all(k in required or k in optional for k in value) and all(k in value for k in required):
        return value    # the common case; the checks below find what is wrong, for the message
    for key in value:
        if not isinstance(key, str):
            _fail(where, f"{what} must be strings, found {_show(key)}")
    missing = [k for k in required if k not in value]
    if missing:
        _fail(where, f"missing {'key' if len(missing) == 1 else 'keys'} "
                     f"{', '.join(map(repr, missing))}")
    unknown = [k for k in value if k not in required and k not in optional]
    if unknown:
        _fail(where, f"unknown {'key' if len(unknown) == 1 else 'keys'} "
                     f"{', '.join(_q(k) for k in unknown[:5])}")
    return value


# ---------------------------------------------------------------------------------------------
# Operators. `_OPS[op] = (number of inputs or None for one or more, op-specific keys, shape fn)`.
# A shape function gets (layer, where, input shapes, blobs) with the keys already present and
# returns the output shape, or None for reshape, whose output shape is the output tensor's.

class _Blobs:
    """Blob entries as (dtype, shape), so layers can check their weights against them."""

    def __init__(self, entries, dtypes=None):
        self.entries = entries
        self.dtypes = dtypes or {}

    def quantized(self):
        """The same blobs, as an int8 layer reads them: int8 weights, int32 bias."""
        return _Blobs(self.entries, {"weight": "int8", "bias": "int32"})

    def get(self, layer, key, where, expected=None, optional=False, layout=""):
        """The shape of the blob `layer[key]` refers to (float32, or for an int8 layer int8
        weights and an int32 bias), checked against `expected`."""
        index = layer[key]
        if index is None and optional:
            return None
        if not _is_int(index):
            _fail(where, f"{key} must be a blob index{' or nil' if optional else ''}, "
                         f"not {_type_name(index)}")
        if not 0 <= index < len(self.entries):
            _fail(where, f"{key} is blob {index}, but there are {len(self.entries)} blobs")
        dtype, shape = self.entries[index]
        want = self.dtypes.get(key, "float32")
        if dtype != want:
            _fail(where, f"{key} blob {index} has dtype {dtype}, expected {want}")
        if expected is not None and shape != expected:
            _fail(where, f"{key} blob {index} has shape {shape}, expected {expected}{layout}")
        return shape


def _act(layer, where):
    act = layer["act"]
    where = f"{where}: act"
    _map(act, where, ("kind", "alpha", "beta"))
    kind = _str(act["kind"], where, "kind", ACT_KINDS)
    # Unused parameters are ignored by the core, but must still be plain numbers.
    alpha = _real(act["alpha"], where, "alpha", finite=False)
    beta = _real(act["beta"], where, "beta", finite=False)
    if kind == "clip" and alpha > beta:
        _fail(where, f"clip alpha (min) {alpha} is greater than beta (max) {beta}")
    if kind in ("hardsigmoid", "leakyrelu"):
        _real(alpha, where, "alpha")
    if kind == "hardsigmoid":
        _real(beta, where, "beta")


def _spatial(shape, where, what="input"):
    """(channels, h, w) of a [C, L] or [C, H, W] shape; a 1-D signal has h = 1."""
    if len(shape) not in (2, 3):
        _fail(where, f"{what} shape {shape} must be [C, L] or [C, H, W]")
    return (shape[0], 1, shape[1]) if len(shape) == 2 else tuple(shape)


def _with_spatial(channels, h, w, rank):
    return [channels, w] if rank == 2 else [channels, h, w]


def _window(layer, where, rank, dilations=True):
    """The window attributes per axis as ((k, s, d, pad_begin, pad_end) for h, ... for w)."""
    kernel = _ints(layer["kernel"], where, "kernel", 2, lo=1)
    strides = _ints(layer["strides"], where, "strides", 2, lo=1)
    dil = _ints(layer["dilations"], where, "dilations", 2, lo=1) if dilations else [1, 1]
    pads = _ints(layer["pads"], where, "pads", 4, lo=0)
    axes = []
    for axis, name in enumerate(("height", "width")):
        k, s, d, begin, end = kernel[axis], strides[axis], dil[axis], pads[axis], pads[axis + 2]
        extent = (k - 1) * d + 1
        for side, pad in (("begin", begin), ("end", end)):
            if pad >= extent:
                _fail(where, f"pads {pads}: {name} {side} pad {pad} is not less than the "
                             f"dilated kernel extent {extent}")
        axes.append((k, s, d, begin, end))
    if rank == 2 and (kernel[0], strides[0], dil[0], pads[0], pads[2]) != (1, 1, 1, 0, 0):
        _fail(where, f"a 1-D window needs kernel, strides and dilations of height 1 and zero "
                     f"top and bottom pads; has kernel {kernel}, strides {strides}, "
                     f"dilations {dil}, pads {pads}")
    return axes


def window_output_size(size, kernel, stride, dilation, pad_begin, pad_end, ceil_mode=False):
    """The output length of a window op along one axis, per docs/format.md, or < 1 if none fits.

    In ceil mode the last window is dropped when it would start past the input and the
    leading padding (PyTorch's and ONNX's rule)::

        >>> window_output_size(6, 3, 2, 1, 1, 1), window_output_size(6, 3, 2, 1, 1, 1, True)
        (3, 4)
        >>> window_output_size(5, 2, 2, 1, 1, 1, ceil_mode=True)
        3
    """
    extent = (kernel - 1) * dilation + 1
    span = size + pad_begin + pad_end - extent
    if span < 0:
        return 0
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def _window_output(layer, where, in_shape, ceil_mode=False, dilations=True):
    channels, h, w = _spatial(in_shape, where)
    axes = _window(layer, where, len(in_shape), dilations)
    out = []
    for size, (k, s, d, begin, end), name in zip((h, w), axes, ("height", "width")):
        n = window_output_size(size, k, s, d, begin, end, ceil_mode)
        if n < 1:
            _fail(where, f"the window (kernel {k}, dilation {d}) does not fit the input {name} "
                         f"{size} with pads {begin} and {end}: output {name} would be {n}")
        out.append(n)
    return channels, out[0], out[1]


def _weight_layout(layer, where, blobs):
    """The layer's weight layout, checked against its dtype: panels16 is float32's, q8panels16
    int8's (docs/format.md, "Weight layouts")."""
    layout = layer.get("weight_layout", "ohwi")
    int8 = blobs.dtypes.get("weight") == "int8"
    if layout == "q8panels16" and not int8:
        _fail(where, "weight_layout 'q8panels16' is for int8 layers only")
    if layout == "panels16" and int8:
        _fail(where, "int8 weights are stored 'q8panels16' or 'ohwi', not 'panels16'")
    return layout


def _packed_cout(layer, where, blobs, k, groups):
    """Cout of a q8panels16 layer, from its bias blob (required: the blob's padded shape does
    not tell Cout), with the weight blob checked against the packed shape it implies."""
    bias = blobs.get(layer, "bias", where)
    if len(bias) != 1:
        _fail(where, f"bias blob {layer['bias']} has shape {bias}, expected [Cout]")
    cout = bias[0]
    if cout % groups:
        _fail(where, f"groups {groups} does not divide the output channels {cout}")
    blobs.get(layer, "weight", where, q8_shape(cout, k, groups),
              layout=" (q8panels16: [groups * ceil(Cout/groups/16), ceil(K/4), 16, 4])")
    return cout


def _conv_shape(layer, where, shapes, blobs):
    cin, _, _ = _spatial(shapes[0], where)
    (kh, kw) = _ints(layer["kernel"], where, "kernel", 2, lo=1)
    groups = _int(layer["groups"], where, "groups", lo=1)
    if cin % groups:
        _fail(where, f"groups {groups} does not divide the input channels {cin}")
    if _weight_layout(layer, where, blobs) == "q8panels16":
        cout = _packed_cout(layer, where, blobs, kh * kw * (cin // groups), groups)
        _act(layer, where)
        _, ho, wo = _window_output(layer, where, shapes[0])
        return _with_spatial(cout, ho, wo, len(shapes[0]))
    weight = blobs.get(layer, "weight", where)
    cout = weight[0]
    expected = [cout, kh, kw, cin // groups]
    if weight != expected:
        _fail(where, f"weight blob {layer['weight']} has shape {weight}, expected {expected} "
                     f"([Cout, kh, kw, Cin/groups])")
    if cout % groups:
        _fail(where, f"groups {groups} does not divide the output channels {cout}")
    blobs.get(layer, "bias", where, [cout], optional=True, layout=" ([Cout])")
    _act(layer, where)
    _, ho, wo = _window_output(layer, where, shapes[0])
    return _with_spatial(cout, ho, wo, len(shapes[0]))


def _depthwise_shape(layer, where, shapes, blobs):
    c, _, _ = _spatial(shapes[0], where)
    (kh, kw) = _ints(layer["kernel"], where, "kernel", 2, lo=1)
    blobs.get(layer, "weight", where, [kh, kw, c], layout=" ([kh, kw, C])")
    blobs.get(layer, "bias", where, [c], optional=True, layout=" ([C])")
    _act(layer, where)
    _, ho, wo = _window_output(layer, where, shapes[0])
    return _with_spatial(c, ho, wo, len(shapes[0]))


def _fc_shape(layer, where, shapes, blobs):
    if len(shapes[0]) != 1:
        _fail(where, f"input shape {shapes[0]} must be a vector [K] (flatten it with a reshape)")
    k = shapes[0][0]
    if _weight_layout(layer, where, blobs) == "q8panels16":
        cout = _packed_cout(layer, where, blobs, k, 1)
        _act(layer, where)
        return [cout]
    weight = blobs.get(layer, "weight", where)
    if len(weight) != 2 or weight[1] != k:
        _fail(where, f"weight blob {layer['weight']} has shape {weight}, expected [Cout, {k}] "
                     f"([Cout, K])")
    blobs.get(layer, "bias", where, [weight[0]], optional=True, layout=" ([Cout])")
    _act(layer, where)
    return [weight[0]]


def _maxpool_shape(layer, where, shapes, blobs):
    ceil_mode = _bool(layer["ceil_mode"], where, "ceil_mode")
    c, ho, wo = _window_output(layer, where, shapes[0], ceil_mode)
    return _with_spatial(c, ho, wo, len(shapes[0]))


def _avgpool_shape(layer, where, shapes, blobs):
    ceil_mode = _bool(layer["ceil_mode"], where, "ceil_mode")
    _bool(layer["count_include_pad"], where, "count_include_pad")
    c, ho, wo = _window_output(layer, where, shapes[0], ceil_mode, dilations=False)
    return _with_spatial(c, ho, wo, len(shapes[0]))


def _global_pool_shape(layer, where, shapes, blobs):
    c, _, _ = _spatial(shapes[0], where)
    return _with_spatial(c, 1, 1, len(shapes[0]))


def _binary_shape(layer, where, shapes, blobs):
    a, b = shapes
    if len(b) != len(a) or any(db not in (da, 1) for da, db in zip(a, b)):
        _fail(where, f"input b shape {b} does not broadcast to input a shape {a} "
                     f"(same rank, each dim equal or 1)")
    _act(layer, where)
    return list(a)


def _concat_shape(layer, where, shapes, blobs):
    first = shapes[0]
    for i, shape in enumerate(shapes[1:], 1):
        if len(shape) != len(first) or shape[1:] != first[1:]:
            _fail(where, f"input {i} shape {shape} does not match input 0 shape {first} "
                         f"outside the channel dim")
    return [sum(s[0] for s in shapes)] + list(first[1:])


def _same_shape(layer, where, shapes, blobs):
    return list(shapes[0])


def _activation_shape(layer, where, shapes, blobs):
    _act(layer, where)
    return list(shapes[0])


def _reshape_shape(layer, where, shapes, blobs):
    return None


def _pad_shape(layer, where, shapes, blobs):
    c, h, w = _spatial(shapes[0], where)
    top, left, bottom, right = _ints(layer["pads"], where, "pads", 4, lo=0)
    mode = _str(layer["mode"], where, "mode", PAD_MODES)
    _real(layer["value"], where, "value", finite=False)     # -inf padding before a max is fine
    if len(shapes[0]) == 2 and (top or bottom):
        _fail(where, f"pads {[top, left, bottom, right]}: a 1-D input takes no top or bottom pad")
    if mode == "reflect" and (max(top, bottom) >= h or max(left, right) >= w):
        _fail(where, f"pads {[top, left, bottom, right]}: reflect padding needs each pad less "
                     f"than its dim (input {shapes[0]})")
    return _with_spatial(c, h + top + bottom, w + left + right, len(shapes[0]))


# The ops the classic convnet families brought (float32 only; docs/format.md).
RESIZE_MODES = ("nearest", "linear")
RESIZE_COORDS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                 "tf_half_pixel_for_nn")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _lrn_shape(layer, where, shapes, blobs):
    _spatial(shapes[0], where)
    _int(layer["size"], where, "size", lo=1)
    _real(layer["alpha"], where, "alpha")
    _real(layer["beta"], where, "beta")
    _real(layer["k"], where, "k", positive=True)
    return list(shapes[0])


def _conv_transpose_shape(layer, where, shapes, blobs):
    cin, h, w = _spatial(shapes[0], where)
    rank = len(shapes[0])
    kernel = _ints(layer["kernel"], where, "kernel", 2, lo=1)
    strides = _ints(layer["strides"], where, "strides", 2, lo=1)
    dil = _ints(layer["dilations"], where, "dilations", 2, lo=1)
    pads = _ints(layer["pads"], where, "pads", 4, lo=0)
    extra = _ints(layer["output_padding"], where, "output_padding", 2, lo=0)
    groups = _int(layer["groups"], where, "groups", lo=1)
    if cin % groups:
        _fail(where, f"groups {groups} does not divide the input channels {cin}")
    weight = blobs.get(layer, "weight", where)
    if len(weight) != 4 or weight[0] != cin or weight[1:3] != kernel:
        _fail(where, f"weight blob {layer['weight']} has shape {weight}, expected "
                     f"[{cin}, {kernel[0]}, {kernel[1]}, Cout/groups] ([Cin, kh, kw, Cout/groups])")
    cout = weight[3] * groups
    blobs.get(layer, "bias", where, [cout], optional=True, layout=" ([Cout])")
    _act(layer, where)
    out = []
    for axis, size in enumerate((h, w)):
        k, s, d, e = kernel[axis], strides[axis], dil[axis], extra[axis]
        if e >= max(s, d):
            _fail(where, f"output_padding {extra} must be below max(stride, dilation) per axis")
        n = s * (size - 1) + (k - 1) * d + 1 - pads[axis] - pads[axis + 2] + e
        if n < 1:
            _fail(where, f"pads {pads} crop the whole output")
        out.append(n)
    if rank == 2 and (kernel[0], strides[0], dil[0], pads[0], pads[2], extra[0]) != (1, 1, 1, 0,
                                                                                    0, 0):
        _fail(where, "a 1-D window needs a height-1 kernel, stride and dilation and no height pads")
    return _with_spatial(cout, out[0], out[1], rank)


def _resize_shape(layer, where, shapes, blobs):
    c, _, _ = _spatial(shapes[0], where)
    _str(layer["mode"], where, "mode", RESIZE_MODES)
    _str(layer["coordinate_transformation_mode"], where, "coordinate_transformation_mode",
         RESIZE_COORDS)
    _str(layer["nearest_mode"], where, "nearest_mode", NEAREST_MODES)
    _list(layer["scales"], where, "scales")
    if len(layer["scales"]) != 2:
        _fail(where, f"scales must have 2 entries, has {len(layer['scales'])}")
    for i, v in enumerate(layer["scales"]):
        _real(v, where, f"scales[{i}]", positive=True)
    oh, ow = _ints(layer["size"], where, "size", 2, lo=1)
    if len(shapes[0]) == 2 and oh != 1:
        _fail(where, f"size {[oh, ow]}: a 1-D input keeps height 1")
    return _with_spatial(c, oh, ow, len(shapes[0]))


def _channel_shuffle_shape(layer, where, shapes, blobs):
    c, _, _ = _spatial(shapes[0], where)
    groups = _int(layer["groups"], where, "groups", lo=1)
    if c % groups:
        _fail(where, f"groups {groups} does not divide the channels {c}")
    return list(shapes[0])


def _slice_shape(layer, where, shapes, blobs):
    shape = shapes[0]
    starts = _ints(layer["starts"], where, "starts", len(shape), lo=0)
    ends = _ints(layer["ends"], where, "ends", len(shape), lo=1)
    for i, (b, e, n) in enumerate(zip(starts, ends, shape)):
        if not b < e <= n:
            _fail(where, f"starts {starts} and ends {ends} do not cut a window of {shape} "
                         f"(dim {i})")
    return [e - b for b, e in zip(starts, ends)]


def _transpose_shape(layer, where, shapes, blobs):
    shape = shapes[0]
    perm = _ints(layer["perm"], where, "perm", len(shape), lo=0)
    if sorted(perm) != list(range(len(shape))):
        _fail(where, f"perm {perm} is not a permutation of the {len(shape)} dims of {shape}")
    return [shape[p] for p in perm]


_WINDOW_KEYS = ("kernel", "strides", "dilations", "pads")
_BINARY = (2, ("act",), _binary_shape)
_OPS = {
    "conv": (1, _WINDOW_KEYS + ("groups", "weight", "bias", "act"), _conv_shape),
    "depthwise": (1, _WINDOW_KEYS + ("weight", "bias", "act"), _depthwise_shape),
    "fc": (1, ("weight", "bias", "act"), _fc_shape),
    "maxpool": (1, _WINDOW_KEYS + ("ceil_mode",), _maxpool_shape),
    "avgpool": (1, ("kernel", "strides", "pads", "ceil_mode", "count_include_pad"),
                _avgpool_shape),
    "global_avgpool": (1, (), _global_pool_shape),
    "global_maxpool": (1, (), _global_pool_shape),
    "add": _BINARY, "sub": _BINARY, "mul": _BINARY, "div": _BINARY,
    "concat": (None, (), _concat_shape),
    "softmax": (1, (), _same_shape),
    "reshape": (1, (), _reshape_shape),
    "pad": (1, ("pads", "mode", "value"), _pad_shape),
    "activation": (1, ("act",), _activation_shape),
    "quantize": (1, (), _same_shape),
    "dequantize": (1, (), _same_shape),
    "lrn": (1, ("size", "alpha", "beta", "k"), _lrn_shape),
    "conv_transpose": (1, _WINDOW_KEYS + ("output_padding", "groups", "weight", "bias", "act"),
                       _conv_transpose_shape),
    "resize": (1, ("mode", "coordinate_transformation_mode", "nearest_mode", "scales", "size"),
               _resize_shape),
    "channel_shuffle": (1, ("groups",), _channel_shuffle_shape),
    "slice": (1, ("starts", "ends"), _slice_shape),
    "transpose": (1, ("perm",), _transpose_shape),
}
# Ops with no int8 kernel: an int8 model keeps them float32 between dequantize and quantize.
FLOAT_ONLY_OPS = ("div", "lrn", "conv_transpose", "resize", "channel_shuffle", "slice",
                  "transpose")
OPS = tuple(_OPS)
_LAYER_KEYS = ("op", "name", "inputs", "output")
# Optional keys: conv and fc weights may be stored packed (docs/format.md, "Weight layouts").
_OPTIONAL = {"conv": ("weight_layout",), "fc": ("weight_layout",)}
WEIGHT_LAYOUTS = ("ohwi", "panels16", "q8panels16")
_WEIGHT_OPS = ("conv", "depthwise", "fc", "conv_transpose")


def _layer_where(layer, index):
    name = layer.get("name") if isinstance(layer, dict) else None
    op = layer.get("op") if isinstance(layer, dict) else None
    place = "layer" if index is None else f"layer {index}"
    if isinstance(name, str):
        place += f" {_q(name)}"
    if isinstance(op, str) and op in _OPS:
        place += f" ({op})"
    return place


def _layer_keys(layer, where):
    """Checks op, name and the key set; returns the op's (n_inputs, keys, shape fn)."""
    if not isinstance(layer, dict):
        _fail(where, f"must be a map, not {_type_name(layer)}")
    if "op" not in layer:
        _fail(where, "missing key 'op'")
    op = _str(layer["op"], where, "op")
    if op not in _OPS:
        _fail(where, f"unknown op {_q(op)} (known: {', '.join(_OPS)})")
    spec = _OPS[op]
    _map(layer, where, _LAYER_KEYS + spec[1], optional=_OPTIONAL.get(op, ()) + ("quant",))
    _str(layer["name"], where, "name")
    if "weight_layout" in layer:
        layout = _str(layer["weight_layout"], where, "weight_layout")
        if layout not in WEIGHT_LAYOUTS:
            _fail(where, f"unknown weight_layout {_q(layout)} (known: {', '.join(WEIGHT_LAYOUTS)})")
    return spec


def infer_output_shape(layer, input_shapes, blob_shapes=(), index=None):
    """Checks one layer's attributes and returns its output shape (source order, no batch).

    ``input_shapes`` are the shapes of ``layer["inputs"]``, in order; ``blob_shapes`` are the
    shapes of the float32 blobs, by blob index (only conv, depthwise and fc read them); ``index``
    is the layer's position, for messages. A reshape returns None: its output shape is whatever
    the output tensor says, with the same element count. Raises ModelFormatError::

        >>> relu = {"kind": "relu", "alpha": 0.0, "beta": 0.0}
        >>> conv = {"op": "conv", "name": "c", "inputs": [0], "output": 1, "kernel": [3, 3],
        ...         "strides": [2, 2], "dilations": [1, 1], "pads": [1, 1, 1, 1], "groups": 1,
        ...         "weight": 0, "bias": None, "act": relu}
        >>> infer_output_shape(conv, [[3, 224, 224]], [[32, 3, 3, 3]])
        [32, 112, 112]
    """
    where = _layer_where(layer, index)
    n_inputs, _, shape_fn = _layer_keys(layer, where)
    shapes = [list(s) for s in input_shapes]
    if n_inputs is not None and len(shapes) != n_inputs:
        _fail(where, f"takes {n_inputs} input{'s' if n_inputs > 1 else ''}, has {len(shapes)}")
    if not shapes:
        _fail(where, "takes at least one input, has none")
    blobs = _Blobs([("float32", list(s)) for s in blob_shapes])
    return shape_fn(layer, where, shapes, blobs)


# ---------------------------------------------------------------------------------------------
# The header.

def validate(header, data_size=None, limits=None):
    """Checks a whole header against docs/format.md; raises ModelFormatError if anything is off.

    ``data_size`` is the length of the file's data section: when given, every blob must lie
    inside it (read_pnet passes it; write_pnet lays the blobs out itself). ``limits`` bounds
    counts and sizes (``Limits()`` by default). Returns None::

        >>> validate({"format": "pnet", "version": 2})
        Traceback (most recent call last):
        ...
        predict.errors.ModelFormatError: header: missing keys 'tensors', 'layers', ...
    """
    limits = Limits() if limits is None else limits
    try:
        _validate(header, data_size, limits)
    except ModelFormatError:
        raise
    except (TypeError, KeyError, IndexError, ValueError, AttributeError, OverflowError,
            RecursionError) as e:
        # The checks above are meant to be complete; this only keeps a forged header that
        # slips past them from surfacing as a stray exception type.
        raise ModelFormatError(f"header: malformed ({type(e).__name__}: {e})") from e


def _validate(header, data_size, limits):
    optional = tuple(k for k in OPTIONAL_TOP_KEYS if isinstance(header, dict) and k in header)
    _map(header, "header", TOP_KEYS + optional)
    if "quantization" in header and not isinstance(header["quantization"], dict):
        _fail("header", "quantization must be a map")
    _str(header["format"], "header", "format", (FORMAT_NAME,))
    version = _int(header["version"], "header", "version", hi=None)
    if version != VERSION:
        _fail("header", f"version {version} is not supported (this reader knows {VERSION})")
    blobs = _Blobs(_check_blobs(header["blobs"], data_size, limits))
    tensors = _list(header["tensors"], "header", "tensors", 1, limits.max_tensors)
    shapes, constants = _check_tensors(tensors, blobs, limits)
    inputs = _check_io(header["inputs"], "inputs", tensors)
    for i, t in enumerate(inputs):
        if t in constants:
            _fail(f"inputs[{i}]", f"tensor {t} {_q(tensors[t]['name'])} is a constant")
    producers = _check_layers(header["layers"], tensors, shapes, constants, inputs, blobs,
                              limits)
    for t, tensor in enumerate(tensors):
        if t not in constants and t not in producers and t not in inputs:
            _fail(f"tensor {t} {_q(tensor['name'])}",
                  "is computed at run time but no layer writes it and it is not a graph input")
    outputs = _check_io(header["outputs"], "outputs", tensors)
    for i, t in enumerate(outputs):
        if t in constants:
            _fail(f"outputs[{i}]", f"tensor {t} {_q(tensors[t]['name'])} is a constant")
    features = header["features"]
    if features is not None:
        if not _is_int(features) or not 0 <= features < len(tensors):
            _fail("header", f"features must be nil or a tensor index below {len(tensors)}, "
                            f"not {_show(features)}")
        if features not in producers:
            _fail("header", f"features tensor {features} {_q(tensors[features]['name'])} is not "
                            f"computed by a layer")
    if header["preprocess"] is not None:
        _check_preprocess(header["preprocess"], shapes[inputs[0]])
    labels = _list(header["labels"], "header", "labels")
    for i, label in enumerate(labels):
        _str(label, "labels", f"labels[{i}]")
    if labels and len(labels) != math.prod(shapes[outputs[0]]):
        _fail("labels", f"{len(labels)} labels, but the first output has shape "
                        f"{shapes[outputs[0]]} ({math.prod(shapes[outputs[0]])} elements)")
    _map_of_str(header["provenance"], "provenance")


def _check_blobs(blobs, data_size, limits):
    _list(blobs, "header", "blobs", 0, limits.max_blobs)
    entries, spans = [], []
    for i, blob in enumerate(blobs):
        where = f"blob {i}"
        _map(blob, where, ("offset", "nbytes", "dtype", "shape"))
        dtype = _str(blob["dtype"], where, "dtype", tuple(DTYPES))
        shape = _shape(blob["shape"], where, "shape", _MAX_BLOB_RANK, limits.max_tensor_elements)
        offset = _int(blob["offset"], where, "offset", lo=0, hi=None)
        nbytes = _int(blob["nbytes"], where, "nbytes", lo=1, hi=None)
        if offset % ALIGN:
            _fail(where, f"offset {offset} is not a multiple of {ALIGN}")
        expected = math.prod(shape) * DTYPES[dtype].itemsize
        if nbytes != expected:
            _fail(where, f"nbytes {nbytes} does not match shape {shape} of {dtype} "
                         f"({expected} bytes)")
        if data_size is not None and offset + nbytes > data_size:
            _fail(where, f"offset {offset} + nbytes {nbytes} passes the end of the data section "
                         f"({data_size} bytes)")
        entries.append((dtype, shape))
        spans.append((offset, offset + nbytes, i))
    spans.sort()
    # Sorted by start, any overlap shows between neighbours.
    for first, second in zip(spans, spans[1:]):
        if first[1] > second[0]:
            (start_a, end_a, a), (start_b, end_b, b) = sorted((first, second), key=lambda s: s[2])
            _fail(f"blob {a}", f"bytes [{start_a}, {end_a}) overlap blob {b} at [{start_b}, "
                               f"{end_b})")
    return entries


def blob_spans(header):
    """The (start, stop) byte ranges of a validated header's blobs in the data section, sorted.

        >>> blob_spans({"blobs": [{"offset": 64, "nbytes": 8}, {"offset": 0, "nbytes": 4}]})
        [(0, 4), (64, 72)]
    """
    return sorted((b["offset"], b["offset"] + b["nbytes"]) for b in header["blobs"])


def _check_tensors(tensors, blobs, limits):
    shapes, constants = [], set()
    for t, tensor in enumerate(tensors):
        where = f"tensor {t}"
        quantized = isinstance(tensor, dict) and tensor.get("dtype") == "uint8"
        _map(tensor, where, ("name", "shape", "dtype", "blob")
             + (("scale", "zero_point") if quantized else ()))
        where = f"tensor {t} {_q(_str(tensor['name'], where, 'name'))}"
        shape = _shape(tensor["shape"], where, "shape", 3, limits.max_tensor_elements)
        dtype = _str(tensor["dtype"], where, "dtype", TENSOR_DTYPES)
        blob = tensor["blob"]
        if quantized:
            # A scale must be a positive normal float32: zero, NaN, infinity and values that
            # vanish or overflow in float32 are refused.
            scale = _real(tensor["scale"], where, "scale", positive=True)
            if not float(np.finfo(np.float32).tiny) <= scale:
                _fail(where, f"scale {scale} is below the smallest normal float32")
            _int(tensor["zero_point"], where, "zero_point", lo=0, hi=255)
            if blob is not None:
                _fail(where, "a uint8 constant is not supported (constants stay float32)")
        if blob is not None:
            if not _is_int(blob) or not 0 <= blob < len(blobs.entries):
                _fail(where, f"blob must be nil or a blob index below {len(blobs.entries)}, "
                             f"not {_show(blob)}")
            blob_dtype, blob_shape = blobs.entries[blob]
            if blob_dtype != dtype or blob_shape != shape:
                _fail(where, f"is {dtype} {shape} but its blob {blob} is {blob_dtype} "
                             f"{blob_shape}")
            constants.add(t)
        shapes.append(shape)
    return shapes, constants


def _tensor_index(value, where, field, tensors):
    if not _is_int(value) or not 0 <= value < len(tensors):
        _fail(where, f"{field} must be a tensor index below {len(tensors)}, not {_show(value)}")
    return value


def _check_io(ios, field, tensors):
    _list(ios, "header", field, 1, len(tensors))
    seen, names = {}, {}
    for i, io in enumerate(ios):
        where = f"{field}[{i}]"
        _map(io, where, ("name", "tensor"))
        name = _str(io["name"], where, "name")
        t = _tensor_index(io["tensor"], where, "tensor", tensors)
        if t in seen:
            _fail(where, f"tensor {t} is already {field}[{seen[t]}]")
        # Network.run takes and returns {name: array} for several inputs or outputs: two
        # entries of one name would make one of them unreachable.
        if name in names:
            _fail(where, f"name {_q(name)} is already {field}[{names[name]}]'s")
        seen[t], names[name] = i, i
    return list(seen)


def _check_layers(layers, tensors, shapes, constants, inputs, blobs, limits):
    """Checks each layer in order; returns {tensor index: index of the layer that writes it}."""
    _list(layers, "header", "layers", 1, limits.max_layers)
    producers = {}
    readable = set(inputs) | constants
    for index, layer in enumerate(layers):
        where = _layer_where(layer, index)
        n_inputs, _, shape_fn = _layer_keys(layer, where)
        op = layer["op"]
        ins = _list(layer["inputs"], where, "inputs", 1)
        if n_inputs is not None and len(ins) != n_inputs:
            _fail(where, f"takes {n_inputs} input{'s' if n_inputs > 1 else ''}, has {len(ins)}")
        for i, t in enumerate(ins):
            _tensor_index(t, where, f"inputs[{i}]", tensors)
            if t not in readable:
                _fail(where, f"inputs[{i}] is tensor {t} {_q(tensors[t]['name'])}, which is "
                             f"neither a graph input, a constant nor the output of an earlier "
                             f"layer")
            # A constant has batch 1; only a binary op's b broadcasts it to the run's batch.
            if t in constants and not (n_inputs == 2 and i == 1):
                _fail(where, f"inputs[{i}] is the constant tensor {t} "
                             f"{_q(tensors[t]['name'])}; a constant can only be input b of "
                             f"add, sub, mul or div")
        out = _tensor_index(layer["output"], where, "output", tensors)
        out_where = f"output tensor {out} {_q(tensors[out]['name'])}"
        if out in constants:
            _fail(where, f"{out_where} is a constant")
        if out in inputs:
            _fail(where, f"{out_where} is a graph input")
        if out in producers:
            _fail(where, f"{out_where} is already written by layer {producers[out]}")
        in_shapes = [shapes[t] for t in ins]
        _check_dtypes(layer, where, tensors, ins, out)
        quantized = (tensors[out]["dtype"] == "uint8" and op != "quantize") or _float_output(
            layer, tensors, ins, out)
        if quantized:
            _check_quant(layer, where, tensors, ins, blobs)
        expected = shape_fn(layer, where, in_shapes, blobs.quantized() if quantized else blobs)
        if expected is None:        # reshape
            if math.prod(shapes[out]) != math.prod(in_shapes[0]):
                _fail(where, f"reshape from {in_shapes[0]} to {shapes[out]} changes the element "
                             f"count")
        elif shapes[out] != expected:
            _fail(where, f"{out_where} has shape {shapes[out]}, but {op} of "
                         f"{', '.join(map(str, in_shapes))} gives {expected}")
        producers[out] = index
        readable.add(out)
    return producers


def _float_output(layer, tensors, ins, out):
    """Whether a layer is an int8 conv or fc with float32 output (it reads uint8)."""
    return (layer["op"] in ("conv", "fc") and tensors[out]["dtype"] == "float32" and len(ins) > 0
            and tensors[ins[0]]["dtype"] == "uint8")


def _check_dtypes(layer, where, tensors, ins, out):
    """A float32 layer reads and writes float32; an int8 layer (uint8 output) reads uint8 and
    carries `quant`; quantize goes float32 -> uint8 and dequantize uint8 -> float32; an int8
    conv or fc may write float32 (the float output stage) and carries `quant`."""
    op, out_dtype = layer["op"], tensors[out]["dtype"]
    float_out = _float_output(layer, tensors, ins, out)
    if op == "quantize":
        want_in, want_out = "float32", "uint8"
    elif op == "dequantize":
        want_in, want_out = "uint8", "float32"
    elif float_out:
        want_in, want_out = "uint8", "float32"
    else:
        want_in = want_out = out_dtype
    if out_dtype != want_out:
        _fail(where, f"output tensor {out} is {out_dtype}, expected {want_out}")
    for i, t in enumerate(ins):
        if tensors[t]["dtype"] != want_in:
            _fail(where, f"inputs[{i}] tensor {t} is {tensors[t]['dtype']}, expected {want_in}")
    has_quant = "quant" in layer
    needs_quant = (want_out == "uint8" and op != "quantize") or float_out
    if has_quant != needs_quant:
        _fail(where, "an int8 layer (uint8 output, or a conv / fc reading uint8) needs 'quant'"
              if needs_quant else "'quant' belongs to int8 layers only")
    if needs_quant and op in FLOAT_ONLY_OPS:
        _fail(where, f"{op} has no int8 kernel")


def _blob_of(value, where, field, blobs, dtype, shape=None, optional=True):
    if value is None and optional:
        return None
    if not _is_int(value) or not 0 <= value < len(blobs.entries):
        _fail(where, f"{field} must be {'nil or ' if optional else ''}a blob index below "
                     f"{len(blobs.entries)}, not {_show(value)}")
    bdtype, bshape = blobs.entries[value]
    if bdtype != dtype or (shape is not None and bshape != shape):
        _fail(where, f"{field} blob {value} is {bdtype} {bshape}, expected {dtype} "
                     f"{shape if shape is not None else ''}".rstrip())
    return bshape


def _check_quant(layer, where, tensors, ins, blobs):
    """The `quant` map of an int8 layer: params int32 [2, n] with the n its op reads (values
    are checked by the C core when the net is built), zero/lo/hi bytes, tables."""
    q = layer["quant"]
    w = f"{where}: quant"
    _map(q, w, QUANT_KEYS)
    op = layer["op"]
    zero = _int(q["zero"], w, "zero", lo=0, hi=255)
    lo = _int(q["lo"], w, "lo", lo=0, hi=255)
    hi = _int(q["hi"], w, "hi", lo=0, hi=255)
    del zero
    if lo > hi:
        _fail(w, f"lo {lo} is above hi {hi}")
    shape_in = tensors[ins[0]]["shape"]
    c_out = None
    if op in ("conv", "fc") and layer.get("weight_layout", "ohwi") not in ("ohwi", "q8panels16"):
        _fail(where, "int8 weights are stored 'q8panels16' or 'ohwi', not "
                     f"{_q(str(layer['weight_layout']))}")
    if op in ("conv", "fc") and layer.get("weight_layout") == "q8panels16":
        # the shape function checks the blobs; K and Cout follow from the input and the bias
        bias = layer.get("bias")
        bshape = blobs.entries[bias][1] if _is_int(bias) and 0 <= bias < len(blobs.entries) else None
        if op == "conv":
            kernel = _ints(layer["kernel"], where, "kernel", 2, lo=1)
            groups = _int(layer["groups"], where, "groups", lo=1)
            k = kernel[0] * kernel[1] * (shape_in[0] // groups)
        else:
            k = math.prod(shape_in)
        if k > _K_LIMIT:
            _fail(where, f"reduction length {k} is above {_K_LIMIT} (int8 overflow bound)")
        c_out = bshape[0] if bshape is not None and len(bshape) == 1 else None
        if c_out is None:
            _fail(where, "a q8panels16 layer needs an int32 bias blob [Cout]")
    elif op in ("conv", "depthwise", "fc"):
        wshape = blobs.entries[layer["weight"]][1] if _is_int(layer["weight"]) and 0 <= layer[
            "weight"] < len(blobs.entries) else None
        if wshape is not None:
            k = math.prod(wshape[1:]) if op != "depthwise" else math.prod(wshape[:2])
            if k > _K_LIMIT:
                _fail(where, f"reduction length {k} is above {_K_LIMIT} (int8 overflow bound)")
            c_out = wshape[0] if op != "depthwise" else wshape[-1]
    want = {"conv": c_out, "depthwise": c_out, "fc": c_out, "global_avgpool": 1, "mul": 1,
            "add": 2, "sub": 2, "concat": len(ins)}.get(op, 0)
    if op == "avgpool":
        kernel = _ints(layer["kernel"], where, "kernel", 2, lo=1)
        want = kernel[0] * kernel[1]
    if want:
        _blob_of(q["params"], w, "params", blobs, "int32", [2, want], optional=False)
    elif q["params"] is not None:
        _fail(w, f"params must be nil for {op}")
    if op in ("global_avgpool", "avgpool") and math.prod(shape_in[1:]) * 255 >= 2 ** 31:
        _fail(where, "the pool sums more cells than int32 holds")
    _blob_of(q["lut"], w, "lut", blobs, "uint8", [256])
    if op == "activation" and q["lut"] is None:
        _fail(w, "an int8 activation needs a lut")
    if op == "softmax":
        _blob_of(q["table"], w, "table", blobs, "int32", [256], optional=False)
    elif q["table"] is not None:
        _fail(w, "table belongs to softmax only")
    if _float_output(layer, tensors, ins, layer["output"]):
        _check_float_output(layer, where, q)


def _check_float_output(layer, where, q):
    """An int8 conv / fc with float32 output: pointwise (a conv), a clamp or no activation
    (applied in float32), no lut (docs/quantization.md, "Float output")."""
    if layer["op"] == "conv" and not (
            layer["kernel"] == [1, 1] and layer["strides"] == [1, 1] and layer["groups"] == 1
            and layer["pads"] == [0, 0, 0, 0]):
        _fail(where, "an int8 conv with float32 output must be 1x1, stride 1, no padding, "
                     "one group")
    act = layer.get("act")
    if act is not None and act.get("kind") not in ("none", "relu", "clip"):
        _fail(where, f"an int8 layer with float32 output takes relu, clip or no activation, "
                     f"not {_show(act.get('kind'))}")
    if q["lut"] is not None:
        _fail(f"{where}: quant", "a float32 output takes no lut")


def _check_preprocess(pre, input_shape):
    where = "preprocess"
    _map(pre, where, ("size", "resize", "interpolation", "channels", "scale", "mean", "std"))
    if len(input_shape) != 3:
        _fail(where, f"an image preprocess needs a [C, H, W] input tensor, the input is "
                     f"{input_shape}")
    c, h, w = input_shape
    size = _ints(pre["size"], where, "size", 2, lo=1)
    if size != [h, w]:
        _fail(where, f"size {size} differs from the input tensor's spatial size {[h, w]}")
    resize = _int(pre["resize"], where, "resize", lo=0, hi=_MAX_RESIZE)
    if resize and resize < max(h, w):
        _fail(where, f"resize {resize} is smaller than the crop {size}: the crop would not fit")
    _str(pre["interpolation"], where, "interpolation", INTERPOLATIONS)
    channels = _str(pre["channels"], where, "channels", tuple(CHANNELS))
    if CHANNELS[channels] != c:
        _fail(where, f"channels {channels} gives {CHANNELS[channels]} channels, the input "
                     f"tensor has {c}")
    _real(pre["scale"], where, "scale", positive=True)
    for key in ("mean", "std"):
        values = _list(pre[key], where, key)
        if len(values) != c:
            _fail(where, f"{key} has {len(values)} entries, the input has {c} channels")
        for i, v in enumerate(values):
            _real(v, where, f"{key}[{i}]", positive=key == "std")


def _map_of_str(value, where):
    if not isinstance(value, dict):
        _fail(where, f"must be a map, not {_type_name(value)}")
    for key, v in value.items():
        if not isinstance(key, str):
            _fail(where, f"keys must be strings, found {_show(key)}")
        if not isinstance(v, str):
            _fail(where, f"{_q(key)} must be a string, not {_type_name(v)}")
    return value


# ---------------------------------------------------------------------------------------------
# Reports.

def summarize(header):
    """Counts of a validated header, for ``predict info``: ops, parameters, bytes, MACs.

    ``macs`` counts the multiply-accumulates of conv, depthwise and fc for one sample; the other
    ops are cheap beside them and are not counted. Example::

        >>> s = summarize(model_file.header)                         # doctest: +SKIP
        >>> s["ops"], s["parameters"], s["weight_bytes"], s["macs"]  # doctest: +SKIP
        ({'conv': 52, 'depthwise': 17, 'fc': 1, ...}, 3504872, 14019488, 300774272)
    """
    tensors, blobs = header["tensors"], header["blobs"]
    macs = 0
    parameters = sum(math.prod(b["shape"]) for b in blobs)
    for layer in header["layers"]:
        out = tensors[layer["output"]]["shape"]
        if layer["op"] not in _WEIGHT_OPS:
            continue
        weight = blobs[layer["weight"]]["shape"]
        if layer["op"] == "conv_transpose":
            # Each input element meets kh * kw * Cout/groups weights.
            macs += math.prod(tensors[layer["inputs"][0]]["shape"]) * math.prod(weight[1:])
            continue
        # The weights that feed one output element, from the layer's own shapes: an int8
        # weight is stored in packed panels, whose blob shape is the layout's, not the math's.
        source = tensors[layer["inputs"][0]]["shape"]
        if layer["op"] == "fc":
            per_output = math.prod(source)
        elif layer["op"] == "depthwise":
            per_output = math.prod(layer["kernel"])
        else:
            per_output = math.prod(layer["kernel"]) * (source[0] // layer.get("groups", 1))
        macs += math.prod(out) * per_output
        if layer.get("weight_layout", "").startswith("q8panels"):
            parameters += out[0] * per_output - math.prod(weight)  # the panels' padding out
    return {
        "layers": len(header["layers"]),
        "tensors": len(tensors),
        "ops": dict(sorted(Counter(layer["op"] for layer in header["layers"]).items())),
        "parameters": parameters,
        "weight_bytes": sum(b["nbytes"] for b in blobs),
        "macs": macs,
        "inputs": _io_summary(header["inputs"], tensors),
        "outputs": _io_summary(header["outputs"], tensors),
        "labels": len(header["labels"]),
    }


def _io_summary(entries, tensors):
    return [{"name": e["name"], "tensor": e["tensor"], "shape": list(tensors[e["tensor"]]["shape"])}
            for e in entries]
