"""Map ONNX window operators: Conv, MaxPool, AveragePool, the global pools and Pad.

ONNX describes windows per spatial axis (``pads`` = all begins then all ends)
and may leave the padding to ``auto_pad``; format.md wants 2-D windows with
explicit ``[top, left, bottom, right]`` pads.  A 1-D window becomes a 2-D one
of height 1.

    >>> resolve_window([5, 5], [3, 3], strides=[1, 1], dilations=[1, 1], pads=None,
    ...                auto_pad="SAME_UPPER")["pads"]
    [1, 1, 1, 1]
"""

import math

import numpy as np

from .onnx_layers import Unsupported, act


def _out_size(size, k, s, d, begin, end, ceil_mode):
    """format.md's output size of one window axis (None if the window does not fit)."""
    extent = (k - 1) * d + 1
    span = size + begin + end - extent
    if span < 0:
        return None
    if not ceil_mode:
        return span // s + 1
    out = -(-span // s) + 1
    if (out - 1) * s >= size + begin:  # the last window would start in the end padding
        out -= 1
    return out


def resolve_window(sizes, kernel, *, strides, dilations, pads, auto_pad="NOTSET", ceil_mode=False):
    """Explicit 2-D window keys and the output spatial sizes for an ONNX window.

    ``sizes`` and ``kernel`` have one entry per spatial axis (1 or 2).  Raises
    Unsupported with the reason when the window cannot be expressed.

    >>> w = resolve_window([10], [3], strides=[2], dilations=[1], pads=[1, 1])
    >>> w["kernel"], w["pads"], w["out"]
    ([1, 3], [0, 1, 0, 1], [5])
    """
    n = len(sizes)
    strides = list(strides or [1] * n)
    dilations = list(dilations or [1] * n)
    if len(kernel) != n or len(strides) != n or len(dilations) != n:
        raise Unsupported(f"window attributes do not match the {n} spatial dims")
    if min(strides) < 1 or min(dilations) < 1 or min(kernel) < 1:
        raise Unsupported("kernel, strides and dilations must be >= 1")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            total = max(0, (math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size)
            small = total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else total - small)
            ends.append(total - begins[-1])
    elif auto_pad == "VALID":
        begins, ends = [0] * n, [0] * n
    elif auto_pad == "NOTSET":
        pads = list(pads or [0] * (2 * n))
        if len(pads) != 2 * n:
            raise Unsupported(f"pads {pads} do not have 2 x {n} entries")
        begins, ends = pads[:n], pads[n:]
    else:
        raise Unsupported(f"attribute auto_pad={auto_pad} unsupported")
    outs = []
    for size, k, s, d, b, e in zip(sizes, kernel, strides, dilations, begins, ends):
        extent = (k - 1) * d + 1
        if b < 0 or e < 0:
            raise Unsupported(f"negative pads {begins + ends} unsupported")
        if b >= extent or e >= extent:
            raise Unsupported(f"pads {begins + ends} reach the dilated kernel extent {extent}")
        out = _out_size(size, k, s, d, b, e, ceil_mode)
        if out is None or out < 1:
            raise Unsupported(f"the window ({extent}) does not fit the padded input ({size + b + e})")
        outs.append(out)
    if n == 1:
        return {"kernel": [1, kernel[0]], "strides": [1, strides[0]], "dilations": [1, dilations[0]],
                "pads": [0, begins[0], 0, ends[0]], "out": outs}
    return {"kernel": list(kernel), "strides": strides, "dilations": dilations,
            "pads": [begins[0], begins[1], ends[0], ends[1]], "out": outs}


def _spatial_input(ctx, node, what):
    x = ctx.act(node, 0)
    shape = ctx.shape(x)
    if len(shape) not in (2, 3):
        raise Unsupported(f"{what} needs a [C, L] or [C, H, W] tensor (with batch, rank 3 or 4); "
                          f"input has rank {len(shape) + 1}")
    return x, shape


def _node_window(node, sizes, kernel, ceil_mode=False):
    return resolve_window(sizes, kernel, strides=node.attr("strides"),
                          dilations=node.attr("dilations"), pads=node.attr("pads"),
                          auto_pad=node.attr("auto_pad", "NOTSET"), ceil_mode=ceil_mode)


def map_conv(ctx, node):
    """Conv -> ``conv`` (OHWI weights) or ``depthwise`` (HWC weights) when group == Cin == Cout.

    >>> from converters.onnx_walk import walk_node
    >>> conv = walk_node("Conv", (4, 8, 8), [np.ones((4, 1, 3, 3))], group=4).graph.layers[0]
    >>> conv.op, conv.attrs["weight"].shape
    ('depthwise', (3, 3, 4))
    """
    x, shape = _spatial_input(ctx, node, "Conv")
    w = ctx.const(node, 1, "weight")
    b = ctx.const(node, 2, "bias")
    if w is None:
        raise Unsupported("Conv without weights")
    if w.ndim != len(shape) + 1:
        raise Unsupported(f"weight of rank {w.ndim} does not match the input")
    kernel = list(w.shape[2:])
    if node.attr("kernel_shape") is not None and list(node.attr("kernel_shape")) != kernel:
        raise Unsupported(f"kernel_shape {node.attr('kernel_shape')} disagrees with the weight")
    groups = int(node.attr("group", 1))
    cin, cout = shape[0], w.shape[0]
    if groups < 1 or cin % groups or cout % groups or w.shape[1] * groups != cin:
        raise Unsupported(f"group={groups} does not fit Cin={cin}, weight {list(w.shape)}")
    win = _node_window(node, shape[1:], kernel)
    weight = np.asarray(w, np.float32).reshape(cout, w.shape[1], win["kernel"][0], win["kernel"][1])
    bias = None if b is None else np.asarray(b, np.float32).reshape(cout)
    keys = {k: win[k] for k in ("kernel", "strides", "dilations", "pads")}
    out_shape = (cout, *win["out"])
    if groups == cin == cout and groups > 1:
        ctx.emit("depthwise", node, [x], out_shape, weight=weight[:, 0].transpose(1, 2, 0),
                 bias=bias, act=act(), **keys)
    else:
        ctx.emit("conv", node, [x], out_shape, weight=weight.transpose(0, 2, 3, 1), bias=bias,
                 groups=groups, act=act(), **keys)


def map_maxpool(ctx, node):
    """MaxPool -> ``maxpool``; the Indices output and storage_order=1 are refused.

    >>> from converters.onnx_walk import walk_node
    >>> walk_node("MaxPool", (3, 8, 8), kernel_shape=[2, 2], storage_order=1).problems
    [('maxpool', 'MaxPool', 'attribute storage_order=1 unsupported')]
    """
    x, shape = _spatial_input(ctx, node, "MaxPool")
    if node.attr("storage_order", 0) != 0:
        raise Unsupported(f"attribute storage_order={node.attr('storage_order')} unsupported")
    if ctx.output_used(node, 1):
        raise Unsupported("the Indices output unsupported")
    ceil_mode = bool(node.attr("ceil_mode", 0))
    win = _node_window(node, shape[1:], list(node.attr("kernel_shape")), ceil_mode)
    ctx.emit("maxpool", node, [x], (shape[0], *win["out"]), ceil_mode=ceil_mode,
             **{k: win[k] for k in ("kernel", "strides", "dilations", "pads")})


def map_avgpool(ctx, node):
    """AveragePool -> ``avgpool``; dilations other than 1 are refused.

    >>> from converters.onnx_walk import walk_node
    >>> w = walk_node("AveragePool", (3, 5, 5), kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    >>> w.graph.tensors[w.graph.layers[0].output].shape
    (3, 3, 3)
    """
    x, shape = _spatial_input(ctx, node, "AveragePool")
    dilations = node.attr("dilations")
    if dilations is not None and any(d != 1 for d in dilations):
        raise Unsupported(f"attribute dilations={list(dilations)} unsupported "
                          f"(average pooling needs dilation 1)")
    ceil_mode = bool(node.attr("ceil_mode", 0))
    win = _node_window(node, shape[1:], list(node.attr("kernel_shape")), ceil_mode)
    ctx.emit("avgpool", node, [x], (shape[0], *win["out"]), ceil_mode=ceil_mode,
             count_include_pad=bool(node.attr("count_include_pad", 0)),
             **{k: win[k] for k in ("kernel", "strides", "pads")})


def map_global_pool(ctx, node):
    """GlobalAveragePool / GlobalMaxPool -> ``global_avgpool`` / ``global_maxpool``.

    >>> from converters.onnx_walk import walk_node
    >>> w = walk_node("GlobalMaxPool", (6, 10))
    >>> w.graph.layers[0].op, w.graph.tensors[w.graph.layers[0].output].shape
    ('global_maxpool', (6, 1))
    """
    x, shape = _spatial_input(ctx, node, node.op_type)
    op = "global_avgpool" if node.op_type == "GlobalAveragePool" else "global_maxpool"
    ctx.emit(op, node, [x], (shape[0],) + (1,) * (len(shape) - 1))


def map_reduce_spatial(ctx, node):
    """ReduceMean / ReduceMax over every spatial axis (how ``x.mean([2, 3])`` and TF's global
    pooling export) -> ``global_avgpool`` / ``global_maxpool``, then a ``reshape`` to ``[C]``
    without keepdims.

    >>> from converters.onnx_walk import walk_node
    >>> w = walk_node("ReduceMean", (8, 5, 5), axes=[2, 3], keepdims=0, opset=13)
    >>> [layer.op for layer in w.graph.layers], w.graph.tensors[w.graph.layers[-1].output].shape
    (['global_avgpool', 'reshape'], (8,))
    """
    x = ctx.act(node, 0)
    shape = ctx.shape(x)
    rank = len(shape) + 1
    axes = node.attr("axes") if ctx.opset < 18 else ctx.const(node, 1, "axes")
    if axes is None or np.asarray(axes).size == 0:
        if node.attr("noop_with_empty_axes", 0):
            ctx.alias(node, x)
            return
        axes = list(range(rank))
    axes = sorted({int(a) % rank for a in np.asarray(axes).reshape(-1)})
    if len(shape) < 2 or axes != list(range(2, rank)):
        raise Unsupported(f"{node.op_type} over axes {axes} of a rank-{rank} tensor unsupported "
                          f"(only over every spatial axis: {list(range(2, rank))})")
    op = "global_avgpool" if node.op_type == "ReduceMean" else "global_maxpool"
    pooled = (shape[0],) + (1,) * (len(shape) - 1)
    if node.attr("keepdims", 1):
        ctx.emit(op, node, [x], pooled)
        return
    t = ctx.emit(op, node, [x], pooled, suffix="pooled")
    ctx.emit("reshape", node, [t], (shape[0],))


def _pad_args(ctx, node, rank):
    """(pads per axis as (begin, end), mode, value) from the opset's attributes or inputs."""
    mode = node.attr("mode", "constant")
    if ctx.opset < 11:
        pads, value, axes = node.attr("pads"), node.attr("value", 0.0), None
    else:
        pads = ctx.const(node, 1, "pads")
        value = ctx.const(node, 2, "constant_value")
        axes = ctx.const(node, 3, "axes")
        value = 0.0 if value is None or value.size == 0 else float(value.reshape(-1)[0])
    if pads is None:
        raise Unsupported("Pad without pads")
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    axes = list(range(rank)) if axes is None else [int(a) % rank for a in axes.reshape(-1)]
    if len(pads) != 2 * len(axes):
        raise Unsupported(f"pads {pads} do not have 2 x {len(axes)} entries")
    full = [(0, 0)] * rank
    for i, a in enumerate(axes):
        full[a] = (pads[i], pads[i + len(axes)])
    return full, mode, float(value)


def map_pad(ctx, node):
    """Pad -> ``pad`` over the spatial dims (constant, reflect or edge).

    >>> from converters.onnx_walk import walk_node
    >>> pads = np.array([0, 0, 1, 2, 0, 0, 3, 4])
    >>> walk_node("Pad", (3, 8, 8), [pads], mode="edge").graph.layers[0].attrs["pads"]
    [1, 2, 3, 4]
    """
    x = ctx.act(node, 0)
    shape = ctx.shape(x)
    full, mode, value = _pad_args(ctx, node, len(shape) + 1)
    if mode not in ("constant", "reflect", "edge"):
        raise Unsupported(f"attribute mode={mode} unsupported")
    if any(p != (0, 0) for p in full[:2]):
        raise Unsupported(f"padding the batch or channel axis unsupported (pads {full})")
    if any(b < 0 or e < 0 for b, e in full):
        raise Unsupported(f"negative pads (cropping) unsupported (pads {full})")
    if all(p == (0, 0) for p in full):
        ctx.alias(node, x)
        return
    spatial = full[2:]
    if mode == "reflect" and any(max(b, e) >= size for (b, e), size in zip(spatial, shape[1:])):
        raise Unsupported(f"reflect padding of {spatial} needs each pad below its dim {shape[1:]}")
    if len(spatial) == 1:
        pads = [0, spatial[0][0], 0, spatial[0][1]]
    else:
        pads = [spatial[0][0], spatial[1][0], spatial[0][1], spatial[1][1]]
    out = (shape[0],) + tuple(size + b + e for size, (b, e) in zip(shape[1:], spatial))
    ctx.emit("pad", node, [x], out, pads=pads, mode=mode, value=value if mode == "constant" else 0.0)
