"""torchvision's SqueezeNet 1.0 and 1.1 from the state dict.

torchvision's layout::

    features.0                  stem conv with bias (1.0: 96 7x7, 1.1: 64 3x3; stride 2, no pad)
    features.N                  Fire modules and 3x3 stride-2 max pools (ceil mode)
    features.N.squeeze          1x1 conv, ReLU, then expand1x1 (1x1) and expand3x3 (3x3, pad 1)
                                each with ReLU, concatenated along the channels
    classifier.1                1x1 conv to the classes (classifier.0 is the Dropout), ReLU,
                                global average pool, flatten
"""

from .torch_graph import Head

__all__ = ["VARIANTS", "CLASSIFIER", "MIN_OPSET", "build", "default_input_size", "describe"]

# name -> (stem channels, stem kernel, features: "pool" or (in, squeeze, expand) per index)
VARIANTS = {
    "squeezenet1_0": (96, 7, ["pool", (96, 16, 64), (128, 16, 64), (128, 32, 128), "pool",
                              (256, 32, 128), (256, 48, 192), (384, 48, 192), (384, 64, 256),
                              "pool", (512, 64, 256)]),
    "squeezenet1_1": (64, 3, ["pool", (64, 16, 64), (128, 16, 64), "pool", (128, 32, 128),
                              (256, 32, 128), "pool", (256, 48, 192), (384, 48, 192),
                              (384, 64, 256), (512, 64, 256)]),
}
CLASSIFIER = "classifier.1.weight"
MIN_OPSET = 11


def describe(name):
    return f"torchvision {name}"


def default_input_size(name):
    return 224


def build(g, name, num_classes, input_size):
    """Record ``name`` on the GraphBuilder ``g``; returns the Head (no fc: no features)."""
    stem, kernel, layout = VARIANTS[name]
    x = g.conv("input", "features.0", 3, stem, kernel, stride=2, pads=[0] * 4, bias=True)
    x = g.act(x, "relu", "features.1")
    for index, item in enumerate(layout, start=2):
        p = f"features.{index}"
        if item == "pool":
            x = g.maxpool(x, p, 3, 2, ceil_mode=True)
            continue
        cin, squeeze, expand = item
        s = g.act(g.conv(x, f"{p}.squeeze", cin, squeeze, 1, bias=True), "relu",
                  f"{p}.squeeze_activation")
        e1 = g.act(g.conv(s, f"{p}.expand1x1", squeeze, expand, 1, bias=True), "relu",
                   f"{p}.expand1x1_activation")
        e3 = g.act(g.conv(s, f"{p}.expand3x3", squeeze, expand, 3, bias=True), "relu",
                   f"{p}.expand3x3_activation")
        x = g.concat([e1, e3], f"{p}.cat")
    x = g.conv(x, "classifier.1", 512, num_classes, 1, bias=True)
    x = g.global_pool(g.act(x, "relu", "classifier.2"), "classifier.3")
    return Head(g.flatten(x, "logits"), num_classes, None)
