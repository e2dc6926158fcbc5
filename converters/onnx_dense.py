"""Map ONNX Gemm, MatMul and BatchNormalization.

Gemm and MatMul become ``fc`` layers: the activation is the ``[K]`` vector of
each sample and the other operand a constant matrix, stored ``[Cout, K]``.
BatchNormalization becomes the internal ``affine`` op (``x * scale + shift``
per channel) that ``converters/simplify.py`` folds into the convolution or
fully connected layer before it, or lowers to format ops.

    >>> import numpy as np
    >>> scale, shift = batchnorm_affine(np.ones(2), np.zeros(2), np.array([1., 2.]),
    ...                                 np.array([3., 0.]), eps=1.0)
    >>> scale.tolist(), shift.tolist()
    ([0.5, 1.0], [-0.5, -2.0])
"""

import numpy as np

from .onnx_layers import Unsupported, act


def batchnorm_affine(gamma, beta, mean, var, eps):
    """Per-channel scale and shift equal to inference-mode batch normalization."""
    scale = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + eps)
    shift = np.asarray(beta, np.float64) - np.asarray(mean, np.float64) * scale
    return scale.astype(np.float32), shift.astype(np.float32)


def _vector_input(ctx, node):
    x = ctx.act(node, 0)
    if len(ctx.shape(x)) != 1:
        raise Unsupported(f"{node.op_type} needs a 2-D (batch, K) activation; input has rank "
                          f"{len(ctx.shape(x)) + 1}")
    return x, ctx.shape(x)[0]


def map_gemm(ctx, node):
    """Gemm(A, B, C) with A at run time, B and C constant -> ``fc``.

    >>> from converters.onnx_walk import walk_node
    >>> fc = walk_node("Gemm", (5,), [np.ones((5, 2)), np.ones(2)], alpha=2.0).graph.layers[0]
    >>> fc.op, fc.attrs["weight"].shape, float(fc.attrs["weight"][0, 0])
    ('fc', (2, 5), 2.0)
    """
    if node.attr("transA", 0):
        raise Unsupported("attribute transA=1 unsupported (the activation must be A, untransposed)")
    x, k = _vector_input(ctx, node)
    b = ctx.const(node, 1, "B")
    c = ctx.const(node, 2, "C")
    if b is None or b.ndim != 2:
        raise Unsupported("B must be a constant matrix")
    weight = np.asarray(b, np.float32) if node.attr("transB", 0) else np.asarray(b, np.float32).T
    if weight.shape[1] != k:
        raise Unsupported(f"B of shape {list(b.shape)} does not fit K={k}")
    cout = weight.shape[0]
    weight = weight * np.float32(node.attr("alpha", 1.0))
    bias = None
    if c is not None:
        c = np.asarray(c, np.float32)
        if c.ndim == 2 and c.shape[0] != 1:
            raise Unsupported(f"C of shape {list(c.shape)} varies along the batch axis")
        try:
            bias = np.broadcast_to(c.reshape(-1) if c.ndim == 2 else c, (cout,))
        except ValueError:
            raise Unsupported(f"C of shape {list(c.shape)} does not broadcast to [{cout}]") from None
        bias = (bias * np.float32(node.attr("beta", 1.0))).astype(np.float32)
    ctx.emit("fc", node, [x], (cout,), weight=weight, bias=bias, act=act())


def map_matmul(ctx, node):
    """MatMul(A, B) with A a (batch, K) activation and B a constant [K, M] -> ``fc``.

    >>> from converters.onnx_walk import walk_node
    >>> walk_node("MatMul", (5,), [np.ones((5, 2))]).graph.layers[0].attrs["weight"].shape
    (2, 5)
    """
    x, k = _vector_input(ctx, node)
    b = ctx.const(node, 1, "B")
    if b.ndim != 2 or b.shape[0] != k:
        raise Unsupported(f"B must be a constant [K, M] matrix with K={k}; it is {list(b.shape)}")
    weight = np.ascontiguousarray(np.asarray(b, np.float32).T)
    ctx.emit("fc", node, [x], (b.shape[1],), weight=weight, bias=None, act=act())


def map_batchnorm(ctx, node):
    """Inference BatchNormalization -> ``affine`` (folded or lowered by simplify).

    >>> from converters.onnx_walk import walk_node
    >>> stats = [np.ones(3), np.zeros(3), np.zeros(3), np.ones(3)]
    >>> walk_node("BatchNormalization", (3, 4, 4), stats, training_mode=1).problems[0][2]
    'attribute training_mode=1 unsupported'
    """
    if node.attr("training_mode", 0):
        raise Unsupported("attribute training_mode=1 unsupported")
    if node.attr("spatial", 1) != 1:
        raise Unsupported(f"attribute spatial={node.attr('spatial')} unsupported")
    if any(ctx.output_used(node, i) for i in range(1, len(node.outputs))):
        raise Unsupported("the training outputs (running mean/var) unsupported")
    x = ctx.act(node, 0)
    shape = ctx.shape(x)
    params = [ctx.const(node, i, what) for i, what in
              enumerate(["scale", "bias", "mean", "var"], start=1)]
    if any(p is None or p.size != shape[0] for p in params):
        raise Unsupported(f"scale, bias, mean and var must be constants of {shape[0]} values")
    scale, shift = batchnorm_affine(*[p.reshape(-1) for p in params],
                                    eps=float(node.attr("epsilon", 1e-5)))
    ctx.emit("affine", node, [x], shape, scale=scale, shift=shift, act=act())
