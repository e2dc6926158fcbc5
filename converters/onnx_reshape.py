"""Map ONNX operators that only move or relabel data: Reshape, Flatten, Squeeze,
Unsqueeze, and the pass-throughs Identity, Dropout (inference) and Cast to float.

The batch must survive each of them: a reshape target's first dim is the batch
(0, -1 with the rest fixed, 1 or the model's static batch size, because a
folded ``Shape`` reports the batch as 1, or as its static size), and the rest
must hold exactly one sample's elements.

    >>> reshape_target([0, -1], (64, 1, 1), batch=None)
    (64,)
"""

import numpy as np

from .onnx_layers import Unsupported


# The engine's tensors have at most 4 dims a sample (a grouped channel view); a longer
# target is no convnet's.  Checked before reading it: a hostile file can make one of
# tens of millions of entries (a folded Expand), which would take minutes to walk.
MAX_TARGET_DIMS = 8


def reshape_target(target, shape, batch):
    """The per-sample shape an ONNX Reshape target gives an input of per-sample ``shape``.

    >>> reshape_target([1, 4, -1], (2, 3, 4), batch=None)
    (4, 6)
    """
    if len(target) > MAX_TARGET_DIMS:
        raise Unsupported(f"Reshape to {len(target)} dims (at most {MAX_TARGET_DIMS})")
    target = [int(v) for v in target]
    if not target:
        raise Unsupported("Reshape to a scalar drops the batch axis")
    if target[0] not in (0, -1, batch or 1):
        raise Unsupported(f"Reshape to {target} changes the batch dimension")
    count = int(np.prod(shape))
    rest = []
    for j, v in enumerate(target[1:], start=1):
        if v == 0:
            if j - 1 >= len(shape):
                raise Unsupported(f"Reshape target {target} copies a dim the input lacks")
            v = shape[j - 1]
        rest.append(v)
    if rest.count(-1) + (target[0] == -1) > 1 or any(v < -1 for v in rest):
        raise Unsupported(f"Reshape target {target} is ambiguous")
    if -1 in rest:
        known = int(np.prod([v for v in rest if v != -1]))
        if known == 0 or count % known:
            raise Unsupported(f"Reshape to {target} does not keep one sample's {count} elements")
        rest[rest.index(-1)] = count // known
    if int(np.prod(rest)) != count:
        raise Unsupported(f"Reshape to {target} merges or splits the batch axis "
                          f"(one sample has {count} elements)")
    return tuple(rest)


def _to_shape(ctx, node, x, out_shape):
    if tuple(out_shape) == ctx.shape(x):
        ctx.alias(node, x)
    else:
        ctx.emit("reshape", node, [x], out_shape)


def map_reshape(ctx, node):
    """Reshape keeping the batch -> ``reshape``.

    >>> from converters.onnx_walk import walk_node
    >>> w = walk_node("Reshape", (8, 2, 2), [np.array([0, -1])])
    >>> w.graph.layers[0].op, w.graph.tensors[w.graph.layers[0].output].shape
    ('reshape', (32,))
    """
    from .onnx_convnet import Grouped, reshape_grouped

    value = ctx.values[node.inputs[0]]
    x = value if isinstance(value, Grouped) else ctx.act(node, 0)
    target = ctx.const(node, 1, "shape")
    if target is None:
        raise Unsupported("Reshape without a shape")
    if node.attr("allowzero", 0) and 0 in target:
        raise Unsupported("attribute allowzero=1 with a zero in the target unsupported")
    if reshape_grouped(ctx, node, x, target.reshape(-1)):
        return
    _to_shape(ctx, node, x, reshape_target(target.reshape(-1), ctx.shape(x), ctx.batch))


def map_flatten(ctx, node):
    """Flatten at axis 1 -> ``reshape`` to ``[C*H*W]``.

    >>> from converters.onnx_walk import walk_node
    >>> walk_node("Flatten", (8, 2, 2), axis=2).problems[0][2]
    'Flatten with axis=2 changes the batch dimension (only axis 1)'
    """
    x = ctx.act(node, 0)
    shape = ctx.shape(x)
    axis = node.attr("axis", 1)
    axis = axis + len(shape) + 1 if axis < 0 else axis
    if axis != 1:
        raise Unsupported(f"Flatten with axis={node.attr('axis')} changes the batch dimension "
                          f"(only axis 1)")
    _to_shape(ctx, node, x, (int(np.prod(shape)),))


def _axes(ctx, node):
    if ctx.opset < 13:
        axes = node.attr("axes")
    else:
        axes = ctx.const(node, 1, "axes")
    return None if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]


def map_squeeze(ctx, node):
    """Squeeze of non-batch unit dims -> ``reshape``.

    >>> from converters.onnx_walk import walk_node
    >>> w = walk_node("Squeeze", (8, 1, 1), [np.array([2, 3])], opset=13)
    >>> w.graph.tensors[w.graph.layers[0].output].shape
    (8,)
    """
    x = ctx.act(node, 0)
    full = (ctx.batch or 0,) + ctx.shape(x)
    axes = _axes(ctx, node)
    if axes is None:
        if ctx.batch == 1:
            raise Unsupported("Squeeze without axes would drop the batch axis of size 1")
        axes = [i for i, d in enumerate(full) if i > 0 and d == 1]
    axes = [a % len(full) for a in axes]
    if 0 in axes:
        raise Unsupported("Squeeze of the batch axis unsupported")
    if any(full[a] != 1 for a in axes):
        raise Unsupported(f"Squeeze axes {axes} are not all of size 1 in {list(full[1:])}")
    _to_shape(ctx, node, x, tuple(d for i, d in enumerate(full) if i > 0 and i not in axes))


def map_unsqueeze(ctx, node):
    """Unsqueeze after the batch axis -> ``reshape``.

    >>> from converters.onnx_walk import walk_node
    >>> w = walk_node("Unsqueeze", (3, 6), axes=[3], opset=11)
    >>> w.graph.tensors[w.graph.layers[0].output].shape
    (3, 6, 1)
    """
    x = ctx.act(node, 0)
    shape = list(ctx.shape(x))
    axes = _axes(ctx, node)
    if not axes:
        raise Unsupported("Unsqueeze without axes")
    rank = len(shape) + 1 + len(axes)
    full = [None] + shape
    for a in sorted(a % rank for a in axes):
        if a == 0:
            raise Unsupported("Unsqueeze before the batch axis unsupported")
        full.insert(a, 1)
    _to_shape(ctx, node, x, tuple(full[1:]))


def map_identity(ctx, node):
    """Identity, and Cast to float32 of a float32 tensor: the output is the input.

    >>> from converters.onnx_walk import walk_node
    >>> w = walk_node("Identity", (3,))
    >>> w.graph.layers, w.values["y"] == w.values["x"]
    ([], True)
    """
    if node.op_type == "Cast" and node.attr("to") != 1:
        raise Unsupported(f"Cast of a run-time tensor to type {node.attr('to')} unsupported")
    ctx.alias(node, ctx.act(node, 0))


def map_dropout(ctx, node):
    """Inference Dropout: the output is the input; a used mask or training mode is refused.

    >>> from converters.onnx_walk import walk_node
    >>> walk_node("Dropout", (3,), [np.float32(0.5), np.bool_(True)]).problems[0][2]
    'training_mode=True unsupported'
    """
    if ctx.opset >= 12:
        training = ctx.const(node, 2, "training_mode")
        if training is not None and bool(np.asarray(training).reshape(-1)[0]):
            raise Unsupported("training_mode=True unsupported")
    if ctx.output_used(node, 1):
        raise Unsupported("the mask output unsupported")
    ctx.alias(node, ctx.act(node, 0))
