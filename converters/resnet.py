"""torchvision's ResNet family (ResNet-18/34/50/101/152, ResNeXt, Wide ResNet) from its state dict.

torchvision's layout, which the state-dict keys follow::

    conv1, bn1                    7x7 stride-2 stem (64 channels), ReLU, 3x3 stride-2 max pool
    layer1 .. layer4              residual stages of 64, 128, 256, 512 "planes"
    layerS.I.conv1/bn1 ...        a block: BasicBlock (two 3x3 convs) or Bottleneck (1x1, 3x3
                                  grouped, 1x1 to 4 x planes), stride 2 in the 3x3 conv of each
                                  stage's first block (ResNet v1.5)
    layerS.I.downsample.0/.1      1x1 conv and BN on the shortcut where the shape changes
    fc                            Linear after the global average pool

ResNeXt widens the Bottleneck's middle to ``planes * width_per_group / 64 * groups`` with grouped
3x3 convolutions; Wide ResNet doubles ``width_per_group``. The variants share key names and
differ in shapes, which is how they are told apart.
"""

from .torch_graph import Head

__all__ = ["VARIANTS", "CLASSIFIER", "MIN_OPSET", "build", "default_input_size", "describe"]

# name -> (block, blocks per stage, groups, width per group)
VARIANTS = {
    "resnet18": ("basic", (2, 2, 2, 2), 1, 64),
    "resnet34": ("basic", (3, 4, 6, 3), 1, 64),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 1, 64),
    "resnet101": ("bottleneck", (3, 4, 23, 3), 1, 64),
    "resnet152": ("bottleneck", (3, 8, 36, 3), 1, 64),
    "resnext50_32x4d": ("bottleneck", (3, 4, 6, 3), 32, 4),
    "resnext101_32x8d": ("bottleneck", (3, 4, 23, 3), 32, 8),
    "resnext101_64x4d": ("bottleneck", (3, 4, 23, 3), 64, 4),
    "wide_resnet50_2": ("bottleneck", (3, 4, 6, 3), 1, 128),
    "wide_resnet101_2": ("bottleneck", (3, 4, 23, 3), 1, 128),
}
CLASSIFIER = "fc.weight"
MIN_OPSET = 11


def describe(name):
    """What the error messages call the variant.

    >>> describe("resnet50")
    'torchvision resnet50'
    """
    return f"torchvision {name}"


def default_input_size(name):
    return 224


def build(g, name, num_classes, input_size):
    """Record ``name`` on the GraphBuilder ``g``; returns the Head."""
    block, layers, groups, width_per_group = VARIANTS[name]
    expansion = 1 if block == "basic" else 4
    x = g.conv_bn("input", "conv1", "bn1", 3, 64, 7, stride=2, act="relu", act_name="relu")
    x = g.maxpool(x, "maxpool", 3, 2, pad=1)
    inplanes = 64
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), layers), start=1):
        for i in range(count):
            stride = 2 if stage > 1 and i == 0 else 1
            p = f"layer{stage}.{i}"
            out = planes * expansion
            if block == "basic":
                y = g.conv_bn(x, f"{p}.conv1", f"{p}.bn1", inplanes, planes, 3, stride=stride,
                              act="relu", act_name=f"{p}.relu1")
                y = g.conv_bn(y, f"{p}.conv2", f"{p}.bn2", planes, planes, 3)
            else:
                width = int(planes * (width_per_group / 64.0)) * groups
                y = g.conv_bn(x, f"{p}.conv1", f"{p}.bn1", inplanes, width, 1,
                              act="relu", act_name=f"{p}.relu1")
                y = g.conv_bn(y, f"{p}.conv2", f"{p}.bn2", width, width, 3, stride=stride,
                              groups=groups, act="relu", act_name=f"{p}.relu2")
                y = g.conv_bn(y, f"{p}.conv3", f"{p}.bn3", width, out, 1)
            shortcut = x
            if stride != 1 or inplanes != out:
                shortcut = g.conv_bn(x, f"{p}.downsample.0", f"{p}.downsample.1", inplanes, out,
                                     1, stride=stride)
            x = g.act(g.add(y, shortcut, f"{p}.add"), "relu", f"{p}.relu")
            inplanes = out
    x = g.flatten(g.global_pool(x, "avgpool"), "features")
    return Head(g.linear(x, "fc", inplanes, num_classes, output="logits"), num_classes, "features")
