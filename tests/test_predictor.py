"""Learning on a tiny real .pnet: Network.features(layer=, tta=), fit_predictor and learn, the
predictor file (round trip, every kind of damage, the wrong model), and the CLI's learn and
classify --predictor.  Fast: the tiny model runs in microseconds."""
import hashlib
import json
import struct

import msgpack
import numpy as np
import pytest
from PIL import Image

import predict
from predict.cli import main
from predict.errors import InputError, PredictorError
from predict.image import preprocess
from predict.learning import fit_predictor, learn, photos_in
from predict.predictor import MAGIC, VERSION, Predictor, load_predictor
from test_network import SPEC, reference, write_tiny


def tinted(seed, channel, size=(20, 24)):
    """A noisy photo with one colour channel raised: the tiny model's features tell them apart."""
    a = np.random.default_rng(seed).integers(0, 120, size + (3,), dtype=np.uint8)
    a[:, :, channel] += 120
    return a


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.pnet"
    sha, w = write_tiny(path)
    with predict.load(path) as net:
        yield net, sha, w


@pytest.fixture
def other(tmp_path):
    path = tmp_path / "other.pnet"
    write_tiny(path, seed=8)
    with predict.load(path) as net:
        yield net


@pytest.fixture
def colours():
    return {"red": [tinted(i, 0) for i in range(8)], "blue": [tinted(100 + i, 2) for i in range(8)]}


@pytest.fixture
def learned(tiny, colours):
    net = tiny[0]
    return learn(net, colours, folds=4)


# -- Network.features --------------------------------------------------------------------------

def test_features_of_a_named_layer_match_the_reference(tiny):
    net, _, w = tiny
    photos = [tinted(i, i % 3) for i in range(3)]
    batch = np.stack([preprocess(p, SPEC) for p in photos])
    assert net.layer_names() == ["conv", "pool", "features", "logits"]
    assert net.feature_tensor() == (3, "features")
    np.testing.assert_allclose(net.features(photos, layer="features"),
                               reference(batch, w, "features"), rtol=1e-4, atol=1e-5)
    logits = net.features(photos[0], layer="logits")
    assert logits.shape == (3,) and logits.dtype == np.float32
    np.testing.assert_allclose(logits, reference(batch[:1], w)[0], rtol=1e-4, atol=1e-5)
    # a spatial tensor comes flattened in the source (channels-first) order
    conv = net.features(photos, layer="conv")
    assert conv.shape == (3, 4 * 16 * 16)
    feats = conv.reshape(3, 4, 16, 16).mean(axis=(2, 3))
    np.testing.assert_allclose(feats, reference(batch, w, "features"), rtol=1e-4, atol=1e-5)
    assert "conv" in net.info()["layer_outputs"]


def test_features_with_test_time_augmentation_average_the_mirror_image(tiny):
    net, _, w = tiny
    photos = [tinted(i, 1) for i in range(2)]
    batch = np.stack([preprocess(p, SPEC) for p in photos])
    want = (reference(batch, w, "features") + reference(batch[..., ::-1], w, "features")) / 2
    np.testing.assert_allclose(net.features(photos, tta=True), want, rtol=1e-4, atol=1e-5)
    assert not np.allclose(net.features(photos), want, rtol=1e-4, atol=1e-5)
    probs = dict(net.classify(photos[0], top=None, tta=True))
    z = (reference(batch[:1], w) + 0) / 1
    mirrored = reference(batch[:1, ..., ::-1], w)
    e = lambda s: np.exp(s - s.max()) / np.exp(s - s.max()).sum()  # noqa: E731
    np.testing.assert_allclose([probs[c] for c in net.labels], (e(z[0]) + e(mirrored[0])) / 2,
                               rtol=1e-4)


@pytest.mark.parametrize("layer,message", [
    ("nope", "has no tensor named 'nope'"),
    ("Conv", "did you mean 'conv'"),
    ("x", "is the network's input"),
    (3, "must be a tensor name"),
])
def test_an_unknown_layer_is_a_clear_error(tiny, layer, message):
    with pytest.raises(InputError, match=message):
        tiny[0].features(tinted(0, 0), layer=layer)


# -- fitting and applying -----------------------------------------------------------------------

def test_learn_separates_two_tints_and_reports_how_it_did(tiny, learned, colours):
    net = tiny[0]
    t = learned.training
    assert learned.classes == ["red", "blue"] and learned.layer == "features"
    assert learned.feature_dim == 4 and learned.model_sha256 == net.sha256
    assert t["examples"] == {"red": 8, "blue": 8} and t["folds"] == 4
    assert t["cv_accuracy"] == 1.0 and t["cv_confusion"] == [[8, 0], [0, 8]]
    assert t["converged"] and learned.penalty in t["penalties"]
    new = {"red": tinted(500, 0), "blue": tinted(501, 2)}
    for name, photo in new.items():
        ranked = learned.classify(net, photo)
        assert ranked[0][0] == name and ranked[0][1] > 0.5
        assert sum(p for _, p in ranked) == pytest.approx(1.0)
    many = learned.classify(net, list(new.values()), top=1)
    assert [r[0][0] for r in many] == ["red", "blue"]
    probs = learned.predict_features(net.features(list(new.values())))
    assert probs.shape == (2, 2) and np.allclose(probs.sum(axis=1), 1)
    assert learned.predict_features(net.features(new["red"])).shape == (2,)
    with pytest.raises(InputError, match=r"expected shape \(N, 4\)"):
        learned.predict_features(np.zeros((2, 5)))


def test_learn_from_folders_skips_unreadable_photos(tiny, colours, tmp_path):
    for name, photos in colours.items():
        (tmp_path / name / "sub").mkdir(parents=True)
        for i, a in enumerate(photos):
            folder = tmp_path / name / ("sub" if i % 2 else "")
            Image.fromarray(a).save(folder / f"{i}.png")
    (tmp_path / "red" / "broken.jpg").write_bytes(b"not a photo")
    (tmp_path / "red" / "notes.txt").write_text("ignored: not a photo suffix")
    assert len(photos_in(tmp_path / "red")) == 9
    result = learn(tiny[0], {"red": tmp_path / "red", "blue": str(tmp_path / "blue")}, folds=3,
                   tta=True)
    assert result.training["examples"] == {"red": 8, "blue": 8}
    assert [p for p, _ in result.skipped] == [str(tmp_path / "red" / "broken.jpg")]
    assert result.tta and result.training["skipped"] == 1


@pytest.mark.parametrize("classes,message", [
    ({"only": [tinted(0, 0)] * 3}, "at least 2 classes"),
    ({"a": [tinted(0, 0)] * 3, "b": []}, "class 'b': no photos"),
    ({"a": [tinted(0, 0)] * 3, "b": [tinted(1, 2)]}, "at least 2 examples; too few: \\['b'\\]"),
    ({"a": [tinted(0, 0)] * 3, "": [tinted(1, 2)] * 3}, "non-empty strings"),
    ([tinted(0, 0)], "must be a mapping"),
])
def test_learn_refuses_what_it_cannot_learn_from(tiny, classes, message):
    with pytest.raises(InputError, match=message):
        learn(tiny[0], classes)


def test_fit_predictor_checks_its_features(tiny):
    net = tiny[0]
    with pytest.raises(InputError, match="one D"):
        fit_predictor({"a": np.zeros((3, 4)), "b": np.zeros((3, 5))}, net)
    with pytest.raises(InputError, match="non-finite"):
        fit_predictor({"a": np.full((3, 4), np.nan), "b": np.zeros((3, 4))}, net)
    with pytest.raises(InputError, match="folds"):
        fit_predictor({"a": np.zeros((3, 4)), "b": np.ones((3, 4))}, net, folds=1)


# -- the file -------------------------------------------------------------------------------------

def test_save_and_load_round_trip(tiny, learned, tmp_path):
    net = tiny[0]
    path = tmp_path / "tints.predictor"
    sha = learned.save(path)
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha and data.startswith(MAGIC)
    assert len(data) < 2000
    back = load_predictor(path, network=net)
    for key in ("classes", "layer", "model_sha256", "model_name", "tta", "penalty", "training"):
        assert getattr(back, key) == getattr(learned, key), key
    for key in ("weights", "bias", "mean", "scale"):
        assert np.array_equal(getattr(back, key), getattr(learned, key)), key
    x = net.features([tinted(7, 0), tinted(8, 2)])
    assert np.array_equal(back.predict_features(x), learned.predict_features(x))
    assert "tints.predictor" in repr(back) and "2 classes" in repr(back)


def frame(body, version=VERSION):
    """A predictor file with a correct checksum around any body."""
    packed = msgpack.packb(body, use_bin_type=True)
    data = struct.pack("<8sIQ", MAGIC, version, len(packed)) + packed
    return data + hashlib.sha256(data).digest()


def test_damaged_files_are_clear_errors(learned, tmp_path):
    good = tmp_path / "good.predictor"
    learned.save(good)
    data = good.read_bytes()
    cases = {
        "empty": (b"", "empty"),
        "magic": (b"GIF89a" + data[6:], "not a predictor file"),
        "pnet": (b"\x89PNET\r\n\x1a" + data[8:], "is a .pnet model, not a predictor"),
        "preamble": (data[:15], "truncated"),
        "half": (data[:len(data) // 2], "truncated"),
        "last byte": (data[:-1], "truncated"),
        "extra": (data + b"\0", "1 unexpected bytes after the checksum"),
        "bit flip": (data[:40] + bytes([data[40] ^ 1]) + data[41:], "corrupt: the sha256"),
        "version": (data[:8] + struct.pack("<I", 2) + data[12:], "version 2; this predict reads"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / f"{name}.predictor"
        path.write_bytes(content)
        with pytest.raises(PredictorError, match=message) as e:
            load_predictor(path)
        assert str(path) in str(e.value), name
    with pytest.raises(PredictorError, match="no such file"):
        load_predictor(tmp_path / "missing.predictor")
    with pytest.raises(PredictorError, match="is a directory"):
        load_predictor(tmp_path)


def test_a_well_framed_file_with_a_bad_body_is_refused(learned, tmp_path):
    body = learned._body()
    nan = np.full(2, np.nan, "<f4").tobytes()
    bad = {
        "not a map": ([1, 2], "expected a map"),
        "missing": ({k: v for k, v in body.items() if k != "bias"}, r"missing \['bias'\]"),
        "unknown": ({**body, "code": "print(1)"}, r"unknown \['code'\]"),
        "type": ({**body, "feature_dim": "4"}, "'feature_dim' .* must be int"),
        "bool": ({**body, "feature_dim": True}, "'feature_dim' .* must be int"),
        "one class": ({**body, "classes": ["red"]}, "2 or more non-empty names"),
        "twice": ({**body, "classes": ["red", "red"]}, "repeats a name"),
        "size": ({**body, "weights": body["weights"][:-4]}, "'weights': 28 bytes, expected 32"),
        "nan": ({**body, "bias": nan}, "'bias' holds non-finite"),
        "scale": ({**body, "scale": np.zeros(4, "<f4").tobytes()}, "'scale' must be > 0"),
        "sha": ({**body, "model_sha256": "xyz"}, "not a sha256"),
        "dim": ({**body, "feature_dim": 0}, "'feature_dim' must be >= 1"),
    }
    for name, (content, message) in bad.items():
        path = tmp_path / f"{name.replace(' ', '_')}.predictor"
        path.write_bytes(frame(content))
        with pytest.raises(PredictorError, match=message):
            load_predictor(path)
    garbage = tmp_path / "garbage.predictor"
    raw = b"\xc1\xc1\xc1"
    data = struct.pack("<8sIQ", MAGIC, VERSION, len(raw)) + raw
    garbage.write_bytes(data + hashlib.sha256(data).digest())
    with pytest.raises(PredictorError, match="not valid msgpack"):
        load_predictor(garbage)


def test_the_wrong_model_is_refused_naming_both_checksums(tiny, other, learned, tmp_path):
    path = tmp_path / "tints.predictor"
    learned.save(path)
    for attempt in (lambda: load_predictor(path, network=other),
                    lambda: learned.classify(other, tinted(0, 0)),
                    lambda: learned.probabilities(other, [tinted(0, 0)])):
        with pytest.raises(PredictorError) as e:
            attempt()
        message = str(e.value)
        assert tiny[0].sha256 in message and other.sha256 in message and "tiny.pnet" in message
    # the right model but a layer of another size
    wrong = Predictor(classes=["a", "b"], weights=np.zeros((2, 3)), bias=np.zeros(2),
                      mean=np.zeros(3), scale=np.ones(3), model_sha256=tiny[0].sha256,
                      model_name="tiny.pnet", layer="logits")
    wrong.check_network(tiny[0])  # logits has 3 values: fine
    wrong.layer = "pool"
    with pytest.raises(PredictorError, match="'pool' has 4 features .* expects 3"):
        wrong.check_network(tiny[0])
    wrong.layer = "gone"
    with pytest.raises(PredictorError, match="no tensor named 'gone'"):
        wrong.check_network(tiny[0])


# -- the command line ---------------------------------------------------------------------------

@pytest.fixture
def folders(colours, tmp_path):
    out = {}
    for name, photos in colours.items():
        folder = tmp_path / name
        folder.mkdir()
        for i, a in enumerate(photos):
            Image.fromarray(a).save(folder / f"{i}.png")
        out[name] = folder
    return out


def test_cli_learn_then_classify_with_the_predictor(tiny, other, folders, tmp_path, capsys):
    model = tiny[0].path
    out = tmp_path / "tints.predictor"
    assert main(["learn", "--class", f"red={folders['red']}", "--class",
                 f"blue={folders['blue']}", "--model", model, "-o", str(out), "--folds", "4"]) == 0
    text = capsys.readouterr().out
    assert "learned 2 classes from 16 photos" in text
    assert "held-out accuracy 100.0% (4-fold cross-validation" in text
    assert f"wrote {out}" in text
    photos = [str(folders["red"] / "0.png"), str(folders["blue"] / "1.png")]
    assert main(["classify", "--predictor", str(out), "--model", model, *photos]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == photos[0] and lines[1].endswith("  red") and lines[3] == photos[1]
    assert main(["classify", "-p", str(out), "-m", model, "--json", "--top", "1", "--tta",
                 photos[1]]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["path"] == photos[1] and row["predictions"][0]["label"] == "blue"
    assert len(row["predictions"]) == 1 and row["predictions"][0]["index"] == 1
    # --tta without a predictor: the model's own classes, mirror image averaged
    assert main(["classify", "-m", model, "--json", "--tta", "--top", "3", photos[0]]) == 0
    row = json.loads(capsys.readouterr().out)
    want = tiny[0].classify(photos[0], top=3, tta=True)
    assert [(p["label"], round(p["probability"], 6)) for p in row["predictions"]] == \
        [(label, round(p, 6)) for label, p in want]
    # applied to another model: one line naming both checksums, exit 2
    assert main(["classify", "-p", str(out), "-m", other.path, photos[0]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("predict: error:") and tiny[0].sha256 in err and other.sha256 in err


def test_cli_learn_json_and_mistakes(tiny, folders, tmp_path, capsys):
    model = tiny[0].path
    out = tmp_path / "t.predictor"
    assert main(["learn", "-c", f"red={folders['red']}", "-c", f"blue={folders['blue']}",
                 "-m", model, "-o", str(out), "--json", "--tta"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classes"] == ["red", "blue"] and report["tta"] is True
    assert report["cv_accuracy"] == 1.0 and report["examples"] == {"red": 8, "blue": 8}
    assert load_predictor(out).tta
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv, message in [
        (["-c", f"red={folders['red']}"], "at least two classes"),
        (["-c", "red", "-c", f"blue={folders['blue']}"], "expected NAME=FOLDER"),
        (["-c", f"red={tmp_path / 'nope'}", "-c", f"blue={folders['blue']}"], "no such folder"),
        (["-c", f"red={folders['red']}", "-c", f"red={folders['blue']}"], "given twice"),
        (["-c", f"red={folders['red']}", "-c", f"blue={empty}"], "no photos in blue="),
        (["-c", f"red={folders['red']}", "-c", f"blue={folders['blue']}", "--layer", "zz"],
         "no tensor named 'zz'"),
    ]:
        assert main(["learn", *argv, "-m", model, "-o", str(tmp_path / "x.predictor")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x.predictor").exists()


def test_cli_learn_help_has_an_example(capsys):
    with pytest.raises(SystemExit) as e:
        main(["learn", "--help"])
    assert e.value.code == 0
    assert "example:\n  predict learn --class cat=" in capsys.readouterr().out


def test_learning_on_another_layer_records_it(tiny, colours, tmp_path):
    net = tiny[0]
    learned = learn(net, colours, layer="conv", folds=2)
    assert learned.layer == "conv" and learned.feature_dim == 4 * 16 * 16
    path = tmp_path / "conv.predictor"
    learned.save(path)
    back = load_predictor(path, network=net)
    assert back.classify(net, tinted(900, 0), top=1)[0][0] == "red"
