"""Seed corpora for the fuzz targets, made from real material at fuzz time (nothing is committed).

Usage: python fuzz/seeds.py [OUT_DIR]      (default build/fuzz/seeds; one folder per target)

- pnet: the models of tools/small_models.py (every operator, image, signal and vector models),
  and a model converted from ONNX, as pnet inputs (fuzz/targets.py: mostly without their
  checksum, which the target recomputes).
- native: the pnet seeds (the target decodes their header and skips validation).
- checkpoint: small state dicts written in torch's two serializations (zip archive and the
  legacy stream, as torchvision's MobileNetV2 checkpoint is), with the writers of
  tests/test_checkpoint.py: float, int64 and bfloat16 tensors, parameters, views, protocol 4.
- onnx: small convnets built with onnx.helper (conv, batch norm, pools, gemm, the exporters'
  Shape -> Gather -> Concat -> Reshape), and the smallest of the PyTorch-exported models that
  ship with the onnx wheel.
- predictor: predictor files as ``predict learn`` writes them (2 to 5 classes, short and long
  feature vectors, with and without tta, a training record), as predictor inputs.
- image: photos from scikit-image, shrunk and saved as JPEG (baseline, progressive, grey, CMYK,
  EXIF-rotated), PNG (RGB, RGBA, palette with transparency, 16-bit grey), GIF (two frames), TIFF,
  WebP (lossy and lossless), BMP and PPM; each seed starts with the byte that picks the
  preprocess spec (see fuzz/targets.py).
"""
import io
import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


def pnet_seeds():
    sys.path.insert(0, str(ROOT / "tools"))
    import small_models
    from targets import pnet_input
    from converters.onnx_import import convert_onnx
    from predict.format import write_pnet

    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        for path in small_models.write_all(tmp):
            yield path.stem, pnet_input(path.read_bytes())
            yield path.stem + "_as_is", b"\0" + path.read_bytes()
        header, arrays = convert_onnx(_onnx_models()["conv_bn_pool_gemm"])
        out = pathlib.Path(tmp) / "converted.pnet"
        write_pnet(out, header, arrays)
        yield "converted", pnet_input(out.read_bytes())


def checkpoint_seeds():
    sys.path.insert(0, str(ROOT / "tests"))
    import collections

    import test_checkpoint as w

    rng = np.random.default_rng(0)
    arrays = collections.OrderedDict([
        ("features.0.0.weight", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
        ("features.0.1.running_mean", rng.standard_normal(4).astype(np.float32)),
        ("features.0.1.num_batches_tracked", np.array(7, dtype=np.int64)),
        ("classifier.1.weight", rng.standard_normal((5, 4)).astype(np.float32)),
        ("classifier.1.bias", np.zeros(5, np.float16)),
    ])
    state, storages = w.state_of(arrays)
    yield "zip", w.zip_checkpoint(state, storages)
    yield "zip_protocol4", w.zip_checkpoint(state, storages, protocol=4)
    yield "legacy_mobilenet_like", w.legacy_checkpoint(*w.state_of(
        {k: v for k, v in arrays.items() if v.dtype == np.float32}))
    # One storage shared by a parameter and a strided, offset view of it (tied weights).
    ref, data = w.float_storage(24)
    shared = collections.OrderedDict([
        ("a", w.Call(w.Global("torch._utils", "_rebuild_parameter"),
                     w.tensor(ref, 0, (4, 6), (6, 1)), True, collections.OrderedDict())),
        ("b", w.tensor(ref, 2, (3, 2), (6, 2))),
    ])
    yield "zip_shared_views", w.zip_checkpoint(shared, data)
    yield "legacy_shared_views", w.legacy_checkpoint(shared, data)
    bf16 = w.StorageRef("0", "BFloat16Storage", 6)
    state = collections.OrderedDict(
        [("w", w.tensor(bf16, 0, (2, 3), (3, 1)))])
    yield "zip_bfloat16", w.zip_checkpoint({"state_dict": state},
                                           {"0": np.arange(6, dtype="<u2").tobytes()})


def _onnx_models():
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def init(name, shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    models = {}
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 12, 10])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c", "g", "beta", "m", "v"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p"], ["gap"]),
        helper.make_node("Flatten", ["gap"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    inits = [init("w", (4, 3, 3, 3)), init("b", (4,)), init("g", (4,)), init("beta", (4,)),
             init("m", (4,)), numpy_helper.from_array(np.ones(4, np.float32), "v"),
             init("fw", (5, 4)), init("fb", (5,))]
    graph = helper.make_graph(nodes, "conv_bn_pool_gemm", [x], [y], inits)
    models["conv_bn_pool_gemm"] = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13)])

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])
    nodes = [
        helper.make_node("Conv", ["x", "dw"], ["d"], group=4, pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["d", "lo", "hi"], ["c"]),
        helper.make_node("Add", ["c", "x"], ["a"]),
        helper.make_node("AveragePool", ["a"], ["p"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], count_include_pad=0),
        helper.make_node("Shape", ["p"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "zero1"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["p", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "mw"], ["mm"]),
        helper.make_node("Softmax", ["mm"], ["y"], axis=1),
    ]
    inits = [init("dw", (4, 1, 3, 3)), numpy_helper.from_array(np.array(0, np.float32), "lo"),
             numpy_helper.from_array(np.array(6, np.float32), "hi"),
             numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "zero1"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus1"), init("mw", (64, 6))]
    graph = helper.make_graph(nodes, "depthwise_residual_reshape", [x], [y], inits)
    models["depthwise_residual_reshape"] = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 13)])

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8, 18])
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c"], pads=[2, 2], dilations=[2]),
        helper.make_node("Pad", ["c", "pads"], ["p"], mode="reflect"),
        helper.make_node("HardSwish", ["p"], ["h"]),
        helper.make_node("Mul", ["h", "scale"], ["m"]),
        helper.make_node("Concat", ["m", "m"], ["y"], axis=1),
    ]
    inits = [init("w1", (4, 2, 3)), init("scale", (1, 4, 1)),
             numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 1], np.int64), "pads")]
    graph = helper.make_graph(nodes, "signal", [x], [y], inits)
    models["signal"] = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    return models


def onnx_seeds():
    import onnx

    for name, model in _onnx_models().items():
        yield name, model.SerializeToString()
    converted = pathlib.Path(onnx.__file__).parent / "backend/test/data/pytorch-converted"
    for name in ("test_Conv2d_depthwise_padded", "test_AvgPool2d_stride", "test_BatchNorm2d_eval",
                 "test_Linear", "test_ReLU", "test_Conv1d_dilated", "test_MaxPool2d",
                 "test_PReLU_1d", "test_Softmax", "test_ConstantPad2d"):
        path = converted / name / "model.onnx"
        if path.is_file() and path.stat().st_size < 64 * 1024:
            yield name, path.read_bytes()


def image_seeds():
    from PIL import Image
    from skimage import data

    def encode(img, fmt, **kw):
        buf = io.BytesIO()
        img.save(buf, fmt, **kw)
        return buf.getvalue()

    cat = Image.fromarray(data.chelsea()).resize((40, 30))
    coffee = Image.fromarray(data.coffee()).resize((36, 24))
    grey = Image.fromarray(data.camera()).resize((32, 32))
    exif = Image.Exif()
    exif[0x0112] = 6
    rgba = cat.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(cat.size))
    palette = coffee.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    palette.info["transparency"] = 3
    sixteen = Image.fromarray((np.asarray(grey, np.uint16) * 257).astype(np.uint16))
    seeds = {
        "jpeg": encode(cat, "JPEG", quality=80),
        "jpeg_progressive": encode(coffee, "JPEG", progressive=True, quality=60),
        "jpeg_grey": encode(grey, "JPEG"),
        "jpeg_cmyk": encode(cat.convert("CMYK"), "JPEG"),
        "jpeg_exif_rotated": encode(coffee, "JPEG", exif=exif.tobytes()),
        "png": encode(cat, "PNG"),
        "png_rgba": encode(rgba, "PNG"),
        "png_palette": encode(palette, "PNG", transparency=3),
        "png_16bit_grey": encode(sixteen, "PNG"),
        "gif_two_frames": encode(palette, "GIF", save_all=True, append_images=[
            palette.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]),
        "tiff": encode(coffee, "TIFF"),
        "tiff_lzw_exif": encode(cat, "TIFF", compression="tiff_lzw", exif=exif.tobytes()),
        "webp": encode(cat, "WEBP", quality=50),
        "webp_lossless": encode(rgba, "WEBP", lossless=True),
        "bmp": encode(grey, "BMP"),
        "ppm": encode(coffee, "PPM"),
    }
    for i, (name, payload) in enumerate(seeds.items()):
        yield name, bytes([i % 4]) + payload


def predictor_seeds():
    import tempfile

    import targets
    from predict.predictor import Predictor

    rng = np.random.default_rng(7)
    out = []
    for i, (k, d, tta) in enumerate([(2, 8, False), (3, 1, True), (5, 64, False), (2, 300, True)]):
        p = Predictor(classes=[f"class {j}" for j in range(k)],
                      weights=rng.standard_normal((k, d)).astype(np.float32),
                      bias=rng.standard_normal(k).astype(np.float32),
                      mean=rng.standard_normal(d).astype(np.float32),
                      scale=rng.uniform(0.5, 2.0, d).astype(np.float32),
                      model_sha256=f"{i:064x}", model_name=f"model{i}.pnet", layer="features",
                      tta=tta, penalty=0.5 * i,
                      training={"examples": 10 * k, "folds": 3, "accuracy": 0.9,
                                "per_class": {f"class {j}": j for j in range(k)}})
        with tempfile.TemporaryDirectory() as folder:
            path = pathlib.Path(folder) / "seed.predictor"
            p.save(path)
            data = path.read_bytes()
        out.append((f"predictor{i}", targets.predictor_input(data)))
        out.append((f"predictor{i}-whole", b"\x00" + data))
    return out


SEEDS = {"pnet": pnet_seeds, "native": pnet_seeds, "checkpoint": checkpoint_seeds, "onnx": onnx_seeds,
         "image": image_seeds, "predictor": predictor_seeds}


def write(out, names=None):
    """Writes <out>/<target>/<seed name> for each target; returns {target: count}."""
    for path in (str(ROOT), str(HERE)):
        if path not in sys.path:
            sys.path.insert(0, path)
    counts = {}
    for target in names or SEEDS:
        folder = pathlib.Path(out) / target
        folder.mkdir(parents=True, exist_ok=True)
        counts[target] = 0
        for name, payload in SEEDS[target]():
            (folder / name).write_bytes(payload)
            counts[target] += 1
    return counts


if __name__ == "__main__":
    print(write(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build" / "fuzz" / "seeds"))
