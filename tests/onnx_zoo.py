"""A model zoo for the converter's tests: one small builder per classic convnet family, made
with onnx.helper, random weights from a seeded generator, no download.

Each builder takes an opset and writes the operators the way exporters of that opset do
(Clip's bounds as attributes before opset 11 and inputs after, HardSwish only from opset 14,
Upsample before Resize, Split's sizes as an input from 13...).  Spatial sizes are small so the
whole zoo converts and runs in seconds; the layer pattern of each family is what matters:

- AlexNet/CaffeNet: big strided conv, LRN, grouped conv, overlapping max pools, FC + Dropout.
- VGG: stacks of 3x3 convs, max pools, FC layers.
- GoogLeNet (Inception v1): LRN, ceil-mode pools, four-branch concat.
- Inception v3: batch norm, factorized 1x7 / 7x1 convs, average pool with padding.
- ResNet / ResNeXt: residual adds, strided 1x1 shortcuts, grouped 3x3 bottlenecks.
- SqueezeNet: fire modules (squeeze, two expands, concat), ceil-mode pools, conv classifier.
- DenseNet: pre-activation batch norm, growing concats, average-pool transitions.
- ShuffleNet v1 / v2: grouped 1x1 convs, channel shuffle (Reshape -> Transpose -> Reshape),
  channel split.
- MobileNet v1 / v2 / v3: depthwise separable convs, ReLU6, inverted residuals (v2 pooled by
  ReduceMean without keepdims, as x.mean([2, 3]) exports), hard-swish, squeeze-and-excitation
  (global pool -> convs -> hard-sigmoid -> multiply by broadcast).
- EfficientNet / EfficientNet-Lite: 5x5 depthwise, SiLU as x * Sigmoid(x), SAME padding
  (auto_pad), squeeze-and-excitation pooled by ReduceMean (as tf2onnx writes it); Lite: ReLU6
  and no SE.
- A segmentation head (ConvTranspose, bilinear Resize / Upsample, Sigmoid output), a
  detection head (nearest upsampling and add, two Sigmoid / linear outputs) and an SSD-style
  head (Transpose NCHW -> NHWC, Reshape to per-anchor rows, Concat over scales, Softmax
  over the last axis).

Exporter habits are mixed in: flatten as Shape -> Gather -> Unsqueeze -> Concat -> Reshape,
Constant nodes, initializers also listed as graph inputs, Identity and Dropout.

    >>> model = build("resnet", 13)
    >>> model.opset_import[0].version, model.graph.input[0].name
    (13, 'input')
"""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

OPSETS = (7, 9, 10, 11, 13, 17, 21, 27)


class Net:
    """Appends nodes and initializers; each method returns its output's name."""

    def __init__(self, opset, seed):
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, prefix):
        self.n += 1
        return f"{prefix}{self.n}"

    def node(self, op, inputs, n_out=1, **attrs):
        outs = [self.name(op.lower() + "_") for _ in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.name(op), **attrs))
        return outs[0] if n_out == 1 else outs

    def const(self, array, prefix="c"):
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def constant_node(self, array):
        """A Constant node, as exporters write small shape tensors."""
        out = self.name("const_")
        self.nodes.append(helper.make_node("Constant", [], [out], name=self.name("Constant"),
                                           value=numpy_helper.from_array(np.asarray(array))))
        return out

    # -- layers -------------------------------------------------------------------------
    def conv(self, x, cin, cout, k, s=1, p=None, g=1, bias=True, auto_pad=None):
        kh, kw = (k, k) if isinstance(k, int) else k
        fan_in = cin // g * kh * kw
        w = self.const((self.rng.standard_normal((cout, cin // g, kh, kw)) *
                        np.sqrt(2.0 / fan_in)).astype(np.float32), "w")
        inputs = [x, w]
        if bias:
            inputs.append(self.const((self.rng.standard_normal(cout) * 0.1).astype(np.float32),
                                     "b"))
        attrs = {"kernel_shape": [kh, kw], "strides": [s, s], "group": g}
        if auto_pad:
            attrs["auto_pad"] = auto_pad
        else:
            ph, pw = ((kh - 1) // 2, (kw - 1) // 2) if p is None else (p, p)
            attrs["pads"] = [ph, pw, ph, pw]
        return self.node("Conv", inputs, **attrs)

    def bn(self, x, c):
        r = self.rng
        scale = (1 + 0.1 * r.standard_normal(c)).astype(np.float32)
        bias = (0.1 * r.standard_normal(c)).astype(np.float32)
        mean = (0.1 * r.standard_normal(c)).astype(np.float32)
        var = (1 + 0.1 * np.abs(r.standard_normal(c))).astype(np.float32)
        inputs = [x] + [self.const(v, "bn") for v in (scale, bias, mean, var)]
        return self.node("BatchNormalization", inputs, epsilon=1e-5)

    def conv_bn(self, x, cin, cout, k, s=1, g=1, act="relu", auto_pad=None):
        y = self.bn(self.conv(x, cin, cout, k, s, g=g, bias=False, auto_pad=auto_pad), cout)
        return self.act(y, act)

    def act(self, x, kind):
        if kind == "relu":
            return self.node("Relu", [x])
        if kind == "relu6":
            return self.clip(x, 0.0, 6.0)
        if kind == "hardswish":
            if self.opset >= 14:
                return self.node("HardSwish", [x])
            return self.node("Mul", [x, self.node("HardSigmoid", [x], alpha=1 / 6, beta=0.5)])
        if kind == "hardsigmoid":
            return self.node("HardSigmoid", [x], alpha=1 / 6, beta=0.5)
        if kind == "silu":
            return self.node("Mul", [x, self.node("Sigmoid", [x])])
        if kind == "sigmoid":
            return self.node("Sigmoid", [x])
        if kind is None:
            return x
        raise ValueError(kind)

    def clip(self, x, lo, hi):
        if self.opset < 11:
            return self.node("Clip", [x], min=lo, max=hi)
        return self.node("Clip", [x, self.const(np.float32(lo)), self.const(np.float32(hi))])

    def maxpool(self, x, k, s, p=0, ceil=False):
        attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [p] * 4}
        if ceil and self.opset >= 10:
            attrs["ceil_mode"] = 1
        elif ceil:
            # ceil_mode arrived in opset 10: older exports pad the end instead.
            attrs["pads"] = [p, p, p + s - 1, p + s - 1]
        return self.node("MaxPool", [x], **attrs)

    def avgpool(self, x, k, s, p=0, include_pad=False):
        return self.node("AveragePool", [x], kernel_shape=[k, k], strides=[s, s], pads=[p] * 4,
                         count_include_pad=int(include_pad))

    def gap(self, x):
        return self.node("GlobalAveragePool", [x])

    def mean(self, x, keepdims):
        """Global average pooling as ``x.mean([2, 3])`` and tf2onnx export it: ReduceMean."""
        if self.opset >= 18:
            return self.node("ReduceMean", [x, self.const(np.array([2, 3], np.int64))],
                             keepdims=keepdims)
        return self.node("ReduceMean", [x], axes=[2, 3], keepdims=keepdims)

    def lrn(self, x):
        return self.node("LRN", [x], size=5, alpha=1e-4, beta=0.75, bias=1.0)

    def dropout(self, x):
        if self.opset >= 12:
            return self.node("Dropout", [x, self.const(np.float32(0.5))])
        return self.node("Dropout", [x], ratio=0.5)

    def unsqueeze(self, x, axes):
        if self.opset >= 13:
            return self.node("Unsqueeze", [x, self.const(np.array(axes, np.int64))])
        return self.node("Unsqueeze", [x], axes=axes)

    def flatten(self, x, style="flatten"):
        """Flatten to (N, -1): a Flatten node, or PyTorch's x.view(x.size(0), -1) export."""
        if style == "flatten":
            return self.node("Flatten", [x], axis=1)
        shape = self.node("Shape", [x])
        n = self.node("Gather", [shape, self.constant_node(np.array(0, np.int64))], axis=0)
        target = self.node("Concat", [self.unsqueeze(n, [0]),
                                      self.constant_node(np.array([-1], np.int64))], axis=0)
        return self.node("Reshape", [x, target])

    def gemm(self, x, cin, cout):
        w = self.const((self.rng.standard_normal((cout, cin)) / np.sqrt(cin)).astype(np.float32))
        b = self.const((0.1 * self.rng.standard_normal(cout)).astype(np.float32))
        return self.node("Gemm", [x, w, b], transB=1)

    def classifier(self, x, c, classes=10, style="flatten", softmax=False):
        y = self.gemm(self.flatten(self.gap(x), style), c, classes)
        return self.node("Softmax", [y], axis=1) if softmax else y

    def se(self, x, c, squeezed, gate="hardsigmoid", inner="relu", squeeze="gap"):
        """Squeeze-and-excitation: global pool -> 1x1 convs -> gate -> multiply by broadcast."""
        pooled = self.gap(x) if squeeze == "gap" else self.mean(x, keepdims=1)
        s = self.act(self.conv(pooled, c, squeezed, 1), inner)
        return self.node("Mul", [x, self.act(self.conv(s, squeezed, c, 1), gate)])

    def shuffle(self, x, c, h, w, groups):
        """ShuffleNet's channel shuffle: Reshape (N, g, C/g, H, W), Transpose, Reshape back."""
        a = self.node("Reshape", [x, self.const(np.array([-1, groups, c // groups, h, w],
                                                         np.int64))])
        t = self.node("Transpose", [a], perm=[0, 2, 1, 3, 4])
        return self.node("Reshape", [t, self.constant_node(np.array([-1, c, h, w], np.int64))])

    def split(self, x, sizes):
        if self.opset >= 13:
            return self.node("Split", [x, self.const(np.array(sizes, np.int64))],
                             n_out=len(sizes), axis=1)
        return self.node("Split", [x], n_out=len(sizes), axis=1, split=sizes)

    def upsample(self, x, factor, mode, coord="asymmetric", nearest="floor"):
        scales = np.array([1, 1, factor, factor], np.float32)
        if self.opset < 9:
            return self.node("Upsample", [x], mode=mode, scales=[float(v) for v in scales])
        if self.opset < 10:
            return self.node("Upsample", [x, self.const(scales)], mode=mode)
        if self.opset < 11:
            return self.node("Resize", [x, self.const(scales)], mode=mode)
        attrs = {"mode": mode, "coordinate_transformation_mode": coord}
        if mode == "nearest":
            attrs["nearest_mode"] = nearest
        roi = self.const(np.array([], np.float32)) if self.opset < 13 else ""
        return self.node("Resize", [x, roi, self.const(scales)], **attrs)

    def conv_transpose(self, x, cin, cout, k, s, p, out_pad=0):
        w = self.const((self.rng.standard_normal((cin, cout, k, k)) *
                        np.sqrt(1.0 / (cin * k * k))).astype(np.float32), "wt")
        b = self.const((0.1 * self.rng.standard_normal(cout)).astype(np.float32), "bt")
        return self.node("ConvTranspose", [x, w, b], kernel_shape=[k, k], strides=[s, s],
                         pads=[p] * 4, output_padding=[out_pad] * 2)

    def model(self, name, in_shape, outputs, inits_as_inputs=False, identity_out=False):
        x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *in_shape])
        inputs = [x]
        if inits_as_inputs:  # as old exporters (IR 3) list every weight as a graph input
            inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                       for t in self.inits]
        outs = []
        for i, o in enumerate(outputs):
            if identity_out:
                o = self.node("Identity", [o])
            outs.append(helper.make_tensor_value_info(o, TensorProto.FLOAT, None))
        graph = helper.make_graph(self.nodes, name, inputs, outs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="predict-tests-zoo")
        if inits_as_inputs and self.opset <= 8:
            model.ir_version = 3
        return model


# -- the families --------------------------------------------------------------------------

def alexnet(opset, seed=0):
    n = Net(opset, seed)
    y = n.node("Relu", [n.conv("input", 3, 24, 7, s=2, p=2)])
    y = n.maxpool(n.lrn(y), 3, 2)
    y = n.node("Relu", [n.conv(y, 24, 32, 5, p=2, g=2)])          # CaffeNet's two groups
    y = n.maxpool(n.lrn(y), 3, 2)
    y = n.node("Relu", [n.conv(y, 32, 48, 3)])
    y = n.node("Relu", [n.conv(y, 48, 48, 3, g=2)])
    y = n.maxpool(n.node("Relu", [n.conv(y, 48, 32, 3, g=2)]), 3, 2)
    y = n.flatten(y, "shape")
    y = n.dropout(n.node("Relu", [n.gemm(y, 32 * 2 * 2, 256)]))
    y = n.dropout(n.node("Relu", [n.gemm(y, 256, 256)]))
    y = n.node("Softmax", [n.gemm(y, 256, 20)], axis=1)
    return n.model("alexnet", (3, 47, 47), [y], inits_as_inputs=True)


def vgg(opset, seed=0):
    n = Net(opset, seed)
    y, c = "input", 3
    for width, convs in ((8, 1), (16, 2), (24, 2)):
        for _ in range(convs):
            y, c = n.node("Relu", [n.conv(y, c, width, 3)]), width
        y = n.maxpool(y, 2, 2)
    y = n.flatten(y)
    y = n.dropout(n.node("Relu", [n.gemm(y, 24 * 4 * 4, 64)]))
    return n.model("vgg", (3, 32, 32), [n.gemm(y, 64, 10)])


def _inception_v1_block(n, x, cin, c1, c3r, c3, c5r, c5, cp):
    b1 = n.node("Relu", [n.conv(x, cin, c1, 1)])
    b2 = n.node("Relu", [n.conv(n.node("Relu", [n.conv(x, cin, c3r, 1)]), c3r, c3, 3)])
    b3 = n.node("Relu", [n.conv(n.node("Relu", [n.conv(x, cin, c5r, 1)]), c5r, c5, 5)])
    b4 = n.node("Relu", [n.conv(n.maxpool(x, 3, 1, p=1), cin, cp, 1)])
    return n.node("Concat", [b1, b2, b3, b4], axis=1), c1 + c3 + c5 + cp


def googlenet(opset, seed=0):
    n = Net(opset, seed)
    y = n.maxpool(n.node("Relu", [n.conv("input", 3, 16, 7, s=2)]), 3, 2, ceil=True)
    y = n.lrn(y)
    y = n.node("Relu", [n.conv(y, 16, 24, 3)])
    y = n.maxpool(n.lrn(y), 3, 2, ceil=True)
    y, c = _inception_v1_block(n, y, 24, 8, 8, 12, 4, 4, 4)
    y, c = _inception_v1_block(n, y, c, 12, 8, 16, 4, 8, 8)
    y = n.maxpool(y, 3, 2, ceil=True)
    y, c = _inception_v1_block(n, y, c, 16, 8, 16, 4, 8, 8)
    y = n.dropout(n.flatten(n.avgpool(y, 2, 1)))
    return n.model("googlenet", (3, 40, 40), [n.node("Softmax", [n.gemm(y, c * 1 * 1, 10)],
                                                     axis=1)])


def inception_v3(opset, seed=0):
    n = Net(opset, seed)
    y = n.conv_bn("input", 3, 16, 3, s=2)
    y = n.conv_bn(y, 16, 16, 3)
    y = n.maxpool(y, 3, 2)
    b1 = n.conv_bn(y, 16, 8, 1)
    b2 = n.conv_bn(n.conv_bn(n.conv_bn(y, 16, 8, 1), 8, 8, (1, 7)), 8, 12, (7, 1))
    b3 = n.conv_bn(n.avgpool(y, 3, 1, p=1, include_pad=True), 16, 8, 1)
    y = n.node("Concat", [b1, b2, b3], axis=1)                   # 28 channels
    b1 = n.conv_bn(y, 28, 12, 3, s=2)
    b2 = n.maxpool(y, 3, 2, p=1)
    y = n.node("Concat", [b1, b2], axis=1)                       # 40 channels
    y = n.dropout(y)
    return n.model("inception_v3", (3, 37, 37), [n.classifier(y, 40, style="shape")])


def _basic_block(n, x, cin, cout, s):
    y = n.conv_bn(n.conv_bn(x, cin, cout, 3, s), cout, cout, 3, act=None)
    short = x if s == 1 and cin == cout else n.conv_bn(x, cin, cout, 1, s, act=None)
    return n.node("Relu", [n.node("Add", [y, short])])


def resnet(opset, seed=0):
    n = Net(opset, seed)
    y = n.maxpool(n.conv_bn("input", 3, 16, 7, s=2), 3, 2, p=1)
    c = 16
    for cout, s in ((16, 1), (16, 1), (32, 2), (32, 1), (48, 2)):
        y, c = _basic_block(n, y, c, cout, s), cout
    return n.model("resnet", (3, 48, 48), [n.classifier(y, c, style="shape")])


def resnext(opset, seed=0):
    n = Net(opset, seed)
    y = n.maxpool(n.conv_bn("input", 3, 16, 3, s=2), 3, 2, p=1)
    c = 16
    for width, cout, s in ((16, 32, 1), (32, 64, 2), (32, 64, 1)):
        z = n.conv_bn(y, c, width, 1)
        z = n.conv_bn(z, width, width, 3, s, g=8)                # cardinality 8
        z = n.conv_bn(z, width, cout, 1, act=None)
        short = y if s == 1 and c == cout else n.conv_bn(y, c, cout, 1, s, act=None)
        y, c = n.node("Relu", [n.node("Add", [z, short])]), cout
    return n.model("resnext", (3, 32, 32), [n.classifier(y, c)])


def _fire(n, x, cin, squeeze, expand):
    s = n.node("Relu", [n.conv(x, cin, squeeze, 1)])
    e1 = n.node("Relu", [n.conv(s, squeeze, expand, 1)])
    e3 = n.node("Relu", [n.conv(s, squeeze, expand, 3)])
    return n.node("Concat", [e1, e3], axis=1), 2 * expand


def squeezenet(opset, seed=0):
    n = Net(opset, seed)
    y = n.maxpool(n.node("Relu", [n.conv("input", 3, 16, 3, s=2, p=0)]), 3, 2, ceil=True)
    y, c = _fire(n, y, 16, 4, 8)
    y, c = _fire(n, y, c, 4, 8)
    y = n.maxpool(y, 3, 2, ceil=True)
    y, c = _fire(n, y, c, 8, 16)
    y = n.node("Relu", [n.conv(n.dropout(y), c, 10, 1)])
    y = n.gap(y)
    y = n.node("Reshape", [y, n.const(np.array([0, -1], np.int64))])
    return n.model("squeezenet", (3, 35, 35), [n.node("Softmax", [y], axis=1)])


def densenet(opset, seed=0):
    n = Net(opset, seed)
    y = n.maxpool(n.conv_bn("input", 3, 16, 3, s=2), 3, 2, p=1)
    c, growth = 16, 8
    for block in range(2):
        for _ in range(3):
            z = n.conv(n.node("Relu", [n.bn(y, c)]), c, 4 * growth, 1, bias=False)
            z = n.conv(n.node("Relu", [n.bn(z, 4 * growth)]), 4 * growth, growth, 3, bias=False)
            y, c = n.node("Concat", [y, z], axis=1), c + growth
        if block == 0:                                          # transition
            y = n.conv(n.node("Relu", [n.bn(y, c)]), c, c // 2, 1, bias=False)
            y, c = n.avgpool(y, 2, 2), c // 2
    y = n.node("Relu", [n.bn(y, c)])
    return n.model("densenet", (3, 32, 32), [n.classifier(y, c)])


def shufflenet_v1(opset, seed=0):
    n = Net(opset, seed)
    g = 3
    y = n.maxpool(n.conv_bn("input", 3, 24, 3, s=2), 3, 2, p=1)  # 24 x 8 x 8
    c, h = 24, 8
    for cout, s in ((48, 2), (48, 1), (96, 2)):
        branch = cout - c if s == 2 else cout
        z = n.conv_bn(y, c, 12, 1, g=g if c != 24 else 1)         # no groups on the stem's 24
        z = n.shuffle(z, 12, h, h, g)
        z = n.conv_bn(z, 12, 12, 3, s=s, g=12, act=None)           # depthwise
        ho = h // s
        z = n.conv_bn(z, 12, branch, 1, g=g, act=None)
        if s == 2:
            y = n.node("Relu", [n.node("Concat", [n.avgpool(y, 3, 2, p=1), z], axis=1)])
        else:
            y = n.node("Relu", [n.node("Add", [y, z])])
        c, h = cout, ho
    return n.model("shufflenet_v1", (3, 32, 32), [n.classifier(y, c)])


def shufflenet_v2(opset, seed=0):
    n = Net(opset, seed)
    y = n.maxpool(n.conv_bn("input", 3, 24, 3, s=2), 3, 2, p=1)  # 24 x 8 x 8
    c, h = 24, 8
    for s in (2, 1, 1):
        if s == 2:
            a = n.conv_bn(n.conv_bn(y, c, c, 3, s=2, g=c, act=None), c, c, 1)
            b = n.conv_bn(y, c, c, 1)
            b = n.conv_bn(n.conv_bn(b, c, c, 3, s=2, g=c, act=None), c, c, 1)
            c, h = 2 * c, h // 2
        else:
            a, b = n.split(y, [c // 2, c // 2])
            half = c // 2
            b = n.conv_bn(b, half, half, 1)
            b = n.conv_bn(n.conv_bn(b, half, half, 3, g=half, act=None), half, half, 1)
        y = n.shuffle(n.node("Concat", [a, b], axis=1), c, h, h, 2)
    y = n.conv_bn(y, c, 64, 1)
    return n.model("shufflenet_v2", (3, 32, 32), [n.classifier(y, 64, style="shape")])


def mobilenet_v1(opset, seed=0):
    n = Net(opset, seed)
    y, c = n.conv_bn("input", 3, 16, 3, s=2, act="relu6"), 16
    for cout, s in ((32, 1), (48, 2), (48, 1), (64, 2)):
        y = n.conv_bn(y, c, c, 3, s, g=c, act="relu6")
        y, c = n.conv_bn(y, c, cout, 1, act="relu6"), cout
    return n.model("mobilenet_v1", (3, 32, 32), [n.classifier(y, c, softmax=True)])


def mobilenet_v2(opset, seed=0):
    n = Net(opset, seed)
    y, c = n.conv_bn("input", 3, 16, 3, s=2, act="relu6"), 16
    for cout, s, t in ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6)):
        z = n.conv_bn(y, c, c * t, 1, act="relu6") if t != 1 else y
        z = n.conv_bn(z, c * t, c * t, 3, s, g=c * t, act="relu6")
        z = n.conv_bn(z, c * t, cout, 1, act=None)
        y = n.node("Add", [y, z]) if s == 1 and c == cout else z
        c = cout
    y = n.conv_bn(y, c, 64, 1, act="relu6")
    y = n.dropout(n.mean(y, keepdims=0))                     # torchvision < 0.8: x.mean([2, 3])
    return n.model("mobilenet_v2", (3, 32, 32), [n.gemm(y, 64, 10)])


def mobilenet_v3(opset, seed=0):
    n = Net(opset, seed)
    y, c = n.conv_bn("input", 3, 16, 3, s=2, act="hardswish"), 16
    for k, exp, cout, se, act, s in ((3, 16, 16, True, "relu", 2), (3, 48, 24, False, "relu", 2),
                                     (5, 72, 24, True, "hardswish", 1),
                                     (5, 96, 40, True, "hardswish", 2)):
        z = n.conv_bn(y, c, exp, 1, act=act) if exp != c else y
        z = n.conv_bn(z, exp, exp, k, s, g=exp, act=act)
        if se:
            z = n.se(z, exp, max(8, exp // 4))
        z = n.conv_bn(z, exp, cout, 1, act=None)
        y = n.node("Add", [y, z]) if s == 1 and c == cout else z
        c = cout
    y = n.conv_bn(y, c, 96, 1, act="hardswish")
    y = n.flatten(n.gap(y))
    y = n.dropout(n.act(n.gemm(y, 96, 64), "hardswish"))
    return n.model("mobilenet_v3", (3, 32, 32), [n.gemm(y, 64, 10)])


def efficientnet(opset, seed=0, lite=False):
    n = Net(opset, seed)
    act = "relu6" if lite else "silu"
    pad = None if lite else "SAME_UPPER"                      # TF-style SAME padding
    y, c = n.conv_bn("input", 3, 16, 3, s=2, act=act, auto_pad=pad), 16
    for k, t, cout, s in ((3, 1, 16, 1), (3, 6, 24, 2), (5, 6, 24, 1), (5, 6, 40, 2)):
        exp = c * t
        z = n.conv_bn(y, c, exp, 1, act=act) if t != 1 else y
        z = n.conv_bn(z, exp, exp, k, s, g=exp, act=act, auto_pad=pad)
        if not lite:
            z = n.se(z, exp, max(4, c // 4), gate="sigmoid", inner="silu", squeeze="mean")
        z = n.conv_bn(z, exp, cout, 1, act=None)
        y = n.node("Add", [y, z]) if s == 1 and c == cout else z
        c = cout
    y = n.conv_bn(y, c, 64, 1, act=act)
    y = n.dropout(y)
    name = "efficientnet_lite" if lite else "efficientnet"
    return n.model(name, (3, 32, 32), [n.classifier(y, 64)])


def segmentation_head(opset, seed=0):
    n = Net(opset, seed)
    e1 = n.conv_bn("input", 3, 16, 3, s=2)                      # 16 x 16 x 16
    e2 = n.conv_bn(e1, 16, 32, 3, s=2)                          # 32 x 8 x 8
    d = n.node("Relu", [n.conv_transpose(e2, 32, 16, 3, 2, 1, out_pad=1)])   # 16 x 16 x 16
    d = n.node("Add", [d, e1])
    d = n.upsample(d, 2, "linear", coord="pytorch_half_pixel")  # 16 x 32 x 32
    logits = n.conv(d, 16, 3, 1)
    return n.model("segmentation_head", (3, 32, 32), [n.act(logits, "sigmoid")],
                   identity_out=True)


def detection_head(opset, seed=0):
    n = Net(opset, seed)
    c3 = n.conv_bn("input", 3, 16, 3, s=2)                      # 16 x 16 x 16
    c4 = n.conv_bn(c3, 16, 32, 3, s=2)                          # 32 x 8 x 8
    p4 = n.conv(c4, 32, 16, 1)
    p3 = n.node("Add", [n.conv(c3, 16, 16, 1), n.upsample(p4, 2, "nearest")])
    p3 = n.conv_bn(p3, 16, 16, 3)
    heat = n.act(n.conv(p3, 16, 4, 1), "sigmoid")               # class heatmap
    boxes = n.node("Identity", [n.conv(p3, 16, 4, 1)])          # box regression
    return n.model("detection_head", (3, 32, 32), [heat, boxes])


def ssd_head(opset, seed=0):
    """SSD-style heads on two scales: per-anchor boxes and class scores, permuted NCHW -> NHWC,
    reshaped to (N, anchors, 4) and (N, anchors, classes), concatenated over the scales; a
    softmax over the class axis (the last)."""
    n = Net(opset, seed)
    c3 = n.conv_bn("input", 3, 16, 3, s=2)                      # 16 x 16 x 16
    c4 = n.conv_bn(c3, 16, 32, 3, s=2)                          # 32 x 8 x 8
    anchors, classes = 3, 5
    boxes, scores = [], []
    for feature, c in ((c3, 16), (c4, 32)):
        for per_anchor, out in ((4, boxes), (classes, scores)):
            y = n.node("Transpose", [n.conv(feature, c, anchors * per_anchor, 3)],
                       perm=[0, 2, 3, 1])
            out.append(n.node("Reshape", [y, n.const(np.array([0, -1, per_anchor],
                                                              np.int64))]))
    boxes = n.node("Concat", boxes, axis=1)
    scores = n.node("Softmax", [n.node("Concat", scores, axis=1)], axis=2)  # over classes
    return n.model("ssd_head", (3, 32, 32), [boxes, scores])


# -- full-size models (the slow tests) --------------------------------------------------------

def caffenet_full(opset, seed=0):
    """BVLC CaffeNet at 227 x 227: LRN, two-group convs, 9216 -> 4096 -> 4096 -> 1000 FCs."""
    n = Net(opset, seed)
    y = n.maxpool(n.lrn(n.node("Relu", [n.conv("input", 3, 96, 11, s=4, p=0)])), 3, 2)
    y = n.maxpool(n.lrn(n.node("Relu", [n.conv(y, 96, 256, 5, p=2, g=2)])), 3, 2)
    y = n.node("Relu", [n.conv(y, 256, 384, 3)])
    y = n.node("Relu", [n.conv(y, 384, 384, 3, g=2)])
    y = n.maxpool(n.node("Relu", [n.conv(y, 384, 256, 3, g=2)]), 3, 2)
    y = n.flatten(y, "shape")
    y = n.dropout(n.node("Relu", [n.gemm(y, 9216, 4096)]))
    y = n.dropout(n.node("Relu", [n.gemm(y, 4096, 4096)]))
    return n.model("caffenet", (3, 227, 227), [n.node("Softmax", [n.gemm(y, 4096, 1000)],
                                                       axis=1)])


def resnet18_full(opset, seed=0):
    """torchvision's ResNet-18 at 224 x 224."""
    n = Net(opset, seed)
    y = n.maxpool(n.conv_bn("input", 3, 64, 7, s=2), 3, 2, p=1)
    c = 64
    for cout, s in ((64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                    (512, 1)):
        y, c = _basic_block(n, y, c, cout, s), cout
    return n.model("resnet18", (3, 224, 224), [n.classifier(y, c, classes=1000, style="shape")])


def googlenet_full(opset, seed=0):
    """GoogLeNet (Inception v1) at 224 x 224, its nine inception modules."""
    n = Net(opset, seed)
    y = n.maxpool(n.node("Relu", [n.conv("input", 3, 64, 7, s=2)]), 3, 2, ceil=True)
    y = n.node("Relu", [n.conv(n.node("Relu", [n.conv(n.lrn(y), 64, 64, 1)]), 64, 192, 3)])
    y = n.maxpool(n.lrn(y), 3, 2, ceil=True)
    c = 192
    for spec in ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), "pool",
                 (192, 96, 208, 16, 48, 64), (160, 112, 224, 24, 64, 64),
                 (128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64),
                 (256, 160, 320, 32, 128, 128), "pool", (256, 160, 320, 32, 128, 128),
                 (384, 192, 384, 48, 128, 128)):
        if spec == "pool":
            y = n.maxpool(y, 3, 2, ceil=True)
        else:
            y, c = _inception_v1_block(n, y, c, *spec)
    y = n.dropout(n.flatten(n.avgpool(y, 7, 1)))
    return n.model("googlenet_full", (3, 224, 224), [n.node("Softmax", [n.gemm(y, c, 1000)],
                                                             axis=1)])


FULL_SIZE = {"caffenet": caffenet_full, "resnet18": resnet18_full, "googlenet": googlenet_full}


FAMILIES = {
    "alexnet": alexnet, "vgg": vgg, "googlenet": googlenet, "inception_v3": inception_v3,
    "resnet": resnet, "resnext": resnext, "squeezenet": squeezenet, "densenet": densenet,
    "shufflenet_v1": shufflenet_v1, "shufflenet_v2": shufflenet_v2,
    "mobilenet_v1": mobilenet_v1, "mobilenet_v2": mobilenet_v2, "mobilenet_v3": mobilenet_v3,
    "efficientnet": efficientnet,
    "efficientnet_lite": lambda opset, seed=0: efficientnet(opset, seed, lite=True),
    "segmentation_head": segmentation_head, "detection_head": detection_head,
    "ssd_head": ssd_head,
}


def build(family, opset, seed=0):
    """The ModelProto of one family at one opset."""
    return FAMILIES[family](opset, seed)
