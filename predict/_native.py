"""The one door to the C core's nets: with ``predict.checksum`` (SHA-256) and
``predict.resample`` (Pillow-exact image resizing), the only module that imports
``predict._core``.

It turns a validated header (docs/format.md) and its blob arrays into the C
descriptions of native/include/predict.h, builds a ``pd_net``, runs it on
NHWC float32 arrays and maps every status to ``predict.errors.NativeError``.
Weights are passed without copies (``ffi.from_buffer``; read-only mmap arrays
work); every buffer the C net points into is kept alive by the NativeNet.

    >>> import numpy as np
    >>> header = {
    ...     "tensors": [{"name": "x", "shape": [4], "dtype": "float32", "blob": None},
    ...                 {"name": "y", "shape": [4], "dtype": "float32", "blob": None}],
    ...     "layers": [{"op": "activation", "name": "relu", "inputs": [0], "output": 1,
    ...                 "act": {"kind": "relu", "alpha": 0.0, "beta": 0.0}}],
    ...     "inputs": [{"name": "x", "tensor": 0}],
    ...     "outputs": [{"name": "y", "tensor": 1}],
    ... }
    >>> with NativeNet(header, []) as net:
    ...     net.run([np.array([[[[-1, 2, -3, 4]]]], np.float32)])[0].ravel().tolist()
    [0.0, 2.0, 0.0, 4.0]
"""

import math
import re

import numpy as np

from predict._core import ffi, lib
from predict.errors import InputError, NativeError
from predict.forksafe import ForkSafeLock
from predict.layout import pack_panels16, q8_shape

# The pd_version() this module was written against (native/src/status.c).
EXPECTED_VERSION = 3

_ERR_SIZE = 512
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

_OPS = {
    "conv": lib.PD_OP_CONV,
    "depthwise": lib.PD_OP_DEPTHWISE,
    "fc": lib.PD_OP_FC,
    "maxpool": lib.PD_OP_MAXPOOL,
    "avgpool": lib.PD_OP_AVGPOOL,
    "global_avgpool": lib.PD_OP_GLOBAL_AVGPOOL,
    "global_maxpool": lib.PD_OP_GLOBAL_MAXPOOL,
    "concat": lib.PD_OP_CONCAT,
    "softmax": lib.PD_OP_SOFTMAX,
    "reshape": lib.PD_OP_RESHAPE,
    "pad": lib.PD_OP_PAD,
    "activation": lib.PD_OP_ACTIVATION,
    "quantize": lib.PD_OP_QUANTIZE,
    "dequantize": lib.PD_OP_DEQUANTIZE,
    "lrn": lib.PD_OP_LRN,
    "conv_transpose": lib.PD_OP_CONV_TRANSPOSE,
    "resize": lib.PD_OP_RESIZE,
    "channel_shuffle": lib.PD_OP_CHANNEL_SHUFFLE,
    "slice": lib.PD_OP_SLICE,
    "transpose": lib.PD_OP_TRANSPOSE,
}
# A source dim's core axis (0 h, 1 w, 2 c) by source rank: [C, H, W] is (h=H, w=W, c=C),
# [C, L] is (1, L, C), [K] is (1, 1, K).
_CORE_AXIS = {3: (2, 0, 1), 2: (2, 1), 1: (2,)}
_BINARY = {"add": lib.PD_BIN_ADD, "sub": lib.PD_BIN_SUB, "mul": lib.PD_BIN_MUL, "div": lib.PD_BIN_DIV}
_ACTS = {
    "none": lib.PD_ACT_NONE,
    "relu": lib.PD_ACT_RELU,
    "clip": lib.PD_ACT_CLIP,
    "hardswish": lib.PD_ACT_HARDSWISH,
    "hardsigmoid": lib.PD_ACT_HARDSIGMOID,
    "sigmoid": lib.PD_ACT_SIGMOID,
    "silu": lib.PD_ACT_SILU,
    "leakyrelu": lib.PD_ACT_LEAKYRELU,
}
_PAD_MODES = {"constant": lib.PD_PAD_CONSTANT, "reflect": lib.PD_PAD_REFLECT, "edge": lib.PD_PAD_EDGE}
_DTYPES = {"float32": lib.PD_F32, "uint8": lib.PD_U8, "int8": lib.PD_I8, "int32": lib.PD_I32}
_WINDOW_OPS = ("conv", "depthwise", "maxpool", "avgpool", "conv_transpose")
_WEIGHT_LAYOUTS = {"conv": lib.PD_LAYOUT_OHWI, "fc": lib.PD_LAYOUT_OHWI, "depthwise": lib.PD_LAYOUT_HWC,
                   "conv_transpose": lib.PD_LAYOUT_IHWO}
_RESIZE = {"mode": {"nearest": lib.PD_RESIZE_NEAREST, "linear": lib.PD_RESIZE_LINEAR},
           "coordinate_transformation_mode": {
               "half_pixel": lib.PD_COORD_HALF_PIXEL, "pytorch_half_pixel": lib.PD_COORD_PYTORCH_HALF_PIXEL,
               "align_corners": lib.PD_COORD_ALIGN_CORNERS, "asymmetric": lib.PD_COORD_ASYMMETRIC,
               "tf_half_pixel_for_nn": lib.PD_COORD_TF_HALF_PIXEL_FOR_NN},
           "nearest_mode": {
               "round_prefer_floor": lib.PD_NEAREST_ROUND_PREFER_FLOOR,
               "round_prefer_ceil": lib.PD_NEAREST_ROUND_PREFER_CEIL,
               "floor": lib.PD_NEAREST_FLOOR, "ceil": lib.PD_NEAREST_CEIL}}
# An OHWI conv / fc weight is packed into PANELS16 here rather than by the core at build (which
# would read the blob before its shape is checked); tests turn this off to cover the core's packer.
_PACK_IN_PYTHON = True
# The optional "weight_layout" key of conv and fc layers (docs/format.md).
_LAYOUT_NAMES = {"ohwi": lib.PD_LAYOUT_OHWI, "panels16": lib.PD_LAYOUT_PANELS16}
_CPU_FEATURES = {"avx2": lib.PD_CPU_AVX2, "avx512": lib.PD_CPU_AVX512,
                 "avx512vnni": lib.PD_CPU_AVX512VNNI, "neon": lib.PD_CPU_NEON,
                 "neondot": lib.PD_CPU_NEONDOT, "sha256": lib.PD_CPU_SHA256}
# Kernel families and the cpu features each needs (native/src/kernels/select.c).
_FAMILY_NEEDS = {"ref": (), "avx2": ("avx2",), "avx512": ("avx2", "avx512"), "neon": ("neon",),
                 "neondot": ("neon", "neondot")}


if lib.pd_version() != EXPECTED_VERSION:
    raise ImportError(
        f"predict._core is version {lib.pd_version()}, predict._native expects "
        f"{EXPECTED_VERSION}: rebuild it (python setup.py build_ext --inplace)"
    )


def version():
    """The C core's version number (pd_version), checked at import.

    >>> version()
    1
    """
    return int(lib.pd_version())


def cpu_features():
    """Names of the SIMD features this CPU and OS support (what the core probed).

    >>> set(cpu_features()) <= {"avx2", "avx512", "avx512vnni", "neon", "neondot", "sha256"}
    True
    """
    bits = int(lib.pd_cpu_features())
    return [name for name, bit in _CPU_FEATURES.items() if bits & bit]


def isa():
    """The kernel family a network built now runs with ("ref", "avx2", "avx512",
    "neon" or "neondot"): the best this CPU runs, or the one PREDICT_ISA forces.
    Raises NativeError when PREDICT_ISA names a family this CPU or build lacks.

    >>> isa() in ("ref", "avx2", "avx512", "neon", "neondot")
    True
    """
    name = lib.pd_isa_name()
    if name == ffi.NULL:
        # pd_net_build says why; build an empty net only to get that message.
        desc = ffi.new("pd_net_desc *")
        out = ffi.new("pd_net **")
        err = ffi.new("char[]", _ERR_SIZE)
        status = lib.pd_net_build(desc, out, err, _ERR_SIZE)
        raise NativeError(ffi.string(err).decode("utf-8", "replace"),
                          status=ffi.string(lib.pd_status_name(status)).decode())
    return ffi.string(name).decode()


def runnable_isas():
    """Every kernel family this build and CPU can run, the reference first;
    tests run each of them through PREDICT_ISA.

    >>> runnable_isas()[0]
    'ref'
    """
    have = set(cpu_features())
    return [name for name, needs in _FAMILY_NEEDS.items()
            if all(n in have for n in needs) and (name == "ref" or _built(name))]


def _built(name):
    """Whether this build has the family's kernels (x86 families on x86 ...)."""
    import platform
    machine = platform.machine().lower()
    x86 = machine in ("x86_64", "amd64", "i386", "i686")
    return x86 if name in ("avx2", "avx512") else not x86


def core_dims(shape):
    """(h, w, c) of one sample in the core from a source-order shape without batch.

    Missing spatial dims are 1: ``[K]`` is (1, 1, K), ``[C, L]`` is (1, L, C)
    and ``[C, H, W]`` is (H, W, C).

    >>> core_dims([3, 224, 224]), core_dims([16, 10]), core_dims([1000])
    ((224, 224, 3), (1, 10, 16), (1, 1, 1000))
    """
    dims = [int(d) for d in shape]
    if len(dims) == 1:
        return (1, 1, dims[0])
    if len(dims) == 2:
        return (1, dims[1], dims[0])
    if len(dims) == 3:
        return (dims[1], dims[2], dims[0])
    raise NativeError(f"a tensor shape has rank 1 to 3 (batch excluded), got {list(shape)}",
                      status="PD_ERR_SHAPE")


def _to_core_layout(array):
    """A constant's array from the source order (C, *spatial) to NHWC order."""
    if array.ndim >= 2:
        array = np.moveaxis(array, 0, -1)
    return np.ascontiguousarray(array, dtype=np.float32)


def _i32(value, what):
    if type(value) is int and _INT32_MIN <= value <= _INT32_MAX:
        return value    # the common case first: a header holds thousands of these
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise NativeError(f"{what}: expected an integer, got {value!r}", status="PD_ERR_ARGUMENT")
    if not _INT32_MIN <= int(value) <= _INT32_MAX:
        raise NativeError(f"{what}: {value} does not fit in int32", status="PD_ERR_ARGUMENT")
    return int(value)


def _pair(layer, key, what, default=None):
    value = layer.get(key, default)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise NativeError(f"{what}: '{key}' must be a list of 2 integers, got {value!r}",
                          status="PD_ERR_ARGUMENT")
    return [_i32(v, f"{what} {key}") for v in value]


class _Builder:
    """Fills the cffi description arrays; keeps everything they point into."""

    def __init__(self, header, arrays):
        self.header = header
        self.arrays = list(arrays)
        self.keep = []          # numpy arrays and cffi objects the C net points into
        try:
            tensors = header["tensors"]
            self.dims = [core_dims(t["shape"]) for t in tensors]
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise NativeError(f"header tensors: missing or bad field {exc!r}",
                              status="PD_ERR_ARGUMENT") from None

    def blob(self, index, what):
        """The float32 C-contiguous array of blob ``index`` (a copy only if needed)."""
        index = _i32(index, what)
        if not 0 <= index < len(self.arrays):
            raise NativeError(f"{what}: blob {index} out of range [0, {len(self.arrays)})",
                              status="PD_ERR_ARGUMENT")
        array = self.arrays[index]
        if not isinstance(array, np.ndarray):
            raise NativeError(f"{what}: blob {index} is not a numpy array", status="PD_ERR_ARGUMENT")
        return array

    def pointer(self, array):
        # Integer blobs (int8 weights, int32 biases and multipliers, uint8 tables) keep their
        # type; anything else is float32, as the float path reads it.
        if array.dtype not in (np.int8, np.uint8, np.int32):
            array = np.ascontiguousarray(array, dtype=np.float32)
        array = np.ascontiguousarray(array)
        buf = ffi.from_buffer(array, require_writable=False)
        self.keep += [array, buf]
        return buf

    def tensors(self):
        tensors = self.header["tensors"]
        descs = ffi.new("pd_tensor_desc[]", len(tensors))
        for i, (t, (h, w, c)) in enumerate(zip(tensors, self.dims)):
            what = f"tensor {i} ({t.get('name', '')!r})"
            if t.get("dtype") not in _DTYPES:
                raise NativeError(f"{what}: unknown dtype {t.get('dtype')!r}", status="PD_ERR_ARGUMENT")
            d = descs[i]
            d.dtype = _DTYPES[t["dtype"]]
            d.h, d.w, d.c = _i32(h, what), _i32(w, what), _i32(c, what)
            if t["dtype"] == "uint8":
                d.scale = float(t["scale"])
                d.zero_point = _i32(t["zero_point"], f"{what} zero_point")
            if t.get("blob") is not None:
                d.data = self.pointer(_to_core_layout(self.blob(t["blob"], what)))
        self.keep.append(descs)
        return descs

    def layers(self):
        layers = self.header["layers"]
        descs = ffi.new("pd_layer_desc[]", len(layers))
        for i, layer in enumerate(layers):
            try:
                self.layer(descs[i], i, layer)
            except (KeyError, TypeError, AttributeError, ValueError) as exc:
                raise NativeError(f"layer {i}: missing or bad field {exc!r}",
                                  status="PD_ERR_ARGUMENT") from None
        self.keep.append(descs)
        return descs

    def layer(self, d, i, layer):
        op = layer["op"]
        what = f"layer {i} ({layer.get('name', '')!r}, {op})"
        if op in _BINARY:
            d.op, d.binary_kind = lib.PD_OP_BINARY, _BINARY[op]
        elif op in _OPS:
            d.op = _OPS[op]
        else:
            raise NativeError(f"{what}: unknown op", status="PD_ERR_UNSUPPORTED")

        d.inputs, d.n_inputs = self.indices(layer["inputs"], f"{what} inputs")
        d.output = _i32(layer["output"], f"{what} output")

        if op in _WINDOW_OPS or op == "pad":
            d.pad_top, d.pad_left, d.pad_bottom, d.pad_right = self.pads(layer, what)
        if op in _WINDOW_OPS:
            d.kernel_h, d.kernel_w = _pair(layer, "kernel", what)
            d.stride_h, d.stride_w = _pair(layer, "strides", what)
            # avgpool has no dilations key: its dilations are 1.
            d.dilation_h, d.dilation_w = _pair(layer, "dilations", what, [1, 1] if op == "avgpool" else None)
        if op in ("conv", "conv_transpose", "channel_shuffle"):
            d.groups = _i32(layer["groups"], f"{what} groups")
        elif op == "depthwise":
            d.groups = self.channels(d.inputs[0]) if d.n_inputs else 0
        else:
            d.groups = 1
        if op in ("maxpool", "avgpool"):
            d.ceil_mode = int(bool(layer["ceil_mode"]))
        if op == "avgpool":
            d.count_include_pad = int(bool(layer["count_include_pad"]))
        if op == "pad":
            mode = layer["mode"]
            if mode not in _PAD_MODES:
                raise NativeError(f"{what}: unknown pad mode {mode!r}", status="PD_ERR_ARGUMENT")
            d.pad_mode, d.pad_value = _PAD_MODES[mode], float(layer["value"])
        if op in ("lrn", "resize", "slice", "transpose"):
            self.convnet_fields(d, layer, what)
        if op in _WEIGHT_LAYOUTS:
            d.weight_layout = _WEIGHT_LAYOUTS[op]
            if layer.get("quant") is not None:
                # An int8 layer reads int8 weights and an int32 bias, whatever the blobs say.
                self.typed(layer["weight"], np.int8, self.q8_weight_shape(layer, op, what),
                           f"{what} weight")
                if layer.get("bias") is not None:
                    self.typed(layer["bias"], np.int32, None, f"{what} bias")
            d.weights = self.weights(layer, "weight", what)
            if op in ("conv", "fc") and layer.get("quant") is not None:
                # OHWI int8 weights (older files) are packed by the core at build.
                layout = layer.get("weight_layout", "ohwi")
                if layout not in ("ohwi", "q8panels16"):
                    raise NativeError(f"{what}: int8 weights must be 'ohwi' or 'q8panels16', not "
                                      f"{layout!r}", status="PD_ERR_ARGUMENT")
                d.weight_layout = (lib.PD_LAYOUT_Q8PANELS if layout == "q8panels16"
                                   else lib.PD_LAYOUT_OHWI)
            elif op in ("conv", "fc"):
                layout = layer.get("weight_layout", "ohwi")
                if layout not in _LAYOUT_NAMES:
                    raise NativeError(f"{what}: unknown weight_layout {layout!r}",
                                      status="PD_ERR_ARGUMENT")
                if layout == "ohwi" and layer.get("weight") is not None and _PACK_IN_PYTHON:
                    # Packed here, once, so the core never reads a blob before its
                    # shape is checked (it would pack an OHWI weight at build).
                    d.weights = self.packed(layer, what)
                    layout = "panels16"
                d.weight_layout = _LAYOUT_NAMES[layout]
            d.bias = self.weights(layer, "bias", what)
        if "act" in layer:
            act = layer["act"]
            if act.get("kind") not in _ACTS:
                raise NativeError(f"{what}: unknown activation {act.get('kind')!r}",
                                  status="PD_ERR_ARGUMENT")
            d.act = _ACTS[act["kind"]]
            d.act_alpha, d.act_beta = float(act.get("alpha", 0.0)), float(act.get("beta", 0.0))
        if layer.get("quant") is not None:
            self.quant(d, layer["quant"], what)

    def convnet_fields(self, d, layer, what):
        """The fields of lrn, resize and slice (predict.h)."""
        op = layer["op"]
        if op == "lrn":
            d.lrn_size = _i32(layer["size"], f"{what} size")
            d.lrn_alpha, d.lrn_beta = float(layer["alpha"]), float(layer["beta"])
            d.lrn_bias = float(layer["k"])
        elif op == "resize":
            d.resize_mode, d.resize_coord, d.resize_nearest = (
                self.choice(layer, key, what) for key in _RESIZE)
            d.scale_h, d.scale_w = (float(v) for v in layer["scales"])
        elif op == "transpose":
            d.perm_h, d.perm_w, d.perm_c = self.core_perm(layer, what)
        else:
            starts = [_i32(v, f"{what} starts") for v in layer["starts"]]
            d.slice_c = starts[0]
            d.slice_h, d.slice_w = (0, starts[1]) if len(starts) == 2 else (
                starts[1:] if len(starts) == 3 else (0, 0))

    def core_perm(self, layer, what):
        """A transpose's source-order perm as the input core axis of each output core axis;
        a perm that is not one of the input's dims goes as (-1, -1, -1) for the core to refuse."""
        perm = [_i32(v, f"{what} perm") for v in layer["perm"]]
        t = layer["inputs"][0] if layer.get("inputs") else -1
        rank = len(self.header["tensors"][t]["shape"]) if 0 <= t < len(self.header["tensors"]) else 0
        if rank not in _CORE_AXIS or sorted(perm) != list(range(rank)):
            return -1, -1, -1
        core = _CORE_AXIS[rank]
        out = {core[i]: core[p] for i, p in enumerate(perm)}   # output core axis -> input's
        return tuple(out.get(k, k) for k in range(3))

    def choice(self, layer, key, what):
        value = layer[key]
        if value not in _RESIZE[key]:
            raise NativeError(f"{what}: unknown {key} {value!r}", status="PD_ERR_ARGUMENT")
        return _RESIZE[key][value]

    def q8_weight_shape(self, layer, op, what):
        """The exact shape an int8 conv / fc weight blob must have (the core reads that many
        bytes and trusts them), from the layer's tensors: q8panels16 or OHWI."""
        if op not in ("conv", "fc"):
            return None
        t_in, t_out = _i32(layer["inputs"][0], what), _i32(layer["output"], what)
        if not (0 <= t_in < len(self.dims) and 0 <= t_out < len(self.dims)):
            return None  # the core reports the bad index before reading any weight
        h, w, c = self.dims[t_in]
        cout = self.dims[t_out][2]
        packed = layer.get("weight_layout") == "q8panels16"
        if op == "fc":
            return tuple(q8_shape(cout, h * w * c, 1)) if packed else (cout, h * w * c)
        groups = _i32(layer["groups"], f"{what} groups")
        kh, kw = _pair(layer, "kernel", what)
        if groups < 1 or kh < 1 or kw < 1:
            return None  # refused by the core's shape checks
        if packed:
            return tuple(q8_shape(cout, kh * kw * (c // groups), groups))
        return (cout, kh, kw, c // groups)

    def typed(self, index, dtype, shape, what):
        """Blob ``index`` checked to be ``dtype`` with ``shape`` (None: any shape)."""
        array = self.blob(index, what)
        if array.dtype != dtype or (shape is not None and tuple(array.shape) != shape):
            raise NativeError(f"{what}: blob {index} is {array.dtype} {tuple(array.shape)}, "
                              f"expected {np.dtype(dtype)}{'' if shape is None else ' ' + str(shape)}",
                              status="PD_ERR_ARGUMENT")
        return array

    def quant(self, d, quant, what):
        """The int8 fields of a layer: multipliers and shifts from the [2, n] int32 params
        blob (n_q is its row length, so the C side never reads past it), clamps, tables."""
        params = quant.get("params")
        if params is not None:
            array = self.typed(params, np.int32, None, f"{what} quant params")
            if array.ndim != 2 or array.shape[0] != 2:
                raise NativeError(f"{what}: quant params must be int32 [2, n], got "
                                  f"{tuple(array.shape)}", status="PD_ERR_ARGUMENT")
            ptr = self.pointer(array)
            d.n_q = array.shape[1]
            d.q_mult = ffi.cast("int32_t *", ptr)
            d.q_shift = ffi.cast("int32_t *", ptr) + array.shape[1]
        d.q_zero = _i32(quant["zero"], f"{what} quant zero")
        d.q_lo, d.q_hi = _i32(quant["lo"], f"{what} quant lo"), _i32(quant["hi"], f"{what} quant hi")
        if quant.get("lut") is not None:
            lut = self.typed(quant["lut"], np.uint8, (256,), f"{what} quant lut")
            d.q_lut = ffi.cast("uint8_t *", self.pointer(lut))
        if quant.get("table") is not None:
            table = self.typed(quant["table"], np.int32, (256,), f"{what} quant table")
            d.q_table = ffi.cast("int32_t *", self.pointer(table))

    def packed(self, layer, what):
        """A PANELS16 copy of an OHWI conv / fc weight (predict.layout); a blob
        whose shape cannot be packed goes as it is, and the shape check after
        the build refuses it."""
        array = self.blob(layer["weight"], f"{what} weight")
        try:
            groups = int(layer.get("groups", 1)) if layer["op"] == "conv" else 1
            array = pack_panels16(array, groups)
        except (ValueError, TypeError, ZeroDivisionError, IndexError):
            pass
        return self.pointer(array)

    def pads(self, layer, what):
        pads = layer["pads"]
        if not isinstance(pads, (list, tuple)) or len(pads) != 4:
            raise NativeError(f"{what}: 'pads' must be [top, left, bottom, right], got {pads!r}",
                              status="PD_ERR_ARGUMENT")
        return [_i32(p, f"{what} pads") for p in pads]

    def channels(self, tensor):
        """Core channels of a tensor, 0 for a bad index (the C side reports it)."""
        return self.dims[tensor][2] if 0 <= tensor < len(self.dims) else 0

    def weights(self, layer, key, what):
        """Pointer to a layer's weight or bias blob, NULL when absent (the C
        side reports a missing weight)."""
        index = layer.get(key)
        if index is None:
            return ffi.NULL
        return self.pointer(self.blob(index, f"{what} {key}"))

    def indices(self, entries, what):
        """An int32_t array of tensor indices and its length.  The array is kept:
        a struct field holding it would not keep it alive."""
        values = [_i32(e, what) for e in entries]
        array = ffi.new("int32_t[]", values)
        self.keep.append(array)
        return array, len(values)


class NativeNet:
    """A network built in the C core from a validated header and its blob arrays.

    ``outputs`` lists the tensor indices to return (default: the header's
    outputs).  ``run`` takes and returns NHWC float32 arrays ``(batch, h, w,
    c)``; batch <= ``max_batch``.  Use ``close()`` or a ``with`` block to free
    the C memory at once.

    >>> import numpy as np
    >>> header = {"tensors": [{"name": "x", "shape": [2, 4, 4], "dtype": "float32", "blob": None},
    ...                       {"name": "y", "shape": [2, 1, 1], "dtype": "float32", "blob": None}],
    ...           "layers": [{"op": "global_avgpool", "name": "gap", "inputs": [0], "output": 1}],
    ...           "inputs": [{"name": "x", "tensor": 0}], "outputs": [{"name": "y", "tensor": 1}]}
    >>> net = NativeNet(header, [], max_batch=2)
    >>> net.run([np.ones((2, 4, 4, 2), np.float32)])[0].shape
    (2, 1, 1, 2)
    >>> net.close()
    """

    def __init__(self, header, arrays, max_batch=1, outputs=None, threads=1):
        self._lock = ForkSafeLock(reentrant=True)  # profile() runs under it
        self._channels_first = False    # the layout the C net reads its inputs in
        self._pixel_table = None        # the table input 0's pixels go through, or None
        self._net = None
        self._max_batch = _i32(max_batch, "max_batch")
        b = _Builder(header, arrays)
        try:
            input_ids = [io["tensor"] for io in header["inputs"]]
            output_ids = [io["tensor"] for io in header["outputs"]] if outputs is None else list(outputs)
            layers = header["layers"]
        except (KeyError, TypeError, AttributeError) as exc:
            raise NativeError(f"header: missing or bad field {exc!r}", status="PD_ERR_ARGUMENT") from None
        self._names = [layer.get("name", "") if isinstance(layer, dict) else "" for layer in layers]

        desc = ffi.new("pd_net_desc *")
        desc.n_tensors = len(b.dims)
        desc.tensors = b.tensors()
        desc.n_layers = len(layers)
        desc.layers = b.layers()
        desc.inputs, desc.n_inputs = b.indices(input_ids, "inputs")
        desc.outputs, desc.n_outputs = b.indices(output_ids, "outputs")
        desc.max_batch = self._max_batch

        out = ffi.new("pd_net **")
        err = ffi.new("char[]", _ERR_SIZE)
        self._check(lib.pd_net_build(desc, out, err, _ERR_SIZE), err, "building the network")
        self._net = ffi.gc(out[0], lib.pd_net_free)
        try:
            _check_blob_shapes(header, arrays, b.dims)
        except BaseException:
            self.close()
            raise
        self._keep = b.keep
        if threads != 1:
            try:
                self.set_threads(threads)
            except BaseException:
                self.close()
                raise
        self._in_dims = [b.dims[t] for t in input_ids]
        self._out_dims = [b.dims[t] for t in output_ids]
        # uint8 tensors (the int8 path) are read and written as uint8 arrays.
        types = [np.uint8 if t.get("dtype") == "uint8" else np.float32 for t in header["tensors"]]
        self._in_types = [types[t] for t in input_ids]
        self._out_types = [types[t] for t in output_ids]
        self._arena_bytes = int(lib.pd_net_arena_bytes(self._net))
        self._scratch_bytes = int(lib.pd_net_scratch_bytes(self._net))
        self._in_ptrs = ffi.new("void *[]", max(1, len(input_ids)))
        self._out_ptrs = ffi.new("void *[]", max(1, len(output_ids)))
        self._err = err

    def _check(self, status, err, what):
        if status == lib.PD_OK:
            return
        message = ffi.string(err).decode("utf-8", "replace")
        found = re.match(r"layer (\d+)", message)
        if found and int(found.group(1)) < len(self._names):
            message = f"{message} [layer name {self._names[int(found.group(1))]!r}]"
        name = ffi.string(lib.pd_status_name(status)).decode()
        raise NativeError(f"{what}: {message} ({name})", status=name)

    def set_threads(self, threads):
        """Threads a run uses (1 to 64): the caller plus threads - 1 workers."""
        threads = _i32(threads, "threads")
        with self._lock:
            if self._net is None:
                raise NativeError("the network is closed", status="PD_ERR_STATE")
            err = ffi.new("char[]", _ERR_SIZE)
            self._check(lib.pd_net_set_threads(self._net, threads, err, _ERR_SIZE), err, "setting threads")
            # the core plans again when the count crosses 1 (more blocks fused with threads)
            self._arena_bytes = int(lib.pd_net_arena_bytes(self._net))
            self._scratch_bytes = int(lib.pd_net_scratch_bytes(self._net))

    @property
    def threads(self):
        """Threads a run uses."""
        return int(lib.pd_net_threads(self._net)) if self._net is not None else 0

    @property
    def isa(self):
        """The kernel family this network runs with ("ref", "avx2", "avx512" ...)."""
        return ffi.string(lib.pd_net_isa_name(self._net)).decode() if self._net is not None else None

    @property
    def max_batch(self):
        """The largest batch one run takes (its samples run one after the other)."""
        return self._max_batch

    @property
    def arena_bytes(self):
        """Bytes of activation memory the C net holds (one sample's, whatever max_batch)."""
        return self._arena_bytes

    @property
    def scratch_bytes(self):
        """Bytes of the im2col scratch buffers (one per thread)."""
        return self._scratch_bytes

    def input_is_float32(self):
        """Whether the net has one input and it is float32 (not uint8).

        >>> net.input_is_float32()   # doctest: +SKIP
        True
        """
        return len(self._in_types) == 1 and self._in_types[0] == np.float32

    def _check_inputs(self, inputs, channels_first=False, pixels=None):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != len(self._in_dims):
            raise InputError(f"expected a list of {len(self._in_dims)} input array(s)")
        batch = None
        for i, (x, dims) in enumerate(zip(inputs, self._in_dims)):
            dtype = np.uint8 if i == 0 and pixels is not None else self._in_types[i]
            if not isinstance(x, np.ndarray) or x.dtype != dtype:
                raise InputError(f"input {i}: expected a {np.dtype(dtype)} numpy array, got "
                                 f"{getattr(x, 'dtype', type(x).__name__)}")
            if i == 0 and pixels is not None:
                if self._in_types[0] != np.float32:
                    raise InputError("pixels need a network whose input is float32")
                if (not isinstance(pixels, np.ndarray) or pixels.dtype != np.float32
                        or pixels.shape != (dims[2], 256) or not pixels.flags.c_contiguous):
                    raise InputError(f"pixels: expected a C-contiguous float32 table ({dims[2]}, 256)")
            elif channels_first:
                dims = (dims[2], dims[0], dims[1])
            if x.ndim != 4 or tuple(x.shape[1:]) != dims:
                raise InputError(f"input {i}: expected shape (batch, {dims[0]}, {dims[1]}, {dims[2]}), "
                                 f"got {x.shape}")
            if not x.flags.c_contiguous:
                raise InputError(f"input {i}: the array must be C-contiguous")
            if batch is not None and x.shape[0] != batch:
                raise InputError(f"input {i}: batch {x.shape[0]}, input 0 has {batch}")
            batch = x.shape[0]
        if batch is None:
            batch = 1
        if not 1 <= batch <= self._max_batch:
            raise InputError(f"batch {batch} is not in [1, max_batch={self._max_batch}]")
        return batch

    def run(self, inputs, channels_first=False, pixels=None):
        """Runs NHWC float32 inputs (one per graph input) and returns new
        float32 arrays (batch, h, w, c), one per output.  With
        ``channels_first`` the inputs are (batch, c, h, w) instead: the core
        transposes them as it copies them in.  With ``pixels``, a float32
        table (c, 256), input 0 is uint8 (batch, h, w, c) instead and value v
        of channel ch enters the network as ``pixels[ch, v]`` (a photo's
        normalization done by the core as it copies the pixels in).

        >>> net = NativeNet(header, arrays, max_batch=8)              # doctest: +SKIP
        >>> logits, = net.run([np.zeros((8, 224, 224, 3), np.float32)])   # doctest: +SKIP
        >>> logits, = net.run([np.zeros((8, 3, 224, 224), np.float32)], channels_first=True)  # doctest: +SKIP
        >>> logits, = net.run([np.zeros((8, 224, 224, 3), np.uint8)], pixels=table)  # doctest: +SKIP
        """
        batch = self._check_inputs(inputs, channels_first, pixels)
        return self._run_checked(inputs, batch, channels_first, pixels)

    def _run_checked(self, inputs, batch, channels_first, pixels):
        """run() after its checks (``_check_inputs``, or the caller's own, the same)."""
        outputs = [np.empty((batch,) + dims, dtype) for dims, dtype in zip(self._out_dims, self._out_types)]
        with self._lock:
            if self._net is None:
                raise NativeError("the network is closed", status="PD_ERR_STATE")
            buffers = [ffi.from_buffer(x) for x in inputs]
            buffers += [ffi.from_buffer(y, require_writable=True) for y in outputs]
            if bool(channels_first) != self._channels_first:
                for i in range(len(inputs)):
                    self._check(lib.pd_net_set_input_channels_first(self._net, i, int(bool(channels_first)),
                                                                    self._err, _ERR_SIZE),
                                self._err, "setting the input layout")
                self._channels_first = bool(channels_first)
            if pixels is not self._pixel_table:
                table = ffi.NULL if pixels is None else ffi.from_buffer("float[]", pixels)
                self._check(lib.pd_net_set_input_pixels(self._net, table, self._err, _ERR_SIZE),
                            self._err, "setting the input pixels")
                # the core keeps the pointer: the array (and its buffer) live while set
                self._pixel_table, self._pixel_buffer = pixels, (None if pixels is None else table)
            for i in range(len(inputs)):
                self._in_ptrs[i] = buffers[i]
            for i in range(len(outputs)):
                self._out_ptrs[i] = buffers[len(inputs) + i]
            status = lib.pd_net_run(self._net, batch, self._in_ptrs, self._out_ptrs, self._err, _ERR_SIZE)
            self._check(status, self._err, "running the network")
        return outputs

    def profile(self, inputs, runs=10, channels_first=False):
        """Seconds per layer (a list, in execution order): the median over
        ``runs`` runs of ``inputs``, each layer timed with a monotonic clock
        inside the C core.  For benchmarks (bench/profile_layers.py).

        >>> per_layer = net.profile([np.zeros((1, 224, 224, 3), np.float32)], runs=20)  # doctest: +SKIP
        """
        n = len(self._names)
        seconds = ffi.new("double[]", max(n, 1))
        samples = []
        for _ in range(runs):
            for i in range(n):
                seconds[i] = 0.0
            with self._lock:
                if self._net is None:
                    raise NativeError("the network is closed", status="PD_ERR_STATE")
                self._check(lib.pd_net_set_profile(self._net, seconds, n, self._err, _ERR_SIZE), self._err,
                            "profiling")
                try:
                    self.run(inputs, channels_first)
                finally:
                    lib.pd_net_set_profile(self._net, ffi.NULL, 0, self._err, _ERR_SIZE)
            samples.append([seconds[i] for i in range(n)])
        return list(np.median(np.array(samples), axis=0)) if samples else []

    def close(self):
        """Frees the C network now (idempotent); ``run`` then raises NativeError."""
        with self._lock:
            if self._net is not None:
                ffi.release(self._net)
                self._net = None
                self._keep = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _blob_shapes(header, dims):
    """(what, blob index, the shape format.md requires) of every constant,
    weight and bias blob.  Only called once the C core has accepted the
    description, so tensor indices and dims are known to be good."""
    for i, t in enumerate(header["tensors"]):
        if t.get("blob") is not None:
            yield f"tensor {i}", t["blob"], tuple(t["shape"])
    for i, layer in enumerate(header["layers"]):
        op = layer["op"]
        if op not in _WEIGHT_LAYOUTS:
            continue
        (h, w, c), out_c = dims[layer["inputs"][0]], dims[layer["output"]][2]
        if op == "conv":
            weight = (out_c, *layer["kernel"], c // layer["groups"])
        elif op == "depthwise":
            weight = (*layer["kernel"], c)
        elif op == "conv_transpose":
            weight = (c, *layer["kernel"], out_c // layer["groups"])
        else:
            weight = (out_c, h * w * c)
        if layer.get("weight_layout") == "q8panels16":
            weight = tuple(q8_shape(out_c, math.prod(weight[1:]), layer.get("groups", 1)))
        what = f"layer {i} ({layer.get('name', '')!r}, {op})"
        yield f"{what} weight", layer["weight"], weight
        if layer.get("bias") is not None:
            yield f"{what} bias", layer["bias"], (out_c,)


def _check_blob_shapes(header, arrays, dims):
    """Every blob has the shape its use needs: the C core reads that many floats."""
    for what, blob, expected in _blob_shapes(header, dims):
        shape = tuple(arrays[blob].shape)
        if shape != tuple(int(d) for d in expected):
            raise NativeError(f"{what}: blob {blob} has shape {shape}, expected {expected}",
                              status="PD_ERR_SHAPE")
