"""Helpers for the C core tests (tests/test_native_*.py).

``Graph`` writes small headers in the format of docs/format.md (source-order
shapes, blob arrays) for ``predict._native.NativeNet``; ``run_source`` runs one
in the source layout (N, C, *spatial), so a test's numpy reference never has
to think about NHWC.  The references shared by several op families live here
too: activations, convolution, and the window output size rule.
"""

import numpy as np

from predict._native import NativeNet, core_dims

ACT_KINDS = ["none", "relu", "clip", "hardswish", "hardsigmoid", "sigmoid", "silu", "leakyrelu"]


def act(kind="none", alpha=0.0, beta=0.0):
    """An ``act`` field: ``act("clip", 0, 6)`` is ReLU6."""
    return {"kind": kind, "alpha": float(alpha), "beta": float(beta)}


def window(kernel, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0)):
    """The window keys of conv, depthwise and maxpool (pads top, left, bottom, right)."""
    return {"kernel": list(kernel), "strides": list(strides), "dilations": list(dilations),
            "pads": list(pads)}


class Graph:
    """A header under construction: tensors, layers, blobs, inputs and outputs.

    >>> g = Graph()
    >>> x = g.input([3, 5, 5])
    >>> y = g.layer("activation", [x], [3, 5, 5], act=act("relu"))
    >>> g.output(y)
    """

    def __init__(self):
        self.tensors, self.layers, self.arrays = [], [], []
        self.inputs, self.outputs = [], []

    def blob(self, array):
        """Adds an array; returns its blob index."""
        self.arrays.append(np.ascontiguousarray(array, dtype=np.float32))
        return len(self.arrays) - 1

    def tensor(self, shape, value=None):
        """Adds a tensor (a constant when value is given); returns its index."""
        blob = None if value is None else self.blob(np.asarray(value).reshape(shape))
        self.tensors.append({"name": f"t{len(self.tensors)}", "shape": list(shape), "dtype": "float32",
                             "blob": blob})
        return len(self.tensors) - 1

    def input(self, shape):
        t = self.tensor(shape)
        self.inputs.append({"name": f"in{len(self.inputs)}", "tensor": t})
        return t

    def output(self, t):
        self.outputs.append({"name": f"out{len(self.outputs)}", "tensor": t})
        return t

    def layer(self, op, inputs, out_shape, **keys):
        """Adds a layer writing a new tensor of out_shape; returns that tensor."""
        out = self.tensor(out_shape)
        self.layers.append({"op": op, "name": f"{op}{len(self.layers)}", "inputs": list(inputs),
                            "output": out, **keys})
        return out

    def header(self):
        return {"tensors": self.tensors, "layers": self.layers, "inputs": self.inputs,
                "outputs": self.outputs}

    def build(self, max_batch=1, outputs=None):
        return NativeNet(self.header(), self.arrays, max_batch=max_batch, outputs=outputs)

    def shape(self, t):
        return self.tensors[t]["shape"]


def to_core(x):
    """(N, C, *spatial) source layout -> (N, h, w, c) float32 C-contiguous."""
    h, w, c = core_dims(x.shape[1:])
    return np.ascontiguousarray(np.moveaxis(np.asarray(x, np.float32), 1, -1)).reshape(x.shape[0], h, w, c)


def from_core(y, shape):
    """(N, h, w, c) from the core -> (N, *shape) source layout."""
    spatial = tuple(shape[1:])
    return np.moveaxis(y.reshape((y.shape[0],) + spatial + (shape[0],)), -1, 1)


def run_source(graph, inputs, max_batch=None):
    """Builds graph, runs source-layout inputs, returns source-layout outputs."""
    batch = inputs[0].shape[0]
    with graph.build(max_batch=max_batch or batch) as net:
        outs = net.run([to_core(x) for x in inputs])
    return [from_core(y, graph.shape(o["tensor"])) for y, o in zip(outs, graph.outputs)]


def assert_close(got, want, rtol=1e-5):
    """Float32 results against a float64 reference: relative to the largest value."""
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(float(np.max(np.abs(want))), 1e-6) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale)


def act_ref(x, a):
    """The fused activation ``a`` (an act dict) applied to x, in float64."""
    x = np.asarray(x, np.float64)
    kind, alpha, beta = a["kind"], a["alpha"], a["beta"]
    with np.errstate(over="ignore"):
        table = {
            "none": lambda: x,
            "relu": lambda: np.maximum(x, 0),
            "clip": lambda: np.minimum(np.maximum(x, alpha), beta),
            "hardswish": lambda: x * np.clip(x + 3, 0, 6) / 6,
            "hardsigmoid": lambda: np.clip(alpha * x + beta, 0, 1),
            "sigmoid": lambda: 1 / (1 + np.exp(-x)),
            "silu": lambda: x / (1 + np.exp(-x)),
            "leakyrelu": lambda: np.where(x >= 0, x, alpha * x),
        }
        return table[kind]()


def window_out(size, kernel, stride, dilation, pad_begin, pad_end, ceil_mode=False):
    """Output size of a window op along one axis (docs/format.md)."""
    extent = (kernel - 1) * dilation + 1
    span = size + pad_begin + pad_end - extent
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def conv_ref(x, w_ohwi, bias, strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), groups=1):
    """Grouped 2-D convolution of x (N, C, H, W) with OHWI weights, in float64:
    explicit zero padding, then one einsum per kernel tap."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w_ohwi, np.float64)
    n, _, h, wd = x.shape
    cout, kh, kw, cg = w.shape
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = strides, dilations, pads
    oh = window_out(h, kh, sh, dh, pt, pb)
    ow = window_out(wd, kw, sw, dw, pl, pr)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    og = cout // groups
    y = np.zeros((n, cout, oh, ow))
    for g in range(groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xg[:, :, i * dh:i * dh + (oh - 1) * sh + 1:sh, j * dw:j * dw + (ow - 1) * sw + 1:sw]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch, w[g * og:(g + 1) * og, i, j])
    if bias is not None:
        y += np.asarray(bias, np.float64)[None, :, None, None]
    return y
