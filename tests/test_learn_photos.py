"""Learning new classes on real photos with MobileNetV2 features (tasks in learn_tasks.py).

The default suite runs MobileNetV2 at 64x64 (the same ImageNet weights, built by
converters.default_model with input_size=64): about 12x fewer multiply-adds than at 224, which
keeps feature extraction for ~250 photos to a few seconds on the reference kernels.  The face
photos are 25x25, so 64x64 loses nothing of them; the texture crops lose detail and still
separate.  The slow tests (``pytest -m slow``) run every task on the real 224x224 model.

Features are extracted once per module (one fixture per task); nothing is cached on disk.
Run with ``-s`` to see the accuracies.
"""
import numpy as np
import pytest

import predict
from learn_tasks import TASKS
from predict.errors import ConversionError
from predict.learning import fit_predictor

pytest.importorskip("skimage")
pytest.importorskip("onnx")


def build_mobilenet(folder, size):
    from converters.default_model import build

    path = folder / f"mobilenet_v2_{size}.pnet"
    try:
        build(path, input_size=size)
    except ConversionError as e:  # the weights package is not installed
        pytest.skip(str(e))
    return predict.load(path, max_batch=16)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    with build_mobilenet(tmp_path_factory.mktemp("mobilenet"), 64) as net:
        yield net


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    with build_mobilenet(tmp_path_factory.mktemp("mobilenet"), 224) as net:
        yield net


def held_out_accuracy(net, task, **options):
    """Fits on the task's training photos; returns (test accuracy, predictor)."""
    train, test = TASKS[task]()
    features = {name: net.features(photos) for name, photos in train.items()}
    learned = fit_predictor(features, net, **options)
    correct = total = 0
    for index, photos in enumerate(test.values()):
        predicted = learned.predict_features(net.features(photos)).argmax(axis=1)
        correct += int(np.sum(predicted == index))
        total += len(photos)
    accuracy = correct / total
    print(f"\n{task} ({net.input_shape[1]}px): held-out {accuracy:.3f} ({correct}/{total}), "
          f"cross-validated {learned.training['cv_accuracy']:.3f}, penalty {learned.penalty:.3g}")
    return accuracy, learned


@pytest.fixture(scope="module")
def faces(small):
    return held_out_accuracy(small, "faces")


def test_faces_from_lfw_subset_trained_on_half(faces):
    accuracy, learned = faces
    assert accuracy >= 0.95  # measured 0.99 (99/100)
    assert learned.training["cv_accuracy"] >= 0.95
    assert learned.training["examples"] == {"face": 50, "not face": 50}
    assert learned.training["converged"]


def test_textures_from_crops_of_unseen_halves(small):
    accuracy, learned = held_out_accuracy(small, "textures")
    assert accuracy >= 0.9  # measured 0.972 (35/36)
    assert learned.classes == ["brick", "grass", "gravel"]


def test_a_named_layer_is_the_spatial_map_the_embedding_averages(small):
    from skimage import data

    header = small._header
    pool = next(layer for layer in header["layers"] if layer["op"] == "global_avgpool")
    name = header["tensors"][pool["inputs"][0]]["name"]
    photos = [data.chelsea(), data.coffee()]
    spatial = small.features(photos, layer=name)
    shape = tuple(header["tensors"][pool["inputs"][0]]["shape"])  # (1280, 2, 2) at 64x64
    assert spatial.shape == (2, int(np.prod(shape))) and shape[0] == 1280
    np.testing.assert_allclose(spatial.reshape((2,) + shape).mean(axis=(2, 3)),
                               small.features(photos), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("task,least", [("faces", 0.95), ("textures", 0.9), ("digits", 0.6),
                                        ("scenes", 0.6)])
def test_every_task_on_the_full_size_model(full, task, least):
    accuracy, _ = held_out_accuracy(full, task)
    assert accuracy >= least
