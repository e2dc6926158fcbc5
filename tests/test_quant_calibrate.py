"""The converter-side methods of int8 calibration: cross-layer equalization and the pixel
rewrite leave the float network unchanged, the pixel tensor holds the exact pixels, and the
MSE range search keeps outliers that carry signal and clips those that do not."""

import numpy as np
import pytest

from converters import equalize as eq
from converters import pixel_input as px
from converters.quantize import _mse_range, _run_all, _to_core, equalized

pytest.importorskip("onnx")


def _float_net():
    from onnx import TensorProto, helper, numpy_helper
    from converters.onnx_import import convert_onnx
    rng = np.random.default_rng(3)
    w1 = rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32)
    w1[:3] *= 0.01                     # channels far below the tensor's range
    inits = [numpy_helper.from_array(w1, "w1"),
             numpy_helper.from_array(rng.normal(0, 0.1, 8).astype(np.float32), "b1"),
             numpy_helper.from_array(rng.normal(0, 0.3, (8, 1, 3, 3)).astype(np.float32), "w2"),
             numpy_helper.from_array(rng.normal(0, 0.1, 8).astype(np.float32), "b2"),
             numpy_helper.from_array(rng.normal(0, 0.3, (4, 8, 1, 1)).astype(np.float32), "w3")]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Clip", ["c1", "lo", "hi"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], group=8),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Conv", ["r2", "w3"], ["y"])]
    inits += [numpy_helper.from_array(np.array(0, np.float32), "lo"),
              numpy_helper.from_array(np.array(6, np.float32), "hi")]
    graph = helper.make_graph(
        nodes, "eq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    spec = {"size": [16, 16], "resize": 0, "interpolation": "bilinear", "channels": "RGB",
            "scale": 255.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    return convert_onnx(model, preprocess=spec)


def _inputs(header, n=6):
    spec = header["preprocess"]
    pixels = np.random.default_rng(5).integers(0, 256, (n, 3, 16, 16)).astype(np.float32)
    mean = np.float32(spec["mean"])[None, :, None, None]
    std = np.float32(spec["std"])[None, :, None, None]
    return pixels, ((pixels / np.float32(255) - mean) / std).astype(np.float32)


def _outputs(header, arrays, x, tensors):
    return next(_run_all(header, arrays, [x], tensors))


def test_equalization_keeps_the_float_network_and_levels_channels():
    header, arrays = _float_net()
    _, x = _inputs(header)
    found = eq.pairs(header)
    assert [kind for _, _, kind in found] == ["to_depthwise", "to_conv"]
    h, a = equalized(header, arrays, [x], strength=0.5)
    out = header["outputs"][0]["tensor"]
    first = header["layers"][0]["output"]
    before = _outputs(header, arrays, x, [out, first])
    after = _outputs(h, a, x, [out, first])
    np.testing.assert_allclose(after[out], before[out], rtol=1e-4, atol=1e-5)
    spread = [np.abs(v[first]).reshape(-1, 8).max(0) for v in (before, after)]
    live = spread[0] > 0                       # a dead channel stays as it is
    assert spread[0][live].min() < 0.1 * spread[0].max()
    np.testing.assert_allclose(spread[1][live], spread[0].max(), rtol=1e-4)


def test_pixel_rewrite_keeps_the_float_network_and_reads_exact_pixels():
    header, arrays = _float_net()
    pixels, x = _inputs(header)
    h, a, fixed, names = px.rewrite(header, arrays)
    (t, qp), = fixed.items()
    assert qp == (1.0, 0) and [layer["name"] for layer in h["layers"][:2]] == list(names)
    out = header["outputs"][0]["tensor"]
    before = _outputs(header, arrays, x, [out])
    after = _outputs(h, a, x, [out, t])
    np.testing.assert_allclose(after[out], before[out], rtol=1e-4, atol=1e-4)
    # inside the padding frame the tensor is the pixels, to far less than half a level
    inner = after[t][:, 1:-1, 1:-1, :]
    np.testing.assert_allclose(inner, _to_core(pixels), atol=1e-3)
    np.testing.assert_array_equal(np.rint(inner), _to_core(pixels))


def test_mse_range_keeps_signal_outliers_and_clips_a_lone_one():
    rng = np.random.default_rng(0)
    bulk = rng.normal(0, 0.1, 100_000)
    heavy = np.concatenate([bulk, np.full(2000, 5.0)])      # 2 %: must stay in range
    lone = np.concatenate([bulk, [5.0]])                     # one value: clip it
    for values, keeps in ((heavy, True), (lone, False)):
        lo, hi = values.min(), values.max()
        hist, _ = np.histogram(values, bins=8192, range=(lo, hi))
        r = _mse_range(hist, lo, hi)
        assert (r[1] > 4.5) == keeps, r


def test_auto_fallback_spends_the_budget_on_the_most_sensitive_layers_per_byte():
    from converters.quantize import (_float_cost, _logits, _quantizable, auto_fallback,
                                     prepare, sensitivity)
    header, arrays = _float_net()
    _, x = _inputs(header, 8)
    prep = prepare(header, arrays, x[:6], method="mse", equalize=True, pixel_input=True)
    int8 = {i for i in range(len(prep.header["layers"]))
            if _quantizable(prep.header, i, prep.float_names)}
    costs = {i: _float_cost(prep.header, prep.arrays, i) for i in int8}
    budget = sorted(c for c in costs.values() if c)[-1]           # the largest layer fits alone
    chosen, _ = auto_fallback(prep, int8, x[6:], budget_bytes=budget, target=(1.01, 1.01))
    assert chosen and sum(costs[i] for i in chosen) <= budget
    ref = _logits(*prep.source, [x[6:]])
    sens = sensitivity(prep, {i for i in int8 if costs[i]}, [x[6:]], ref)
    ranked = sorted(sens, key=lambda i: -sens[i] / costs[i])
    assert list(chosen)[0] == ranked[0]


def test_a_float_first_conv_drops_the_pixel_rewrite():
    from converters.quantize import quantize_model
    header, arrays = _float_net()
    _, x = _inputs(header, 8)
    qh, _, report = quantize_model(header, arrays, x[:6], heldout=x[6:], validation=x[6:],
                                   method="mse", equalize=True, pixel_input=True,
                                   fallback_budget=10 ** 9, fallback_target=(1.01, 1.01))
    first = header["layers"][0]["name"]
    assert first in report["fallback"]
    names = [layer["name"] for layer in qh["layers"]]
    assert not any(n.endswith((":pad", ":pixels")) for n in names)
    assert qh["layers"][0]["name"] == first and qh["layers"][0]["op"] == "conv"
