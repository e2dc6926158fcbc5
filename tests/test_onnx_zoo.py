"""Every family of the test zoo (tests/onnx_zoo.py), at every opset it is built for, converts
and matches onnxruntime within 1e-4 relative (converters.onnx_check); the int8 conversion of
each family converts and runs; `predict convert --check` reports and fails as it should."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from converters.onnx_check import check_onnx, format_check  # noqa: E402
from converters.onnx_import import convert_onnx  # noqa: E402
from predict import cli  # noqa: E402

import onnx_zoo  # noqa: E402

RTOL = 1e-4

# The layers each family must convert to, so that a passing check means the pattern that
# defines the family really went through the engine (not, say, a fused-away shortcut).
EXPECTED_OPS = {
    "alexnet": {"lrn", "conv", "maxpool", "fc", "softmax"},
    "vgg": {"conv", "maxpool", "fc"},
    "googlenet": {"lrn", "concat", "maxpool", "avgpool", "softmax"},
    "inception_v3": {"concat", "avgpool", "conv"},
    "resnet": {"add", "conv", "global_avgpool", "fc"},
    "resnext": {"add", "conv"},
    "squeezenet": {"concat", "conv", "global_avgpool", "softmax"},
    "densenet": {"concat", "depthwise", "avgpool"},        # pre-activation BN: 1x1 depthwise
    "shufflenet_v1": {"channel_shuffle", "depthwise", "concat", "add"},
    "shufflenet_v2": {"channel_shuffle", "slice", "depthwise", "concat"},
    "mobilenet_v1": {"depthwise", "conv", "softmax"},
    "mobilenet_v2": {"depthwise", "add", "global_avgpool", "reshape", "fc"},
    "mobilenet_v3": {"depthwise", "mul", "global_avgpool"},
    "efficientnet": {"depthwise", "mul", "global_avgpool"},
    "efficientnet_lite": {"depthwise", "add"},
    "segmentation_head": {"conv_transpose", "resize"},
    "detection_head": {"resize", "add"},
    "ssd_head": {"transpose", "reshape", "concat", "softmax"},
}
CASES = [(family, opset) for family in onnx_zoo.FAMILIES for opset in onnx_zoo.OPSETS]


def test_every_family_has_expected_ops():
    assert set(EXPECTED_OPS) == set(onnx_zoo.FAMILIES)


@pytest.mark.parametrize("family,opset", CASES, ids=[f"{f}-opset{o}" for f, o in CASES])
def test_zoo_model_matches_onnxruntime(family, opset):
    model = onnx_zoo.build(family, opset)
    header, arrays = convert_onnx(model)
    ops = {layer["op"] for layer in header["layers"]}
    assert EXPECTED_OPS[family] <= ops, f"{family}: missing {EXPECTED_OPS[family] - ops}"
    report = check_onnx(model, header=header, arrays=arrays, rtol=RTOL)
    assert report["reference"] == "onnxruntime"
    assert report["outputs"] and report["ok"], format_check(report)
    for out in report["outputs"]:
        assert out["max_rel"] <= RTOL, format_check(report)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(onnx_zoo.FULL_SIZE))
def test_full_size_model_matches_onnxruntime(name):
    """CaffeNet, ResNet-18 and GoogLeNet at their real sizes (224 / 227 inputs, 1000 classes,
    CaffeNet's 58 M weights of fully connected layers)."""
    model = onnx_zoo.FULL_SIZE[name](13)
    report = check_onnx(model, rtol=RTOL)
    assert report["ok"], format_check(report)


def test_zoo_activations_and_fusions():
    """The exporter patterns simplify as they should: SiLU and hard-swish fuse into their
    convolution, ceil-mode pools keep ceil_mode, the Shape chain folds to one reshape."""
    header, _ = convert_onnx(onnx_zoo.build("efficientnet", 13))
    kinds = {layer["act"]["kind"] for layer in header["layers"] if "act" in layer}
    assert "silu" in kinds and "sigmoid" in kinds
    header, _ = convert_onnx(onnx_zoo.build("mobilenet_v3", 11))
    assert "hardswish" in {layer["act"]["kind"] for layer in header["layers"] if "act" in layer}
    header, _ = convert_onnx(onnx_zoo.build("googlenet", 11))
    assert any(layer.get("ceil_mode") for layer in header["layers"])
    header, _ = convert_onnx(onnx_zoo.build("resnet", 13))
    assert [layer["op"] for layer in header["layers"]][-3:] == ["global_avgpool", "reshape", "fc"]


def test_check_notices_a_wrong_conversion():
    model = onnx_zoo.build("segmentation_head", 13)
    header, arrays = convert_onnx(model)
    layer = next(layer for layer in header["layers"] if layer["op"] == "conv_transpose")
    arrays = list(arrays)
    arrays[layer["weight"]] = arrays[layer["weight"]] * np.float32(1.01)
    report = check_onnx(model, header=header, arrays=arrays)
    assert not report["ok"]
    assert "ABOVE TOLERANCE" in format_check(report)


@pytest.mark.parametrize("family", sorted(onnx_zoo.FAMILIES))
def test_zoo_model_int8_converts_and_runs(family):
    """int8: the quantizer keeps the ops without an int8 kernel in float32, and the mixed
    network runs and stays near the float one."""
    from converters.quantize import quantize_model

    model = onnx_zoo.build(family, 13)
    header, arrays = convert_onnx(model)
    shape = header["tensors"][header["inputs"][0]["tensor"]]["shape"]
    calibration = np.random.default_rng(1).standard_normal((8, *shape)).astype(np.float32)
    qh, qa, report = quantize_model(header, arrays, calibration)
    ops = {(layer["op"], "quant" in layer) for layer in qh["layers"]}
    assert ("conv", True) in ops or ("fc", True) in ops, f"{family}: nothing became int8"
    float_only = {"lrn", "conv_transpose", "resize", "channel_shuffle", "slice", "transpose"}
    assert not {op for op, q in ops if q} & float_only
    # Random weights and calibration inputs: measured 0.7% to 5.8% of the output's scale over
    # the zoo; a broken int8 layer gives differences of the order of the output itself.
    result = check_onnx(model, header=qh, arrays=qa, rtol=0.1)
    assert result["ok"], format_check(result)


def test_cli_convert_check(tmp_path, capsys):
    src, dst = tmp_path / "m.onnx", tmp_path / "m.pnet"
    onnx.save(onnx_zoo.build("shufflenet_v1", 11), str(src))
    assert cli.main(["convert", str(src), "-o", str(dst), "--no-preprocess", "--check"]) == 0
    out = capsys.readouterr().out
    assert "check against onnxruntime" in out and "max rel diff" in out and " ok" in out


def test_cli_convert_check_fails_above_tolerance(tmp_path, capsys, monkeypatch):
    import converters.onnx_check as check

    real = check.reference_outputs

    def shifted(model, x):
        runtime, outputs = real(model, x)
        return runtime, [o + 1.0 for o in outputs]

    monkeypatch.setattr(check, "reference_outputs", shifted)
    src, dst = tmp_path / "m.onnx", tmp_path / "m.pnet"
    onnx.save(onnx_zoo.build("vgg", 13), str(src))
    assert cli.main(["convert", str(src), "-o", str(dst), "--no-preprocess", "--check"]) == 1
    assert "ABOVE TOLERANCE" in capsys.readouterr().out


def test_unsupported_nodes_are_listed_in_one_error():
    """A model with several unsupported nodes fails once, naming every node, its op type and
    the attribute that is not supported."""
    from onnx import helper

    from predict.errors import UnsupportedModelError

    model = onnx_zoo.build("detection_head", 27)
    graph = model.graph
    resize = next(n for n in graph.node if n.op_type == "Resize")
    for attr in resize.attribute:
        if attr.name == "mode":
            attr.s = b"cubic"
    heat = graph.output[0].name
    graph.node.extend([
        helper.make_node("Swish", [heat], ["sw"], name="swish_alpha", alpha=2.0),
        helper.make_node("LRN", ["sw"], ["lrn"], name="lrn_no_size"),
        helper.make_node("Resize", ["lrn", "", resize.input[2]], ["rs"], name="resize_crop",
                         mode="linear", coordinate_transformation_mode="tf_crop_and_resize"),
        helper.make_node("Mish", ["rs"], ["mish"], name="mish"),
    ])
    graph.output[0].name = "mish"
    with pytest.raises(UnsupportedModelError) as info:
        convert_onnx(model)
    problems = info.value.problems
    assert [(name, op) for name, op, _ in problems] == [
        (resize.name, "Resize"), ("swish_alpha", "Swish"), ("lrn_no_size", "LRN"),
        ("resize_crop", "Resize"), ("mish", "Mish")]
    reasons = [reason for _, _, reason in problems]
    assert "mode=cubic" in reasons[0]
    assert "alpha=2.0" in reasons[1]
    assert "size=None" in reasons[2]
    assert "coordinate_transformation_mode=tf_crop_and_resize" in reasons[3]
    assert "operator Mish unsupported" in reasons[4]
    message = str(info.value)
    assert message.startswith("the model cannot be converted: 5 unsupported nodes")
    assert all(f"node {name!r} ({op})" in message for name, op, _ in problems)


def test_cli_convert_int8_check(tmp_path, capsys):
    """`convert --int8 --calibrate --check`: the int8 network (slice and channel shuffle kept
    float32) against onnxruntime on random photos through the model's preprocessing."""
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    src, dst = tmp_path / "m.onnx", tmp_path / "m.pnet"
    onnx.save(onnx_zoo.build("shufflenet_v2", 13), str(src))
    assert cli.main(["convert", str(src), "-o", str(dst), "--int8", "--calibrate", str(photos),
                     "--check"]) == 0
    out = capsys.readouterr().out
    assert "random photos through the model's preprocessing (tolerance 0.1 relative)" in out
    assert " ok" in out


@pytest.mark.parametrize("opset,scales,mode", [
    (7, [1, 1, 2, 3], "nearest"), (9, [1, 1, 1, 3], "linear"), (10, [1, 1, 1, 0.5], "nearest"),
    (10, [1, 1, 0.5, 0.5], "nearest"), (10, [1, 1, 0.6, 1.5], "linear")])
def test_upsample_and_resize10_follow_onnxruntime(opset, scales, mode):
    """Upsample and Resize-10 have no coordinate attributes: asymmetric coordinates, nearest
    truncating when enlarging and rounding up when shrinking, as onnxruntime runs them."""
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    op = "Resize" if opset >= 10 else "Upsample"
    if opset < 9:
        node = helper.make_node(op, ["x"], ["y"], mode=mode, scales=[float(s) for s in scales])
        inits = []
    else:
        node = helper.make_node(op, ["x", "s"], ["y"], mode=mode)
        inits = [numpy_helper.from_array(np.array(scales, np.float32), "s")]
    model = helper.make_model(helper.make_graph([node], "g", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    report = check_onnx(model)
    assert report["ok"], format_check(report)


@pytest.mark.parametrize("mode,nearest", [("nearest", "round_prefer_floor"),
                                          ("nearest", "floor"), ("linear", "floor")])
def test_tf2onnx_resize_matches_onnxruntime(mode, nearest):
    """tf2onnx's Resize-11 (tf_half_pixel_for_nn coordinates, an empty roi input)."""
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 6, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Resize", ["x", "roi", "s"], ["y"], mode=mode, nearest_mode=nearest,
                            coordinate_transformation_mode="tf_half_pixel_for_nn")
    inits = [numpy_helper.from_array(np.array([], np.float32), "roi"),
             numpy_helper.from_array(np.array([1, 1, 2, 1.6], np.float32), "s")]
    model = helper.make_model(helper.make_graph([node], "g", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 7
    report = check_onnx(model)
    assert report["ok"], format_check(report)
