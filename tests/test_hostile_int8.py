"""Hostile int8 files through the whole loader: each forgery with the exact error it must give.

The model is tools/small_models.py's image chain quantized by the converter (every int8
operator, and quantize/dequantize around a float32 layer). Header fields are forged with a
valid checksum (test_hostile.edited); blob values -- multipliers, shifts, the softmax exp
table, weights -- are poked into the data section, again with a valid checksum, because the
header cannot vouch for them: predict.quant_values checks them, and the C core checks the
ones that would make it divide by zero as a second line.
"""
import math
import threading

import numpy as np
import pytest

import predict
from predict import format as fmt
from predict.errors import ModelFormatError, NativeError, PredictError
from test_format import split
from test_hostile import edited, flip_header_bits, refused, rewrite

import small_models  # noqa: E402  (on sys.path through test_hostile)

X = np.random.default_rng(11).standard_normal((3, 3, 12, 10)).astype(np.float32)


@pytest.fixture(scope="module")
def chain():
    return small_models.image_chain_int8()


@pytest.fixture
def model(tmp_path, chain):
    path = tmp_path / "chain_int8.pnet"
    fmt.write_pnet(path, *chain)
    return path


def _layer(header, op):
    return next((i, layer) for i, layer in enumerate(header["layers"])
                if layer["op"] == op and layer.get("quant") is not None)


def poked(path, blob_of, dtype, index, value):
    """Writes ``value`` into element ``index`` (flat) of the blob ``blob_of(header)`` names."""
    header, data = split(path.read_bytes())
    blob = header["blobs"][blob_of(header)]
    data = bytearray(data)
    at = blob["offset"] + index * np.dtype(dtype).itemsize
    data[at:at + np.dtype(dtype).itemsize] = np.array([value], dtype).tobytes()
    return rewrite(path, data=bytes(data))


def test_the_int8_model_is_int8_and_runs(model):
    header, _ = split(model.read_bytes())
    ops = [layer["op"] for layer in header["layers"] if layer.get("quant") is not None]
    assert {"conv", "depthwise", "maxpool", "avgpool", "add", "concat", "fc", "softmax"} <= set(ops)
    with predict.load(model) as net:
        y = net.run(X)
    assert y.shape == (3, 5) and np.allclose(y.sum(axis=1), 1.0, atol=0.02)


def test_data_section_cut_at_every_blob_boundary(model):
    raw = model.read_bytes()
    header, data = split(raw)
    cuts = sorted({b["offset"] for b in header["blobs"]} |
                  {b["offset"] + b["nbytes"] for b in header["blobs"]})[:-1]
    for cut in cuts:
        rewrite(model, data=data[:cut])
        refused(model, f"passes the end of the data section ({cut} bytes)")


def test_header_bit_flips_with_a_recomputed_checksum_are_refused_or_harmless(model):
    assert flip_header_bits(model, X, 200, np.random.default_rng(12)) < 200


def _tensor(h, name):
    return next(t for t in h["tensors"] if t["name"] == name)


def _quant(h, op):
    return _layer(h, op)[1]["quant"]


FORGED_HEADER = [
    (lambda h: _tensor(h, "t1").update(scale=0.0), "tensor 1 't1': scale is 0.0, must be > 0"),
    (lambda h: _tensor(h, "t1").update(scale=math.nan), "tensor 1 't1': scale is NaN"),
    (lambda h: _tensor(h, "t1").update(scale=math.inf), "scale is inf, must be finite in float32"),
    (lambda h: _tensor(h, "t1").update(scale=1e-45), "scale 1e-45 is below the smallest normal"),
    (lambda h: _tensor(h, "t2").update(zero_point=256), "zero_point is 256, must be <= 255"),
    (lambda h: _tensor(h, "t2").update(zero_point=-1), "zero_point is -1, must be >= 0"),
    (lambda h: _tensor(h, "t2").pop("scale"), "missing key 'scale'"),
    (lambda h: _quant(h, "conv").update(zero=300), "quant: zero is 300, must be <= 255"),
    (lambda h: _quant(h, "conv").update(lo=200, hi=100), "quant: lo 200 is above hi 100"),
    (lambda h: _quant(h, "softmax").update(table=None), "table"),
    (lambda h: _quant(h, "depthwise").update(params=None), "params"),
]


@pytest.mark.parametrize("edit,fragment", FORGED_HEADER, ids=[f[:40] for _, f in FORGED_HEADER])
def test_forged_int8_header_fields(model, edit, fragment):
    message = refused(edited(model, edit), fragment)
    assert message.startswith(f"{model}: ")


def _params(op):
    return lambda h: _quant(h, op)["params"]


def _cout(h, op):
    return h["blobs"][_quant(h, op)["params"]]["shape"][1]


FORGED_VALUES = [
    # (blob, dtype, element or a function of the header, value, the exact refusal)
    (_params("conv"), np.int32, 0, -1, "(conv): quant params blob {b}: multiplier 0 is -1, "
                                       "must be >= 0"),
    (_params("conv"), np.int32, lambda h: _cout(h, "conv") + 2, 0,
     "(conv): quant params blob {b}: shift 2 is 0, must be in [1, 62]"),
    (_params("fc"), np.int32, lambda h: _cout(h, "fc"), 63,
     "(fc): quant params blob {b}: shift 0 is 63, must be in [1, 62]"),
    (_params("add"), np.int32, 3, 30, "(add): quant params blob {b}: an add needs one shift for "
                                      "both inputs, got "),
    # A table of zeros would make the kernel divide a row by a zero sum.
    (lambda h: _quant(h, "softmax")["table"], np.int32, 0, 0,
     "(softmax): quant table blob {b}: exp table entry 0 is 0, must be 65536"),
    (lambda h: _quant(h, "softmax")["table"], np.int32, 7, -1,
     "(softmax): quant table blob {b}: exp table entry 7 is -1, must be in [0, 65536]"),
    (lambda h: _layer(h, "conv")[1]["weight"], np.int8, 5, -128,
     "blob {b}: int8 weight 5 is -128, must be in [-127, 127]"),
]


@pytest.mark.parametrize("blob_of,dtype,index,value,fragment", FORGED_VALUES,
                         ids=[f[:40] for *_, f in FORGED_VALUES])
def test_forged_int8_blob_values_are_refused_at_load(model, blob_of, dtype, index, value,
                                                     fragment):
    header, _ = split(model.read_bytes())
    b = blob_of(header)
    index = index(header) if callable(index) else index
    poked(model, blob_of, dtype, index, value)
    with pytest.raises(PredictError) as info:
        predict.load(model).close()
    # The Python checks come first: a NativeError here would be a hole in them.
    assert isinstance(info.value, ModelFormatError) and not isinstance(info.value, NativeError)
    assert fragment.format(b=b) in str(info.value), str(info.value)


def test_the_writer_refuses_what_the_reader_would(tmp_path, chain):
    header, arrays = chain
    arrays = [a.copy() for a in arrays]
    table = next(layer["quant"]["table"] for layer in header["layers"]
                 if layer["op"] == "softmax" and layer.get("quant"))
    arrays[table][:] = 0
    with pytest.raises(ModelFormatError, match="exp table entry 0 is 0, must be 65536"):
        fmt.write_pnet(tmp_path / "bad.pnet", header, arrays)
    assert not (tmp_path / "bad.pnet").exists()


def test_threads_share_one_int8_network(model):
    with predict.load(model, threads=2) as net:
        expected = net.run(X)
        results, errors = [], []

        def work():
            try:
                for _ in range(20):
                    results.append(net.run(X))
            except BaseException as e:      # collected: an assert in a thread would be lost
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors, errors
    assert len(results) == 80 and all(np.array_equal(r, expected) for r in results)


def test_the_core_refuses_a_zero_exp_table_even_unvalidated(model):
    # Python's checks stand first; the core's own keeps a bypass (the native fuzz target, a
    # future caller) from dividing by zero.
    from predict._native import NativeNet

    m = fmt.read_pnet(model)
    try:
        arrays = [a.copy() for a in m.arrays]
        arrays[_quant(m.header, "softmax")["table"]][:] = 0
        with pytest.raises(NativeError, match="exp table entry 0 is 0, not 65536"):
            NativeNet(m.header, arrays)
    finally:
        m.close()
