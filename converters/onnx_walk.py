"""Walk an ONNX graph in order, folding constants and mapping nodes to layers.

Every graph value is, at each point of the walk, one of: a tensor index of the
layer graph (computed at run time), a numpy array (a constant: initializer,
Constant node, or a folded subgraph), or ``UNKNOWN`` (the output of a node that
could not be mapped and whose shape not even onnx's shape inference knows).

A node that cannot be mapped is recorded as a problem and the walk goes on:
its outputs get placeholder tensors with the shapes onnx infers, so the nodes
after it are still checked and the caller can report every problem at once.

    >>> from onnx import helper, TensorProto
    >>> from converters.onnx_graph import read_graph
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 5])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 5])
    >>> g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "g", [x], [y])
    >>> w = walk(read_graph(helper.make_model(g)), input_shape=None)
    >>> w.problems, [layer.op for layer in w.graph.layers]
    ([], ['activation'])
"""

import numpy as np

from predict.errors import ConversionError

from .onnx_consteval import FOLDABLE, NotFoldable, evaluate, shape_value
from .onnx_convnet import Grouped
from .onnx_layers import LayerGraph, Unsupported
from .onnx_ops import MAPPERS

UNKNOWN = object()

_DTYPE_NAMES = {1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32",
                7: "INT64", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32",
                13: "UINT64", 16: "BFLOAT16"}


class Context:
    """What a mapper sees: the values so far, the layer graph and helpers to read inputs."""

    def __init__(self, view, batch):
        self.opset = view.opset
        self.graph = LayerGraph()
        self.values = dict(view.initializers)
        self.batch = batch  # the static batch size, or None when it is dynamic
        self.constants = {}  # (ONNX name, shape) -> constant tensor index, so a blob is shared
        self.used = {}  # tensor name -> number of node inputs and graph outputs reading it
        for node in view.nodes:
            for name in node.inputs:
                self.used[name] = self.used.get(name, 0) + 1
        for name in view.outputs:
            self.used[name] = self.used.get(name, 0) + 1

    # -- reading inputs ---------------------------------------------------------------
    def has_input(self, node, i):
        """Whether optional input ``i`` is given."""
        return i < len(node.inputs) and node.inputs[i] != ""

    def act(self, node, i=0):
        """Input ``i`` as a run-time tensor index; Unsupported if it is a constant."""
        if not self.has_input(node, i):
            raise Unsupported(f"input {i} is missing")
        value = self.values[node.inputs[i]]
        if isinstance(value, np.ndarray):
            raise Unsupported(f"input {i} ({node.inputs[i]!r}) is a constant; "
                              f"only run-time tensors are supported there")
        if not isinstance(value, int):
            raise Unsupported(f"input {i} ({node.inputs[i]!r}) is a rank-{len(value.shape) + 1} "
                              f"channel view (channel shuffle); only a Transpose or a Reshape "
                              f"back can read it")
        return value

    def const(self, node, i, what):
        """Input ``i`` as a numpy array, None when omitted; Unsupported if computed at run time."""
        if not self.has_input(node, i):
            return None
        value = self.values[node.inputs[i]]
        if not isinstance(value, np.ndarray):
            raise Unsupported(f"{what} ({node.inputs[i]!r}) must be a constant")
        return value

    def shape(self, t):
        """A run-time tensor's shape without the batch."""
        return self.graph.tensors[t].shape

    def output_used(self, node, i):
        """Whether output ``i`` of the node is read by another node or is a graph output."""
        return i < len(node.outputs) and node.outputs[i] != "" and self.used.get(node.outputs[i], 0) > 0

    # -- writing outputs --------------------------------------------------------------
    def emit(self, op, node, inputs, shape, suffix=None, **attrs):
        """Append a layer; its output is the node's first output, or an internal
        tensor named ``<output>:<suffix>`` when ``suffix`` is given."""
        shape = tuple(int(d) for d in shape)
        if not 1 <= len(shape) <= 3:
            raise Unsupported(f"the result would be a rank-{len(shape) + 1} tensor "
                              f"(with batch); only ranks 2 to 4 are supported")
        if min(shape) < 1:
            raise Unsupported(f"the result has an empty dimension: {shape}")
        out_name = node.outputs[0] if suffix is None else f"{node.outputs[0]}:{suffix}"
        out = self.graph.add(op, node.name, inputs, out_name, shape, **attrs)
        if suffix is None:
            self.values[node.outputs[0]] = out
        return out

    def alias(self, node, value):
        """The node's first output is ``value`` (a tensor index or an array)."""
        self.values[node.outputs[0]] = value


def _input_tensor(view, input_shape):
    """The input's shape without batch, and its static batch (or None)."""
    inp = view.input
    dims = list(inp.dims)
    if not dims:
        raise ConversionError(f"graph input {inp.name!r} is a scalar; it needs a batch dimension")
    rest = dims[1:]
    if input_shape is not None:
        given = [int(d) for d in input_shape]
        if len(given) != len(rest):
            raise ConversionError(
                f"input_shape {tuple(given)} has {len(given)} dims but graph input {inp.name!r} "
                f"has {len(rest)} besides the batch")
        for i, (model_dim, g) in enumerate(zip(rest, given)):
            if model_dim is not None and model_dim != g:
                raise ConversionError(
                    f"input_shape {tuple(given)} disagrees with graph input {inp.name!r}: "
                    f"dim {i + 1} is {model_dim} in the model")
            if g < 1:
                raise ConversionError(f"input_shape {tuple(given)} has a dim below 1")
        rest = given
    missing = [i + 1 for i, d in enumerate(rest) if d is None]
    if missing:
        raise ConversionError(
            f"graph input {inp.name!r} has shape {tuple(dims)}: dims {missing} are not static; "
            f"pass input_shape=(C, H, W) (everything but the batch)")
    return tuple(rest), dims[0]


class WalkResult:
    """The layer graph, io, and the problems found (node name, op type, reason)."""

    def __init__(self, ctx, input_name, input_tensor, problems, view):
        self.graph = ctx.graph
        self.values = ctx.values
        self.input = (input_name, input_tensor)
        self.problems = problems
        self.output_names = view.outputs


def _placeholders(ctx, view, node):
    """Give a failed node's outputs the shapes onnx inferred, so the walk can go on."""
    for name in node.outputs:
        dims = view.inferred.get(name)
        if name and dims and all(d is not None for d in dims[1:]):
            ctx.values[name] = ctx.graph.tensor(name, dims[1:])
        elif name:
            ctx.values[name] = UNKNOWN


def _fold(ctx, node, inputs):
    """The node's outputs as constants, or None if it cannot be folded."""
    op = node.op_type
    if op in ("Shape", "Size"):
        if isinstance(inputs[0], np.ndarray):
            shape = inputs[0].shape
        else:
            # The batch is taken as 1 (or its static size): reshape targets that
            # derive their first dim from it are read as "keep the batch".
            shape = (ctx.batch or 1,) + ctx.shape(inputs[0])
        return [shape_value(node, shape)]
    if op not in FOLDABLE or not all(v is None or isinstance(v, np.ndarray) for v in inputs):
        return None
    try:
        return evaluate(node, inputs, ctx.opset)
    except NotFoldable:
        return None


def _read_inputs(ctx, node):
    """The node's input values (None for an omitted optional input)."""
    inputs = []
    for name in node.inputs:
        if name == "":
            inputs.append(None)
        elif name in ctx.values:
            inputs.append(ctx.values[name])
        else:
            raise ConversionError(f"node {node.name!r} ({node.op_type}) reads {name!r}, "
                                  f"which no earlier node or initializer defines")
    return inputs


def _map(ctx, node, inputs):
    """Map a node whose inputs are known; raises Unsupported."""
    op = node.op_type
    if op not in MAPPERS:
        raise Unsupported(f"operator {op} unsupported" if op not in FOLDABLE else
                          f"operator {op} on a run-time tensor unsupported")
    for name, value in zip(node.inputs, inputs):
        if isinstance(value, Grouped):
            if op not in ("Reshape", "Transpose"):
                raise Unsupported(f"input {name!r} is a rank-{len(value.shape) + 1} channel view "
                                  f"(channel shuffle); only a Transpose or a Reshape back can "
                                  f"read it")
            continue
        if value is not None and not isinstance(value, np.ndarray):
            rank = len(ctx.shape(value)) + 1
            if not 2 <= rank <= 4:
                raise Unsupported(f"input {name!r} is a rank-{rank} tensor (with batch); "
                                  f"only ranks 2 to 4 are supported")
    MAPPERS[op](ctx, node)


def _visit(ctx, view, node, problems):
    """Fold or map one node; append its problems."""
    op = node.op_type
    if node.domain not in ("", "ai.onnx"):
        problems.append((node.name, op, f"operator {node.domain}::{op} unsupported"))
        _placeholders(ctx, view, node)
        return
    inputs = _read_inputs(ctx, node)
    if any(v is UNKNOWN for v in inputs):
        # The cause was reported where it arose; only name an operator that
        # would be unsupported anyway.
        if op not in MAPPERS and op not in FOLDABLE:
            problems.append((node.name, op, f"operator {op} unsupported"))
        for name in node.outputs:
            ctx.values[name] = UNKNOWN
        return
    folded = _fold(ctx, node, inputs)
    if folded is not None:
        for name, value in zip(node.outputs, folded):
            ctx.values[name] = value
        return
    try:
        _map(ctx, node, inputs)
    except Unsupported as e:
        problems.append((node.name, op, e.reason))
        _placeholders(ctx, view, node)


def walk(view, input_shape=None):
    """Fold and map every node of a ``GraphView``; see the module docstring."""
    shape, batch = _input_tensor(view, input_shape)
    ctx = Context(view, batch)
    problems = []
    inp = view.input
    if inp.elem_type != 1:
        problems.append((inp.name, "graph input",
                         f"element type {_DTYPE_NAMES.get(inp.elem_type, inp.elem_type)} "
                         f"unsupported; only float32 inputs"))
    if not 1 <= len(shape) <= 3:
        problems.append((inp.name, "graph input",
                         f"a rank-{len(shape) + 1} input unsupported; only (N, K), (N, C, L) "
                         f"and (N, C, H, W)"))
    input_tensor = ctx.graph.tensor(inp.name, shape)
    ctx.values[inp.name] = input_tensor

    for node in view.nodes:
        _visit(ctx, view, node, problems)
    return WalkResult(ctx, inp.name, input_tensor, problems, view)


def walk_node(op_type, shape, consts=(), opset=17, **attrs):
    """Walk a graph of one node: run-time input ``x`` of per-sample ``shape``, then
    ``consts`` (arrays, or None for an omitted optional input) as initializers.

    For trying out, and for the mappers' examples:

    >>> w = walk_node("Relu", (4,))
    >>> [(layer.op, layer.attrs["act"]["kind"]) for layer in w.graph.layers], w.problems
    ([('activation', 'relu')], [])
    """
    from .onnx_graph import GraphView, Input, Node

    names = ["x"] + ["" if c is None else f"c{i}" for i, c in enumerate(consts, start=1)]
    initializers = {n: np.asarray(c) for n, c in zip(names[1:], consts) if c is not None}
    node = Node(f"{op_type.lower()}", op_type, "", names, ["y"], dict(attrs))
    view = GraphView(opset=opset, nodes=[node], initializers=initializers,
                     input=Input("x", 1, (None,) + tuple(shape)), outputs=["y"], inferred={})
    return walk(view)
