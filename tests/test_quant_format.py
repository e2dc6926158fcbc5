"""The int8 fields of the format: what graph.validate and the C core refuse, and a round trip
of a quantized file through write_pnet / read_pnet."""

import math

import numpy as np
import pytest

from converters.quantize import _with_blobs
from predict import format as fmt
from predict import graph
from predict._native import NativeNet
from predict.errors import ModelFormatError, NativeError

NONE = {"kind": "none", "alpha": 0.0, "beta": 0.0}


def _model(k=3, cout=2):
    header = {
        "tensors": [{"name": "x", "shape": [k], "dtype": "float32", "blob": None},
                    {"name": "xq", "shape": [k], "dtype": "uint8", "blob": None, "scale": 0.5,
                     "zero_point": 10},
                    {"name": "yq", "shape": [cout], "dtype": "uint8", "blob": None,
                     "scale": 0.25, "zero_point": 128},
                    {"name": "y", "shape": [cout], "dtype": "float32", "blob": None}],
        "layers": [{"op": "quantize", "name": "q", "inputs": [0], "output": 1},
                   {"op": "fc", "name": "fc", "inputs": [1], "output": 2, "weight": 0,
                    "bias": 1, "act": NONE,
                    "quant": {"params": 2, "zero": 128, "lo": 0, "hi": 255, "lut": None,
                              "table": None}},
                   {"op": "dequantize", "name": "d", "inputs": [2], "output": 3}],
        "inputs": [{"name": "x", "tensor": 0}], "outputs": [{"name": "y", "tensor": 3}],
        "features": None, "preprocess": None, "labels": [], "provenance": {},
        "quantization": {"method": "minmax", "top1_agreement": 1.0},
    }
    arrays = [np.ones((cout, k), np.int8), np.zeros(cout, np.int32),
              np.array([[1 << 30] * cout, [31] * cout], np.int32)]
    return header, arrays


def _check(header, arrays):
    graph.validate(_with_blobs(dict(header, format="pnet", version=1), arrays))


def test_a_quantized_file_round_trips_and_runs(tmp_path):
    header, arrays = _model()
    fmt.write_pnet(tmp_path / "q.pnet", header, arrays)
    m = fmt.read_pnet(tmp_path / "q.pnet")
    assert m.header["quantization"]["method"] == "minmax"
    assert [a.dtype for a in m.arrays] == [np.int8, np.int32, np.int32]
    with NativeNet(m.header, m.arrays) as net:
        y = net.run([np.array([[[[1.0, 2.0, 3.0]]]], np.float32)])[0]
    # q = [12, 14, 16]; acc = sum(q) = 42 (bias 0); rq(42, 2^30, 31) = 21; 128 + 21 = 149
    assert y.ravel().tolist() == [0.25 * 21] * 2
    m.close()


@pytest.mark.parametrize("change, fragment", [
    (lambda h, a: h["tensors"][1].update(scale=0.0), "scale"),
    (lambda h, a: h["tensors"][1].update(scale=math.nan), "scale"),
    (lambda h, a: h["tensors"][1].update(scale=math.inf), "scale"),
    (lambda h, a: h["tensors"][1].update(scale=1e-45), "smallest normal"),
    (lambda h, a: h["tensors"][1].update(zero_point=256), "zero_point"),
    (lambda h, a: h["tensors"][1].update(zero_point=-1), "zero_point"),
    (lambda h, a: h["tensors"][1].pop("scale"), "missing key 'scale'"),
    (lambda h, a: h["tensors"][0].update(scale=1.0), "unknown key 'scale'"),
    (lambda h, a: h["layers"][1]["quant"].update(lo=200, hi=100), "lo 200 is above hi 100"),
    (lambda h, a: h["layers"][1]["quant"].update(zero=300), "zero"),
    (lambda h, a: h["layers"][1].pop("quant"), "needs 'quant'"),
    (lambda h, a: h["layers"][1]["quant"].update(params=None), "params"),
    (lambda h, a: a.__setitem__(0, a[0].astype(np.float32)), "expected int8"),
    (lambda h, a: a.__setitem__(1, a[1].astype(np.float32)), "expected int32"),
    (lambda h, a: a.__setitem__(2, a[2][:, :1].copy()), "params blob 2 is int32 [2, 1]"),
    (lambda h, a: h["layers"][2].update(inputs=[0]), "expected uint8"),
    (lambda h, a: h["layers"][0].update(op="dequantize"), "expected"),
    (lambda h, a: h.update(quantization=[1]), "quantization must be a map"),
])
def test_graph_refuses_bad_int8_fields(change, fragment):
    header, arrays = _model()
    change(header, arrays)
    with pytest.raises(ModelFormatError) as info:
        _check(header, arrays)
    assert fragment in str(info.value), str(info.value)


def test_graph_refuses_a_reduction_above_32767():
    header, arrays = _model(k=32768, cout=1)
    with pytest.raises(ModelFormatError, match="reduction length 32768"):
        _check(header, arrays)


@pytest.mark.parametrize("mult, shift, fragment", [
    (1 << 30, 0, "shift 0 is 0, not in [1, 62]"),
    (1 << 30, 63, "not in [1, 62]"),
    (-1, 31, "negative"),
])
def test_the_core_refuses_bad_multipliers(mult, shift, fragment):
    header, arrays = _model()
    arrays[2] = np.array([[mult] * 2, [shift] * 2], np.int32)
    with pytest.raises(NativeError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        NativeNet(_with_blobs(header, arrays), arrays)


def test_the_core_refuses_a_bad_scale_even_unvalidated():
    header, arrays = _model()
    header["tensors"][1]["scale"] = float("nan")
    with pytest.raises(NativeError, match="scale"):
        NativeNet(_with_blobs(header, arrays), arrays)


def _packed(header, arrays):
    """The model with its fc weight in q8panels16 (what the converter writes)."""
    from predict.layout import pack_q8panels16
    arrays = list(arrays)
    arrays[0] = pack_q8panels16(arrays[0])
    header["layers"][1]["weight_layout"] = "q8panels16"
    return header, arrays


def test_a_packed_file_round_trips_and_runs_like_ohwi(tmp_path):
    x = np.array([[[[1.0, 2.0, 3.0]]]], np.float32)
    header, arrays = _model()
    with NativeNet(header, arrays) as net:
        want = net.run([x])[0]
    header, arrays = _packed(*_model())
    _check(header, arrays)
    fmt.write_pnet(tmp_path / "p.pnet", header, arrays)
    m = fmt.read_pnet(tmp_path / "p.pnet")
    assert m.arrays[0].shape == (1, 1, 16, 4)
    with NativeNet(m.header, m.arrays) as net:
        np.testing.assert_array_equal(net.run([x])[0], want)
    m.close()


@pytest.mark.parametrize("change, fragment", [
    (lambda h, a: a.__setitem__(0, np.zeros((1, 2, 16, 4), np.int8)), "q8panels16"),
    (lambda h, a: a.__setitem__(0, np.zeros((2, 1, 16, 4), np.int8)), "q8panels16"),
    (lambda h, a: h["layers"][1].update(bias=None), "bias"),
    (lambda h, a: h["layers"][1].update(weight_layout="panels16"), "panels16"),
])
def test_graph_refuses_a_bad_packed_int8_weight(change, fragment):
    header, arrays = _packed(*_model())
    change(header, arrays)
    with pytest.raises(ModelFormatError, match=fragment):
        _check(header, arrays)


def test_the_builder_refuses_a_packed_blob_of_the_wrong_size_even_unvalidated():
    # NativeNet alone (no graph.validate): the core would read that many bytes
    header, arrays = _packed(*_model())
    arrays[0] = np.zeros((1, 1, 16, 2), np.int8)
    with pytest.raises(NativeError, match="weight"):
        NativeNet(header, arrays)
