"""The predict command: classify (text, JSON, failures), info, convert, help,
the default model, and one-line errors with the right exit codes."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import predict
from predict.cli import main
from test_network import LABELS, write_tiny


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "tiny.pnet"
    write_tiny(path)
    return path


@pytest.fixture
def photos(tmp_path):
    paths = []
    for i, name in enumerate(("one.png", "two.jpg", "three.png")):
        path = tmp_path / name
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (20, 30, 3), np.uint8)).save(path)
        paths.append(str(path))
    return paths


def blocks(text):
    """{photo path: ["probability  label" lines]} from classify's text output."""
    out, current = {}, None
    for line in text.splitlines():
        if not line.startswith(" "):
            current = line
            out[current] = []
        else:
            out[current].append(line.strip())
    return out


def test_classify_prints_each_photo_and_its_top_classes(model, photos, capsys):
    assert main(["classify", *photos, "--model", str(model), "--top", "2"]) == 0
    out = blocks(capsys.readouterr().out)
    assert list(out) == photos
    with predict.load(model) as net:
        for path in photos:
            want = net.classify(path, top=2)
            lines = out[path]
            assert len(lines) == 2
            for line, (label, p) in zip(lines, want):
                prob, name = line.split("  ", 1)
                assert name == label and float(prob) == pytest.approx(p, abs=5e-5)


def test_classify_json_lines(model, photos, capsys):
    assert main(["classify", *photos, "-m", str(model), "--json", "-k", "10"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in records] == photos
    for r in records:
        predictions = r["predictions"]
        assert len(predictions) == 3                       # top clipped to the classes
        assert [p["label"] for p in predictions] == [LABELS[p["index"]] for p in predictions]
        probs = [p["probability"] for p in predictions]
        assert probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1.0)


def test_a_bad_photo_is_reported_and_the_others_still_run(model, photos, tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a whole jpeg")
    missing = str(tmp_path / "missing.jpg")
    code = main(["classify", photos[0], str(broken), missing, photos[1], "-m", str(model)])
    captured = capsys.readouterr()
    assert code == 1
    assert list(blocks(captured.out)) == [photos[0], photos[1]]
    errors = captured.err.splitlines()
    assert len(errors) == 3 and all(line.startswith("predict: error: ") for line in errors)
    assert "broken.jpg" in errors[0] and "missing.jpg: no such file" in errors[1]
    assert "2 of 4 photos failed" in errors[2]
    assert "Traceback" not in captured.err
    # in JSON mode the failure is also a record
    assert main(["classify", str(broken), photos[0], "-m", str(model), "--json"]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "error" in records[0] and "predictions" in records[1]


def test_default_model_environment_and_missing_model(model, photos, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PREDICT_MODEL", raising=False)
    assert main(["classify", photos[0]]) == 2
    err = capsys.readouterr().err
    assert "models/mobilenet_v2.pnet does not exist" in err and "make model" in err
    assert len(err.splitlines()) == 1
    os.makedirs("models")
    shutil.copy(model, "models/mobilenet_v2.pnet")
    assert main(["classify", photos[0]]) == 0
    assert capsys.readouterr().out.startswith(photos[0])
    os.remove("models/mobilenet_v2.pnet")
    monkeypatch.setenv("PREDICT_MODEL", str(model))
    assert main(["classify", photos[0]]) == 0


def test_model_errors_are_one_line_and_exit_2(tmp_path, photos, capsys):
    bad = tmp_path / "bad.pnet"
    bad.write_bytes(b"not a model at all" * 10)
    for argv in (["info", str(tmp_path / "nope.pnet")], ["info", str(bad)],
                 ["classify", photos[0], "-m", str(bad)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and err.startswith("predict: error: ")
        assert "Traceback" not in err


def test_info_text_and_json(model, capsys):
    assert main(["info", str(model)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == str(model)
    for piece in ("conv 1", "fc 1", "127", "(3, 16, 16)", "'logits' (3,)", "'features' (4,)",
                  "labels      3", "resize 18, crop 16x16 bilinear", "converter: hand-written",
                  "sha256"):
        assert piece in text, piece
    assert main(["info", str(model), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    with predict.load(model, max_batch=1) as net:
        assert info == json.loads(json.dumps(net.info()))
    assert info["ops"]["conv"] == 1 and info["labels"] == 3


@pytest.mark.parametrize("command", [[], ["classify"], ["convert"], ["info"], ["bench"]])
def test_every_command_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as e:
        main(command + ["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "example:\n  predict " in out
    assert len(out.split("\n\n")[1]) > 40          # a description, not just usage


def test_version_and_python_dash_m(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.strip() == f"predict {predict.__version__}"
    root = os.path.dirname(os.path.dirname(predict.__file__))
    done = subprocess.run([sys.executable, "-m", "predict", "info", "--help"], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=root))
    assert done.returncode == 0 and "predict info" in done.stdout


def test_convert_without_onnx_says_how_to_install_it(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)      # makes `import onnx` fail
    assert main(["convert", "model.onnx", "-o", str(tmp_path / "m.pnet")]) == 2
    assert "pip install 'predict[convert]'" in capsys.readouterr().err


def tiny_onnx(path):
    """Conv 3x3 + Relu -> GlobalAveragePool -> Flatten -> Gemm, 3 classes, on 3x16x16."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(11)
    weights = {"w": rng.normal(0, 0.5, (4, 3, 3, 3)), "b": rng.normal(0, 0.1, 4),
               "fw": rng.normal(0, 1, (3, 4)), "fb": rng.normal(0, 0.1, 3)}
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["features"]),
        helper.make_node("Gemm", ["features", "fw", "fb"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return weights


def test_convert_an_onnx_model(tmp_path, capsys):
    pytest.importorskip("converters.onnx_import")
    weights = tiny_onnx(tmp_path / "tiny.onnx")
    labels = tmp_path / "labels.txt"
    labels.write_text("red\ngreen\nblue\n")
    out = tmp_path / "tiny.pnet"
    assert main(["convert", str(tmp_path / "tiny.onnx"), "-o", str(out), "--labels", str(labels),
                 "--features", "features", "--resize", "20", "--mean", "0.5", "0.5", "0.5",
                 "--std", "0.25", "0.25", "0.25"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    with predict.load(out) as net:
        assert net.labels == ["red", "green", "blue"]
        assert net.preprocess_spec == {"size": [16, 16], "resize": 20, "interpolation": "bilinear",
                                       "channels": "RGB", "scale": 255.0, "mean": [0.5] * 3,
                                       "std": [0.25] * 3}
        x = np.random.default_rng(0).normal(size=(2, 3, 16, 16)).astype(np.float32)
        padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
        conv = sum(np.einsum("nchw,oc->nohw", padded[:, :, i:i + 16, j:j + 16],
                             weights["w"][:, :, i, j])
                   for i in range(3) for j in range(3)) + weights["b"][None, :, None, None]
        features = np.maximum(conv, 0).mean(axis=(2, 3))
        np.testing.assert_allclose(net.run(x), features @ weights["fw"].T + weights["fb"],
                                   rtol=1e-4, atol=1e-4)
        assert net.features(np.zeros((20, 20, 3), np.uint8)).shape == (4,)


def test_convert_defaults_to_imagenet_preprocessing(tmp_path, capsys):
    pytest.importorskip("converters.onnx_import")
    tiny_onnx(tmp_path / "tiny.onnx")
    out = tmp_path / "tiny.pnet"
    assert main(["convert", str(tmp_path / "tiny.onnx"), "-o", str(out)]) == 0
    assert "ImageNet defaults" in capsys.readouterr().out
    with predict.load(out) as net:
        spec = net.preprocess_spec
        assert spec["mean"] == [0.485, 0.456, 0.406] and spec["resize"] == 18  # 16 * 256 / 224
        assert net.labels == []
    assert main(["convert", str(tmp_path / "tiny.onnx"), "-o", str(out), "--no-preprocess"]) == 0
    with predict.load(out) as net:
        assert net.preprocess_spec is None


def test_convert_usage_errors(tmp_path, capsys):
    pytest.importorskip("onnx")
    tiny_onnx(tmp_path / "tiny.onnx")
    src, dst = str(tmp_path / "tiny.onnx"), str(tmp_path / "x.pnet")
    for argv, message in (
            ([src, "-o", dst, "--input-shape", "3,16"], "--input-shape"),
            ([src, "-o", dst, "--mean", "0.5"], "--mean: RGB needs 3 values"),
            ([src, "-o", dst, "--labels", str(tmp_path / "none.txt")], "none.txt: cannot read"),
            ([str(tmp_path / "none.onnx"), "-o", dst], "none.onnx: cannot read"),
            ([src, "-o", dst, "--no-preprocess", "--size", "16"], "--no-preprocess")):
        assert main(["convert", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert message in err and len(err.splitlines()) == 1
    assert not os.path.exists(dst)


def test_info_cpu_names_the_kernels(capsys, monkeypatch):
    monkeypatch.delenv("PREDICT_ISA", raising=False)
    assert main(["info", "--cpu", "--json"]) == 0
    cpu = json.loads(capsys.readouterr().out)
    assert cpu["runnable_isas"][0] == "ref" and cpu["isa"] == cpu["runnable_isas"][-1]
    assert cpu["sha256_tree"] in ("ref", "shani", "armv8", "avx512x16", "avx2x8", "neonx4")
    monkeypatch.setenv("PREDICT_ISA", "ref")
    assert main(["info", "--cpu"]) == 0
    out = capsys.readouterr().out
    assert "kernels   ref (forced by PREDICT_ISA)" in out
    assert "checksum  ref (the model checksum: a SHA-256 tree; plain SHA-256 with ref)" in out


def test_classify_with_threads(model, photos, capsys):
    assert main(["classify", photos[0], "-m", str(model), "--top", "2"]) == 0
    one = capsys.readouterr().out
    assert main(["classify", photos[0], "-m", str(model), "--top", "2", "--threads", "2"]) == 0
    assert capsys.readouterr().out == one


def test_bench_times_the_model_and_measures_a_fresh_process(model, photos, capsys):
    assert main(["bench", "--model", str(model), "--photo", photos[1], "--runs", "3",
                 "--batch", "2", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["file_mb"] == pytest.approx(os.path.getsize(model) / 2**20)
    assert 0 < r["latency_ms"]["median"] <= r["latency_ms"]["p90"] and r["latency_ms"]["runs"] == 3
    assert r["throughput"]["batch"] == 2 and r["throughput"]["images_per_s"] > 0
    fresh = r["fresh_process"]
    # the child really imported numpy and predict and ran the model on the photo
    assert 5 < fresh["rss_after_imports_mb"] < fresh["peak_rss_mb"] < 2000
    with predict.load(model, max_batch=1) as net:
        label, probability = net.classify(photos[1], top=1)[0]
    assert fresh["top"] == [label, pytest.approx(probability)]
    assert main(["bench", "--model", str(model), "--runs", "2", "--no-memory"]) == 0
    text = capsys.readouterr().out
    assert "batch 1    median" in text and "memory" not in text
    assert main(["bench", "--model", str(model), "--runs", "0"]) == 2
