"""The layer graph a converter builds before it becomes a .pnet header.

It is the graph of docs/format.md with two conveniences for the rewrites in
``converters/simplify.py``: weights and constants are numpy arrays held by the
layers and tensors themselves (blob numbers are given only by ``emit``), and
there is one internal op, ``affine`` (a per-channel ``x * scale + shift``,
what a BatchNormalization is), which simplify folds into a convolution or
lowers to format ops.

    >>> g = LayerGraph()
    >>> x = g.tensor("x", (3, 8, 8))
    >>> y = g.add("activation", "relu1", [x], "y", (3, 8, 8), act=act("relu"))
    >>> header, arrays = emit(g, inputs=[("x", x)], outputs=[("y", y)])
    >>> header["layers"][0]["act"]["kind"], arrays
    ('relu', [])
"""

from dataclasses import dataclass, field

import numpy as np

from predict.layout import pack_panels16


class Unsupported(Exception):
    """A node the converter cannot map; ``reason`` says why, in a few words."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Tensor:
    """A value of the graph: ``shape`` excludes the batch; ``const`` is set for a constant."""

    name: str
    shape: tuple
    const: np.ndarray = None


@dataclass
class Layer:
    """One layer: ``attrs`` holds the op's format keys, with arrays for weight and bias."""

    op: str
    name: str
    inputs: list
    output: int
    attrs: dict = field(default_factory=dict)


def act(kind="none", alpha=0.0, beta=0.0):
    """A fused-activation record as format.md spells it.

    >>> act("clip", 0, 6)
    {'kind': 'clip', 'alpha': 0.0, 'beta': 6.0}
    """
    return {"kind": kind, "alpha": float(alpha), "beta": float(beta)}


# Ops whose output stage can apply an activation (format.md: the ops that carry `act`).
ACT_OPS = frozenset({"conv", "depthwise", "fc", "add", "sub", "mul", "div", "activation", "affine",
                     "conv_transpose"})

# The keys each format op carries besides op/name/inputs/output, in a fixed order.
FORMAT_KEYS = {
    "conv": ("kernel", "strides", "dilations", "pads", "groups", "weight", "bias", "act"),
    "depthwise": ("kernel", "strides", "dilations", "pads", "weight", "bias", "act"),
    "fc": ("weight", "bias", "act"),
    "maxpool": ("kernel", "strides", "dilations", "pads", "ceil_mode"),
    "avgpool": ("kernel", "strides", "pads", "ceil_mode", "count_include_pad"),
    "global_avgpool": (),
    "global_maxpool": (),
    "add": ("act",), "sub": ("act",), "mul": ("act",), "div": ("act",),
    "concat": (),
    "softmax": (),
    "reshape": (),
    "pad": ("pads", "mode", "value"),
    "activation": ("act",),
    "lrn": ("size", "alpha", "beta", "k"),
    "conv_transpose": ("kernel", "strides", "dilations", "pads", "output_padding", "groups",
                       "weight", "bias", "act"),
    "resize": ("mode", "coordinate_transformation_mode", "nearest_mode", "scales", "size"),
    "channel_shuffle": ("groups",),
    "slice": ("starts", "ends"),
    "transpose": ("perm",),
}


class LayerGraph:
    """Tensors and layers in execution order; see the module docstring.

    >>> g = LayerGraph()
    >>> x = g.tensor("x", (4,))
    >>> c = g.constant("c", np.ones(4))
    >>> y = g.add("add", "a", [x, c], "y", (4,), act=act())
    >>> g.consumers(), g.producers()[y].name, g.tensors[c].const.dtype
    ({0: 1, 1: 1}, 'a', dtype('float32'))
    """

    def __init__(self):
        self.tensors = []
        self.layers = []

    def tensor(self, name, shape, const=None):
        """Add a tensor and return its index."""
        if const is not None:
            const = np.ascontiguousarray(const, dtype=np.float32).reshape(shape)
        self.tensors.append(Tensor(name, tuple(int(d) for d in shape), const))
        return len(self.tensors) - 1

    def constant(self, name, array):
        """Add a float32 constant tensor with the array's shape; return its index."""
        array = np.asarray(array, dtype=np.float32)
        return self.tensor(name, array.shape, array)

    def add(self, op, name, inputs, out_name, out_shape, **attrs):
        """Append a layer writing a new tensor; return the output tensor's index."""
        out = self.tensor(out_name, out_shape)
        self.layers.append(Layer(op, name, list(inputs), out, attrs))
        return out

    def consumers(self):
        """How many layer inputs read each tensor index (a tensor read twice counts twice)."""
        counts = {}
        for layer in self.layers:
            for t in layer.inputs:
                counts[t] = counts.get(t, 0) + 1
        return counts

    def producers(self):
        """Map tensor index -> the layer writing it."""
        return {layer.output: layer for layer in self.layers}


def _blob(arrays, array):
    arrays.append(np.ascontiguousarray(array, dtype=np.float32))
    return len(arrays) - 1


def emit(graph, inputs, outputs, features=None):
    """Header fields (tensors, layers, inputs, outputs, features) and blob arrays.

    ``inputs`` and ``outputs`` are ``(name, tensor index)`` pairs.  Tensors no
    layer or io uses are dropped and the rest renumbered in their order.

    >>> g = LayerGraph()
    >>> x = g.tensor("x", (4,))
    >>> y = g.add("fc", "fc", [x], "y", (2,), weight=np.ones((2, 4)), bias=None, act=act())
    >>> header, arrays = emit(g, [("x", x)], [("y", y)], features=x)
    >>> header["layers"][0]["weight"], arrays[0].shape, header["features"]
    (0, (2, 4), 0)
    """
    used = {t for _, t in inputs} | {t for _, t in outputs}
    if features is not None:
        used.add(features)
    for layer in graph.layers:
        used.update(layer.inputs)
        used.add(layer.output)
    index = {old: new for new, old in enumerate(sorted(used))}

    arrays, tensor_blob, layers = [], {}, []
    for layer in graph.layers:
        for t in layer.inputs:
            const = graph.tensors[t].const
            if const is not None and t not in tensor_blob:
                tensor_blob[t] = _blob(arrays, const)
        entry = {"op": layer.op, "name": layer.name,
                 "inputs": [index[t] for t in layer.inputs], "output": index[layer.output]}
        for key in FORMAT_KEYS[layer.op]:
            value = layer.attrs[key]
            if layer.op == "lrn":
                entry[key] = int(value) if key == "size" else float(value)
                continue
            if key == "weight" and layer.op in ("conv", "fc"):
                # Packed once here, read in place by every kernel family (docs/format.md).
                value = _blob(arrays, pack_panels16(value, layer.attrs.get("groups", 1)))
                entry["weight_layout"] = "panels16"
            elif key in ("weight", "bias"):
                value = None if value is None else _blob(arrays, value)
            elif key in ("kernel", "strides", "dilations", "pads", "output_padding", "size",
                         "starts", "ends", "perm") and isinstance(value, (list, tuple)):
                value = [int(v) for v in value]
            elif key in ("size", "groups"):
                value = int(value)
            elif key == "scales":
                value = [float(v) for v in value]
            elif key in ("ceil_mode", "count_include_pad"):
                value = bool(value)
            elif key == "groups":
                value = int(value)
            elif key == "value":
                value = float(value)
            elif key == "act":
                value = act(value["kind"], value["alpha"], value["beta"])
            entry[key] = value
        layers.append(entry)

    tensors = []
    for old in sorted(used):
        t = graph.tensors[old]
        tensors.append({"name": t.name, "shape": [int(d) for d in t.shape], "dtype": "float32",
                        "blob": tensor_blob.get(old)})
    header = {
        "tensors": tensors,
        "layers": layers,
        "inputs": [{"name": n, "tensor": index[t]} for n, t in inputs],
        "outputs": [{"name": n, "tensor": index[t]} for n, t in outputs],
        "features": None if features is None else index[features],
    }
    return header, arrays
