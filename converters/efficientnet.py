"""EfficientNet-Lite0..4 and EfficientNet-B0..7 in the ``efficientnet_pytorch`` key layout.

That layout is lukemelas' EfficientNet-PyTorch (``EfficientNet.from_name('efficientnet-b0')``)
and its Lite fork (``efficientnet-lite0`` .. ``lite4``)::

    _conv_stem, _bn0                    3x3 stride-2 stem
    _blocks.K._expand_conv, ._bn0       1x1 expansion (absent when the expand ratio is 1)
    _blocks.K._depthwise_conv, ._bn1    kxk depthwise, stride on each stage's first block
    _blocks.K._se_reduce, ._se_expand   squeeze-and-excitation 1x1 convs with bias (B only)
    _blocks.K._project_conv, ._bn2      1x1 projection (+ the input when stride 1, in == out)
    _conv_head, _bn1                    1x1 head conv
    _fc                                 Linear after the global average pool

Blocks are numbered K = 0, 1, ... across all stages. Batch norm eps is 0.001. Convolutions pad
like TensorFlow's SAME (``Conv2dStaticSamePadding``): a ZeroPad2d, often asymmetric (the extra
pixel at the bottom/right), then an unpadded conv; exported as Pad + Conv. The padding depends on
the input size, so the graph is built for one size (the variant's own resolution by default).

The variants scale TF's B0 table: channels by ``width`` (rounded to multiples of 8), repeats by
``depth`` (rounded up). EfficientNet-B uses swish (x * sigmoid(x)) and squeeze-and-excitation
(``max(1, int(block input channels * 0.25))`` squeezed channels, a sigmoid gate). EfficientNet-Lite
uses ReLU6, no squeeze-and-excitation, and keeps the stem (32), the head (1280) and the first and
last stages' repeats unscaled.
"""

import math

from .torch_graph import Head, same_pads

__all__ = ["VARIANTS", "CLASSIFIER", "MIN_OPSET", "build", "default_input_size", "describe",
           "round_filters"]

# TF's EfficientNet-B0 stages: (repeats, kernel, stride, expand ratio, input, output).
STAGES = [
    (1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320),
]
# name -> (width, depth, resolution, lite)
VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224, True),
    "efficientnet_lite1": (1.0, 1.1, 240, True),
    "efficientnet_lite2": (1.1, 1.2, 260, True),
    "efficientnet_lite3": (1.2, 1.4, 280, True),
    "efficientnet_lite4": (1.4, 1.8, 300, True),
    "efficientnet_b0": (1.0, 1.0, 224, False),
    "efficientnet_b1": (1.0, 1.1, 240, False),
    "efficientnet_b2": (1.1, 1.2, 260, False),
    "efficientnet_b3": (1.2, 1.4, 300, False),
    "efficientnet_b4": (1.4, 1.8, 380, False),
    "efficientnet_b5": (1.6, 2.2, 456, False),
    "efficientnet_b6": (1.8, 2.6, 528, False),
    "efficientnet_b7": (2.0, 3.1, 600, False),
}
CLASSIFIER = "_fc.weight"
MIN_OPSET = 11
BN_EPSILON = 1e-3


def round_filters(filters, width, divisor=8):
    """Channels scaled by ``width``: the nearest multiple of 8, never 10% below the product.

    >>> round_filters(32, 1.2), round_filters(320, 1.4), round_filters(16, 1.1)
    (40, 448, 16)
    """
    scaled = filters * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def describe(name):
    return f"{name} (efficientnet_pytorch layout)"


def default_input_size(name):
    return VARIANTS[name][2]


def _same_conv(g, x, size, prefix, cin, cout, kernel, stride=1, groups=1):
    """Conv2dStaticSamePadding: a ZeroPad2d (when any) then an unpadded conv; returns the
    output and its spatial size."""
    (top, bottom), (left, right) = (same_pads(s, kernel, stride) for s in size)
    x = g.pad(x, f"{prefix}.static_padding", [top, left, bottom, right])
    y = g.conv(x, prefix, cin, cout, kernel, stride=stride, groups=groups, pads=[0] * 4)
    return y, tuple(-(-s // stride) for s in size)


def build(g, name, num_classes, input_size):
    """Record ``name`` on the GraphBuilder ``g`` for ``input_size`` (H, W); returns the Head."""
    width, depth, _, lite = VARIANTS[name]
    act = "relu6" if lite else "silu"
    eps = BN_EPSILON
    stem = 32 if lite else round_filters(32, width)
    x, size = _same_conv(g, "input", input_size, "_conv_stem", 3, stem, 3, stride=2)
    x = g.act(g.batchnorm(x, "_bn0", stem, eps), act, "_swish.stem")
    index = 0
    for stage, (repeats, kernel, stride, expand, cin, cout) in enumerate(STAGES):
        cin, cout = round_filters(cin, width), round_filters(cout, width)
        if lite and stage in (0, len(STAGES) - 1):
            if stage == 0:
                cin = stem
        else:
            repeats = int(math.ceil(depth * repeats))
        for i in range(repeats):
            b = f"_blocks.{index}"
            block_in = cin if i == 0 else cout
            s = stride if i == 0 else 1
            hidden = block_in * expand
            y = x
            if expand != 1:
                y, _ = _same_conv(g, y, size, f"{b}._expand_conv", block_in, hidden, 1)
                y = g.act(g.batchnorm(y, f"{b}._bn0", hidden, eps), act, f"{b}._swish.expand")
            y, out_size = _same_conv(g, y, size, f"{b}._depthwise_conv", hidden, hidden, kernel,
                                     stride=s, groups=hidden)
            y = g.act(g.batchnorm(y, f"{b}._bn1", hidden, eps), act, f"{b}._swish.depthwise")
            if not lite:
                squeeze = max(1, int(block_in * 0.25))
                z = g.global_pool(y, f"{b}.squeeze")
                z = g.conv(z, f"{b}._se_reduce", hidden, squeeze, 1, bias=True)
                z = g.act(z, act, f"{b}._swish.se")
                z = g.conv(z, f"{b}._se_expand", squeeze, hidden, 1, bias=True)
                y = g.mul(g.act(z, "sigmoid", f"{b}.gate"), y, f"{b}.excite")
            y, _ = _same_conv(g, y, out_size, f"{b}._project_conv", hidden, cout, 1)
            y = g.batchnorm(y, f"{b}._bn2", cout, eps)
            if s == 1 and block_in == cout:
                y = g.add(y, x, f"{b}.skip")
            x, size, index = y, out_size, index + 1
    head = 1280 if lite else round_filters(1280, width)
    x, size = _same_conv(g, x, size, "_conv_head", cout, head, 1)
    x = g.act(g.batchnorm(x, "_bn1", head, eps), act, "_swish.head")
    x = g.flatten(g.global_pool(x, "_avg_pooling"), "features")
    return Head(g.linear(x, "_fc", head, num_classes, output="logits"), num_classes, "features")
