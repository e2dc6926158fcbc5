"""Evaluate ONNX nodes whose inputs are all constants, with numpy.

Exporters (PyTorch above all) compute reshape targets and similar values in
the graph: ``Shape -> Gather -> Unsqueeze -> Concat -> Reshape``.  Once the
input's shape is fixed every such subgraph is a constant, and folding it here
leaves the mappers only the run-time operators.  ``FOLDABLE`` lists the
operators this module can evaluate; the walker folds a node when it is in the
set and every input it uses is a constant.

    >>> from converters.onnx_graph import Node
    >>> import numpy as np
    >>> n = Node("u", "Unsqueeze", "", ["a"], ["b"], {"axes": [0]})
    >>> evaluate(n, [np.array(7)], opset=11)[0]
    array([7])
"""

import math

import numpy as np

from predict.errors import ConversionError


class NotFoldable(Exception):
    """The node's constant form is outside what this evaluator handles; map it instead."""


def _axes_arg(node, inputs, opset, since):
    """Axes given as an attribute before opset `since`, as the second input from it on."""
    if opset < since:
        axes = node.attr("axes")
    else:
        axes = inputs[1] if len(inputs) > 1 else None
    return None if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]


def _constant(node, inputs, opset):
    a = node.attrs
    if "value" in a:
        return np.asarray(a["value"])
    if "value_float" in a:
        return np.array(a["value_float"], dtype=np.float32)
    if "value_floats" in a:
        return np.array(a["value_floats"], dtype=np.float32)
    if "value_int" in a:
        return np.array(a["value_int"], dtype=np.int64)
    if "value_ints" in a:
        return np.array(a["value_ints"], dtype=np.int64)
    raise NotFoldable("Constant of a string or sparse value")


def _unsqueeze(node, inputs, opset):
    data = inputs[0]
    axes = _axes_arg(node, inputs, opset, since=13)
    rank = data.ndim + len(axes)
    out = data
    for ax in sorted(a % rank for a in axes):
        out = np.expand_dims(out, ax)
    return out


def _squeeze(node, inputs, opset):
    data = inputs[0]
    axes = _axes_arg(node, inputs, opset, since=13)
    if axes is None:
        return np.squeeze(data)
    return np.squeeze(data, axis=tuple(a % data.ndim for a in axes))


def _slice_indices(dim, start, end, step):
    """ONNX Slice clamping (which differs from Python's for negative steps)."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start = min(max(start, 0), dim)
        end = min(max(end, 0), dim)
    else:
        start = min(max(start, 0), dim - 1)
        end = min(max(end, -1), dim - 1)
    return np.arange(start, end, step, dtype=np.int64)


def _slice(node, inputs, opset):
    data = inputs[0]
    if opset < 10:
        starts, ends = node.attr("starts"), node.attr("ends")
        axes, steps = node.attr("axes"), None
    else:
        starts, ends = inputs[1], inputs[2]
        axes = inputs[3] if len(inputs) > 3 else None
        steps = inputs[4] if len(inputs) > 4 else None
    starts = [int(v) for v in np.asarray(starts).reshape(-1)]
    ends = [int(v) for v in np.asarray(ends).reshape(-1)]
    axes = list(range(len(starts))) if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else [int(s) for s in np.asarray(steps).reshape(-1)]
    out = data
    for s, e, ax, st in zip(starts, ends, axes, steps):
        ax %= data.ndim
        out = np.take(out, _slice_indices(data.shape[ax], s, e, st), axis=ax)
    return out


def _div(node, inputs, opset):
    a, b = inputs
    if np.issubdtype(np.result_type(a, b), np.integer):
        # ONNX integer division truncates towards zero; numpy's // floors.
        q = np.abs(a) // np.abs(b)
        return (q * np.sign(a) * np.sign(b)).astype(np.result_type(a, b))
    return a / b


def _reshape(node, inputs, opset):
    data, shape = inputs[0], [int(v) for v in inputs[1].reshape(-1)]
    if not node.attr("allowzero", 0):
        shape = [data.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return data.reshape(shape)


def _flatten(node, inputs, opset):
    data = inputs[0]
    axis = node.attr("axis", 1)
    axis = axis + data.ndim if axis < 0 else axis
    return data.reshape(int(np.prod(data.shape[:axis])), -1)


def _cast(node, inputs, opset):
    import onnx

    return inputs[0].astype(onnx.helper.tensor_dtype_to_np_dtype(node.attr("to")))


def _constant_of_shape(node, inputs, opset):
    value = node.attr("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    return np.full([int(v) for v in inputs[0].reshape(-1)], value[0], dtype=value.dtype)


def _expand(node, inputs, opset):
    data, shape = inputs[0], tuple(int(v) for v in inputs[1].reshape(-1))
    return np.broadcast_to(data, np.broadcast_shapes(data.shape, shape)).copy()


def _gather(node, inputs, opset):
    return np.take(inputs[0], inputs[1].astype(np.int64), axis=node.attr("axis", 0))


def _transpose(node, inputs, opset):
    return np.transpose(inputs[0], node.attr("perm"))


_EVAL = {
    "Constant": _constant,
    "Identity": lambda n, i, o: i[0],
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Gather": _gather,
    "Concat": lambda n, i, o: np.concatenate(i, axis=n.attr("axis", 0)),
    "Cast": _cast,
    "Slice": _slice,
    "Add": lambda n, i, o: i[0] + i[1],
    "Sub": lambda n, i, o: i[0] - i[1],
    "Mul": lambda n, i, o: i[0] * i[1],
    "Div": _div,
    "Pow": lambda n, i, o: np.power(i[0], i[1]).astype(i[0].dtype),
    "Neg": lambda n, i, o: -i[0],
    "Sqrt": lambda n, i, o: np.sqrt(i[0]),
    "Reciprocal": lambda n, i, o: 1 / i[0],
    "Floor": lambda n, i, o: np.floor(i[0]),
    "Ceil": lambda n, i, o: np.ceil(i[0]),
    "Min": lambda n, i, o: np.minimum.reduce(i),
    "Max": lambda n, i, o: np.maximum.reduce(i),
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": _transpose,
    "ConstantOfShape": _constant_of_shape,
    "Expand": _expand,
    "Range": lambda n, i, o: np.arange(i[0], i[1], i[2]).astype(np.result_type(i[0], i[1], i[2])),
}

FOLDABLE = frozenset(_EVAL) | {"Dropout", "Shape", "Size"}


# The largest constant a folded node may produce. Real exporters fold shapes and small tables;
# a model that asks for more (ConstantOfShape of [10**6, 10**6], an outer product by
# broadcasting) is hostile or broken, and must not make the converter allocate gigabytes.
MAX_CONSTANT_ELEMENTS = 1 << 26


def _result_size(node, inputs):
    """The element count the node's constant result would have, computed before making it."""
    op = node.op_type
    given = [np.asarray(i) for i in inputs if i is not None]
    if op == "ConstantOfShape" and given:
        return math.prod(int(v) for v in given[0].reshape(-1))
    if op == "Expand" and len(given) > 1:
        shape = tuple(int(v) for v in given[1].reshape(-1))
        return math.prod(np.broadcast_shapes(given[0].shape, shape))
    if op == "Range" and len(given) == 3:
        start, limit, delta = (float(np.asarray(v).reshape(-1)[0]) for v in given)
        if delta == 0 or not all(map(math.isfinite, (start, limit, delta))):
            return 0  # numpy refuses it: NotFoldable
        return max(0, math.ceil((limit - start) / delta))
    if op == "Gather" and len(given) == 2:
        data, indices = given
        axis = node.attr("axis", 0) % max(data.ndim, 1)
        return math.prod(data.shape[:axis]) * indices.size * math.prod(data.shape[axis + 1:])
    if op == "Concat":
        return sum(g.size for g in given)
    if len(given) > 1:  # elementwise with broadcasting
        try:
            return math.prod(np.broadcast_shapes(*(g.shape for g in given)))
        except ValueError:
            return 0  # no broadcast: numpy refuses it, NotFoldable
    return max((g.size for g in given), default=0)


def _check_result_size(node, inputs):
    try:
        size = _result_size(node, inputs)
    except (ValueError, TypeError, OverflowError, IndexError, ZeroDivisionError):
        return  # malformed: the evaluation itself reports it
    if size > MAX_CONSTANT_ELEMENTS:
        raise ConversionError(f"node {node.name!r} ({node.op_type}) would make a constant of "
                              f"{size} elements, more than the limit of {MAX_CONSTANT_ELEMENTS}")


def evaluate(node, inputs, opset):
    """The node's outputs, given all its (used) inputs as numpy arrays.

    ``inputs`` holds None for an omitted optional input.  Raises NotFoldable
    when the constant form is one this evaluator does not handle.

    >>> from converters.onnx_graph import Node
    >>> n = Node("c", "Concat", "", ["a", "b"], ["c"], {"axis": 0})
    >>> evaluate(n, [np.array([1]), np.array([-1])], opset=13)[0]
    array([ 1, -1])
    """
    op = node.op_type
    _check_result_size(node, inputs)
    if op == "Dropout":
        # Inference: the data passes through; a requested mask is all ones.
        return [inputs[0], np.ones(inputs[0].shape, dtype=bool)][:len(node.outputs)]
    if op not in _EVAL:
        raise NotFoldable(f"no constant evaluator for {op}")
    try:
        out = _EVAL[op](node, inputs, opset)
    except NotFoldable:
        raise
    except Exception as e:  # a malformed constant subgraph: report it, do not crash
        raise NotFoldable(f"evaluating {op} on constants failed: {e}") from e
    return [np.asarray(out)]


def shape_value(node, full_shape):
    """The value of a Shape (with opset-15 start/end) or Size node over a known shape.

    >>> from converters.onnx_graph import Node
    >>> shape_value(Node("s", "Shape", "", ["x"], ["s"], {"start": 1}), (1, 3, 8, 8))
    array([3, 8, 8])
    """
    if node.op_type == "Size":
        return np.array(int(np.prod(full_shape)), dtype=np.int64)
    rank = len(full_shape)
    start, end = node.attr("start", 0), node.attr("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    return np.array(full_shape[start:end], dtype=np.int64)
