"""torchvision's MobileNetV3 (large and small) from the state dict.

torchvision's layout (batch norm eps 0.001)::

    features.0                      Conv2dNormActivation 3 -> 16, 3x3 stride 2, hard-swish
    features.1 .. N                 InvertedResidual blocks, each a ``block`` Sequential of:
      block.0  (if expanded != in)  1x1 expand Conv-BN-activation (ReLU or hard-swish)
      block.j                       kxk depthwise Conv-BN-activation (stride here)
      block.j+1 (if SE)             SqueezeExcitation: global pool, fc1 (1x1 conv, bias), ReLU,
                                    fc2 (1x1 conv, bias), hard-sigmoid, times the input
      block.last                    1x1 projection Conv-BN, no activation
                                    (+ the input when stride 1 and in == out)
    features.N+1                    1x1 Conv-BN-hard-swish to 6 x the last block's channels
    classifier.0, .3                Linear, hard-swish, Dropout, Linear (after global pool)

Hard-swish and hard-sigmoid are exported as ONNX HardSwish and HardSigmoid (alpha 1/6), which
need opset 14 for HardSwish.
"""

from .torch_graph import Head

__all__ = ["VARIANTS", "CLASSIFIER", "MIN_OPSET", "build", "default_input_size", "describe",
           "make_divisible"]

# (input, kernel, expanded, output, squeeze-excite, activation, stride): torchvision's tables.
_LARGE = [
    (16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2),
    (24, 3, 72, 24, False, "RE", 1), (24, 5, 72, 40, True, "RE", 2),
    (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
]
_SMALL = [
    (16, 3, 16, 16, True, "RE", 2), (16, 3, 72, 24, False, "RE", 2),
    (24, 3, 88, 24, False, "RE", 1), (24, 5, 96, 40, True, "HS", 2),
    (40, 5, 240, 40, True, "HS", 1), (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 120, 48, True, "HS", 1), (48, 5, 144, 48, True, "HS", 1),
    (48, 5, 288, 96, True, "HS", 2), (96, 5, 576, 96, True, "HS", 1),
    (96, 5, 576, 96, True, "HS", 1),
]
# name -> (blocks, channels of the classifier's hidden layer)
VARIANTS = {"mobilenet_v3_large": (_LARGE, 1280), "mobilenet_v3_small": (_SMALL, 1024)}
CLASSIFIER = "classifier.3.weight"
MIN_OPSET = 14  # HardSwish
BN_EPSILON = 1e-3


def make_divisible(value, divisor=8):
    """The channel rounding of the MobileNet papers: the nearest multiple of ``divisor``, at
    least ``divisor``, never more than 10% below ``value``.

    >>> make_divisible(72 // 4), make_divisible(16 // 4), make_divisible(960 // 4)
    (24, 8, 240)
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def describe(name):
    return f"torchvision {name}"


def default_input_size(name):
    return 224


def build(g, name, num_classes, input_size):
    """Record ``name`` on the GraphBuilder ``g``; returns the Head."""
    blocks, hidden = VARIANTS[name]
    eps = BN_EPSILON
    x = g.conv_bn("input", "features.0.0", "features.0.1", 3, blocks[0][0], 3, stride=2,
                  eps=eps, act="hardswish", act_name="features.0.2")
    for index, (cin, kernel, expanded, cout, se, act, stride) in enumerate(blocks, start=1):
        act = "hardswish" if act == "HS" else "relu"
        p = f"features.{index}.block"
        y, j = x, 0
        if expanded != cin:
            y = g.conv_bn(y, f"{p}.0.0", f"{p}.0.1", cin, expanded, 1, eps=eps, act=act,
                          act_name=f"{p}.0.2")
            j = 1
        y = g.conv_bn(y, f"{p}.{j}.0", f"{p}.{j}.1", expanded, expanded, kernel, stride=stride,
                      groups=expanded, eps=eps, act=act, act_name=f"{p}.{j}.2")
        j += 1
        if se:
            squeeze = make_divisible(expanded // 4)
            s = g.global_pool(y, f"{p}.{j}.avgpool")
            s = g.act(g.conv(s, f"{p}.{j}.fc1", expanded, squeeze, 1, bias=True), "relu",
                      f"{p}.{j}.activation")
            s = g.act(g.conv(s, f"{p}.{j}.fc2", squeeze, expanded, 1, bias=True), "hardsigmoid",
                      f"{p}.{j}.scale_activation")
            y = g.mul(s, y, f"{p}.{j}.scale")
            j += 1
        y = g.conv_bn(y, f"{p}.{j}.0", f"{p}.{j}.1", expanded, cout, 1, eps=eps)
        if stride == 1 and cin == cout:
            y = g.add(y, x, f"features.{index}.add")
        x = y
    last_in = blocks[-1][3]
    last_out = 6 * last_in
    n = len(blocks) + 1
    x = g.conv_bn(x, f"features.{n}.0", f"features.{n}.1", last_in, last_out, 1, eps=eps,
                  act="hardswish", act_name=f"features.{n}.2")
    x = g.flatten(g.global_pool(x, "avgpool"), "pooled")
    x = g.act(g.linear(x, "classifier.0", last_out, hidden), "hardswish", "classifier.1")
    logits = g.linear(x, "classifier.3", hidden, num_classes, output="logits")
    return Head(logits, num_classes, x)
