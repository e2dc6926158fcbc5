"""predict.load and Network on tiny real .pnet files, checked against numpy
references of the same math: layouts, batch splitting, classify, features,
errors, info, closing and threads."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

import predict
from predict.errors import ImageError, InputError, ModelFormatError, NativeError, PredictError
from predict.format import write_pnet
from predict.image import preprocess

RELU = {"kind": "relu", "alpha": 0.0, "beta": 0.0}
NONE = {"kind": "none", "alpha": 0.0, "beta": 0.0}
LABELS = ["cat", "dog", "bird"]
SPEC = {"size": [16, 16], "resize": 18, "interpolation": "bilinear", "channels": "RGB",
        "scale": 255.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def tensor(name, shape):
    return {"name": name, "shape": list(shape), "dtype": "float32", "blob": None}


def tiny_weights(seed=7):
    rng = np.random.default_rng(seed)
    return {
        "conv_w": rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32),   # OHWI
        "conv_b": rng.normal(0, 0.1, 4).astype(np.float32),
        "fc_w": rng.normal(0, 1.0, (3, 4)).astype(np.float32),
        "fc_b": rng.normal(0, 0.1, 3).astype(np.float32),
    }


def write_tiny(path, *, labels=LABELS, softmax=False, preprocess_spec=SPEC, features=True, seed=7,
               side=16):
    """conv 3x3 (3 -> 4, pad 1) + relu -> global avgpool -> flatten -> fc (4 -> 3)
    [-> softmax], on a 3 x side x side input (preprocess_spec's size must match).
    Returns (sha256, weights)."""
    w = tiny_weights(seed)
    tensors = [tensor("x", [3, side, side]), tensor("conv", [4, side, side]), tensor("pool", [4, 1, 1]),
               tensor("features", [4]), tensor("logits", [3])]
    layers = [
        {"op": "conv", "name": "conv1", "inputs": [0], "output": 1, "kernel": [3, 3],
         "strides": [1, 1], "dilations": [1, 1], "pads": [1, 1, 1, 1], "groups": 1,
         "weight": 0, "bias": 1, "act": RELU},
        {"op": "global_avgpool", "name": "gap", "inputs": [1], "output": 2},
        {"op": "reshape", "name": "flatten", "inputs": [2], "output": 3},
        {"op": "fc", "name": "fc", "inputs": [3], "output": 4, "weight": 2, "bias": 3, "act": NONE},
    ]
    if softmax:
        tensors.append(tensor("probs", [3]))
        layers.append({"op": "softmax", "name": "softmax", "inputs": [4], "output": 5})
    header = {
        "tensors": tensors, "layers": layers,
        "inputs": [{"name": "x", "tensor": 0}],
        "outputs": [{"name": tensors[-1]["name"], "tensor": len(tensors) - 1}],
        "features": 3 if features else None,
        "preprocess": preprocess_spec, "labels": list(labels),
        "provenance": {"source": "tests/test_network.py", "converter": "hand-written"},
    }
    sha = write_pnet(path, header, [w["conv_w"], w["conv_b"], w["fc_w"], w["fc_b"]])
    return sha, w


def reference(x, w, stage="logits"):
    """The tiny model in numpy, source layout (N, 3, 16, 16)."""
    x = x.astype(np.float64)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((x.shape[0], 4, 16, 16))
    for ki in range(3):
        for kj in range(3):
            window = padded[:, :, ki:ki + 16, kj:kj + 16]          # (N, C, 16, 16)
            conv += np.einsum("nchw,oc->nohw", window, w["conv_w"][:, ki, kj, :])
    conv = np.maximum(conv + w["conv_b"][None, :, None, None], 0)
    features = conv.mean(axis=(2, 3))
    if stage == "features":
        return features
    return features @ w["fc_w"].T.astype(np.float64) + w["fc_b"]


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def photo(seed, size=(20, 24)):
    return np.random.default_rng(seed).integers(0, 256, size + (3,), dtype=np.uint8)


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.pnet"
    sha, w = write_tiny(path)
    return path, sha, w


@pytest.fixture
def net(tiny):
    with predict.load(tiny[0]) as network:
        yield network


# -- run ------------------------------------------------------------------------------

def test_run_matches_the_numpy_reference(net, tiny):
    x = np.random.default_rng(1).normal(size=(5, 3, 16, 16)).astype(np.float32)
    y = net.run(x)
    assert y.shape == (5, 3) and y.dtype == np.float32
    np.testing.assert_allclose(y, reference(x, tiny[2]), rtol=1e-4, atol=1e-4)
    # float64 is converted, and the input is not modified
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(net.run(x64), y, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(x64, x.astype(np.float64))
    # a dict by input name, or a float32 array that is not C-contiguous, takes the
    # general path: the same numbers as the one-array path above, bit for bit
    np.testing.assert_array_equal(net.run({"x": x}), y)
    np.testing.assert_array_equal(net.run(np.asfortranarray(x)), y)
    # an empty batch gives an empty result
    assert net.run(np.zeros((0, 3, 16, 16), np.float32)).shape == (0, 3)


def test_one_float32_array_skips_the_general_path(net, tiny, monkeypatch):
    def general(*args):
        raise AssertionError("the general path ran")

    monkeypatch.setattr(predict.Network, "_gather_inputs", general)
    x = np.random.default_rng(3).normal(size=(2, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(net.run(x), reference(x, tiny[2]), rtol=1e-4, atol=1e-4)
    with pytest.raises(AssertionError, match="general path"):
        net.run(x.astype(np.float64))


def test_batches_above_max_batch_are_split(tiny, monkeypatch):
    from predict import _native

    sizes = []
    original = _native.NativeNet.run

    def run(self, inputs, **kw):
        sizes.append(inputs[0].shape[0])
        return original(self, inputs, **kw)

    monkeypatch.setattr(_native.NativeNet, "run", run)
    x = np.random.default_rng(2).normal(size=(7, 3, 16, 16)).astype(np.float32)
    with predict.load(tiny[0], max_batch=3) as net:
        y = net.run(x)
    assert sizes == [3, 3, 1]
    np.testing.assert_allclose(y, reference(x, tiny[2]), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((3, 16, 16), np.float32), r"expected shape \(N, 3, 16, 16\), got \(3, 16, 16\) "
                                        r"\(add the batch dimension"),
    (np.zeros((1, 16, 16, 3), np.float32),
     r"expected shape \(N, 3, 16, 16\), got \(1, 16, 16, 3\)"),
    (np.zeros((2, 3, 15, 16), np.float32), r"got \(2, 3, 15, 16\)"),
    (np.zeros((1, 3, 16, 16), np.uint8), "expected a float32 array, got uint8"),
    (np.zeros((1, 3, 16, 16), bool), "got bool"),
    ({"y": np.zeros((1, 3, 16, 16), np.float32)}, r"missing \['x'\], unknown \['y'\]"),
])
def test_wrong_inputs_raise_input_error(net, bad, message):
    with pytest.raises(InputError, match=message):
        net.run(bad)


# -- classify and features ------------------------------------------------------------------

def test_classify_one_photo_and_a_list(net, tiny):
    photos = [photo(i) for i in range(5)]
    batch = np.stack([preprocess(p, SPEC) for p in photos])
    want = softmax(reference(batch, tiny[2]))

    one = net.classify(photos[0], top=2)
    assert [label for label, _ in one] == [LABELS[i] for i in np.argsort(-want[0])[:2]]
    np.testing.assert_allclose([p for _, p in one], np.sort(want[0])[::-1][:2], rtol=1e-4)

    many = net.classify(photos, top=10)           # top is clipped to the 3 classes
    assert len(many) == 5
    for got, probs in zip(many, want):
        assert [label for label, _ in got] == [LABELS[i] for i in np.argsort(-probs)]
        values = [p for _, p in got]
        assert values == sorted(values, reverse=True) and sum(values) <= 1 + 1e-6
        assert all(isinstance(p, float) for p in values)
    # a 4-D array of photos is a list of photos; top=None is every class
    assert net.classify(np.stack(photos), top=None) == net.classify(photos, top=None)
    assert net.classify([]) == []


def test_classify_across_several_batches_keeps_the_order(tiny):
    photos = [photo(i) for i in range(7)]
    with predict.load(tiny[0], max_batch=16) as whole, predict.load(tiny[0], max_batch=2) as split:
        assert whole.classify(photos) == split.classify(photos)


def test_classify_errors(net, tmp_path):
    with pytest.raises(InputError, match="top"):
        net.classify(photo(0), top=0)
    with pytest.raises(ImageError, match="nothing.jpg: no such file"):
        net.classify([photo(0), str(tmp_path / "nothing.jpg")])
    # the decoding limit is the network's, and settable
    big = tmp_path / "big.png"
    Image.fromarray(photo(0, (100, 100))).save(big)
    net.max_pixels = 9999
    with pytest.raises(ImageError, match="max_pixels"):
        net.classify(str(big))
    net.max_pixels = 10000
    assert len(net.classify(str(big))) == 3


def test_labels_missing_or_a_final_softmax(tmp_path):
    path = tmp_path / "nolabels.pnet"
    write_tiny(path, labels=[])
    with predict.load(path) as net:
        assert net.labels == []
        assert {label for label, _ in net.classify(photo(0))} == {"0", "1", "2"}
    path = tmp_path / "softmax.pnet"
    write_tiny(path, softmax=True)
    with predict.load(path) as net:
        x = preprocess(photo(3), SPEC)[None]
        probs = net.run(x)[0]
        np.testing.assert_allclose(probs.sum(), 1.0, rtol=1e-5)
        got = dict(net.classify(photo(3)))
        # taken as they are, not put through a second softmax
        np.testing.assert_allclose([got[name] for name in LABELS], probs, rtol=1e-6)


def test_features(net, tiny):
    photos = [photo(i) for i in range(3)]
    batch = np.stack([preprocess(p, SPEC) for p in photos])
    want = reference(batch, tiny[2], stage="features")
    one = net.features(photos[0])
    assert one.shape == (4,) and one.dtype == np.float32
    np.testing.assert_allclose(one, want[0], rtol=1e-4, atol=1e-5)
    many = net.features(photos)
    assert many.shape == (3, 4)
    np.testing.assert_allclose(many, want, rtol=1e-4, atol=1e-5)
    assert net.features([]).shape == (0, 4)


def test_no_features_or_no_preprocess_are_clear_errors(tmp_path):
    path = tmp_path / "plain.pnet"
    write_tiny(path, features=False, preprocess_spec=None)
    with predict.load(path) as net:
        assert net.preprocess_spec is None
        with pytest.raises(InputError, match="names no features tensor"):
            net.features(photo(0))
        with pytest.raises(InputError, match="no preprocess spec"):
            net.classify(photo(0))
        assert net.run(np.zeros((1, 3, 16, 16), np.float32)).shape == (1, 3)


# -- a 1-D model with two outputs ---------------------------------------------------------

def test_signal_model_with_two_outputs_returns_a_dict(tmp_path):
    rng = np.random.default_rng(5)
    conv_w = rng.normal(size=(3, 1, 3, 2)).astype(np.float32)       # [Cout, kh=1, kw, Cin]
    fc_w = rng.normal(size=(4, 30)).astype(np.float32)
    header = {
        "tensors": [tensor("x", [2, 10]), tensor("c", [3, 10]), tensor("flat", [30]),
                    tensor("y", [4])],
        "layers": [
            {"op": "conv", "name": "conv", "inputs": [0], "output": 1, "kernel": [1, 3],
             "strides": [1, 1], "dilations": [1, 1], "pads": [0, 1, 0, 1], "groups": 1,
             "weight": 0, "bias": None, "act": NONE},
            {"op": "reshape", "name": "flatten", "inputs": [1], "output": 2},
            {"op": "fc", "name": "fc", "inputs": [2], "output": 3, "weight": 1, "bias": None,
             "act": NONE},
        ],
        "inputs": [{"name": "x", "tensor": 0}],
        "outputs": [{"name": "y", "tensor": 3}, {"name": "c", "tensor": 1}],
        "features": None, "preprocess": None, "labels": [], "provenance": {},
    }
    path = tmp_path / "signal.pnet"
    write_pnet(path, header, [conv_w, fc_w])
    x = rng.normal(size=(3, 2, 10)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    c = sum(np.einsum("ncl,oc->nol", padded[:, :, k:k + 10], conv_w[:, 0, k, :]) for k in range(3))
    y = c.reshape(3, 30) @ fc_w.T          # the flatten is channels first, as in the source
    with predict.load(path) as net:
        out = net.run(x)
        assert set(out) == {"y", "c"} and net.output_names == ["y", "c"]
        np.testing.assert_allclose(out["c"], c, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(out["y"], y, rtol=1e-4, atol=1e-4)
        assert net.input_shape == (2, 10)


# -- the object ------------------------------------------------------------------------------

def test_attributes_info_and_repr(net, tiny):
    path, sha, _ = tiny
    assert net.labels == LABELS and net.labels is not net.labels
    assert net.preprocess_spec == SPEC
    assert net.input_shape == (3, 16, 16) and net.input_names == ["x"]
    assert net.sha256 == sha
    info = net.info()
    assert info["ops"] == {"conv": 1, "global_avgpool": 1, "reshape": 1, "fc": 1}
    assert info["parameters"] == 4 * 27 + 4 + 12 + 3
    assert info["weight_bytes"] == 4 * info["parameters"]
    assert info["file_bytes"] == os.path.getsize(path)
    assert info["sha256"] == sha and info["labels"] == 3
    assert info["input_shape"] == [3, 16, 16] and info["preprocess"] == SPEC
    assert info["features"] == {"name": "features", "shape": [4]}
    assert info["outputs"][0]["name"] == "logits" and info["outputs"][0]["shape"] == [3]
    assert info["provenance"]["converter"] == "hand-written"
    assert info["arena_bytes"] > 0 and info["max_batch"] == 16
    assert info["macs"] == 16 * 16 * 4 * 27 + 12
    assert repr(net) == "<Network tiny.pnet: (3, 16, 16) -> (3,), 127 parameters, 3 labels>"


def _mapped(path):
    with open("/proc/self/maps") as f:
        return str(path) in f.read()


def test_close_releases_everything_and_later_use_is_a_clear_error(tiny):
    path = tiny[0]
    net = predict.load(path)
    net.features(photo(0))          # builds the second C network too
    net.close()
    net.close()                     # idempotent
    assert net.closed and repr(net) == "<Network tiny.pnet: closed>"
    if os.path.exists("/proc/self/maps"):
        assert not _mapped(path), "the model file is still mapped"
    for call in (lambda: net.run(np.zeros((1, 3, 16, 16), np.float32)),
                 lambda: net.classify(photo(0)), lambda: net.features(photo(0)), net.info):
        with pytest.raises(NativeError, match="closed") as e:
            call()
        assert e.value.status == "PD_ERR_STATE"
    with predict.load(path) as net:
        pass
    assert net.closed


def test_load_errors(tmp_path, tiny):
    with pytest.raises(ModelFormatError, match="missing.pnet"):
        predict.load(tmp_path / "missing.pnet")
    junk = tmp_path / "junk.pnet"
    junk.write_bytes(b"\x89PNET\r\n\x1a" + bytes(100))
    with pytest.raises(ModelFormatError):
        predict.load(junk)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(InputError, match="max_batch"):
            predict.load(tiny[0], max_batch=bad)


def test_one_network_shared_by_threads_gives_the_same_results(net):
    photos = [photo(i) for i in range(12)]
    expected = [net.classify(p, top=3) for p in photos]
    expected_features = net.features(photos)
    results, errors = {}, []

    def work(worker):
        try:
            for round_ in range(5):
                i = (worker + round_) % len(photos)
                results[(worker, round_)] = (i, net.classify(photos[i], top=3),
                                             net.features(photos[i]))
        except Exception as e:  # reported below; a thread's exception is otherwise lost
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 40
    for i, top, feats in results.values():
        assert top == expected[i]
        np.testing.assert_array_equal(feats, expected_features[i])


def test_package_surface():
    assert predict.__version__ == "0.1.0"
    for name in ("load", "Network", "PredictError", "ImageError", "InputError", "ModelFormatError",
                 "NativeError", "UnsupportedModelError", "ConversionError", "CheckpointError"):
        assert hasattr(predict, name)
    assert issubclass(predict.ImageError, PredictError)
    # importing predict never imports the converters or onnx
    code = ("import predict, sys; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'converters')))")
    root = os.path.dirname(os.path.dirname(predict.__file__))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=root))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    # learning loads on first use, and is there when asked for
    code = ("import predict, sys; assert 'predict.learning' not in sys.modules; "
            "from predict import learn, Predictor, load_predictor; "
            "assert predict.learn is learn and 'predict.learning' in sys.modules; "
            "assert set(predict.__all__) <= set(dir(predict)) | {'learn', 'Predictor', 'load_predictor'}")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=root))
    assert done.returncode == 0, done.stderr
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        predict.nonsense


def test_load_with_threads_gives_the_same_scores(tiny):
    photos = [photo(i) for i in range(3)]
    with predict.load(tiny[0]) as one, predict.load(tiny[0], threads=2) as two:
        assert two.info()["threads"] == 2 and one.info()["isa"] == two.info()["isa"]
        assert one.classify(photos) == two.classify(photos)
    with pytest.raises(predict.InputError, match="threads"):
        predict.load(tiny[0], threads=0)


# -- 8-bit pixel batches, normalized by the core ---------------------------------------------

@pytest.mark.parametrize("channels", ["RGB", "BGR"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("side", [16, 64])
def test_pixel_batches_give_the_float_batches_numbers_bit_for_bit(tmp_path, channels, threads, side):
    """64 x 64 pixels are enough for the core to split their conversion over 2 threads."""
    from predict.image import preprocess_pixels

    path = tmp_path / "tiny.pnet"
    spec = dict(SPEC, channels=channels, size=[side, side], resize=side + 2)
    write_tiny(path, preprocess_spec=spec, side=side)
    photos = [photo(i, (side + 4, side + 8)) for i in range(5)]
    pixels = np.stack([preprocess_pixels(p, spec) for p in photos])
    floats = np.stack([preprocess(p, spec) for p in photos])
    assert pixels.dtype == np.uint8 and pixels.shape == (5, side, side, 3)
    with predict.load(path, max_batch=2, threads=threads) as net:
        for features in (False, True):
            p8, f8 = net.scores(pixels, features=features)
            p32, f32 = net.scores(floats, features=features)
            np.testing.assert_array_equal(p8, p32)
            if features:
                np.testing.assert_array_equal(f8, f32)
        np.testing.assert_array_equal(net._batch_features(pixels, 3, tta=True),
                                      net._batch_features(floats, 3, tta=True))
        # the float path after the pixel path: the core's input mode is switched back
        np.testing.assert_array_equal(net.run(floats), net.run(floats.copy()))
        np.testing.assert_array_equal(net.scores(floats)[0], p32)


def test_pixel_batches_are_checked(net, tmp_path):
    with pytest.raises(InputError, match=r"pixels: expected shape \(N, 16, 16, 3\)"):
        net.scores(np.zeros((2, 16, 16, 1), np.uint8))
    with pytest.raises(InputError, match=r"pixels: expected shape"):
        net.scores(np.zeros((2, 3, 16, 16), np.uint8))
    path = tmp_path / "bare.pnet"
    write_tiny(path, preprocess_spec=None)
    with predict.load(path) as bare:
        with pytest.raises(InputError, match="needs a photo model"):
            bare.scores(np.zeros((1, 16, 16, 3), np.uint8))


def test_the_core_refuses_a_bad_pixel_table(tiny):
    from predict._native import NativeNet
    from predict.format import read_pnet

    model = read_pnet(tiny[0])
    native = NativeNet(model.header, model.arrays)
    x = np.zeros((1, 16, 16, 3), np.uint8)
    for table in (np.zeros((3, 255), np.float32), np.zeros((3, 256), np.float64),
                  np.zeros((1, 256), np.float32)):
        with pytest.raises(InputError, match="pixels: expected a C-contiguous float32 table"):
            native.run([x], pixels=table)
    with pytest.raises(InputError, match="expected a uint8"):
        native.run([x.astype(np.float32)], pixels=np.zeros((3, 256), np.float32))
    native.close()
