"""torchvision's MobileNetV2 as an ONNX graph, built from its state dict without torch.

The graph is what ``torch.onnx.export`` gives for ``torchvision.models.mobilenet_v2()`` in eval
mode without constant folding: every convolution is a Conv followed by its own
BatchNormalization (eps 1e-5) and, where torchvision has one, a Clip(0, 6) for ReLU6; then
GlobalAveragePool, Flatten and the classifier's Gemm (the eval-mode Dropout exports to nothing).
Batch norm is left unfolded on purpose: folding it is the converter's job, and this graph is the
reference onnxruntime checks our engine against.

torchvision's layout, which the state-dict keys follow::

    features.0            ConvBNReLU6 3 -> 32, 3x3 stride 2
    features.1 .. 17      InvertedResidual blocks (t, c, n, s) below
    features.18           ConvBNReLU6 320 -> 1280, 1x1
    classifier.1          Linear 1280 -> 1000 (classifier.0 is the Dropout)

An InvertedResidual with expansion t > 1 is ``conv.0`` (1x1 expand ConvBNReLU6), ``conv.1``
(3x3 depthwise ConvBNReLU6), ``conv.2`` (1x1 projection Conv) and ``conv.3`` (its BN); with
t == 1 the expansion is absent and the keys shift down by one (``conv.0`` depthwise, ``conv.1``
projection, ``conv.2`` BN). A block adds its input when its stride is 1 and its channel counts
match.
"""

import numpy as np

from predict.errors import ConversionError

__all__ = ["build_onnx", "expected_shapes", "INVERTED_RESIDUAL_SETTING"]

# (expansion t, output channels c, repeats n, first stride s), torchvision's table.
INVERTED_RESIDUAL_SETTING = [
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
]
STEM_CHANNELS = 32
LAST_CHANNELS = 1280
NUM_CLASSES = 1000
INPUT_SIZE = 224
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9  # ONNX's momentum is 1 - PyTorch's (0.1); unused in inference.
MIN_OPSET = 11  # Clip takes its bounds as inputs from opset 11.

_BN_PARAMS = ("weight", "bias", "running_mean", "running_var")


def _plan():
    """The layers in order; the single description of the architecture. Steps are tuples:

    ("cbr", prefix, cin, cout, kernel, stride, groups)  Conv <prefix>.0, BN <prefix>.1, ReLU6
    ("proj", conv, bn, cin, cout)                       1x1 Conv and BN without activation
    ("block_start", name), ("block_end", name, residual)  an InvertedResidual's bounds
    """
    plan = [("cbr", "features.0", 3, STEM_CHANNELS, 3, 2, 1)]
    cin, index = STEM_CHANNELS, 1
    for t, c, n, s in INVERTED_RESIDUAL_SETTING:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            block = f"features.{index}"
            plan.append(("block_start", block))
            j = 0
            if t != 1:
                plan.append(("cbr", f"{block}.conv.{j}", cin, hidden, 1, 1, 1))
                j += 1
            plan.append(("cbr", f"{block}.conv.{j}", hidden, hidden, 3, stride, hidden))
            # The projection: a bare conv at conv.{j+1}, its BN at conv.{j+2}.
            plan.append(("proj", f"{block}.conv.{j + 1}", f"{block}.conv.{j + 2}", hidden, c))
            plan.append(("block_end", block, stride == 1 and cin == c))
            cin, index = c, index + 1
    plan.append(("cbr", f"features.{index}", cin, LAST_CHANNELS, 1, 1, 1))
    return plan


def expected_shapes():
    """Every state-dict key torchvision's MobileNetV2 has, with its shape, in module order.

    ``num_batches_tracked`` (present in checkpoints from torch >= 0.4.1) is not listed: it is
    optional and unused.

    >>> shapes = expected_shapes()
    >>> shapes["features.0.0.weight"], shapes["classifier.1.weight"]
    ((32, 3, 3, 3), (1000, 1280))
    >>> sum(int(np.prod(s)) for s in shapes.values())
    3538984
    """
    shapes = {}

    def conv_bn(conv, bn, cin, cout, kernel, groups):
        shapes[f"{conv}.weight"] = (cout, cin // groups, kernel, kernel)
        for p in _BN_PARAMS:
            shapes[f"{bn}.{p}"] = (cout,)

    for step in _plan():
        if step[0] == "cbr":
            _, prefix, cin, cout, kernel, _, groups = step
            conv_bn(f"{prefix}.0", f"{prefix}.1", cin, cout, kernel, groups)
        elif step[0] == "proj":
            _, conv, bn, cin, cout = step
            conv_bn(conv, bn, cin, cout, 1, 1)
    shapes["classifier.1.weight"] = (NUM_CLASSES, LAST_CHANNELS)
    shapes["classifier.1.bias"] = (NUM_CLASSES,)
    return shapes


def _checked_weights(state_dict):
    """The state dict's arrays as float32, after checking keys, shapes and values."""
    expected = expected_shapes()
    optional = {k.rsplit(".", 1)[0] + ".num_batches_tracked" for k in expected
                if k.endswith(".running_mean")}
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected and k not in optional]
    problems = []
    if missing:
        problems.append(f"missing keys: {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_few(unexpected)}")
    wrong = [f"{k} is {tuple(np.shape(state_dict[k]))}, expected {shape}"
             for k, shape in expected.items() if k in state_dict and tuple(np.shape(state_dict[k])) != shape]
    if wrong:
        problems.append(f"wrong shapes: {_few(wrong)}")
    if problems:
        raise ConversionError("the state dict is not torchvision's MobileNetV2 (width 1.0, 1000 "
                              "classes): " + "; ".join(problems))
    weights = {}
    for key in expected:
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


def _few(items, limit=8):
    shown = ", ".join(items[:limit])
    return shown + (f" ... ({len(items)} in all)" if len(items) > limit else "")


def build_onnx(state_dict, *, opset=13, input_size=INPUT_SIZE):
    """Build torchvision's MobileNetV2 as an ``onnx.ModelProto`` from its state dict.

    ``state_dict`` maps torchvision's key names to arrays (as ``load_state_dict`` returns). The
    graph takes ``input`` of shape ``[N, 3, 224, 224]`` (normalized RGB) and returns ``logits``
    ``[N, 1000]``. Raises ``ConversionError`` when a key is missing or extra, or a shape differs.
    ``input_size`` builds the same network for smaller (or larger) square photos: the network is
    convolutional up to its global pool, so the weights fit any size from 32 up (fewer pixels run
    proportionally faster and see less detail).

    >>> from converters.torch_checkpoint import load_state_dict
    >>> model = build_onnx(load_state_dict("mobilenet_v2-b0353104.pth"))  # doctest: +SKIP
    >>> [o.name for o in model.graph.output]                               # doctest: +SKIP
    ['logits']
    """
    try:  # an optional dependency: only converters need it
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        raise ConversionError("building an ONNX graph needs the onnx package: "
                              "pip install 'predict[convert]'") from None

    if type(opset) is not int or not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ConversionError(f"opset must be an integer from {MIN_OPSET} to "
                              f"{onnx.defs.onnx_opset_version()}, got {opset!r}")
    if type(input_size) is not int or input_size < 32:
        raise ConversionError(f"input_size must be an integer >= 32, got {input_size!r}")
    weights = _checked_weights(state_dict)
    initializers = [numpy_helper.from_array(array, key) for key, array in weights.items()]
    initializers.append(numpy_helper.from_array(np.array(0.0, np.float32), "relu6_min"))
    initializers.append(numpy_helper.from_array(np.array(6.0, np.float32), "relu6_max"))
    nodes = []

    def conv_bn(x, conv, bn, kernel, stride, groups, relu6):
        nodes.append(helper.make_node(
            "Conv", [x, f"{conv}.weight"], [f"{conv}.out"], name=conv,
            kernel_shape=[kernel, kernel], strides=[stride, stride], pads=[kernel // 2] * 4,
            dilations=[1, 1], group=groups))
        nodes.append(helper.make_node(
            "BatchNormalization", [f"{conv}.out"] + [f"{bn}.{p}" for p in _BN_PARAMS],
            [f"{bn}.out"], name=bn, epsilon=BN_EPSILON, momentum=BN_MOMENTUM))
        if not relu6:
            return f"{bn}.out"
        act = bn.rsplit(".", 1)[0] + ".2"  # torchvision's ReLU6 module is <prefix>.2
        nodes.append(helper.make_node("Clip", [f"{bn}.out", "relu6_min", "relu6_max"],
                                      [f"{act}.out"], name=act))
        return f"{act}.out"

    x, block_input = "input", None
    for step in _plan():
        kind = step[0]
        if kind == "cbr":
            _, prefix, _, _, kernel, stride, groups = step
            x = conv_bn(x, f"{prefix}.0", f"{prefix}.1", kernel, stride, groups, True)
        elif kind == "proj":
            x = conv_bn(x, step[1], step[2], 1, 1, 1, False)
        elif kind == "block_start":
            block_input = x
        elif kind == "block_end" and step[2]:  # the residual connection
            block = step[1]
            nodes.append(helper.make_node("Add", [block_input, x], [f"{block}.add.out"],
                                          name=f"{block}.add"))
            x = f"{block}.add.out"
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool.out"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pool.out"], ["features"], name="flatten", axis=1))
    nodes.append(helper.make_node("Gemm", ["features", "classifier.1.weight", "classifier.1.bias"],
                                  ["logits"], name="classifier.1", alpha=1.0, beta=1.0, transB=1))
    graph = helper.make_graph(
        nodes, "mobilenet_v2",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                       ["N", 3, input_size, input_size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", NUM_CLASSES])],
        initializers)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="predict.converters",
                              ir_version=helper.find_min_ir_version_for(opsets))
    model.doc_string = "torchvision MobileNetV2 (ImageNet), built by converters.mobilenet_v2"
    return model
