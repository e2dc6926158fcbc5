"""Map ONNX element-wise operators: Add/Sub/Mul/Div, activations, Softmax, Concat.

The engine's binary ops compute ``a (op) b`` with the output shaped like ``a``
and ``b`` broadcasting per dim (size 1 or equal).  ONNX's numpy broadcasting is
reduced to that rule: operands are swapped for the commutative Add and Mul
when the first is the one that broadcasts, and a constant operand becomes a
constant tensor with its batch dim (which must be 1) removed and its rank
padded to the activation's, e.g. ONNX ``(C, 1, 1)`` or ``(1, C, 1, 1)`` against
an ``(N, C, H, W)`` activation becomes ``[C, 1, 1]``.

    >>> constant_shape((5,), (3, 4, 5))
    (1, 1, 5)
"""

import numpy as np

from .onnx_layers import Unsupported, act

_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div"}


def constant_shape(const_shape, act_shape, axis=None):
    """The shape (without batch) a constant takes against an activation shape (without batch).

    ``axis`` is opset-6 legacy broadcasting: the constant's dims start at that
    axis of the full (with batch) activation shape instead of at its end.

    >>> constant_shape((3, 1, 1), (3, 8, 8)), constant_shape((), (3, 8, 8))
    ((3, 1, 1), (1, 1, 1))
    """
    rank = len(act_shape) + 1
    const_shape = tuple(const_shape)
    if len(const_shape) > rank:
        raise Unsupported(f"constant of shape {list(const_shape)} has more dims than the "
                          f"activation (rank {rank})")
    if axis is not None:
        axis %= rank
        if axis + len(const_shape) > rank:
            raise Unsupported(f"constant of shape {list(const_shape)} at axis {axis} overruns "
                              f"the activation")
        full = (1,) * axis + const_shape + (1,) * (rank - axis - len(const_shape))
    else:
        full = (1,) * (rank - len(const_shape)) + const_shape
    if full[0] != 1:
        raise Unsupported(f"constant of shape {list(const_shape)} varies along the batch axis")
    for d, a in zip(full[1:], act_shape):
        if d not in (1, a):
            raise Unsupported(f"constant of shape {list(const_shape)} does not broadcast into "
                              f"the activation {list(act_shape)} per dim")
    return full[1:]


def _constant_tensor(ctx, name, array, act_shape, axis=None):
    shape = constant_shape(np.shape(array), act_shape, axis)
    key = (name, shape)
    if key not in ctx.constants:
        ctx.constants[key] = ctx.graph.constant(name, np.asarray(array, np.float32).reshape(shape))
    return ctx.constants[key]


def _broadcasts_into(small, big):
    return len(small) == len(big) and all(s in (1, b) for s, b in zip(small, big))


def map_binary(ctx, node):
    """Add/Sub/Mul/Div of two run-time tensors or of a run-time tensor and a constant.

    >>> from converters.onnx_walk import walk_node
    >>> w = walk_node("Mul", (4, 6, 6), [np.ones((1, 4, 1, 1))])
    >>> w.graph.layers[0].op, w.graph.tensors[w.graph.layers[0].inputs[1]].shape
    ('mul', (4, 1, 1))
    """
    op = _BINARY[node.op_type]
    names = list(node.inputs[:2])
    values = [ctx.values[n] for n in names]
    is_const = [isinstance(v, np.ndarray) for v in values]
    axis = None
    if ctx.opset < 7 and node.attr("broadcast", 0):
        axis = node.attr("axis")  # opset-6 legacy broadcasting of the second operand
    if is_const[0] and op in ("add", "mul"):
        if axis is not None:
            raise Unsupported("legacy broadcast with a constant first operand unsupported")
        names.reverse()
        values.reverse()
        is_const.reverse()
    a, b = values
    if is_const[0]:
        if op == "div":
            raise Unsupported("Div with a constant numerator unsupported")
        # c - x = (-1 * x) + c: two layers, the second can take a fused activation.
        shape = ctx.shape(b)
        minus = ctx.graph.constant(f"{node.outputs[0]}:minus_one", np.full((1,) * len(shape), -1.0))
        neg = ctx.emit("mul", node, [b, minus], shape, suffix="neg", act=act())
        c = _constant_tensor(ctx, names[0], a, shape)
        ctx.emit("add", node, [neg, c], shape, act=act())
        return
    shape = ctx.shape(a)
    if is_const[1]:
        b = _constant_tensor(ctx, names[1], b, shape, axis)
    elif not _broadcasts_into(ctx.shape(b), shape):
        if op in ("add", "mul") and _broadcasts_into(shape, ctx.shape(b)):
            a, b = b, a
            shape = ctx.shape(a)
        else:
            raise Unsupported(f"operands of shapes {list(ctx.shape(a))} and {list(ctx.shape(b))} "
                              f"(without batch) do not broadcast the second into the first")
    ctx.emit(op, node, [a, b], shape, act=act())


def _clip_bounds(ctx, node):
    if ctx.opset < 11:
        return float(node.attr("min", -np.inf)), float(node.attr("max", np.inf))
    lo = ctx.const(node, 1, "min")
    hi = ctx.const(node, 2, "max")
    lo = -np.inf if lo is None else float(np.asarray(lo).reshape(-1)[0])
    hi = np.inf if hi is None else float(np.asarray(hi).reshape(-1)[0])
    return lo, hi


def activation_of(ctx, node):
    """The format activation record for an ONNX activation node.

    >>> from converters.onnx_graph import Node
    >>> class C: opset = 17
    >>> activation_of(C(), Node("h", "HardSigmoid", "", ["x"], ["y"], {}))
    {'kind': 'hardsigmoid', 'alpha': 0.2, 'beta': 0.5}
    """
    op = node.op_type
    if op == "Relu":
        return act("relu")
    if op == "Clip":
        lo, hi = _clip_bounds(ctx, node)
        return act("relu") if lo == 0.0 and hi == np.inf else act("clip", lo, hi)
    if op == "Sigmoid":
        return act("sigmoid")
    if op == "HardSigmoid":
        return act("hardsigmoid", node.attr("alpha", 0.2), node.attr("beta", 0.5))
    if op == "HardSwish":
        return act("hardswish")
    if op == "LeakyRelu":
        return act("leakyrelu", node.attr("alpha", 0.01))
    if op == "Swish":
        if float(node.attr("alpha", 1.0)) != 1.0:
            raise Unsupported(f"attribute alpha={node.attr('alpha')} unsupported (SiLU, alpha 1, "
                              f"only)")
        return act("silu")
    raise Unsupported(f"operator {op} unsupported")


ACTIVATIONS = ("Relu", "Clip", "Sigmoid", "HardSigmoid", "HardSwish", "LeakyRelu", "Swish")


def map_activation(ctx, node):
    """A standalone activation -> ``activation`` (simplify fuses it into its producer).

    >>> from converters.onnx_walk import walk_node
    >>> walk_node("Clip", (3,), [None, np.float32(6)]).graph.layers[0].attrs["act"]
    {'kind': 'clip', 'alpha': -inf, 'beta': 6.0}
    """
    a = activation_of(ctx, node)
    x = ctx.act(node, 0)
    ctx.emit("activation", node, [x], ctx.shape(x), act=a)


def map_softmax(ctx, node):
    """Softmax over one non-batch axis -> ``softmax`` over the channels, between two
    ``transpose`` layers when the axis is another one (a detection head's class axis last).

    >>> from converters.onnx_walk import walk_node
    >>> walk_node("Softmax", (10,)).graph.layers[0].op
    'softmax'
    >>> [layer.op for layer in walk_node("Softmax", (6, 4), axis=2).graph.layers]
    ['transpose', 'softmax', 'transpose']
    """
    x = ctx.act(node, 0)
    shape = ctx.shape(x)
    rank = len(shape) + 1
    if ctx.opset >= 13:
        axis = node.attr("axis", -1) % rank
        ok = axis >= 1
    else:
        # Before opset 13 the input is flattened to 2-D at `axis` and normalized
        # over everything after it: one axis only when every dim after it is 1.
        axis = node.attr("axis", 1) % rank
        ok = axis >= 1 and all(d == 1 for d in shape[axis:])
    if not ok:
        raise Unsupported(f"Softmax over the batch axis or several axes (axis="
                          f"{node.attr('axis')}, opset {ctx.opset}, input "
                          f"{[None] + list(shape)}) unsupported")
    if axis == 1:
        ctx.emit("softmax", node, [x], shape)
        return
    # Bring the axis to the front (the channels), normalize, and put it back.
    front = [axis - 1] + [d for d in range(len(shape)) if d != axis - 1]
    back = [front.index(d) for d in range(len(shape))]
    moved = tuple(shape[d] for d in front)
    t = ctx.emit("transpose", node, [x], moved, suffix="to_channels", perm=front)
    t = ctx.emit("softmax", node, [t], moved, suffix="softmax")
    ctx.emit("transpose", node, [t], shape, perm=back)


def map_concat(ctx, node):
    """Concat of run-time tensors along the channel axis -> ``concat``.

    >>> from converters.onnx_walk import walk_node
    >>> walk_node("Concat", (3, 4, 4), axis=2).problems[0][2]
    'Concat along axis 2 unsupported (only the channel axis, 1)'
    """
    inputs = [ctx.act(node, i) for i in range(len(node.inputs))]
    shapes = [ctx.shape(t) for t in inputs]
    rank = len(shapes[0]) + 1
    axis = node.attr("axis")
    if axis is None or axis % rank != 1:
        raise Unsupported(f"Concat along axis {axis} unsupported (only the channel axis, 1)")
    if any(len(s) != len(shapes[0]) or s[1:] != shapes[0][1:] for s in shapes):
        raise Unsupported(f"Concat inputs of shapes {shapes} differ beyond the channel axis")
    ctx.emit("concat", node, inputs, (sum(s[0] for s in shapes),) + shapes[0][1:])
