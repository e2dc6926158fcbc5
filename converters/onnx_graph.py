"""Read an ONNX ModelProto into a small, plain-Python view of its graph.

The rest of the converter never touches protobuf objects: it sees ``Node``
records with decoded attributes, the initializers as numpy arrays, the one
run-time input, the output names, and whatever shapes onnx's own shape
inference could work out (used only to keep walking past an unsupported node,
so that every problem of a model is reported at once).

    >>> import onnx
    >>> from onnx import helper, TensorProto
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    >>> g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    >>> view = read_graph(helper.make_model(g))
    >>> view.nodes[0].op_type, view.input.name, view.input.dims
    ('Relu', 'x', (None, 3))
"""

from dataclasses import dataclass, field

from predict.errors import ConversionError

# The oldest default-domain opset we read.  PyTorch's early exports (and the
# backend's "pytorch-converted" tests) are opset 6; Add's legacy `broadcast`
# attribute is the only opset-6 rule that differs, and the mappers handle it.
MIN_OPSET = 6


@dataclass
class Node:
    """One ONNX node with its attributes decoded to Python values."""

    name: str
    op_type: str
    domain: str
    inputs: list
    outputs: list
    attrs: dict = field(default_factory=dict)

    def attr(self, key, default=None):
        """An attribute's value, or ``default`` when the node does not set it."""
        return self.attrs.get(key, default)


@dataclass
class Input:
    """The graph's run-time input: its name, ONNX element type and dims (None = unknown)."""

    name: str
    elem_type: int
    dims: tuple


@dataclass
class GraphView:
    """Everything the converter reads from a model."""

    opset: int
    nodes: list
    initializers: dict
    input: Input
    outputs: list
    inferred: dict  # tensor name -> tuple of dims (None where unknown)


def _decode_attr(attr):
    import onnx
    from onnx import numpy_helper

    value = onnx.helper.get_attribute_value(attr)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode("utf-8", "replace") for v in value]
    return value


def _dims(type_proto):
    """The dims of a tensor type: ints, or None for a symbolic or missing dim."""
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                 for d in type_proto.tensor_type.shape.dim)


def _opset(model):
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    raise ConversionError("the model imports no default-domain (ai.onnx) opset")


def _inferred_shapes(model):
    """Shapes from onnx's shape inference; an empty map if inference fails."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # inference is only a help for error reporting
        return {}
    shapes = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = _dims(vi.type)
        if dims is not None:
            shapes[vi.name] = dims
    return shapes


def read_graph(model):
    """Turn a ``onnx.ModelProto`` into a ``GraphView``; ConversionError if it has no usable input.

    >>> from onnx import helper, TensorProto
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    >>> g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [x])
    >>> read_graph(helper.make_model(g)).outputs
    ['x']
    """
    from onnx import numpy_helper

    opset = _opset(model)
    if opset < MIN_OPSET:
        raise ConversionError(f"opset {opset} is older than the oldest supported, {MIN_OPSET}")
    graph = model.graph
    initializers = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    runtime = [vi for vi in graph.input if vi.name not in initializers]
    if len(runtime) != 1:
        names = [vi.name for vi in runtime]
        raise ConversionError(
            f"the graph must have exactly one run-time input (one that is not an initializer); "
            f"it has {len(runtime)}: {names}")
    vi = runtime[0]
    if not vi.type.HasField("tensor_type"):
        raise ConversionError(f"graph input {vi.name!r} is not a tensor")
    dims = _dims(vi.type)
    if dims is None:
        raise ConversionError(f"graph input {vi.name!r} has no shape")
    inp = Input(vi.name, vi.type.tensor_type.elem_type, dims)

    nodes = []
    for i, n in enumerate(graph.node):
        name = n.name or f"{n.op_type}_{i}"
        attrs = {a.name: _decode_attr(a) for a in n.attribute}
        nodes.append(Node(name, n.op_type, n.domain, list(n.input), list(n.output), attrs))
    return GraphView(opset=opset, nodes=nodes, initializers=initializers, input=inp,
                     outputs=[o.name for o in graph.output], inferred=_inferred_shapes(model))
