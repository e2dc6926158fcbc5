"""predict convert --int8: calibration on a photo folder, fallback by name, the report in the
file, the --min-agreement gate, and a mixed int8/float32 network that runs."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from PIL import Image  # noqa: E402

import predict  # noqa: E402
from predict import cli  # noqa: E402
from predict.format import read_pnet  # noqa: E402


def _tiny_onnx(path):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (6, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.normal(0, 0.1, 6).astype(np.float32), "b1"),
             numpy_helper.from_array(rng.normal(0, 0.3, (6, 1, 3, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.normal(0, 0.3, (5, 6)).astype(np.float32), "w3"),
             numpy_helper.from_array(rng.normal(0, 0.1, 5).astype(np.float32), "b3")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1],
                              strides=[2, 2]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["c2"], name="dw", pads=[1, 1, 1, 1], group=6),
             helper.make_node("HardSigmoid", ["c2"], ["h2"], name="hsig"),
             helper.make_node("Add", ["h2", "r1"], ["a2"], name="add"),
             helper.make_node("GlobalAveragePool", ["a2"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "w3", "b3"], ["logits"], name="fc", transB=1)]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 24, 24])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 5])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("q")
    _tiny_onnx(str(d / "m.onnx"))
    photos = d / "photos"
    photos.mkdir()
    rng = np.random.default_rng(1)
    for i in range(9):
        pixels = (rng.random((40, 50, 3)) * 255).astype(np.uint8)
        pixels[: 10 + i] //= 3
        Image.fromarray(pixels).save(photos / f"p{i}.png")
    return d


def _convert(setup, *extra):
    args = ["convert", str(setup / "m.onnx"), "-o", str(setup / "q.pnet"), "--size", "24,24",
            "--resize", "0", "--int8", "--calibrate", str(setup / "photos"), *extra]
    return cli.main(args)


def test_int8_convert_runs_and_reports(setup, capsys):
    assert _convert(setup, "--method", "minmax") == 0
    out = capsys.readouterr().out
    assert "top-1 agreement with float32" in out
    m = read_pnet(str(setup / "q.pnet"))
    q = m.header["quantization"]
    assert q["method"] == "minmax" and 0 <= q["top1_agreement"] <= 1
    assert q["rounding"] == "gptq"    # the default
    assert q["images"] > 0 and q["calibration_images"] == 7
    dtypes = {t["dtype"] for t in m.header["tensors"]}
    assert dtypes == {"float32", "uint8"}
    ops = [layer["op"] for layer in m.header["layers"]]
    # the first conv reads exact pixels: float pad + depthwise 1x1 undo the normalization
    assert ops[:3] == ["pad", "depthwise", "quantize"] and "dequantize" in ops
    pixels = m.header["tensors"][m.header["layers"][2]["output"]]
    assert (pixels["scale"], pixels["zero_point"]) == (1.0, 0)
    m.close()
    with predict.load(str(setup / "q.pnet")) as net:
        scores = net.run(np.zeros((1, 3, 24, 24), np.float32))
        assert np.all(np.isfinite(np.asarray(scores if not isinstance(scores, list) else scores[0])))
        assert net.info()["quantization"]["method"] == "minmax"
    assert cli.main(["info", str(setup / "q.pnet")]) == 0
    assert "int8" in capsys.readouterr().out
    # packed int8 weights count as the math has them: conv1, the pixel layer's 1x1, dw and fc
    with predict.load(str(setup / "q.pnet")) as net:
        info = net.info()
    assert info["macs"] == 6 * 12 * 12 * 27 + 3 * 26 * 26 + 6 * 12 * 12 * 9 + 5 * 6


def test_float_layers_by_name_and_entropy(setup):
    assert _convert(setup, "--method", "entropy", "--float-layers", "dw,fc") == 0
    m = read_pnet(str(setup / "q.pnet"))
    by_name = {layer["name"]: layer for layer in m.header["layers"]}
    assert m.header["tensors"][by_name["dw"]["output"]]["dtype"] == "float32"
    assert m.header["tensors"][by_name["conv1"]["output"]]["dtype"] == "uint8"
    assert set(m.header["quantization"]["float_layers"]) >= {"dw", "fc"}
    m.close()


def test_min_agreement_gate_fails_conversion(setup, capsys):
    assert _convert(setup, "--min-agreement", "1.01") != 0
    assert "below --min-agreement" in capsys.readouterr().err


def test_unknown_float_layer_is_refused(setup, capsys):
    assert _convert(setup, "--float-layers", "nope") != 0
    assert "nope" in capsys.readouterr().err


def test_no_pixel_input_quantizes_the_normalized_input(setup):
    assert _convert(setup, "--method", "mse", "--no-pixel-input", "--no-equalize",
                    "--rounding", "nearest") == 0
    m = read_pnet(str(setup / "q.pnet"))
    assert m.header["layers"][0]["op"] == "quantize"
    assert m.header["quantization"]["method"] == "mse"
    assert m.header["quantization"]["rounding"] == "nearest"
    m.close()


def test_fallback_budget_keeps_the_most_sensitive_layers_float(setup, capsys):
    # 9 photos: 7 calibrate (every fourth of them validates the fallback), 2 + crops held out
    assert _convert(setup, "--fallback-budget", "100000", "--min-agreement", "0") == 0
    m = read_pnet(str(setup / "q.pnet"))
    q = m.header["quantization"]
    assert q["validation_images"] >= 1
    for name, why in q["fallback"].items():
        assert why.startswith("sensitivity"), (name, why)
    float_names = set(q["float_layers"])
    assert set(q["fallback"]) <= float_names
    m.close()


def test_tune_ranges_chooses_ranges_on_validation_photos(setup):
    # entropy ranges clip; the tuning may widen or narrow each, measured on every fourth
    # calibration photo (kept out of the ranges)
    assert _convert(setup, "--method", "entropy", "--tune-ranges", "--min-agreement", "0") == 0
    m = read_pnet(str(setup / "q.pnet"))
    q = m.header["quantization"]
    assert q["validation_images"] >= 1 and q["calibration_images"] < 7
    names = {t["name"]: t for t in m.header["tensors"]}
    assert q["tuned_ranges"]           # entropy's ranges leave room on this set
    for name, (lo, hi) in q["tuned_ranges"].items():
        assert lo <= 0 <= hi and name in names
    m.close()
