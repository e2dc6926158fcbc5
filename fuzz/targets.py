"""What each fuzz target does with one input, without atheris: fuzzers and tests share it.

A target takes the fuzzer's bytes and feeds them through one of predict's doors for files from
strangers. It may fail only with a documented ``predict.errors.PredictError``; anything else (a
stray exception, a crash, a hang, unbounded memory) is a bug. ``TARGETS`` maps a name to
``(function, modules worth coverage instrumentation)``.

- ``pnet``: the bytes as a .pnet file through ``predict.load`` (read_pnet, validation, the C
  network build), then one run, ``classify`` on a small photo when the file has a preprocess
  spec (the spec comes from the file too), ``features`` when it names them, and close.
- ``native``: a pnet input's header, not validated, straight to the C core (``NativeNet``):
  the core's own second line of checks, which no valid file reaches.
- ``checkpoint``: the bytes as a PyTorch checkpoint through the restricted unpickler.
- ``onnx``: the bytes as an ONNX file through ``convert_onnx`` (protobuf parse, graph walk,
  constant folding, simplification); a model it accepts must then write, load and run.
- ``predictor``: the bytes as a predictor file (``predict learn`` writes them) through
  ``load_predictor``, checksum recomputed as for pnet (see ``predictor_file``); a file it
  accepts then classifies a few feature vectors.
- ``image``: the first byte picks a preprocess spec, the rest is an encoded photo decoded and
  preprocessed by ``predict.image.preprocess``.

The limits are smaller than the defaults so that one input costs milliseconds and little memory;
what they refuse is a PredictError like any other refusal.

    >>> import sys; sys.path.insert(0, "fuzz")                    # doctest: +SKIP
    >>> import targets; targets.check("pnet", b"not a model")      # doctest: +SKIP
"""
import atexit
import io
import math
import os
import shutil
import tempfile

import numpy as np

from predict.errors import PredictError

# One input must stay small: a fuzzed file may legally ask for gigabytes (the default limits
# accept any real convnet), so the fuzzers tighten every limit a user can set.
MAX_ELEMENTS = 1 << 16
MAX_RUN_MACS = 2_000_000
MAX_PIXELS = 1 << 20

_SCRATCH = None


def scratch_dir():
    """A private directory on tmpfs when there is one: files the targets write go there, alone,
    so an ONNX model's external-data reference finds nothing but its own file."""
    global _SCRATCH
    if _SCRATCH is None:
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        _SCRATCH = tempfile.mkdtemp(prefix="predict-fuzz-", dir=base)
        atexit.register(shutil.rmtree, _SCRATCH, True)
    return _SCRATCH


def _write(name, data):
    path = os.path.join(scratch_dir(), name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def _limits():
    from predict.format import Limits

    return Limits(max_file_bytes=1 << 22, max_header_bytes=1 << 20,
                  max_tensor_elements=MAX_ELEMENTS, max_tensors=4096, max_layers=1024,
                  max_blobs=1024)


def _cheap_enough(header):
    """Whether running the network costs little: few MACs and small tensors at every layer."""
    from predict.graph import summarize

    if summarize(header)["macs"] > MAX_RUN_MACS:
        return False
    total = sum(math.prod(t["shape"]) for t in header["tensors"])
    for layer in header["layers"]:
        if "kernel" in layer:   # pools cost their window per output element too
            out = math.prod(header["tensors"][layer["output"]]["shape"])
            if out * math.prod(layer["kernel"]) > MAX_RUN_MACS:
                return False
    return total <= 8 * MAX_ELEMENTS


def run_network(net):
    """One run on a fixed input, then classify and features where the model allows them."""
    rng = np.random.default_rng(0)
    x = {name: rng.standard_normal((2,) + net._shape(t)).astype(np.float32)
         for name, t in net._inputs}
    out = net.run(x if len(x) > 1 else next(iter(x.values())))
    outputs = out.values() if isinstance(out, dict) else [out]
    for (name, t), y in zip(net._outputs, outputs):
        if y.shape != (2,) + net._shape(t) or y.dtype != np.float32:
            raise AssertionError(f"output {name!r} has shape {y.shape}, expected "
                                 f"{(2,) + net._shape(t)}")
    if net.preprocess_spec is not None and len(net.input_names) == 1:
        photo = (rng.random((9, 7, 3)) * 255).astype(np.uint8)
        net.classify(photo, top=3)
        if net.info()["features"] is not None:
            net.features([photo])


def pnet_file(data):
    """The .pnet file a pnet input stands for.

    A random change to a file almost always breaks its checksum, and the reader stops there; so
    an input whose first byte is odd is a file without its last 32 bytes, and gets a correct
    checksum here (the tree checksum or a plain SHA-256, as the flags in the preamble say, the
    reader's rule), letting the mutations reach the header and blob checks. An even first byte
    means the rest is the file as it is, checksum included.
    """
    import hashlib

    from predict import checksum
    from predict.format import FLAG_TREE_CHECKSUM

    if not data:
        return b""
    body = data[1:]
    if not data[0] & 1:
        return body
    tree = len(body) >= 16 and int.from_bytes(body[12:16], "little") & FLAG_TREE_CHECKSUM
    return body + (checksum.sha256_tree(body) if tree else hashlib.sha256(body).digest())


def pnet_input(file_bytes):
    """The pnet input (checksum recomputed by the target) for a well-formed .pnet file."""
    return b"\x01" + file_bytes[:-32]


def pnet(data):
    load_pnet(pnet_file(data))


def load_pnet(file_bytes):
    import predict

    path = _write("input.pnet", file_bytes)
    with predict.load(path, max_batch=2, limits=_limits()) as net:
        net.max_pixels = MAX_PIXELS
        if _cheap_enough(net._header):
            run_network(net)


def native(data):
    """The C core's own checks, with predict.graph's out of the way.

    The header is decoded but not validated and goes straight to ``NativeNet``, whose C side
    must refuse whatever would make it read or write out of bounds (predict.h: "the core checks
    again"). Blob arrays are made from the shapes the header states, so the weights can
    disagree with the layers. NativeNet's contract is a validated header, so a Python exception
    while describing a garbage header is no finding here; a crash, a sanitizer report, a hang or
    unbounded memory is, and so is anything but a PredictError from a net the core accepted.
    """
    import msgpack

    from predict import _native

    body = data[1:]        # the header is all this target reads; the checksum is no matter
    if len(body) < 24:
        return
    header_len = int.from_bytes(body[16:24], "little")
    try:
        header = msgpack.unpackb(body[24:24 + header_len], raw=False, strict_map_key=False)
    except Exception:
        return
    if not isinstance(header, dict) or not _small_unvalidated(header):
        return
    arrays = []
    blobs = header.get("blobs")
    for blob in blobs if isinstance(blobs, list) else []:
        shape = blob.get("shape") if isinstance(blob, dict) else None
        if not _dims_ok(shape, 4):
            shape = [1]
        count = math.prod(shape)
        arrays.append(np.linspace(-1, 1, count, dtype=np.float32).reshape(shape))
    try:
        net = _native.NativeNet(header, arrays, max_batch=2)
    except Exception:
        return
    try:
        inputs = [np.ones((2,) + dims, np.float32) for dims in net._in_dims]
        net.run(inputs)
    finally:
        net.close()


def _dims_ok(shape, rank):
    return (isinstance(shape, list) and 1 <= len(shape) <= rank and
            all(type(d) is int and 1 <= d <= MAX_ELEMENTS for d in shape) and
            math.prod(shape) <= MAX_ELEMENTS)


def _small_unvalidated(header):
    """Whether an unvalidated header stays small: bounded tensors, windows and layer count."""
    tensors, layers = header.get("tensors"), header.get("layers")
    if not isinstance(tensors, list) or not isinstance(layers, list) or len(layers) > 256:
        return False
    if len(tensors) > 1024 or not all(isinstance(t, dict) and _dims_ok(t.get("shape"), 3)
                                      for t in tensors):
        return False
    total = sum(math.prod(t["shape"]) for t in tensors)
    # A window layer costs at most (output elements) x (window) x (input channels).
    channels = max((t["shape"][0] for t in tensors), default=1)
    for layer in layers:
        kernel = layer.get("kernel") if isinstance(layer, dict) else None
        if isinstance(kernel, list) and all(type(k) is int for k in kernel):
            if MAX_ELEMENTS * math.prod(abs(k) for k in kernel) * channels > 50 * MAX_RUN_MACS:
                return False
    return total <= 8 * MAX_ELEMENTS


def checkpoint(data):
    from converters.torch_checkpoint import load_state_dict

    state = load_state_dict(io.BytesIO(data), max_bytes=64 << 20)
    for name, array in state.items():
        if not isinstance(name, str) or not isinstance(array, np.ndarray):
            raise AssertionError(f"state dict entry {name!r} is a {type(array).__name__}")


def onnx(data):
    from converters.onnx_import import convert_onnx
    from predict.format import write_pnet

    path = _write("input.onnx", data)
    header, arrays = convert_onnx(path)
    out = os.path.join(scratch_dir(), "converted.pnet")
    write_pnet(out, header, arrays, limits=_limits())
    with open(out, "rb") as f:
        load_pnet(f.read())


# A predictor file ends in the SHA-256 of what precedes it, as a .pnet ends in its checksum:
# its inputs stand for files the same way.
def predictor_file(data):
    """The predictor file a predictor input stands for: as ``pnet_file``, with a plain SHA-256
    (a predictor file has no flags and no tree checksum)."""
    import hashlib

    if not data:
        return b""
    body = data[1:]
    return body + hashlib.sha256(body).digest() if data[0] & 1 else body


predictor_input = pnet_input


def predictor(data):
    from predict.predictor import load_predictor

    path = _write("input.predictor", predictor_file(data))
    p = load_predictor(path)
    if p.feature_dim * len(p.classes) > MAX_ELEMENTS:
        return
    x = np.linspace(-3, 3, 2 * p.feature_dim, dtype=np.float32).reshape(2, p.feature_dim)
    probs = p.predict_features(x)
    if probs.shape != (2, len(p.classes)) or not np.allclose(probs.sum(axis=1), 1.0):
        raise AssertionError(f"probabilities of shape {probs.shape} that do not sum to 1")


_SPECS = [
    {"size": [12, 10], "resize": 14, "interpolation": "bilinear", "channels": "RGB",
     "scale": 255.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    {"size": [8, 8], "resize": 0, "interpolation": "nearest", "channels": "L",
     "scale": 1.0, "mean": [128.0], "std": [64.0]},
    {"size": [16, 9], "resize": 20, "interpolation": "bicubic", "channels": "BGR",
     "scale": 255.0, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
    {"size": [5, 40], "resize": 40, "interpolation": "bilinear", "channels": "RGB",
     "scale": 1.0, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
]


def image(data):
    from predict.image import preprocess

    if not data:
        return
    spec = _SPECS[data[0] % len(_SPECS)]
    x = preprocess(data[1:], spec, max_pixels=MAX_PIXELS)
    channels = 1 if spec["channels"] == "L" else 3
    if x.shape != (channels, *spec["size"]) or x.dtype != np.float32:
        raise AssertionError(f"preprocess gave {x.shape} {x.dtype}")


_PNET_MODULES = ["predict", "predict.format", "predict.graph", "predict.network",
                 "predict._native", "predict.image"]
_ONNX_MODULES = ["converters.onnx_import", "converters.onnx_graph", "converters.onnx_walk",
                 "converters.onnx_consteval", "converters.onnx_layers", "converters.onnx_ops",
                 "converters.onnx_dense", "converters.onnx_elementwise", "converters.onnx_reshape",
                 "converters.onnx_window", "converters.simplify"]
_IMAGE_MODULES = ["predict.image", "PIL.Image", "PIL.JpegImagePlugin", "PIL.PngImagePlugin",
                  "PIL.GifImagePlugin", "PIL.TiffImagePlugin", "PIL.WebPImagePlugin",
                  "PIL.BmpImagePlugin", "PIL.PpmImagePlugin", "PIL.MpoImagePlugin",
                  "PIL.TiffTags", "PIL.ExifTags", "PIL.ImageFile"]

# name -> (function, the modules whose coverage guides its fuzzer)
TARGETS = {
    "pnet": (pnet, _PNET_MODULES),
    "native": (native, ["predict._native"]),
    "checkpoint": (checkpoint, ["converters.torch_checkpoint"]),
    "onnx": (onnx, _ONNX_MODULES + _PNET_MODULES),
    "image": (image, _IMAGE_MODULES),
    "predictor": (predictor, ["predict.predictor", "predict.logreg"]),
}


def check(name, data):
    """Runs target `name` on one input; a PredictError is the input's documented refusal.

    Returns the PredictError (or None when the input was accepted); raises anything else.
    """
    function = TARGETS[name][0]
    try:
        function(bytes(data))
    except PredictError as e:
        return e
    return None
