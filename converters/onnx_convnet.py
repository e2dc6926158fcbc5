"""Map the ONNX operators the classic convnet families add: LRN (AlexNet, GoogLeNet),
ConvTranspose and Resize / Upsample (segmentation and detection heads), channel shuffle
(ShuffleNet's Reshape -> Transpose -> Reshape), Split and Slice along a non-batch axis, and
Transpose keeping the batch first (a detection head's NCHW -> NHWC before its reshape).

Channel shuffle passes through a rank-5 tensor, which the engine has not: the first
Reshape leaves a ``Grouped`` value instead of a tensor (the channels viewed as
``(groups, C / groups)``), a Transpose swapping those two axes marks it transposed, and the
Reshape back to the source shape emits one ``channel_shuffle`` layer.  A grouped value read
by anything else is unsupported.

    >>> from converters.onnx_walk import walk_node
    >>> walk_node("LRN", (8, 5, 5), size=3).graph.layers[0].attrs["size"]
    3
"""

from dataclasses import dataclass

import numpy as np

from .onnx_layers import Unsupported, act


@dataclass(frozen=True)
class Grouped:
    """A run-time tensor of per-sample shape (C, *spatial) viewed as (groups, C / groups,
    *spatial), or (C / groups, groups, *spatial) once transposed."""

    tensor: int
    groups: int
    channels: int
    spatial: tuple
    transposed: bool = False

    @property
    def shape(self):
        """The per-sample shape this view has (without the batch)."""
        a, b = self.groups, self.channels // self.groups
        return ((b, a) if self.transposed else (a, b)) + self.spatial


def map_lrn(ctx, node):
    """LRN across channels -> ``lrn``.

    >>> from converters.onnx_walk import walk_node
    >>> walk_node("LRN", (4, 3, 3), size=5, alpha=2e-4).graph.layers[0].attrs["alpha"]
    0.0002
    """
    x = ctx.act(node, 0)
    shape = ctx.shape(x)
    if len(shape) < 2:
        raise Unsupported("LRN needs a [C, L] or [C, H, W] tensor")
    size = node.attr("size")
    if size is None or int(size) < 1:
        raise Unsupported(f"attribute size={size} unsupported (needs an int >= 1)")
    bias = float(node.attr("bias", 1.0))
    if not bias > 0:
        raise Unsupported(f"attribute bias={bias} unsupported (needs bias > 0)")
    ctx.emit("lrn", node, [x], shape, size=int(size), alpha=float(node.attr("alpha", 1e-4)),
             beta=float(node.attr("beta", 0.75)), k=bias)


def _transpose_pads(node, sizes, kernel, strides, dilations, extra):
    """(begin pads, end pads) of a ConvTranspose, from pads, output_shape or auto_pad.

    With output_shape or SAME_* the total padding is what makes that output size; SAME_UPPER
    puts the larger half at the end, otherwise at the beginning (onnxruntime, and the ONNX
    backend tests).  A negative end pad is more output: the caller makes it output padding."""
    n = len(sizes)
    auto_pad = node.attr("auto_pad", "NOTSET")
    output_shape = node.attr("output_shape")
    pads = node.attr("pads")
    if auto_pad not in ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"):
        raise Unsupported(f"attribute auto_pad={auto_pad} unsupported")
    if output_shape is None and auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        output_shape = [size * s for size, s in zip(sizes, strides)]
    if output_shape is None:
        if auto_pad == "VALID" or pads is None:
            return [0] * n, [0] * n
        pads = [int(p) for p in pads]
        if len(pads) != 2 * n:
            raise Unsupported(f"pads {pads} do not have 2 x {n} entries")
        return pads[:n], pads[n:]
    output_shape = [int(v) for v in output_shape][-n:]
    begins, ends = [], []
    for size, k, s, d, e, out in zip(sizes, kernel, strides, dilations, extra, output_shape):
        total = s * (size - 1) + e + (k - 1) * d + 1 - out
        head = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
        begins.append(head)
        ends.append(total - head)
    return begins, ends


def map_conv_transpose(ctx, node):
    """ConvTranspose -> ``conv_transpose`` (weights [Cin, kh, kw, Cout/groups]).

    >>> from converters.onnx_walk import walk_node
    >>> w = walk_node("ConvTranspose", (4, 5, 5), [np.ones((4, 2, 3, 3))], strides=[2, 2],
    ...               pads=[1, 1, 1, 1], output_padding=[1, 1])
    >>> w.graph.tensors[w.graph.layers[0].output].shape
    (2, 10, 10)
    """
    x = ctx.act(node, 0)
    shape = ctx.shape(x)
    if len(shape) not in (2, 3):
        raise Unsupported("ConvTranspose needs a [C, L] or [C, H, W] tensor")
    w = ctx.const(node, 1, "weight")
    b = ctx.const(node, 2, "bias")
    if w is None or w.ndim != len(shape) + 1:
        raise Unsupported("ConvTranspose weight missing or of the wrong rank")
    groups = int(node.attr("group", 1))
    cin = shape[0]
    if groups < 1 or cin % groups or w.shape[0] != cin:
        raise Unsupported(f"group={groups} does not fit Cin={cin}, weight {list(w.shape)}")
    n = len(shape) - 1
    kernel = [int(k) for k in w.shape[2:]]
    if node.attr("kernel_shape") is not None and list(node.attr("kernel_shape")) != kernel:
        raise Unsupported(f"kernel_shape {node.attr('kernel_shape')} disagrees with the weight")
    strides = [int(v) for v in node.attr("strides", [1] * n)]
    dilations = [int(v) for v in node.attr("dilations", [1] * n)]
    extra = [int(v) for v in node.attr("output_padding", [0] * n)]
    if min(strides + dilations) < 1 or min(extra) < 0:
        raise Unsupported("strides and dilations must be >= 1, output_padding >= 0")
    if any(e >= max(s, d) for e, s, d in zip(extra, strides, dilations)):
        raise Unsupported(f"output_padding {extra} must be below max(stride, dilation)")
    begins, ends = _transpose_pads(node, shape[1:], kernel, strides, dilations, extra)
    extra = [e - min(0, end) for e, end in zip(extra, ends)]
    ends = [max(0, end) for end in ends]
    if any(e >= max(s, d) for e, s, d in zip(extra, strides, dilations)):
        raise Unsupported(f"output_shape {node.attr('output_shape')} needs more output padding "
                          f"than max(stride, dilation) - 1")
    if min(begins + ends) < 0:
        raise Unsupported(f"negative pads {begins + ends} unsupported")
    out = [s * (size - 1) + (k - 1) * d + 1 - pb - pe + e for size, k, s, d, pb, pe, e in
           zip(shape[1:], kernel, strides, dilations, begins, ends, extra)]
    if min(out) < 1:
        raise Unsupported(f"pads {begins + ends} crop the whole output")
    cout = w.shape[1] * groups
    weight = np.asarray(w, np.float32).reshape(cin, w.shape[1], *(kernel if n == 2 else [1] + kernel))
    if n == 1:
        keys = {"kernel": [1, kernel[0]], "strides": [1, strides[0]],
                "dilations": [1, dilations[0]], "pads": [0, begins[0], 0, ends[0]],
                "output_padding": [0, extra[0]]}
    else:
        keys = {"kernel": kernel, "strides": strides, "dilations": dilations,
                "pads": [begins[0], begins[1], ends[0], ends[1]], "output_padding": extra}
    ctx.emit("conv_transpose", node, [x], (cout, *out), weight=weight.transpose(0, 2, 3, 1),
             bias=None if b is None else np.asarray(b, np.float32).reshape(cout), groups=groups,
             act=act(), **keys)


_COORDS = ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
           "tf_half_pixel_for_nn")


def _resize_scales(ctx, node, shape):
    """(scales per spatial axis, output spatial sizes) of a Resize / Upsample."""
    rank = len(shape) + 1
    op = node.op_type
    if op == "Upsample":
        scales = node.attr("scales") if ctx.opset < 9 else ctx.const(node, 1, "scales")
        sizes = None
    elif ctx.opset < 11:
        scales, sizes = ctx.const(node, 1, "scales"), None
    else:
        scales = ctx.const(node, 2, "scales")
        sizes = ctx.const(node, 3, "sizes")
    if scales is not None and np.asarray(scales).size == 0:
        scales = None
    if sizes is not None and np.asarray(sizes).size == 0:
        sizes = None
    if (scales is None) == (sizes is None):
        raise Unsupported("needs exactly one of scales and sizes")
    axes = node.attr("axes")
    axes = list(range(rank)) if axes is None else [int(a) % rank for a in axes]
    given = [float(v) if sizes is None else int(v)
             for v in np.asarray(scales if sizes is None else sizes).reshape(-1)]
    if len(given) != len(axes):
        raise Unsupported(f"{'scales' if sizes is None else 'sizes'} {given} do not match "
                          f"axes {axes}")
    full = {a: v for a, v in zip(axes, given)}
    dims = (ctx.batch or 1,) + tuple(shape)
    if sizes is None:
        if any(full.get(a, 1.0) != 1.0 for a in (0, 1)):
            raise Unsupported(f"resizing the batch or channel axis (scales {given}) unsupported")
        spatial = [full.get(a, 1.0) for a in range(2, rank)]
        # onnxruntime sizes the output in float32.
        out = [int(np.float32(s) * np.float32(d)) for s, d in zip(spatial, shape[1:])]
    else:
        policy = node.attr("keep_aspect_ratio_policy", "stretch")
        if policy != "stretch":
            raise Unsupported(f"attribute keep_aspect_ratio_policy={policy} unsupported")
        if full.get(1, shape[0]) != shape[0] or (0 in full and ctx.batch and full[0] != ctx.batch):
            raise Unsupported(f"resizing the batch or channel axis (sizes {given}) unsupported")
        out = [full.get(a, dims[a]) for a in range(2, rank)]
        # onnxruntime divides in float32; float64 then rounding could be an ulp off
        spatial = [float(np.float32(o) / np.float32(d)) for o, d in zip(out, shape[1:])]
    if min(out) < 1:
        raise Unsupported(f"the output would be empty ({out})")
    return spatial, out


def map_resize(ctx, node):
    """Resize (opset 10+) and Upsample, nearest or linear over the spatial axes -> ``resize``.

    >>> from converters.onnx_walk import walk_node
    >>> w = walk_node("Resize", (3, 4, 4), [None, np.array([1, 1, 2, 2], np.float32)],
    ...               mode="linear", coordinate_transformation_mode="pytorch_half_pixel")
    >>> layer = w.graph.layers[0]
    >>> layer.attrs["scales"], w.graph.tensors[layer.output].shape
    ([2.0, 2.0], (3, 8, 8))
    """
    x = ctx.act(node, 0)
    shape = ctx.shape(x)
    if len(shape) not in (2, 3):
        raise Unsupported(f"{node.op_type} needs a [C, L] or [C, H, W] tensor")
    mode = node.attr("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        raise Unsupported(f"attribute mode={mode} unsupported (nearest and linear only)")
    mode = "linear" if mode == "bilinear" else mode
    if node.attr("antialias", 0):
        raise Unsupported("attribute antialias=1 unsupported")
    scales, out = _resize_scales(ctx, node, shape)
    if node.op_type == "Upsample" or ctx.opset < 11:
        # Upsample and Resize-10: asymmetric coordinates; nearest truncates when enlarging
        # and rounds up when shrinking (onnxruntime's rule for these opsets).
        coord = "asymmetric"
        up = {s > 1 for s in scales if s != 1}      # an axis of scale 1 maps x to x either way
        if mode == "nearest" and len(up) > 1:
            raise Unsupported(f"nearest with scales {scales} enlarging one axis and shrinking "
                              f"the other unsupported")
        nearest = "ceil" if up == {False} else "floor"
    else:
        coord = node.attr("coordinate_transformation_mode", "half_pixel")
        nearest = node.attr("nearest_mode", "round_prefer_floor")
        if coord == "half_pixel_symmetric":
            # Same as half_pixel when the output is exactly input * scale.
            if any(abs(o - s * d) > 1e-6 for o, s, d in zip(out, scales, shape[1:])):
                raise Unsupported("coordinate_transformation_mode=half_pixel_symmetric with an "
                                  "output not exactly input x scale unsupported")
            coord = "half_pixel"
        if coord not in _COORDS:
            raise Unsupported(f"attribute coordinate_transformation_mode={coord} unsupported")
        if nearest not in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
            raise Unsupported(f"attribute nearest_mode={nearest} unsupported")
    if len(shape) == 2:
        scales, out = [1.0] + scales, [1] + out
    ctx.emit("resize", node, [x], (shape[0], *out), mode=mode,
             coordinate_transformation_mode=coord, nearest_mode=nearest,
             scales=[float(s) for s in scales], size=[int(o) for o in out])


def _emit_slice(ctx, node, x, output, starts, ends):
    shape = ctx.shape(x)
    if list(starts) == [0] * len(shape) and list(ends) == list(shape):
        ctx.values[output] = x
        return
    out_shape = tuple(e - b for b, e in zip(starts, ends))
    ctx.values[output] = ctx.graph.add("slice", node.name, [x], output, out_shape,
                                       starts=list(starts), ends=list(ends))


def map_split(ctx, node):
    """Split along a non-batch axis -> one ``slice`` per output.

    >>> from converters.onnx_walk import walk_node
    >>> walk_node("Split", (6, 4, 4), [np.array([2, 4])], axis=0, opset=13).problems[0][2]
    'Split of the batch axis unsupported'
    """
    x = ctx.act(node, 0)
    shape = ctx.shape(x)
    rank = len(shape) + 1
    axis = int(node.attr("axis", 0)) % rank
    if axis == 0:
        raise Unsupported("Split of the batch axis unsupported")
    dim = shape[axis - 1]
    n = len(node.outputs)
    split = node.attr("split") if ctx.opset < 13 else ctx.const(node, 1, "split")
    if split is None:
        parts = int(node.attr("num_outputs", n))
        size = -(-dim // parts)
        split = [min(size, dim - i * size) for i in range(parts)]
    split = [int(v) for v in np.asarray(split).reshape(-1)]
    if len(split) != n or sum(split) != dim or min(split) < 1:
        raise Unsupported(f"split {split} does not cut dim {dim} into {n} non-empty parts")
    start = 0
    for name, size in zip(node.outputs, split):
        starts = [0] * len(shape)
        ends = list(shape)
        starts[axis - 1], ends[axis - 1] = start, start + size
        if name:
            _emit_slice(ctx, node, x, name, starts, ends)
        start += size


def map_slice(ctx, node):
    """Slice with step 1 along non-batch axes -> ``slice``.

    >>> from converters.onnx_walk import walk_node
    >>> w = walk_node("Slice", (6, 4, 4), [np.array([2]), np.array([5]), np.array([1])])
    >>> w.graph.layers[0].attrs["starts"], w.graph.layers[0].attrs["ends"]
    ([2, 0, 0], [5, 4, 4])
    """
    from .onnx_consteval import _slice_indices

    x = ctx.act(node, 0)
    shape = ctx.shape(x)
    rank = len(shape) + 1
    if ctx.opset < 10:
        starts, ends, axes, steps = (node.attr("starts"), node.attr("ends"), node.attr("axes"),
                                     None)
    else:
        starts, ends = ctx.const(node, 1, "starts"), ctx.const(node, 2, "ends")
        axes, steps = ctx.const(node, 3, "axes"), ctx.const(node, 4, "steps")
    if starts is None or ends is None:
        raise Unsupported("Slice without starts or ends")
    starts = [int(v) for v in np.asarray(starts).reshape(-1)]
    ends = [int(v) for v in np.asarray(ends).reshape(-1)]
    axes = list(range(len(starts))) if axes is None else [
        int(a) % rank for a in np.asarray(axes).reshape(-1)]
    steps = [1] * len(starts) if steps is None else [int(s) for s in np.asarray(steps).reshape(-1)]
    begin, end = [0] * len(shape), list(shape)
    dims = ((ctx.batch or 1),) + tuple(shape)
    for s, e, a, st in zip(starts, ends, axes, steps):
        if a == 0:
            # Only the whole batch, however large it is at run time, passes.
            if (s, st) == (0, 1) and (e >= 2**31 - 1 or (ctx.batch is not None and
                                                         e >= ctx.batch)):
                continue
            raise Unsupported("Slice of the batch axis unsupported")
        if st != 1:
            raise Unsupported(f"Slice with steps {steps} unsupported (step 1 only)")
        idx = _slice_indices(dims[a], s, e, st)
        if len(idx) == 0:
            raise Unsupported(f"Slice {starts}:{ends} on axes {axes} is empty")
        begin[a - 1], end[a - 1] = int(idx[0]), int(idx[-1]) + 1
    _emit_slice(ctx, node, x, node.outputs[0], begin, end)


def map_transpose(ctx, node):
    """Transpose keeping the batch axis first -> ``transpose`` (an identity is the input);
    swapping the two channel axes of a ``Grouped`` view marks it transposed (channel shuffle).

    >>> from converters.onnx_walk import walk_node
    >>> w = walk_node("Transpose", (3, 4, 5), perm=[0, 2, 3, 1])
    >>> w.graph.layers[0].attrs["perm"], w.graph.tensors[w.graph.layers[0].output].shape
    ([1, 2, 0], (4, 5, 3))
    >>> walk_node("Transpose", (3, 4, 5), perm=[1, 0, 2, 3]).problems[0][2]
    'Transpose with perm [1, 0, 2, 3] moves the batch axis'
    """
    value = ctx.values[node.inputs[0]]
    perm = node.attr("perm")
    if isinstance(value, Grouped):
        rank = len(value.shape) + 1
        perm = list(range(rank))[::-1] if perm is None else [int(p) % rank for p in perm]
        if perm == [0, 2, 1] + list(range(3, rank)):
            ctx.alias(node, Grouped(value.tensor, value.groups, value.channels, value.spatial,
                                    not value.transposed))
            return
        if perm == list(range(rank)):
            ctx.alias(node, value)
            return
        raise Unsupported(f"Transpose with perm {perm} of a grouped channel view unsupported")
    x = ctx.act(node, 0)
    shape = ctx.shape(x)
    rank = len(shape) + 1
    perm = list(range(rank))[::-1] if perm is None else [int(p) % rank for p in perm]
    if perm == list(range(rank)):
        ctx.alias(node, x)
        return
    if perm[0] != 0:
        raise Unsupported(f"Transpose with perm {perm} moves the batch axis")
    inner = [p - 1 for p in perm[1:]]
    ctx.emit("transpose", node, [x], tuple(shape[p] for p in inner), perm=inner)


def reshape_grouped(ctx, node, value, target):
    """A Reshape involving a channel view: split the channels into (groups, C / groups), or
    merge a view back into C (a ``channel_shuffle`` layer when the view was transposed).
    Returns False when ``target`` is none of these."""
    from .onnx_reshape import reshape_target

    if isinstance(value, Grouped):
        rest = reshape_target(target, value.shape, ctx.batch)
        if rest != (value.channels,) + value.spatial:
            raise Unsupported(f"Reshape of a grouped channel view to {list(target)} unsupported "
                              f"(only back to {[value.channels, *value.spatial]})")
        if not value.transposed or value.groups == 1 or value.groups == value.channels:
            ctx.alias(node, value.tensor)
        else:
            ctx.emit("channel_shuffle", node, [value.tensor], ctx.shape(value.tensor),
                     groups=value.groups)
        return True
    shape = ctx.shape(value)
    rest = reshape_target(target, shape, ctx.batch)
    if len(rest) == 4 and len(shape) == 3 and rest[2:] == shape[1:] and \
            rest[0] * rest[1] == shape[0]:
        ctx.alias(node, Grouped(value, rest[0], shape[0], tuple(shape[1:])))
        return True
    return False
