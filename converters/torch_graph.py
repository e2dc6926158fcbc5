"""Graph-building helpers shared by the architecture builders (resnet, mobilenet_v2, ...).

An architecture is written once as calls on a ``GraphBuilder``: ``conv_bn`` for a convolution
and its batch norm, ``act`` for an activation, ``add``, ``linear`` and so on. Each call records
the state-dict keys it reads, with their shapes, and the ONNX nodes it stands for, as plain data.
So the same description gives both the checkpoint's expected layout (to check a state dict, or
to recognize an architecture from its keys, without importing onnx) and the graph
(``to_onnx``), with the nodes ``torch.onnx.export`` would emit for the module in eval mode
without constant folding: Conv, its own BatchNormalization, the activation, GlobalAveragePool,
Flatten, Gemm. Batch norm is left unfolded: folding is the converter's job, and this graph is the
reference onnxruntime checks our engine against.

    >>> g = GraphBuilder()
    >>> y = g.conv_bn("input", "stem.0", "stem.1", 3, 8, 3, stride=2, act="relu", act_name="stem.2")
    >>> list(g.shapes.items())[:2]
    [('stem.0.weight', (8, 3, 3, 3)), ('stem.1.weight', (8,))]
    >>> [n[0] for n in g.nodes], y
    (['Conv', 'BatchNormalization', 'Relu'], 'stem.2.out')
"""

import collections

import numpy as np

from predict.errors import ConversionError

__all__ = ["GraphBuilder", "Head", "check_state_dict", "layout_problems", "describe_problems",
           "same_pads", "few"]

BN_PARAMS = ("weight", "bias", "running_mean", "running_var")
BN_MOMENTUM = 0.9  # ONNX's momentum is 1 - PyTorch's (0.1); unused in inference.


# What an architecture's builder returns: the logits tensor and its channel count, and the
# tensor Network.features should return (the penultimate features; None for none).
Head = collections.namedtuple("Head", "output channels features")


def few(items, limit=8):
    """Up to ``limit`` items joined by commas, with the total when some were left out.

    >>> few(["a", "b", "c"], limit=2)
    'a, b ... (3 in all)'
    """
    items = list(items)
    shown = ", ".join(items[:limit])
    return shown + (f" ... ({len(items)} in all)" if len(items) > limit else "")


def same_pads(size, kernel, stride):
    """TensorFlow's SAME padding of one spatial axis as (begin, end): the output is
    ceil(size / stride), the extra pixel (if the total is odd) goes at the end.

    >>> same_pads(224, 3, 2), same_pads(112, 5, 2), same_pads(65, 5, 2), same_pads(28, 1, 1)
    ((0, 1), (1, 2), (2, 2), (0, 0))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class GraphBuilder:
    """Records an architecture: the state-dict keys it reads (``shapes``, in module order) and
    its ONNX nodes (``nodes``, as ``(op, inputs, outputs, name, attrs)`` tuples).

    Tensors are named after the torchvision module that makes them (``layer1.0.conv1.out``);
    nodes after the module. ``constants`` holds the few initializers that are not weights
    (Clip's bounds, Pad's pads).
    """

    def __init__(self):
        self.shapes = collections.OrderedDict()
        self.optional = set()  # keys a checkpoint may hold or not (num_batches_tracked)
        self.nodes = []
        self.constants = collections.OrderedDict()

    # -- the parts ---------------------------------------------------------------------------

    def param(self, key, shape):
        """Declare that the state dict holds ``key`` of ``shape``; returns the key."""
        if key in self.shapes:
            raise ValueError(f"{key} declared twice")
        self.shapes[key] = tuple(int(d) for d in shape)
        return key

    def constant(self, name, value, dtype=np.float32):
        """An initializer that is no weight of the checkpoint (e.g. Clip's bounds)."""
        self.constants.setdefault(name, np.asarray(value, dtype))
        return name

    def node(self, op, inputs, output, name, **attrs):
        """Append one node with a single output; returns the output's name."""
        self.nodes.append((op, list(inputs), [output], name, attrs))
        return output

    # -- layers ------------------------------------------------------------------------------

    def conv(self, x, prefix, cin, cout, kernel, *, stride=1, groups=1, pads=None, bias=False,
             dilation=1):
        """nn.Conv2d at ``prefix``: weight (cout, cin/groups, k, k) and, with ``bias``, a bias.

        ``pads`` is ONNX's [top, left, bottom, right]; by default PyTorch's usual
        ``(k - 1) // 2 * dilation`` on every side.
        """
        if cin % groups or cout % groups:
            raise ValueError(f"{prefix}: groups {groups} do not divide {cin} -> {cout}")
        inputs = [x, self.param(f"{prefix}.weight", (cout, cin // groups, kernel, kernel))]
        if bias:
            inputs.append(self.param(f"{prefix}.bias", (cout,)))
        if pads is None:
            pads = [(kernel - 1) // 2 * dilation] * 4
        return self.node("Conv", inputs, f"{prefix}.out", prefix, kernel_shape=[kernel, kernel],
                         strides=[stride, stride], pads=list(pads), dilations=[dilation] * 2,
                         group=groups)

    def batchnorm(self, x, prefix, channels, eps=1e-5):
        """nn.BatchNorm2d at ``prefix`` (eval mode: its running statistics)."""
        inputs = [x] + [self.param(f"{prefix}.{p}", (channels,)) for p in BN_PARAMS]
        self.optional.add(f"{prefix}.num_batches_tracked")
        return self.node("BatchNormalization", inputs, f"{prefix}.out", prefix, epsilon=eps,
                         momentum=BN_MOMENTUM)

    def act(self, x, kind, name):
        """An activation module named ``name``: relu, relu6, hardswish, hardsigmoid (torch's
        x/6 + 1/2, clipped), sigmoid, or silu (x * sigmoid(x), as torch exports SiLU/swish)."""
        out = f"{name}.out"
        if kind == "relu":
            return self.node("Relu", [x], out, name)
        if kind == "relu6":
            lo, hi = self.constant("relu6_min", 0.0), self.constant("relu6_max", 6.0)
            return self.node("Clip", [x, lo, hi], out, name)
        if kind == "hardswish":
            return self.node("HardSwish", [x], out, name)
        if kind == "hardsigmoid":
            return self.node("HardSigmoid", [x], out, name, alpha=1.0 / 6.0, beta=0.5)
        if kind == "sigmoid":
            return self.node("Sigmoid", [x], out, name)
        if kind == "silu":
            s = self.node("Sigmoid", [x], f"{name}.sigmoid.out", f"{name}.sigmoid")
            return self.node("Mul", [x, s], out, name)
        raise ValueError(f"unknown activation {kind!r}")

    def conv_bn(self, x, conv, bn, cin, cout, kernel, *, stride=1, groups=1, pads=None,
                eps=1e-5, act=None, act_name=None, dilation=1):
        """Conv (no bias), its BatchNorm and an optional activation: the unit every
        architecture here repeats (torchvision's Conv2dNormActivation)."""
        y = self.conv(x, conv, cin, cout, kernel, stride=stride, groups=groups, pads=pads,
                      dilation=dilation)
        y = self.batchnorm(y, bn, cout, eps)
        if act is None:
            return y
        return self.act(y, act, act_name or bn.rsplit(".", 1)[0] + ".act")

    def pad(self, x, name, pads):
        """A constant zero Pad node (nn.ZeroPad2d); ``pads`` is [top, left, bottom, right].
        Nothing when all are 0."""
        if not any(pads):
            return x
        top, left, bottom, right = pads
        key = self.constant(f"{name}.pads", [0, 0, top, left, 0, 0, bottom, right], np.int64)
        return self.node("Pad", [x, key], f"{name}.out", name, mode="constant")

    def maxpool(self, x, name, kernel, stride, pad=0, ceil_mode=False):
        """nn.MaxPool2d."""
        return self.node("MaxPool", [x], f"{name}.out", name, kernel_shape=[kernel, kernel],
                         strides=[stride, stride], pads=[pad] * 4, ceil_mode=int(ceil_mode))

    def add(self, a, b, name):
        return self.node("Add", [a, b], f"{name}.out", name)

    def mul(self, a, b, name):
        return self.node("Mul", [a, b], f"{name}.out", name)

    def concat(self, xs, name):
        """torch.cat along the channels."""
        return self.node("Concat", xs, f"{name}.out", name, axis=1)

    def global_pool(self, x, name):
        """nn.AdaptiveAvgPool2d(1), which torch exports as GlobalAveragePool."""
        return self.node("GlobalAveragePool", [x], f"{name}.out", name)

    def flatten(self, x, output, name="flatten"):
        """torch.flatten(x, 1)."""
        return self.node("Flatten", [x], output, name, axis=1)

    def linear(self, x, prefix, cin, cout, output=None):
        """nn.Linear at ``prefix``, as Gemm with the weight transposed."""
        w = self.param(f"{prefix}.weight", (cout, cin))
        b = self.param(f"{prefix}.bias", (cout,))
        return self.node("Gemm", [x, w, b], output or f"{prefix}.out", prefix, alpha=1.0,
                         beta=1.0, transB=1)

    # -- the model ---------------------------------------------------------------------------

    def to_onnx(self, weights, *, name, output, output_channels, input_size, opset, doc):
        """The ``onnx.ModelProto``: input ``input`` [N, 3, H, W], output ``output``
        [N, output_channels], initializers from ``weights`` (as check_state_dict returns)."""
        from onnx import TensorProto, helper, numpy_helper

        initializers = [numpy_helper.from_array(weights[key], key) for key in self.shapes]
        initializers += [numpy_helper.from_array(v, k) for k, v in self.constants.items()]
        nodes = [helper.make_node(op, inputs, outputs, name=node_name, **attrs)
                 for op, inputs, outputs, node_name, attrs in self.nodes]
        height, width = input_size
        graph = helper.make_graph(
            nodes, name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, height, width])],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", output_channels])],
            initializers)
        opsets = [helper.make_opsetid("", opset)]
        model = helper.make_model(graph, opset_imports=opsets, producer_name="predict.converters",
                                  ir_version=helper.find_min_ir_version_for(opsets))
        model.doc_string = doc
        return model


def layout_problems(state_dict, builder):
    """What keeps ``state_dict`` from being the layout ``builder`` recorded, as
    ``(missing keys, unexpected keys, wrong-shape texts)``; all empty when it fits.

    >>> g = GraphBuilder(); _ = g.linear("x", "fc", 4, 2)
    >>> layout_problems({"fc.weight": np.zeros((2, 5)), "other": np.zeros(1)}, g)
    (['fc.bias'], ['other'], ['fc.weight is (2, 5), expected (2, 4)'])
    """
    expected = builder.shapes
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected and k not in builder.optional]
    wrong = [f"{k} is {tuple(np.shape(state_dict[k]))}, expected {shape}"
             for k, shape in expected.items()
             if k in state_dict and tuple(np.shape(state_dict[k])) != shape]
    return missing, unexpected, wrong


def describe_problems(missing, unexpected, wrong):
    """The problems of ``layout_problems`` as one line."""
    parts = []
    if missing:
        parts.append(f"missing keys: {few(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {few(unexpected)}")
    if wrong:
        parts.append(f"wrong shapes: {few(wrong)}")
    return "; ".join(parts)


def check_state_dict(state_dict, builder, what):
    """The state dict's arrays (the keys ``builder`` recorded) as C-contiguous float32, after
    checking keys, shapes and values; ``ConversionError`` naming ``what`` otherwise.

    >>> g = GraphBuilder(); _ = g.linear("x", "fc", 2, 1)
    >>> weights = check_state_dict({"fc.weight": np.ones((1, 2)), "fc.bias": np.zeros(1)}, g, "a net")
    >>> weights["fc.weight"].dtype
    dtype('float32')
    """
    problems = describe_problems(*layout_problems(state_dict, builder))
    if problems:
        raise ConversionError(f"the state dict is not {what}: {problems}")
    weights = {}
    for key in builder.shapes:
        array = np.asarray(state_dict[key])
        if array.dtype.kind != "f":
            raise ConversionError(f"{key} has dtype {array.dtype}, expected floating point")
        array = np.array(array, dtype=np.float32, order="C")
        if not np.all(np.isfinite(array)):
            raise ConversionError(f"{key} holds NaN or infinite values")
        if key.endswith(".running_var") and np.any(array < 0):
            raise ConversionError(f"{key} holds negative variances")
        weights[key] = array
    return weights
