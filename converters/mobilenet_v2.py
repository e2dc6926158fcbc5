"""torchvision's MobileNetV2 as an ONNX graph, built from its state dict without torch.

The graph is what ``torch.onnx.export`` gives for ``torchvision.models.mobilenet_v2()`` in eval
mode without constant folding (converters.torch_graph): every convolution is a Conv followed by
its own BatchNormalization (eps 1e-5) and, where torchvision has one, a Clip(0, 6) for ReLU6;
then GlobalAveragePool, Flatten and the classifier's Gemm (the eval-mode Dropout exports to
nothing).

torchvision's layout, which the state-dict keys follow::

    features.0            ConvBNReLU6 3 -> 32, 3x3 stride 2
    features.1 .. 17      InvertedResidual blocks (t, c, n, s) below
    features.18           ConvBNReLU6 320 -> 1280, 1x1
    classifier.1          Linear 1280 -> classes (classifier.0 is the Dropout)

An InvertedResidual with expansion t > 1 is ``conv.0`` (1x1 expand ConvBNReLU6), ``conv.1``
(3x3 depthwise ConvBNReLU6), ``conv.2`` (1x1 projection Conv) and ``conv.3`` (its BN); with
t == 1 the expansion is absent and the keys shift down by one (``conv.0`` depthwise, ``conv.1``
projection, ``conv.2`` BN). A block adds its input when its stride is 1 and its channel counts
match.
"""

from .torch_graph import Head

__all__ = ["build_onnx", "expected_shapes", "INVERTED_RESIDUAL_SETTING", "VARIANTS", "build"]

# (expansion t, output channels c, repeats n, first stride s), torchvision's table.
INVERTED_RESIDUAL_SETTING = [
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
]
STEM_CHANNELS = 32
LAST_CHANNELS = 1280
NUM_CLASSES = 1000
INPUT_SIZE = 224
MIN_OPSET = 11  # Clip takes its bounds as inputs from opset 11.
VARIANTS = {"mobilenet_v2": None}
CLASSIFIER = "classifier.1.weight"


def describe(name):
    return "torchvision MobileNetV2 (width 1.0)"


def default_input_size(name):
    return INPUT_SIZE


def build(g, name, num_classes, input_size):
    """Record MobileNetV2 on the GraphBuilder ``g``; returns the Head."""
    x = g.conv_bn("input", "features.0.0", "features.0.1", 3, STEM_CHANNELS, 3, stride=2,
                  act="relu6", act_name="features.0.2")
    cin, index = STEM_CHANNELS, 1
    for t, c, n, s in INVERTED_RESIDUAL_SETTING:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            p = f"features.{index}.conv"
            y, j = x, 0
            if t != 1:
                y = g.conv_bn(y, f"{p}.0.0", f"{p}.0.1", cin, hidden, 1, act="relu6",
                              act_name=f"{p}.0.2")
                j = 1
            y = g.conv_bn(y, f"{p}.{j}.0", f"{p}.{j}.1", hidden, hidden, 3, stride=stride,
                          groups=hidden, act="relu6", act_name=f"{p}.{j}.2")
            # The projection: a bare conv at conv.{j+1}, its BN at conv.{j+2}.
            y = g.conv_bn(y, f"{p}.{j + 1}", f"{p}.{j + 2}", hidden, c, 1)
            if stride == 1 and cin == c:  # the residual connection
                y = g.add(x, y, f"features.{index}.add")
            x, cin, index = y, c, index + 1
    x = g.conv_bn(x, f"features.{index}.0", f"features.{index}.1", cin, LAST_CHANNELS, 1,
                  act="relu6", act_name=f"features.{index}.2")
    x = g.flatten(g.global_pool(x, "pool"), "features")
    logits = g.linear(x, "classifier.1", LAST_CHANNELS, num_classes, output="logits")
    return Head(logits, num_classes, "features")


def expected_shapes(num_classes=NUM_CLASSES):
    """Every state-dict key torchvision's MobileNetV2 has, with its shape, in module order.

    ``num_batches_tracked`` (present in checkpoints from torch >= 0.4.1) is not listed: it is
    optional and unused.

    >>> import numpy as np
    >>> shapes = expected_shapes()
    >>> shapes["features.0.0.weight"], shapes["classifier.1.weight"]
    ((32, 3, 3, 3), (1000, 1280))
    >>> sum(int(np.prod(s)) for s in shapes.values())
    3538984
    """
    from .torch_arch import expected_shapes as shapes_of

    return shapes_of("mobilenet_v2", num_classes)


def build_onnx(state_dict, *, opset=13, input_size=INPUT_SIZE):
    """Build torchvision's MobileNetV2 as an ``onnx.ModelProto`` from its state dict.

    ``state_dict`` maps torchvision's key names to arrays (as ``load_state_dict`` returns). The
    graph takes ``input`` of shape ``[N, 3, 224, 224]`` (normalized RGB) and returns ``logits``
    ``[N, classes]`` (the classes counted from the classifier's weight: 1000 for ImageNet).
    Raises ``ConversionError`` when a key is missing or extra, or a shape differs.
    ``input_size`` builds the same network for smaller (or larger) square photos: the network is
    convolutional up to its global pool, so the weights fit any size from 32 up (fewer pixels run
    proportionally faster and see less detail).

    >>> from converters.torch_checkpoint import load_state_dict
    >>> model = build_onnx(load_state_dict("mobilenet_v2-b0353104.pth"))  # doctest: +SKIP
    >>> [o.name for o in model.graph.output]                               # doctest: +SKIP
    ['logits']
    """
    from .torch_arch import build_onnx as build_arch

    built = build_arch(state_dict, "mobilenet_v2", opset=opset, input_size=input_size)
    built.model.doc_string = "torchvision MobileNetV2 (ImageNet), built by converters.mobilenet_v2"
    return built.model
