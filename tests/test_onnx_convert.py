"""converters.onnx_import on small models built with onnx.helper.

Each model has random weights (fixed seed) and runs at batch 3 through the
whole path (convert, write .pnet, predict.load, run); its outputs must match
onnxruntime on the same ONNX model within 1e-4.  The header is inspected too,
so that a fusion that silently stops happening fails a test.
"""

import hashlib

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import predict  # noqa: E402
from converters.onnx_import import convert_onnx, convert_onnx_file  # noqa: E402
from conformance.pnet_runner import run_converted  # noqa: E402
from test_format import tree_sha256  # noqa: E402
from predict.errors import ConversionError, UnsupportedModelError  # noqa: E402

BATCH = 3
TOL = 1e-4


class Model:
    """A tiny onnx.helper graph builder: weights by name, nodes in order."""

    def __init__(self, shape, seed=0, opset=13, batch="N"):
        self.rng = np.random.default_rng(seed)
        self.shape = list(shape)
        self.opset = opset
        self.batch = batch
        self.nodes, self.inits = [], []

    def weight(self, name, shape, scale=0.5, positive=False):
        w = self.rng.standard_normal(shape).astype(np.float32) * scale
        if positive:
            w = np.abs(w) + 0.5
        self.inits.append(numpy_helper.from_array(w, name))
        return name

    def const(self, name, array):
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, output, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [output], name=f"{op.lower()}_{output}", **attrs))
        return output

    def bn(self, x, c, out):
        names = [self.weight(f"{out}_s", [c], positive=True), self.weight(f"{out}_b", [c]),
                 self.weight(f"{out}_m", [c]), self.weight(f"{out}_v", [c], positive=True)]
        return self.node("BatchNormalization", [x] + names, out, epsilon=1e-3)

    def build(self, *outputs):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [self.batch] + self.shape)
        outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
        graph = helper.make_graph(self.nodes, "test", [x], outs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 7
        return model

    def input(self, seed=1):
        return np.random.default_rng(seed).standard_normal([BATCH] + self.shape).astype(np.float32)


def check(model, x, tmp_path, **kw):
    """Convert and run ``model`` on ``x``; compare with onnxruntime; return the header."""
    header, arrays = convert_onnx(model, **kw)
    got = run_converted(header, arrays, x, tmp_path)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"x": x})
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=TOL, atol=TOL)
    return header


def ops(header):
    return [(layer["op"], layer.get("act", {}).get("kind")) for layer in header["layers"]]


# -- fusion and folding --------------------------------------------------------------------

def test_conv_bn_relu_folds_into_one_conv(tmp_path):
    m = Model([3, 9, 9])
    m.node("Conv", ["x", m.weight("w", [8, 3, 3, 3]), m.weight("b", [8])], "c", pads=[1, 1, 1, 1])
    m.bn("c", 8, "bn")
    m.node("Relu", ["bn"], "y")
    header = check(m.build("y"), m.input(), tmp_path)
    assert ops(header) == [("conv", "relu")]


def test_conv_without_bias_bn_clip_relu6(tmp_path):
    m = Model([4, 8, 8], opset=13)
    m.node("Conv", ["x", m.weight("w", [6, 4, 1, 1])], "c")
    m.bn("c", 6, "bn")
    m.node("Clip", ["bn", m.const("lo", np.float32(0)), m.const("hi", np.float32(6))], "y")
    header = check(m.build("y"), m.input(), tmp_path)
    assert ops(header) == [("conv", "clip")]
    assert header["layers"][0]["act"]["beta"] == 6.0


def test_clip_attributes_before_opset_11_and_missing_bound(tmp_path):
    m = Model([4, 5, 5], opset=9)
    m.node("Conv", ["x", m.weight("w", [4, 4, 3, 3])], "c")
    m.node("Clip", ["c"], "y", min=-0.5)
    header = check(m.build("y"), m.input(), tmp_path)
    assert ops(header) == [("conv", "clip")]
    assert header["layers"][0]["act"]["alpha"] == -0.5


def test_bn_with_two_consumers_stays_a_depthwise_affine(tmp_path):
    m = Model([4, 6, 6])
    m.node("Conv", ["x", m.weight("w", [4, 4, 3, 3])], "c", pads=[1, 1, 1, 1])
    m.node("Relu", ["c"], "r")  # c has two consumers: the BN cannot fold into the conv
    m.bn("c", 4, "bn")
    m.node("Add", ["bn", "r"], "y")
    header = check(m.build("y"), m.input(), tmp_path)
    assert [op for op, _ in ops(header)] == ["conv", "activation", "depthwise", "add"]
    dw = header["layers"][2]
    assert dw["kernel"] == [1, 1] and dw["pads"] == [0, 0, 0, 0]


def test_bn_on_the_input_and_after_gemm(tmp_path):
    m = Model([5])
    m.bn("x", 5, "bn0")  # no producer: a mul + add pair on the [K] vector
    m.node("Gemm", ["bn0", m.weight("w", [7, 5]), m.weight("b", [7])], "g", transB=1, alpha=0.5, beta=2.0)
    m.bn("g", 7, "y")  # folds into the Gemm
    header = check(m.build("y"), m.input(), tmp_path)
    assert ops(header) == [("mul", "none"), ("add", "none"), ("fc", "none")]


def test_pad_folds_into_the_following_conv(tmp_path):
    m = Model([3, 7, 7], opset=13)
    pads = m.const("pads", np.array([0, 0, 1, 2, 0, 0, 1, 0], np.int64))
    m.node("Pad", ["x", pads], "p")
    m.node("Conv", ["p", m.weight("w", [5, 3, 3, 3])], "y")
    header = check(m.build("y"), m.input(), tmp_path)
    assert ops(header) == [("conv", "none")]
    assert header["layers"][0]["pads"] == [1, 2, 1, 0]


def test_reflect_pad_and_opset_2_attributes_stay_pads(tmp_path):
    m = Model([3, 6, 6], opset=9)
    m.node("Pad", ["x"], "p", mode="reflect", pads=[0, 0, 2, 1, 0, 0, 1, 2])
    m.node("Conv", ["p", m.weight("w", [2, 3, 3, 3])], "y")
    header = check(m.build("y"), m.input(), tmp_path)
    assert [op for op, _ in ops(header)] == ["pad", "conv"]


def test_constant_shape_subgraph_folds_into_a_reshape(tmp_path):
    # torch's x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat -> Reshape.
    m = Model([4, 5, 5])
    m.node("Conv", ["x", m.weight("w", [6, 4, 3, 3])], "c")
    m.node("Relu", ["c"], "r")
    m.node("Shape", ["r"], "s")
    m.node("Gather", ["s", m.const("zero", np.array(0, np.int64))], "n", axis=0)
    m.node("Unsqueeze", ["n", m.const("ax", np.array([0], np.int64))], "n1")
    m.node("Concat", ["n1", m.const("minus1", np.array([-1], np.int64))], "shape", axis=0)
    m.node("Reshape", ["r", "shape"], "flat")
    m.node("Gemm", ["flat", m.weight("fw", [54, 10]), m.weight("fb", [10])], "y")
    header = check(m.build("y"), m.input(), tmp_path)
    assert ops(header) == [("conv", "relu"), ("reshape", None), ("fc", "none")]
    # The penultimate features default to the fc's input.
    assert header["tensors"][header["features"]]["shape"] == [54]


@pytest.mark.parametrize("gate,attrs,kind", [
    ("Sigmoid", {}, "silu"),
    ("HardSigmoid", {"alpha": 1 / 6, "beta": 0.5}, "hardswish"),
])
def test_gated_patterns_fuse_into_the_conv(tmp_path, gate, attrs, kind):
    m = Model([3, 6, 6])
    m.node("Conv", ["x", m.weight("w", [4, 3, 3, 3]), m.weight("b", [4])], "c", pads=[1, 1, 1, 1])
    m.node(gate, ["c"], "s", **attrs)
    m.node("Mul", ["s", "c"], "y")
    header = check(m.build("y"), m.input(), tmp_path)
    assert ops(header) == [("conv", kind)]


def test_requested_features_are_not_fused_away(tmp_path):
    m = Model([3, 6, 6])
    m.node("Conv", ["x", m.weight("w", [4, 3, 3, 3])], "c")
    m.node("Relu", ["c"], "y")
    header = check(m.build("y"), m.input(), tmp_path, features="c")
    assert ops(header) == [("conv", "none"), ("activation", "relu")]
    assert header["tensors"][header["features"]]["name"] == "c"


@pytest.mark.parametrize("op,attrs,kind", [
    ("HardSwish", {}, "hardswish"),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, "hardsigmoid"),
    ("LeakyRelu", {"alpha": 0.2}, "leakyrelu"),
    ("Sigmoid", {}, "sigmoid"),
])
def test_activations_fuse_into_depthwise(tmp_path, op, attrs, kind):
    m = Model([4, 7, 7], opset=14)
    m.node("Conv", ["x", m.weight("w", [4, 1, 3, 3]), m.weight("b", [4])], "c", group=4,
           strides=[2, 2], auto_pad="SAME_UPPER")
    m.node(op, ["c"], "y", **attrs)
    header = check(m.build("y"), m.input(), tmp_path)
    assert ops(header) == [("depthwise", kind)]


def test_activation_on_a_graph_output_is_not_fused(tmp_path):
    m = Model([3, 5, 5])
    m.node("Conv", ["x", m.weight("w", [3, 3, 1, 1])], "c")
    m.node("Relu", ["c"], "y")
    header = check(m.build("c", "y"), m.input(), tmp_path)
    assert ops(header) == [("conv", "none"), ("activation", "relu")]


def test_matmul_plus_bias_folds_into_fc(tmp_path):
    m = Model([6])
    m.node("MatMul", ["x", m.weight("w", [6, 4])], "mm")
    m.node("Add", ["mm", m.weight("b", [4])], "a")
    m.node("Relu", ["a"], "y")
    header = check(m.build("y"), m.input(), tmp_path)
    assert ops(header) == [("fc", "relu")]


# -- convolutions and windows ------------------------------------------------------------

def test_conv1d_with_bn_maxpool_and_gap(tmp_path):
    m = Model([4, 20], batch=BATCH)
    m.node("Conv", ["x", m.weight("w", [6, 4, 5]), m.weight("b", [6])], "c", pads=[2, 1],
           strides=[2], dilations=[2])
    m.bn("c", 6, "bn")
    m.node("Relu", ["bn"], "r")
    m.node("MaxPool", ["r"], "p", kernel_shape=[3], strides=[2], ceil_mode=1)
    m.node("GlobalAveragePool", ["p"], "y")
    header = check(m.build("y"), m.input(), tmp_path)
    assert ops(header) == [("conv", "relu"), ("maxpool", None), ("global_avgpool", None)]
    assert header["layers"][0]["kernel"] == [1, 5]
    assert header["tensors"][header["outputs"][0]["tensor"]]["shape"] == [6, 1]


@pytest.mark.parametrize("group,cout,dilations,auto_pad", [
    (2, 6, [1, 1], "NOTSET"),       # grouped
    (4, 8, [1, 1], "SAME_LOWER"),   # depthwise with a channel multiplier: a grouped conv
    (4, 4, [2, 2], "NOTSET"),       # depthwise, dilated (onnxruntime has no dilated SAME)
    (1, 5, [2, 3], "VALID"),        # dilated
])
def test_grouped_depthwise_dilated_conv(tmp_path, group, cout, dilations, auto_pad):
    m = Model([4, 11, 10])
    attrs = {"group": group, "dilations": dilations, "strides": [2, 1], "auto_pad": auto_pad}
    if auto_pad == "NOTSET":
        attrs["pads"] = [1, 0, 2, 1]
    m.node("Conv", ["x", m.weight("w", [cout, 4 // group, 3, 3]), m.weight("b", [cout])], "y", **attrs)
    header = check(m.build("y"), m.input(), tmp_path)
    assert header["layers"][0]["op"] == ("depthwise" if group == 4 == cout else "conv")


@pytest.mark.parametrize("ceil_mode,count_include_pad", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_pools(tmp_path, ceil_mode, count_include_pad):
    m = Model([3, 9, 8])
    m.node("AveragePool", ["x"], "a", kernel_shape=[3, 2], strides=[2, 2], pads=[1, 1, 1, 0],
           ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    m.node("MaxPool", ["x"], "b", kernel_shape=[2, 3], strides=[2, 2], pads=[1, 0, 0, 1],
           dilations=[2, 1], ceil_mode=ceil_mode)
    m.node("GlobalMaxPool", ["x"], "c")
    check(m.build("a", "b", "c"), m.input(), tmp_path)


# -- element-wise, shapes and opsets ------------------------------------------------------

def test_residual_block_with_broadcast_constants(tmp_path):
    m = Model([4, 6, 6])
    m.node("Conv", ["x", m.weight("w", [4, 4, 3, 3])], "c", pads=[1, 1, 1, 1])
    m.node("Add", ["x", "c"], "res")
    m.node("Relu", ["res"], "r")
    m.node("Mul", [m.weight("scale", [4, 1, 1]), "r"], "s")        # constant first: swapped
    m.node("Sub", ["s", m.weight("shift", [1, 4, 1, 1])], "t")
    m.node("Div", ["t", m.const("two", np.float32(2.0))], "d")
    m.node("Sub", [m.weight("row", [6]), "d"], "e")                 # constant - x
    m.node("GlobalAveragePool", ["e"], "g")
    m.node("Mul", ["e", "g"], "y")                                  # [4,6,6] * [4,1,1]
    header = check(m.build("y"), m.input(), tmp_path)
    assert ("add", "relu") in ops(header)


def test_concat_softmax_flatten(tmp_path):
    m = Model([3, 4, 4], opset=11)
    m.node("Conv", ["x", m.weight("w1", [2, 3, 1, 1])], "a")
    m.node("Conv", ["x", m.weight("w2", [5, 3, 1, 1])], "b")
    m.node("Concat", ["a", "b", "x"], "cat", axis=1)
    m.node("GlobalAveragePool", ["cat"], "g")
    m.node("Flatten", ["g"], "f", axis=1)
    m.node("Softmax", ["f"], "y", axis=1)  # opset 11: over the flattened [C] vector
    header = check(m.build("y"), m.input(), tmp_path)
    assert [op for op, _ in ops(header)][-3:] == ["global_avgpool", "reshape", "softmax"]


def test_channel_softmax_on_an_image_tensor(tmp_path):
    m = Model([5, 3, 4], opset=13)
    m.node("Softmax", ["x"], "y", axis=1)
    check(m.build("y"), m.input(), tmp_path)


def test_opset_7_legacy_model(tmp_path):
    m = Model([3, 6, 6], opset=7)
    m.node("Conv", ["x", m.weight("w", [4, 3, 3, 3]), m.weight("b", [4])], "c")
    m.node("BatchNormalization", ["c", m.weight("s", [4], positive=True), m.weight("bb", [4]),
                                  m.weight("mm", [4]), m.weight("vv", [4], positive=True)], "bn")
    m.node("Dropout", ["bn"], "d", ratio=0.5)
    m.node("Reshape", ["d", m.const("shape", np.array([0, -1], np.int64))], "f")
    m.node("Gemm", ["f", m.weight("fw", [5, 64]), m.weight("fb", [5])], "y", transB=1)
    header = check(m.build("y"), m.input(), tmp_path)
    assert ops(header) == [("conv", "none"), ("reshape", None), ("fc", "none")]


def test_dynamic_spatial_dims_need_input_shape(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(ConversionError, match="input_shape"):
        convert_onnx(model)
    with pytest.raises(ConversionError, match="disagrees"):
        convert_onnx(model, input_shape=(4, 8, 8))
    header, _ = convert_onnx(model, input_shape=(3, 8, 8))
    assert header["tensors"][0]["shape"] == [3, 8, 8]


# -- errors, metadata and files ----------------------------------------------------------

def test_every_unsupported_node_is_reported_at_once():
    m = Model([3, 8, 8], opset=13)
    m.node("Conv", ["x", m.weight("w", [4, 3, 3, 3])], "c")
    m.node("Tanh", ["c"], "t")                                           # unknown operator
    m.node("MaxPool", ["t"], "p", kernel_shape=[2, 2], storage_order=1)  # bad attribute, after it
    m.node("Softmax", ["p"], "s", axis=0)                                # the batch axis
    m.node("Conv", ["s", "c"], "c2")                                     # weights at run time
    m.node("Erf", ["c2"], "y")                                           # unknown operator
    with pytest.raises(UnsupportedModelError) as info:
        convert_onnx(m.build("y"))
    problems = info.value.problems
    assert [(name, op) for name, op, _ in problems] == [
        ("tanh_t", "Tanh"), ("maxpool_p", "MaxPool"), ("softmax_s", "Softmax"),
        ("conv_c2", "Conv"), ("erf_y", "Erf")]
    reasons = [reason for _, _, reason in problems]
    assert "operator Tanh unsupported" in reasons[0]
    assert "storage_order=1" in reasons[1]
    assert "Softmax over the batch axis" in reasons[2]
    assert "must be a constant" in reasons[3]
    message = str(info.value)
    assert all(name in message for name, _, _ in problems)


def test_two_runtime_inputs_are_refused():
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["N", 3])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "g", [a, b], [y])
    with pytest.raises(ConversionError, match="exactly one run-time input"):
        convert_onnx(helper.make_model(g))


def test_file_round_trip_with_labels_features_and_provenance(tmp_path):
    m = Model([4, 5, 5])
    m.node("Conv", ["x", m.weight("w", [6, 4, 3, 3])], "c")
    m.node("Relu", ["c"], "r")
    m.node("GlobalAveragePool", ["r"], "g")
    m.node("Flatten", ["g"], "f")
    m.node("Gemm", ["f", m.weight("fw", [3, 6]), m.weight("fb", [3])], "y", transB=1)
    src, dst = tmp_path / "m.onnx", tmp_path / "m.pnet"
    onnx.save(m.build("y"), str(src))
    with pytest.raises(ConversionError, match="labels"):
        convert_onnx(str(src), labels=["a", "b"])
    with pytest.raises(ConversionError, match="features"):
        convert_onnx(str(src), features="no such tensor")
    sha = convert_onnx_file(str(src), str(dst), labels=["a", "b", "c"], features="g",
                            provenance={"source": "unit test", "license": "MIT"})
    # The returned checksum is the file's: the tree checksum of all but its last 32 bytes.
    assert sha == tree_sha256(dst.read_bytes()[:-32]).hex() == dst.read_bytes()[-32:].hex()
    x = m.input()
    with predict.load(str(dst), max_batch=BATCH) as net:
        assert net.sha256 == sha
        assert net.labels == ["a", "b", "c"]
        y = net.run(x)
    expected = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(y, expected, rtol=TOL, atol=TOL)
    header, _ = convert_onnx(str(src), features="g", provenance={"source": "unit test"})
    assert header["tensors"][header["features"]]["shape"] == [6, 1, 1]
    prov = header["provenance"]
    assert prov["source"] == "unit test"
    assert prov["source_sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert prov["converter"].startswith("predict.converters.onnx_import") and "created" in prov


def test_identity_output_of_the_input_gets_a_copy(tmp_path):
    m = Model([2, 3])
    m.node("Identity", ["x"], "y")
    header = check(m.build("y"), m.input(), tmp_path)
    assert ops(header) == [("activation", "none")]


# -- pieces ----------------------------------------------------------------------------------

def test_reshape_targets_keep_the_batch():
    from converters.onnx_layers import Unsupported
    from converters.onnx_reshape import reshape_target

    assert reshape_target([0, -1], (8, 2, 2), batch=None) == (32,)
    assert reshape_target([1, 8, 4], (8, 2, 2), batch=None) == (8, 4)       # Shape's batch is 1
    assert reshape_target([3, 0, 4], (8, 2, 2), batch=3) == (8, 4)          # a static batch
    assert reshape_target([-1, 4, 8], (8, 2, 2), batch=None) == (4, 8)
    for target, batch in [([3, -1], None), ([1, -1], 3), ([-1], None), ([0, 16], None),
                          ([-1, -1], None), ([0, 0, 0, 0, 0], None)]:
        with pytest.raises(Unsupported):
            reshape_target(target, (8, 2, 2), batch)


def test_opset_6_legacy_broadcast_and_constant_shapes():
    from converters.onnx_elementwise import constant_shape
    from converters.onnx_walk import walk_node

    w = walk_node("Add", (3, 4, 4), [np.ones(3)], opset=6, broadcast=1, axis=1)
    assert w.graph.tensors[w.graph.layers[0].inputs[1]].shape == (3, 1, 1)
    assert constant_shape((1, 3, 1, 1), (3, 5, 5)) == (3, 1, 1)
    assert constant_shape((), (7,)) == (1,)
    w = walk_node("Add", (3, 4, 4), [np.ones((2, 3, 1, 1))])
    assert "batch axis" in w.problems[0][2]
    w = walk_node("Add", (3, 4, 4), [np.ones((3, 4, 8))])
    assert "does not broadcast" in w.problems[0][2]


def test_constant_folding_evaluators():
    from converters.onnx_consteval import evaluate, shape_value
    from converters.onnx_graph import Node

    data = np.arange(10)
    cases = [
        (Node("s", "Slice", "", [], ["y"]), [data, np.array([8]), np.array([1]), np.array([0]),
                                             np.array([-3])], [8, 5, 2]),
        (Node("s", "Slice", "", [], ["y"]), [data, np.array([-1]), np.array([-100]), np.array([0]),
                                             np.array([-4])], [9, 5, 1]),
        (Node("d", "Div", "", [], ["y"]), [np.array([-7, 7]), np.array([2, -2])], [-3, -3]),
        (Node("c", "Cast", "", [], ["y"], {"to": 1}), [np.array([3])], [3.0]),
        (Node("q", "Squeeze", "", [], ["y"]), [np.ones((1, 2, 1)), np.array([0])], [[1.0], [1.0]]),
        (Node("k", "ConstantOfShape", "", [], ["y"]), [np.array([2])], [0.0, 0.0]),
    ]
    for node, inputs, expected in cases:
        assert evaluate(node, inputs, opset=13)[0].tolist() == expected, node.op_type
    assert shape_value(Node("s", "Shape", "", [], ["y"], {"start": -2}), (1, 3, 8, 9)).tolist() == [8, 9]


@pytest.mark.parametrize("module", [
    "converters.onnx_import", "converters.onnx_graph", "converters.onnx_walk",
    "converters.onnx_consteval", "converters.onnx_layers", "converters.onnx_ops",
    "converters.onnx_window", "converters.onnx_dense", "converters.onnx_elementwise",
    "converters.onnx_reshape", "converters.simplify", "converters.onnx_convnet",
    "converters.onnx_check",
])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0
