"""predict.graph: the header schema, each operator's rules and shape inference.

Every refusal must be a ModelFormatError whose message names the place and the field; the bad
cases below each assert a fragment of that message, so a check that fires for the wrong reason
fails the test.
"""
import copy
import doctest

import numpy as np
import pytest

from predict import graph
from predict.errors import ModelFormatError

RELU = {"kind": "relu", "alpha": 0.0, "beta": 0.0}
NONE = {"kind": "none", "alpha": 0.0, "beta": 0.0}


class Builder:
    """Builds a header by hand: tensors, layers and float32 blobs with random values."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.tensors, self.layers, self.arrays, self.inputs = [], [], [], []

    def tensor(self, shape, blob=None, name=None):
        self.tensors.append({"name": name or f"t{len(self.tensors)}", "shape": list(shape),
                             "dtype": "float32", "blob": blob})
        return len(self.tensors) - 1

    def input(self, shape):
        t = self.tensor(shape, name="image")
        self.inputs.append({"name": "image", "tensor": t})
        return t

    def blob(self, shape):
        self.arrays.append(self.rng.standard_normal(shape).astype(np.float32))
        return len(self.arrays) - 1

    def const(self, shape):
        return self.tensor(shape, blob=self.blob(shape))

    def layer(self, op, inputs, out_shape, **attrs):
        out = self.tensor(out_shape)
        self.layers.append({"op": op, "name": f"{op}{len(self.layers)}", "inputs": list(inputs),
                            "output": out, **attrs})
        return out

    def header(self, outputs, features=None, preprocess=None, labels=()):
        """The header write_pnet takes: everything but format, version and blobs."""
        return {
            "tensors": self.tensors, "layers": self.layers, "inputs": self.inputs,
            "outputs": [{"name": f"out{i}", "tensor": t} for i, t in enumerate(outputs)],
            "features": features, "preprocess": preprocess, "labels": list(labels),
            "provenance": {"source": "hand-built", "converter": "tests"},
        }


def window(kernel=(3, 3), strides=(1, 1), dilations=(1, 1), pads=(1, 1, 1, 1)):
    return {"kernel": list(kernel), "strides": list(strides), "dilations": list(dilations),
            "pads": list(pads)}


def tiny_model(seed=0):
    """conv 3x3/2 -> relu -> global_avgpool -> reshape -> fc -> softmax on a 3x9x11 image.

    Returns (header without blobs, arrays), what write_pnet takes.
    """
    b = Builder(seed)
    x = b.input([3, 9, 11])
    y = b.layer("conv", [x], [8, 5, 6], **window(strides=(2, 2)), groups=1,
                weight=b.blob([8, 3, 3, 3]), bias=b.blob([8]), act=NONE)
    y = b.layer("activation", [y], [8, 5, 6], act=RELU)
    y = b.layer("global_avgpool", [y], [8, 1, 1])
    features = b.layer("reshape", [y], [8])
    y = b.layer("fc", [features], [10], weight=b.blob([10, 8]), bias=b.blob([10]), act=NONE)
    y = b.layer("softmax", [y], [10])
    preprocess = {"size": [9, 11], "resize": 16, "interpolation": "bilinear", "channels": "RGB",
                  "scale": 255.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    header = b.header([y], features=features, preprocess=preprocess,
                      labels=[f"class {i}" for i in range(10)])
    return header, b.arrays


def with_blobs(header, arrays):
    """The full header write_pnet would store: format, version and a packed blob table."""
    blobs, end = [], 0
    for a in arrays:
        offset = -(-end // graph.ALIGN) * graph.ALIGN
        blobs.append({"offset": offset, "nbytes": a.nbytes, "dtype": "float32",
                      "shape": list(a.shape)})
        end = offset + a.nbytes
    return {"format": "pnet", "version": graph.VERSION, **copy.deepcopy(header), "blobs": blobs}


def full_tiny(seed=0):
    return with_blobs(*tiny_model(seed))


def refused(header, fragment, **kw):
    with pytest.raises(ModelFormatError) as info:
        graph.validate(header, **kw)
    assert fragment in str(info.value), str(info.value)
    return str(info.value)


def test_tiny_model_is_valid():
    graph.validate(full_tiny())


def test_docstring_examples():
    result = doctest.testmod(graph, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# --------------------------------------------------------------------------- shape inference

def infer(layer, shapes, blobs=()):
    base = {"name": "x", "inputs": list(range(len(shapes))), "output": 99}
    return graph.infer_output_shape({**base, **layer}, shapes, blobs)


@pytest.mark.parametrize("size,k,s,d,pb,pe,ceil,expected", [
    (224, 3, 2, 1, 1, 1, False, 112),
    (224, 7, 2, 1, 3, 3, False, 112),
    (6, 3, 2, 1, 1, 1, False, 3),
    (6, 3, 2, 1, 1, 1, True, 4),       # ceil gives one more window
    (5, 2, 2, 1, 1, 1, True, 3),       # ceil's last window would start in the end padding
    (5, 2, 2, 1, 0, 0, True, 3),
    (5, 2, 2, 1, 0, 0, False, 2),
    (10, 3, 1, 2, 0, 0, False, 6),     # dilation 2: extent 5
    (1, 1, 1, 1, 0, 0, False, 1),
    (2, 3, 1, 1, 0, 0, False, 0),      # does not fit
])
def test_window_output_size(size, k, s, d, pb, pe, ceil, expected):
    assert graph.window_output_size(size, k, s, d, pb, pe, ceil) == expected


def test_window_output_size_matches_torch_ceil_rule():
    # PyTorch: out = ceil((in + 2p - e) / s) + 1, minus one if (out - 1) * s >= in + p.
    for size in range(1, 12):
        for k in range(1, 4):
            for s in range(1, 4):
                for p in range(0, k):
                    span = size + 2 * p - k
                    if span < 0:
                        continue
                    out = -(-span // s) + 1
                    if (out - 1) * s >= size + p:
                        out -= 1
                    assert graph.window_output_size(size, k, s, 1, p, p, True) == out


def conv(cout_blob=0, groups=1, **w):
    return {"op": "conv", **window(**w), "groups": groups, "weight": cout_blob, "bias": None,
            "act": RELU}


def test_conv_shapes():
    assert infer(conv(strides=(2, 2)), [[3, 224, 224]], [[32, 3, 3, 3]]) == [32, 112, 112]
    assert infer(conv(groups=2, pads=(0, 0, 0, 0)), [[4, 5, 7]], [[6, 3, 3, 2]]) == [6, 3, 5]
    assert infer(conv(dilations=(2, 3), pads=(2, 3, 2, 3)), [[1, 8, 9]],
                 [[2, 3, 3, 1]]) == [2, 8, 9]
    assert infer(conv(kernel=(1, 1), pads=(0, 0, 0, 0)), [[16, 1, 1]],
                 [[5, 1, 1, 16]]) == [5, 1, 1]
    # 1-D: [C, L] with kernel height 1 and no top or bottom pad.
    assert infer(conv(kernel=(1, 5), pads=(0, 2, 0, 2)), [[3, 20]], [[4, 1, 5, 3]]) == [4, 20]


def test_conv_bias_and_blob_checks():
    layer = {**conv(), "bias": 1}
    assert infer(layer, [[3, 8, 8]], [[4, 3, 3, 3], [4]]) == [4, 8, 8]
    with pytest.raises(ModelFormatError, match=r"bias blob 1 has shape \[5\], expected \[4\]"):
        infer(layer, [[3, 8, 8]], [[4, 3, 3, 3], [5]])
    with pytest.raises(ModelFormatError, match="weight is blob 3, but there are 2 blobs"):
        infer({**conv(), "weight": 3}, [[3, 8, 8]], [[4, 3, 3, 3], [4]])
    with pytest.raises(ModelFormatError, match=r"expected \[4, 3, 3, 3\] \(\[Cout, kh, kw"):
        infer(conv(), [[3, 8, 8]], [[4, 3, 3, 1]])


def test_depthwise_fc_pool_shapes():
    dw = {"op": "depthwise", **window(strides=(2, 2)), "weight": 0, "bias": 1, "act": RELU}
    assert infer(dw, [[32, 112, 112]], [[3, 3, 32], [32]]) == [32, 56, 56]
    fc = {"op": "fc", "weight": 0, "bias": None, "act": NONE}
    assert infer(fc, [[1280]], [[1000, 1280]]) == [1000]
    mp = {"op": "maxpool", **window(strides=(2, 2)), "ceil_mode": True}
    assert infer(mp, [[8, 6, 5]]) == [8, 4, 3]
    ap = {"op": "avgpool", "kernel": [2, 2], "strides": [2, 2], "pads": [0, 0, 0, 0],
          "ceil_mode": False, "count_include_pad": False}
    assert infer(ap, [[8, 7, 6]]) == [8, 3, 3]
    assert infer({"op": "global_avgpool"}, [[8, 7, 6]]) == [8, 1, 1]
    assert infer({"op": "global_maxpool"}, [[8, 7]]) == [8, 1]


def test_elementwise_concat_pad_shapes():
    assert infer({"op": "add", "act": NONE}, [[8, 4, 4], [8, 1, 1]]) == [8, 4, 4]
    assert infer({"op": "mul", "act": NONE}, [[8, 4, 4], [1, 4, 1]]) == [8, 4, 4]
    assert infer({"op": "div", "act": NONE}, [[5], [5]]) == [5]
    assert infer({"op": "concat"}, [[2, 4, 4], [3, 4, 4], [1, 4, 4]]) == [6, 4, 4]
    assert infer({"op": "softmax"}, [[10]]) == [10]
    assert infer({"op": "activation", "act": RELU}, [[3, 2]]) == [3, 2]
    assert infer({"op": "reshape"}, [[8, 1, 1]]) is None
    pad = {"op": "pad", "pads": [1, 2, 3, 4], "mode": "reflect", "value": 0.0}
    assert infer(pad, [[3, 5, 6]]) == [3, 9, 12]
    assert infer({**pad, "pads": [0, 2, 0, 1]}, [[3, 5]]) == [3, 8]


@pytest.mark.parametrize("layer,shapes,blobs,fragment", [
    (conv(groups=2), [[3, 8, 8]], [[4, 3, 3, 1]], "groups 2 does not divide the input channels 3"),
    (conv(groups=2), [[4, 8, 8]], [[3, 3, 3, 2]], "groups 2 does not divide the output channels 3"),
    (conv(), [[3, 8]], [[4, 3, 3, 3]], "a 1-D window needs kernel"),
    (conv(), [[3]], [[4, 3, 3, 3]], "input shape [3] must be [C, L] or [C, H, W]"),
    (conv(pads=(3, 0, 0, 0)), [[3, 8, 8]], [[4, 3, 3, 3]],
     "height begin pad 3 is not less than the dilated kernel extent 3"),
    (conv(dilations=(2, 2), pads=(0, 0, 0, 5)), [[3, 8, 8]], [[4, 3, 3, 3]],
     "width end pad 5 is not less than the dilated kernel extent 5"),
    (conv(pads=(0, 0, 0, 0), kernel=(5, 5)), [[3, 4, 8]], [[4, 5, 5, 3]],
     "output height would be 0"),
    (conv(strides=(0, 1)), [[3, 8, 8]], [[4, 3, 3, 3]], "strides[0] is 0, must be >= 1"),
    (conv(kernel=(3,)), [[3, 8, 8]], [[4, 3, 3, 3]], "kernel must have 2 entries, has 1"),
    ({**conv(), "pads": [1, 1, 1, -1]}, [[3, 8, 8]], [[4, 3, 3, 3]], "pads[3] is -1"),
    ({**conv(), "groups": True}, [[3, 8, 8]], [[4, 3, 3, 3]], "groups must be an int, not bool"),
    ({**conv(), "kernel": [3.0, 3]}, [[3, 8, 8]], [[4, 3, 3, 3]],
     "kernel[0] must be an int, not float"),
    ({**conv(), "kernel": [2**31, 3]}, [[3, 8, 8]], [[4, 3, 3, 3]], "must be <= 2147483647"),
    ({**conv(), "weight": None}, [[3, 8, 8]], [[4, 3, 3, 3]],
     "weight must be a blob index, not nil"),
    ({**conv(), "bias": "b"}, [[3, 8, 8]], [[4, 3, 3, 3]],
     "bias must be a blob index or nil, not str"),
    ({**conv(), "act": {"kind": "gelu", "alpha": 0.0, "beta": 0.0}}, [[3, 8, 8]],
     [[4, 3, 3, 3]], "act: kind 'gelu' is not one of"),
    ({**conv(), "act": {"kind": "relu", "alpha": 0.0}}, [[3, 8, 8]], [[4, 3, 3, 3]],
     "act: missing key 'beta'"),
    ({**conv(), "act": {"kind": "clip", "alpha": 6.0, "beta": 0.0}}, [[3, 8, 8]],
     [[4, 3, 3, 3]], "clip alpha (min) 6.0 is greater than beta (max) 0.0"),
    ({**conv(), "act": {"kind": "leakyrelu", "alpha": float("inf"), "beta": 0.0}},
     [[3, 8, 8]], [[4, 3, 3, 3]], "alpha is inf, must be finite"),
    ({**conv(), "act": {"kind": "hardsigmoid", "alpha": 0.2, "beta": 1e39}},
     [[3, 8, 8]], [[4, 3, 3, 3]], "beta is 1e+39, must be finite in float32"),
    ({**conv(), "act": {"kind": "relu", "alpha": float("nan"), "beta": 0.0}},
     [[3, 8, 8]], [[4, 3, 3, 3]], "alpha is NaN"),
    ({**conv(), "groups": 1, "extra": 1}, [[3, 8, 8]], [[4, 3, 3, 3]], "unknown key 'extra'"),
    ({k: v for k, v in conv().items() if k != "dilations"}, [[3, 8, 8]], [[4, 3, 3, 3]],
     "missing key 'dilations'"),
    ({"op": "depthwise", **window(), "weight": 0, "bias": None, "act": NONE}, [[4, 8, 8]],
     [[3, 3, 3]], "expected [3, 3, 4] ([kh, kw, C])"),
    ({"op": "fc", "weight": 0, "bias": None, "act": NONE}, [[8, 1, 1]], [[10, 8]],
     "must be a vector [K]"),
    ({"op": "fc", "weight": 0, "bias": None, "act": NONE}, [[8]], [[10, 9]],
     "expected [Cout, 8]"),
    ({"op": "fc", "weight": 0, "bias": 1, "act": NONE}, [[8]], [[10, 8], [8]],
     "bias blob 1 has shape [8], expected [10]"),
    ({"op": "maxpool", **window(), "ceil_mode": 0}, [[3, 8, 8]], [],
     "ceil_mode must be a bool, not int"),
    ({"op": "avgpool", **window(), "ceil_mode": False, "count_include_pad": True}, [[3, 8, 8]],
     [], "unknown key 'dilations'"),
    ({"op": "avgpool", "kernel": [2, 2], "strides": [1, 1], "pads": [0, 0, 0, 0],
      "ceil_mode": False}, [[3, 8, 8]], [], "missing key 'count_include_pad'"),
    ({"op": "add", "act": NONE}, [[8, 4, 4], [8, 4, 2]], [], "does not broadcast"),
    ({"op": "add", "act": NONE}, [[8, 4, 4], [8]], [], "does not broadcast"),
    ({"op": "add", "act": NONE}, [[8, 1, 1], [8, 4, 4]], [], "does not broadcast"),
    ({"op": "sub", "act": NONE}, [[8, 4, 4]], [], "takes 2 inputs, has 1"),
    ({"op": "concat"}, [[2, 4, 4], [3, 4, 5]], [], "input 1 shape [3, 4, 5] does not match"),
    ({"op": "concat"}, [[2, 4, 4], [3, 4]], [], "input 1 shape [3, 4] does not match"),
    ({"op": "concat"}, [], [], "takes at least one input"),
    ({"op": "softmax", "axis": 1}, [[10]], [], "unknown key 'axis'"),
    ({"op": "pad", "pads": [1, 1, 1, 1], "mode": "wrap", "value": 0.0}, [[3, 4, 4]], [],
     "mode 'wrap' is not one of constant, reflect, edge"),
    ({"op": "pad", "pads": [0, 4, 0, 0], "mode": "reflect", "value": 0.0}, [[3, 4, 4]], [],
     "reflect padding needs each pad less than its dim"),
    ({"op": "pad", "pads": [1, 0, 0, 0], "mode": "edge", "value": 0.0}, [[3, 4]], [],
     "a 1-D input takes no top or bottom pad"),
    ({"op": "pad", "pads": [1, 0, 0, 0], "mode": "constant", "value": "0"}, [[3, 4, 4]], [],
     "value must be a number, not str"),
    ({"op": "pad", "pads": [1, 0, 0, 0], "mode": "constant", "value": float("nan")},
     [[3, 4, 4]], [], "value is NaN"),
    ({"op": "global_avgpool"}, [[8]], [], "input shape [8] must be [C, L] or [C, H, W]"),
    ({"op": "lstm"}, [[8]], [], "unknown op 'lstm'"),
    ({"op": 3}, [[8]], [], "op must be a string, not int"),
    ({"op": "softmax", "name": 5}, [[8]], [], "name must be a string, not int"),
])
def test_layer_refusals(layer, shapes, blobs, fragment):
    with pytest.raises(ModelFormatError) as info:
        infer(layer, shapes, blobs)
    assert fragment in str(info.value), str(info.value)


def test_messages_name_the_layer():
    header = full_tiny()
    header["layers"][4]["weight"] = 0
    message = refused(header, "weight blob 0 has shape [8, 3, 3, 3], expected [Cout, 8]")
    assert message.startswith("layer 4 'fc4' (fc): ")


def test_pad_value_may_be_infinite():
    pad = {"op": "pad", "pads": [1, 1, 1, 1], "mode": "constant", "value": float("-inf")}
    assert infer(pad, [[3, 4, 4]]) == [3, 6, 6]


def test_clip_may_be_open_ended():
    act = {"kind": "clip", "alpha": 0.0, "beta": float("inf")}
    assert infer({"op": "activation", "act": act}, [[3]]) == [3]


# --------------------------------------------------------------------------- whole headers

def mutated(mutate):
    header = full_tiny()
    mutate(header)
    return header


def setitem(path, value):
    def mutate(header):
        node = header
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


def delitem(path):
    def mutate(header):
        node = header
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return mutate


BAD_HEADERS = [
    # top level
    (setitem(["format"], "onnx"), "header: format 'onnx' is not one of pnet"),
    (setitem(["version"], 2), "header: version 2 is not supported"),
    (setitem(["version"], True), "header: version must be an int, not bool"),
    (setitem(["extra"], 1), "header: unknown key 'extra'"),
    (delitem(["labels"]), "header: missing key 'labels'"),
    (setitem(["tensors"], "abc"), "header: tensors must be a list, not str"),
    (setitem(["tensors"], []), "header: tensors has 0 entries, needs at least 1"),
    (setitem(["layers"], []), "header: layers has 0 entries, needs at least 1"),
    (setitem(["inputs"], []), "header: inputs has 0 entries"),
    (setitem(["outputs"], None), "header: outputs must be a list, not nil"),
    # tensors
    (setitem(["tensors", 2, "shape"], [8, 5, 0]), "tensor 2 't2': shape[2] is 0, must be >= 1"),
    (setitem(["tensors", 2, "shape"], [8, -5, 6]), "shape[1] is -5, must be >= 1"),
    (setitem(["tensors", 2, "shape"], [1, 1, 1, 8]), "must have 1 to 3 dims"),
    (setitem(["tensors", 2, "shape"], []), "must have 1 to 3 dims"),
    (setitem(["tensors", 2, "shape"], [2**16, 2**16, 2**16]), "more than the limit of"),
    (setitem(["tensors", 2, "shape"], [8, 5.0, 6]), "shape[1] must be an int, not float"),
    (setitem(["tensors", 2, "shape"], [8, True, 6]), "shape[1] must be an int, not bool"),
    (setitem(["tensors", 2, "dtype"], "float16"), "dtype 'float16' is not one of float32"),
    (setitem(["tensors", 2, "blob"], 7), "blob must be nil or a blob index below 4"),
    (setitem(["tensors", 2, "blob"], 1), "is float32 [8, 5, 6] but its blob 1 is float32 [8]"),
    (setitem(["tensors", 2, "name"], None), "tensor 2: name must be a string, not nil"),
    (setitem(["tensors", 2, "extra"], None), "tensor 2: unknown key 'extra'"),
    (setitem(["tensors", 2], [1, 2]), "tensor 2: must be a map, not list"),
    # graph structure
    (setitem(["inputs", 0, "tensor"], 10), "inputs[0]: tensor must be a tensor index below 7"),
    (setitem(["inputs", 0, "tensor"], "0"), "inputs[0]: tensor must be a tensor index"),
    (setitem(["outputs", 0, "name"], 3), "outputs[0]: name must be a string, not int"),
    (setitem(["layers", 1, "inputs"], [2]), "layer 1 'activation1' (activation): inputs[0] is "
                                            "tensor 2 't2', which is neither a graph input"),
    (setitem(["layers", 1, "inputs"], [1, 1]), "takes 1 input, has 2"),
    (setitem(["layers", 1, "inputs"], []), "inputs has 0 entries"),
    (setitem(["layers", 1, "inputs"], [-1]), "inputs[0] must be a tensor index below 7, not -1"),
    (setitem(["layers", 1, "output"], 1), "output tensor 1 't1' is already written by layer 0"),
    (setitem(["layers", 1, "output"], 0), "output tensor 0 'image' is a graph input"),
    (setitem(["layers", 1, "output"], 2.0), "output must be a tensor index below 7, not 2.0"),
    (setitem(["layers", 0, "output"], 0), "output tensor 0 'image' is a graph input"),
    (setitem(["layers", 1, "output"], 3),
     "output tensor 3 't3' has shape [8, 1, 1], but activation of [8, 5, 6] gives [8, 5, 6]"),
    (setitem(["layers", 3, "op"], "softmax"), "has shape [8], but softmax of [8, 1, 1] gives"),
    (setitem(["tensors", 4, "shape"], [9]), "reshape from [8, 1, 1] to [9] changes the element"),
    (setitem(["tensors", 1, "shape"], [8, 5, 7]), "layer 0 'conv0' (conv): output tensor 1 't1' "
                                                  "has shape [8, 5, 7], but conv of [3, 9, 11] "
                                                  "gives [8, 5, 6]"),
    (setitem(["layers", 2], "gap"), "layer 2: must be a map, not str"),
    (delitem(["layers", 2, "op"]), "layer 2 'global_avgpool2': missing key 'op'"),
    (setitem(["features"], 0), "features tensor 0 'image' is not computed by a layer"),
    (setitem(["features"], 7), "features must be nil or a tensor index below 7, not 7"),
    (setitem(["features"], "t4"), "features must be nil or a tensor index"),
    # blobs
    (setitem(["blobs", 1, "offset"], 100), "blob 1: offset 100 is not a multiple of 64"),
    (setitem(["blobs", 1, "offset"], -64), "blob 1: offset is -64, must be >= 0"),
    (setitem(["blobs", 1, "offset"], 0), "blob 0: bytes [0, 864) overlap blob 1 at [0, 32)"),
    (setitem(["blobs", 1, "nbytes"], 36), "blob 1: nbytes 36 does not match shape [8] of "
                                          "float32 (32 bytes)"),
    (setitem(["blobs", 1, "nbytes"], 0), "blob 1: nbytes is 0, must be >= 1"),
    (setitem(["blobs", 1, "dtype"], "float64"), "blob 1: dtype 'float64' is not one of float32"),
    (setitem(["blobs", 1, "shape"], [1, 1, 1, 1, 8]), "blob 1: shape [1, 1, 1, 1, 8] must have"),
    (setitem(["blobs", 1, "shape"], [0]), "blob 1: shape[0] is 0, must be >= 1"),
    (setitem(["blobs", 1, "shape"], [2**62]), "blob 1: shape[0] is 4611686018427387904, must be"),
    (setitem(["blobs", 1, "shape"], [2**20, 2**20]), "more than the limit of 268435456"),
    (delitem(["blobs", 1, "dtype"]), "blob 1: missing key 'dtype'"),
    (setitem(["blobs"], {}), "header: blobs must be a list, not dict"),
    # preprocess, labels, provenance
    (setitem(["preprocess", "size"], [11, 9]), "preprocess: size [11, 9] differs from the input"),
    (setitem(["preprocess", "resize"], 10), "resize 10 is smaller than the crop [9, 11]"),
    (setitem(["preprocess", "resize"], -1), "preprocess: resize is -1, must be >= 0"),
    (setitem(["preprocess", "resize"], 2**20), "resize is 1048576, must be <= 65536"),
    (setitem(["preprocess", "interpolation"], "lanczos"), "interpolation 'lanczos' is not one"),
    (setitem(["preprocess", "channels"], "L"), "channels L gives 1 channels, the input tensor "
                                               "has 3"),
    (setitem(["preprocess", "channels"], "rgb"), "channels 'rgb' is not one of RGB, BGR, L"),
    (setitem(["preprocess", "scale"], 0.0), "preprocess: scale is 0.0, must be > 0"),
    (setitem(["preprocess", "scale"], float("inf")), "scale is inf, must be finite"),
    (setitem(["preprocess", "std"], [0.2, 0.0, 0.2]), "std[1] is 0.0, must be > 0"),
    (setitem(["preprocess", "std"], [0.2, -1, 0.2]), "std[1] is -1.0, must be > 0"),
    (setitem(["preprocess", "mean"], [0.5, 0.5]), "mean has 2 entries, the input has 3 channels"),
    (setitem(["preprocess", "mean"], [0.5, None, 0.5]), "mean[1] must be a number, not nil"),
    (setitem(["preprocess", "crop"], 1), "preprocess: unknown key 'crop'"),
    (setitem(["preprocess"], []), "preprocess: must be a map, not list"),
    (setitem(["labels"], ["a"] * 9), "labels: 9 labels, but the first output has shape [10]"),
    (setitem(["labels"], "abc"), "header: labels must be a list, not str"),
    (setitem(["labels", 3], 3), "labels: labels[3] must be a string, not int"),
    (setitem(["provenance"], {"source": 3}), "provenance: 'source' must be a string, not int"),
    (setitem(["provenance"], []), "provenance: must be a map, not list"),
]


@pytest.mark.parametrize("mutate,fragment", BAD_HEADERS,
                         ids=[f"{i}-{f[:40]}" for i, (_, f) in enumerate(BAD_HEADERS)])
def test_bad_headers_are_refused(mutate, fragment):
    refused(mutated(mutate), fragment)


def test_header_must_be_a_map():
    refused([1, 2], "header: must be a map, not list")
    refused(None, "header: must be a map, not nil")
    refused({1: 2}, "header: keys must be strings, found 1")


def test_blob_past_the_end_of_the_data_section():
    header = full_tiny()
    end = header["blobs"][-1]["offset"] + header["blobs"][-1]["nbytes"]
    graph.validate(header, data_size=end)
    offset = header["blobs"][-1]["offset"]
    refused(header, f"blob 3: offset {offset} + nbytes 40 passes the end of the data section "
                    f"({end - 1} bytes)", data_size=end - 1)


def test_every_computed_tensor_is_written():
    b = Builder()
    x = b.input([3, 4, 4])
    b.tensor([3, 4, 4])                           # nothing writes tensor 1
    y = b.layer("activation", [x], [3, 4, 4], act=RELU)
    refused(with_blobs(b.header([y]), b.arrays), "tensor 1 't1': is computed at run time but "
                                                 "no layer writes it")


def test_a_layer_cannot_read_its_own_output():
    b = Builder()
    x = b.input([3, 4, 4])
    y = b.layer("add", [x, 1], [3, 4, 4], act=NONE)
    refused(with_blobs(b.header([y]), b.arrays), "inputs[1] is tensor 1 't1', which is neither")


def test_constants():
    b = Builder()
    x = b.input([3, 4, 4])
    c = b.const([3, 1, 1])
    y = b.layer("add", [x, c], [3, 4, 4], act=NONE)
    graph.validate(with_blobs(b.header([y]), b.arrays))

    bad = with_blobs(b.header([y]), b.arrays)
    bad["layers"][0]["inputs"] = [c, x]
    refused(bad, "inputs[0] is the constant tensor 1 't1'; a constant can only be input b")

    b2 = Builder()
    x = b2.input([3, 4, 4])
    c = b2.const([3, 4, 4])
    y = b2.layer("conv", [c], [3, 4, 4], **window(), groups=1, weight=b2.blob([3, 3, 3, 3]),
                 bias=None, act=NONE)
    refused(with_blobs(b2.header([y]), b2.arrays), "layer 0 'conv0' (conv): inputs[0] is the "
                                                   "constant tensor 1")

    bad = with_blobs(b.header([y]), b.arrays)
    bad["layers"][0]["output"] = 1
    refused(bad, "output tensor 1 't1' is a constant")
    bad = with_blobs(b.header([1]), b.arrays)
    refused(bad, "outputs[0]: tensor 1 't1' is a constant")
    bad = with_blobs(b.header([y]), b.arrays)
    bad["inputs"].append({"name": "c", "tensor": 1})
    refused(bad, "inputs[1]: tensor 1 't1' is a constant")


def test_graph_inputs_and_outputs_are_distinct():
    header = full_tiny()
    header["inputs"].append(dict(header["inputs"][0]))
    refused(header, "inputs[1]: tensor 0 is already inputs[0]")
    header = full_tiny()
    header["outputs"].append(dict(header["outputs"][0]))
    refused(header, "outputs[1]: tensor 6 is already outputs[0]")


def test_optional_fields_may_be_empty():
    header = full_tiny()
    header.update(features=None, preprocess=None, labels=[], provenance={})
    graph.validate(header)


def test_preprocess_needs_an_image_input():
    b = Builder()
    x = b.input([3, 20])
    y = b.layer("activation", [x], [3, 20], act=RELU)
    pre = full_tiny()["preprocess"]
    refused(with_blobs(b.header([y], preprocess=pre), b.arrays),
            "preprocess: an image preprocess needs a [C, H, W] input tensor")


def test_unused_blobs_and_shared_blobs_are_allowed():
    b = Builder()
    x = b.input([3, 4, 4])
    c = b.const([3, 1, 1])
    y = b.layer("add", [x, c], [3, 4, 4], act=NONE)
    twin = b.tensor([3, 1, 1], blob=b.tensors[c]["blob"])
    y = b.layer("mul", [y, twin], [3, 4, 4], act=NONE)
    b.blob([5])
    graph.validate(with_blobs(b.header([y]), b.arrays))


def test_limits_are_applied():
    header = full_tiny()
    refused(header, "layers has 6 entries, at most 5 allowed", limits=graph.Limits(max_layers=5))
    refused(header, "blobs has 4 entries, at most 3 allowed", limits=graph.Limits(max_blobs=3))
    refused(header, "tensors has 7 entries, at most 6", limits=graph.Limits(max_tensors=6))
    refused(header, "tensor 0 'image': shape [3, 9, 11] has 297 elements, more than the limit of "
                    "250", limits=graph.Limits(max_tensor_elements=250))


def test_every_op_in_one_valid_graph():
    b = Builder()
    x = b.input([4, 12, 12])
    y = b.layer("pad", [x], [4, 14, 14], pads=[1, 1, 1, 1], mode="edge", value=0.0)
    y = b.layer("conv", [y], [8, 12, 12], **window(pads=(0, 0, 0, 0)), groups=2,
                weight=b.blob([8, 3, 3, 2]), bias=None, act=RELU)
    y = b.layer("depthwise", [y], [8, 6, 6], **window(strides=(2, 2)), weight=b.blob([3, 3, 8]),
                bias=b.blob([8]), act={"kind": "clip", "alpha": 0.0, "beta": 6.0})
    m = b.layer("maxpool", [y], [8, 3, 3], **window(strides=(2, 2)), ceil_mode=False)
    a = b.layer("avgpool", [y], [8, 3, 3], kernel=[2, 2], strides=[2, 2], pads=[0, 0, 0, 0],
                ceil_mode=False, count_include_pad=False)
    y = b.layer("sub", [m, a], [8, 3, 3], act=NONE)
    y = b.layer("div", [y, b.const([1, 3, 1])], [8, 3, 3], act=NONE)
    y = b.layer("concat", [y, a], [16, 3, 3])
    g1 = b.layer("global_maxpool", [y], [16, 1, 1])
    g2 = b.layer("global_avgpool", [y], [16, 1, 1])
    y = b.layer("mul", [g1, g2], [16, 1, 1], act={"kind": "hardsigmoid", "alpha": 0.2,
                                                   "beta": 0.5})
    y = b.layer("reshape", [y], [16])
    y = b.layer("fc", [y], [5], weight=b.blob([5, 16]), bias=None,
                act={"kind": "leakyrelu", "alpha": 0.1, "beta": 0.0})
    y = b.layer("activation", [y], [5], act={"kind": "silu", "alpha": 0.0, "beta": 0.0})
    y = b.layer("softmax", [y], [5])
    header = with_blobs(b.header([y], features=g2), b.arrays)
    graph.validate(header)
    summary = graph.summarize(header)
    # The int8 boundary ops are covered by tests/test_quant_format.py, the classic convnet ops
    # by tests/test_convnet_ops.py.
    assert set(summary["ops"]) == set(graph.OPS) - {"add", "quantize", "dequantize", "lrn",
                                                    "conv_transpose", "resize",
                                                    "channel_shuffle", "slice", "transpose"}
    assert summary["parameters"] == sum(a.size for a in b.arrays)
    assert summary["weight_bytes"] == sum(a.nbytes for a in b.arrays)
    # conv 8x12x12 outputs of 3*3*2 weights, depthwise 8x6x6 of 3*3, fc 5 of 16.
    assert summary["macs"] == 8 * 12 * 12 * 18 + 8 * 6 * 6 * 9 + 5 * 16


def test_summarize_tiny_model():
    summary = graph.summarize(full_tiny())
    assert summary["ops"] == {"activation": 1, "conv": 1, "fc": 1, "global_avgpool": 1,
                              "reshape": 1, "softmax": 1}
    assert summary["layers"] == 6 and summary["tensors"] == 7 and summary["labels"] == 10
    assert summary["parameters"] == 8 * 27 + 8 + 80 + 10
    assert summary["inputs"] == [{"name": "image", "tensor": 0, "shape": [3, 9, 11]}]
    assert summary["macs"] == 8 * 5 * 6 * 27 + 80


def test_garbage_never_escapes_as_another_exception():
    # Replace every node of a valid header, one at a time, with values of the wrong kind.
    rng = np.random.default_rng(1)
    garbage = [None, True, -1, 2**70, 1.5, float("nan"), "x", b"x", [], [None], {}, {"a": 1},
               [[1]], {1: 2}]
    base = full_tiny()
    paths = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path + [key])
        elif isinstance(node, list):
            for i, value in enumerate(node[:4]):
                walk(value, path + [i])

    walk(base, [])
    for path in paths[1:]:
        for value in rng.permutation(np.array(garbage, dtype=object))[:5]:
            header = mutated(setitem(path, value))
            try:
                graph.validate(header)
            except ModelFormatError as e:
                assert "malformed" not in str(e), (path, value, str(e))


def test_weight_layout_is_optional_and_checked():
    for layout in ("ohwi", "panels16"):
        assert infer(dict(conv(strides=(2, 2)), weight_layout=layout), [[3, 224, 224]],
                     [[32, 3, 3, 3]]) == [32, 112, 112]
    # the int8 layout is for int8 layers (test_quant_format.py)
    with pytest.raises(ModelFormatError, match="q8panels16' is for int8 layers only"):
        infer(dict(conv(), weight_layout="q8panels16"), [[3, 8, 8]], [[2, 7, 16, 4]])
    with pytest.raises(ModelFormatError, match="unknown weight_layout 'nchw16c'"):
        infer(dict(conv(), weight_layout="nchw16c"), [[3, 8, 8]], [[32, 3, 3, 3]])
    with pytest.raises(ModelFormatError, match="weight_layout"):
        infer(dict(conv(), weight_layout=3), [[3, 8, 8]], [[32, 3, 3, 3]])
