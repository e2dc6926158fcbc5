"""Hostile input through the whole loader: each bad file with the exact error it must produce.

tests/test_format.py and tests/test_graph.py check the reader and the schema field by field;
tests/test_checkpoint.py refuses pickles that try to run code. Here the files go through
``predict.load`` (read_pnet, validation and the C network build) and are made from a real small
model with every operator (tools/small_models.py): truncated at every section boundary with a
checksum that still matches, flipped bits, lying offsets and shapes, unknown ops and versions,
NaN and infinite weights; then the limits a user can set, and one network shared by threads and
inherited across fork. The inputs under tests/hostile/ are what the fuzzers found (fuzz/run.py):
each must still give a documented error.

Quantization scales do not exist yet (version 1 stores float32 only); the zero- and NaN-scale
cases join this file with the int8 path.
"""
import contextlib
import hashlib
import io
import math
import os
import pathlib
import signal
import sys
import threading
import time

import msgpack
import numpy as np
import pytest
from PIL import Image

import predict
from predict import format as fmt
from predict.errors import ConversionError, ImageError, InputError, ModelFormatError, NativeError
from predict.errors import PredictError
from predict.image import preprocess
from test_format import align, assemble, split, tree_sha256

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "fuzz"))
import small_models  # noqa: E402  (tools/ and fuzz/ are not packages)
import targets  # noqa: E402


@pytest.fixture(scope="module")
def chain():
    """(header without blobs, arrays) of the conv/depthwise/pool/pad/add/concat/fc model."""
    return small_models.image_chain()


@pytest.fixture
def model(tmp_path, chain):
    path = tmp_path / "chain.pnet"
    fmt.write_pnet(path, *chain)
    return path


def refused(path, fragment, error=ModelFormatError, **kw):
    with pytest.raises(error) as info:
        predict.load(path, **kw).close()
    assert fragment in str(info.value), str(info.value)
    return str(info.value)


def rewrite(path, header=None, data=None, header_bytes=None, **preamble):
    """Rewrites the file from a changed header and data section, with a matching checksum."""
    old_header, old_data = split(path.read_bytes())
    if header_bytes is None:
        header_bytes = msgpack.packb(old_header if header is None else header, use_bin_type=True)
    path.write_bytes(assemble(header_bytes, old_data if data is None else data, **preamble))
    return path


def edited(path, edit):
    header, _ = split(path.read_bytes())
    edit(header)
    return rewrite(path, header)


# --------------------------------------------------------------------------- truncation

def test_truncated_at_every_section_boundary(model):
    raw = model.read_bytes()
    header, data = split(raw)
    header_len = fmt.PREAMBLE.unpack_from(raw)[3]
    data_start = align(24 + header_len)
    cuts = [0, 8, 12, 16, 23, 24, 55, 56, 24 + header_len, data_start, len(raw) - 32,
            len(raw) - 1]
    for cut in cuts:
        model.write_bytes(raw[:cut])
        if cut < 56:
            want = f"{cut} bytes is too small for a .pnet file (at least 56)"
        elif 24 + header_len > cut - 32:
            want = f"header_len {header_len} passes the end of the file ({cut} bytes"
        else:
            want = "checksum mismatch"
        refused(model, want)


def test_data_section_cut_at_every_blob_boundary_with_a_valid_checksum(model):
    raw = model.read_bytes()
    header, data = split(raw)
    boundaries = sorted({b["offset"] for b in header["blobs"]} |
                        {b["offset"] + b["nbytes"] for b in header["blobs"]})
    for cut in boundaries[:-1]:
        # The first blob in list order that no longer fits is the one named.
        first = next(i for i, b in enumerate(header["blobs"]) if b["offset"] + b["nbytes"] > cut)
        blob = header["blobs"][first]
        rewrite(model, data=data[:cut])
        refused(model, f"blob {first}: offset {blob['offset']} + nbytes {blob['nbytes']} passes "
                       f"the end of the data section ({cut} bytes)")


def test_header_cut_short_with_a_matching_length_and_checksum(model):
    header, data = split(model.read_bytes())
    packed = msgpack.packb(header, use_bin_type=True)
    for cut in (1, len(packed) // 2, len(packed) - 1):
        model.write_bytes(assemble(packed[:cut], data))
        refused(model, "the header is not one valid msgpack map")


# --------------------------------------------------------------------------- bit flips

def test_bit_flips_in_header_and_blobs_break_the_checksum(model):
    raw = bytearray(model.read_bytes())
    header_len = fmt.PREAMBLE.unpack_from(raw)[3]
    data_start = align(24 + header_len)
    for position in (30, 24 + header_len // 2, 24 + header_len - 1, data_start,
                     data_start + 100, len(raw) - 33):
        flipped = bytearray(raw)
        flipped[position] ^= 0x10
        model.write_bytes(flipped)
        refused(model, "checksum mismatch, the file is corrupt or was modified")


def test_header_bit_flips_with_a_recomputed_checksum_are_refused_or_harmless(model):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 12, 10)).astype(np.float32)
    assert flip_header_bits(model, x, 250, rng) < 250


def flip_header_bits(model, x, count, rng):
    """Flips one random header bit at a time (checksum recomputed), ``count`` times; each file
    must be refused or load into a network whose output on ``x`` is finite. Returns how many
    loaded."""
    raw = model.read_bytes()
    header_len = fmt.PREAMBLE.unpack_from(raw)[3]
    body = raw[:-32]
    accepted = 0
    for position in rng.integers(24, 24 + header_len, count):
        flipped = bytearray(body)
        flipped[position] ^= 1 << int(rng.integers(0, 8))
        model.write_bytes(bytes(flipped) + tree_sha256(bytes(flipped)))
        try:
            net = predict.load(model)
        except ModelFormatError:
            continue
        with net:      # a flip that still makes a valid model must make a working one
            accepted += 1
            assert np.all(np.isfinite(net.run(x)))
    return accepted


def test_weight_bit_flip_to_nan_with_a_recomputed_checksum(model):
    header, data = split(model.read_bytes())
    blob = header["blobs"][2]                        # the depthwise weights
    poked = bytearray(data)
    poked[blob["offset"] + 4 * 5:blob["offset"] + 4 * 6] = np.float32("nan").tobytes()
    rewrite(model, data=bytes(poked))
    refused(model, "blob 2 (layer 1 'depthwise1' weight): element 5 is nan; weights must be "
                   "finite")


# --------------------------------------------------------------------------- NaN and infinity

@pytest.mark.parametrize("blob,element,value,user", [
    (0, 0, np.inf, "layer 0 'conv0' weight"),
    (1, 7, -np.inf, "layer 0 'conv0' bias"),
    (5, 3, np.nan, "tensor 8 't8'"),
    (7, 4, np.inf, "layer 11 'fc11' bias"),
])
def test_non_finite_weights_are_refused_at_load(model, chain, blob, element, value, user):
    header, data = split(model.read_bytes())
    entry = header["blobs"][blob]
    values = np.frombuffer(data, np.float32).copy()
    values[entry["offset"] // 4 + element] = value
    rewrite(model, data=values.tobytes())
    refused(model, f"blob {blob} ({user}): element {element} is {float(value)}; weights must "
                   f"be finite")


def test_writer_refuses_non_finite_weights(tmp_path, chain):
    header, arrays = chain
    arrays = [a.copy() for a in arrays]
    arrays[3][2] = np.nan
    with pytest.raises(ModelFormatError, match=r"arrays\[3\]: element 2 is nan; weights must be "
                                               r"finite"):
        fmt.write_pnet(tmp_path / "nan.pnet", header, arrays)
    assert list(tmp_path.iterdir()) == []


def test_onnx_converter_refuses_non_finite_initializers():
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from converters.onnx_import import convert_onnx

    w = np.ones((2, 3), np.float32)
    w[1, 1] = np.inf
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])
    g = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1, name="gemm")],
                          "g", [x], [y], [numpy_helper.from_array(w, "w")])
    with pytest.raises(ConversionError, match=r"the weights of layer 'gemm' \(weight\) hold inf"):
        convert_onnx(onnx.helper.make_model(g))


# --------------------------------------------------------------------------- forged fields

def _set(*path_and_value):
    *path, value = path_and_value

    def edit(header):
        node = header
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


FORGED = [
    # offsets and sizes past the end, negative, overlapping
    (_set("blobs", 7, "offset", 2**63), "blob 7: offset 9223372036854775808 + nbytes 20 passes "
                                        "the end of the data section"),
    (_set("blobs", 7, "offset", -64), "blob 7: offset is -64, must be >= 0"),
    (_set("blobs", 6, "nbytes", 2**64 - 1), "blob 6: nbytes 18446744073709551615 does not match "
                                            "shape [5, 16] of float32 (320 bytes)"),
    (_set("blobs", 2, "offset", 1024 + 64), "overlap"),
    # negative, zero and huge shapes
    (_set("tensors", 0, "shape", [3, -12, 10]), "tensor 0 'image': shape[1] is -12, must be >= 1"),
    (_set("tensors", 0, "shape", [3, 0, 10]), "tensor 0 'image': shape[1] is 0, must be >= 1"),
    (_set("tensors", 1, "shape", [8, 2**31, 5]), "tensor 1 't1': shape[1] is 2147483648, must be "
                                                 "<= 2147483647"),
    (_set("tensors", 1, "shape", [2**20, 2**20, 2**20]), "has 1152921504606846976 elements, more "
                                                         "than the limit of 268435456"),
    (_set("tensors", 1, "shape", [1, 8, 6, 5]), "tensor 1 't1': shape [1, 8, 6, 5] must have 1 to "
                                                "3 dims"),
    # shape and size mismatches
    (_set("tensors", 1, "shape", [8, 6, 6]), "layer 0 'conv0' (conv): output tensor 1 't1' has "
                                             "shape [8, 6, 6], but conv of [3, 12, 10] gives "
                                             "[8, 6, 5]"),
    (_set("blobs", 0, "shape", [8, 3, 3, 2]), "blob 0: nbytes 864 does not match shape [8, 3, 3, "
                                              "2] of float32 (576 bytes)"),
    (_set("layers", 0, "weight", 6), "layer 0 'conv0' (conv): weight blob 6 has shape [5, 16], "
                                     "expected [5, 3, 3, 3] ([Cout, kh, kw, Cin/groups])"),
    (_set("layers", 2, "kernel", [2**31 - 1, 2]), "maxpool"),
    # unknown ops, kinds, dtypes and versions
    (_set("layers", 1, "op", "deformable_conv"), "layer 1 'depthwise1': unknown op "
                                                 "'deformable_conv'"),
    (_set("layers", 0, "act", {"kind": "gelu", "alpha": 0.0, "beta": 0.0}), "kind 'gelu' is not "
                                                                            "one of"),
    (_set("layers", 3, "mode", "wrap"), "mode 'wrap' is not one of constant, reflect, edge"),
    (_set("tensors", 2, "dtype", "int8"), "tensor 2 't2': dtype 'int8' is not one of float32"),
    (_set("blobs", 0, "dtype", "float16"), "blob 0: dtype 'float16' is not one of float32"),
    (_set("version", 2), "header: version 2 is not supported (this reader knows 1)"),
    # zero scales (the preprocess ones; quantization scales come with int8)
    (_set("preprocess", "scale", 0.0), "preprocess: scale is 0.0, must be > 0"),
    (_set("preprocess", "std", [0.2, 0.0, 0.2]), "preprocess: std[1] is 0.0, must be > 0"),
    (_set("preprocess", "mean", [0.4, float("nan"), 0.4]), "preprocess: mean[1] is NaN"),
    # two graph outputs or inputs of one name: Network.run's dict would lose one
    (_set("outputs", [{"name": "y", "tensor": 14}, {"name": "y", "tensor": 13}]),
     "outputs[1]: name 'y' is already outputs[0]'s"),
]


@pytest.mark.parametrize("edit,fragment", FORGED, ids=[f[:50] for _, f in FORGED])
def test_forged_fields_with_a_valid_checksum(model, edit, fragment):
    message = refused(edited(model, edit), fragment)
    assert message.startswith(f"{model}: ")


def test_forged_preamble_versions_and_flags(model):
    refused(rewrite(model, version=2**32 - 1), "format version 4294967295 is not supported")
    refused(rewrite(model, version=1, flags=2**31), "flags 0x80000000 are not supported")


def test_every_forged_refusal_is_a_model_format_error_not_a_native_one(model, chain):
    # The Python checks are complete: the C core's own checks are a second line, never reached
    # by a file. A NativeError from load() would mean a hole in predict.graph.
    for edit, _ in FORGED:
        path = edited(model, edit)
        with pytest.raises(PredictError) as info:
            predict.load(path)
        assert not isinstance(info.value, NativeError), str(info.value)
        fmt.write_pnet(model, *chain)


# --------------------------------------------------------------------------- limits

def test_file_header_and_tensor_limits_pass_through_load(model):
    size = model.stat().st_size
    refused(model, f"{size} bytes is more than the limit of 1000 bytes (Limits.max_file_bytes)",
            limits=fmt.Limits(max_file_bytes=1000))
    refused(model, "more than the limit of 100 bytes (Limits.max_header_bytes)",
            limits=fmt.Limits(max_header_bytes=100))
    refused(model, "tensor 0 'image': shape [3, 12, 10] has 360 elements, more than the limit of "
                   "300", limits=fmt.Limits(max_tensor_elements=300))
    predict.load(model, limits=fmt.Limits(max_file_bytes=size, max_tensor_elements=360)).close()


def _padded_model(path, side):
    """An 1x8x8 input padded to 1 x side x side, then pooled: a tiny file, a big arena."""
    g = small_models.Graph(0)
    x = g.input([1, 8, 8])
    pad = side - 8
    y = g.layer("pad", [x], [1, side, side], pads=[0, 0, pad, pad], mode="constant", value=0.0)
    y = g.layer("global_avgpool", [y], [1, 1, 1])
    fmt.write_pnet(path, g.header([y]), g.arrays)
    return path


def test_activation_memory_limit_is_checked_before_the_core_allocates(tmp_path, monkeypatch):
    path = _padded_model(tmp_path / "big.pnet", 16384)        # 2**28 floats: 1 GiB a sample
    assert path.stat().st_size < 2000

    def no_build(*args, **kw):
        raise AssertionError("the C core was asked to build the network")

    from predict import _native
    monkeypatch.setattr(_native, "NativeNet", no_build)
    # The core runs a batch one sample after the other, so the arena is one sample's.
    refused(path, f"{path}: the network needs at least {(64 + 2**28) * 4:,} bytes of "
                  f"activation memory for max_batch 16, more than the limit of {2**30:,} "
                  f"bytes (Limits.max_activation_bytes)",
            limits=fmt.Limits(max_activation_bytes=2**30))


def test_activation_memory_limit_counts_the_planned_arena_and_scratch(tmp_path):
    # conv 3x3 on 4x32x32: arena ~48 KiB (input and output alive), im2col scratch 144 KiB.
    g = small_models.Graph(0)
    x = g.input([4, 32, 32])
    y = g.layer("conv", [x], [8, 32, 32], **small_models.window(), groups=1,
                weight=g.blob([8, 3, 3, 4]), bias=None, act=small_models.act())
    path = tmp_path / "conv.pnet"
    fmt.write_pnet(path, g.header([y]), g.arrays)
    with predict.load(path, max_batch=1) as net:
        needed = net.info()["arena_bytes"] + net.info()["scratch_bytes"]
    assert needed > (4 + 8) * 1024 * 4  # more than the two tensors: the scratch counts too
    refused(path, f"the network needs {needed:,} bytes of activation memory for max_batch 1, "
                  f"more than the limit of {needed - 1:,} bytes",
            max_batch=1, limits=fmt.Limits(max_activation_bytes=needed - 1))
    predict.load(path, max_batch=1, limits=fmt.Limits(max_activation_bytes=needed)).close()


def test_max_batch_limit(model):
    for bad in (0, predict.network.MAX_BATCH + 1, 2**31, -5, 2.0, None):
        refused(model, f"max_batch must be an integer from 1 to {predict.network.MAX_BATCH}, "
                       f"got {bad!r}", error=InputError, max_batch=bad)
    with predict.load(model, max_batch=3) as net:
        x = np.random.default_rng(0).standard_normal((7, 3, 12, 10)).astype(np.float32)
        y = net.run(x)                              # split into 3 + 3 + 1
        assert y.shape == (7, 5)
        np.testing.assert_allclose(y[6:], net.run(x[6:]), rtol=1e-6)


def test_image_pixel_limits_cover_decoding_and_resizing(model):
    spec = {"size": [8, 8], "resize": 8, "interpolation": "bilinear", "channels": "RGB",
            "scale": 255.0, "mean": [0.0] * 3, "std": [1.0] * 3}
    strip = np.zeros((1, 5000, 3), np.uint8)       # 5,000 pixels, resized to 8 x 40,000
    with pytest.raises(ImageError, match=r"resizing 5000x1 to 40000x8 would make 320,000 pixels, "
                                         r"more than the limit of 100,000 \(max_pixels\)"):
        preprocess(strip, spec, max_pixels=100_000)
    assert preprocess(strip, spec, max_pixels=None).shape == (3, 8, 8)
    png = io.BytesIO()
    Image.fromarray(strip).save(png, "PNG")
    with pytest.raises(ImageError, match=r"5000x1 is 5,000 pixels, more than the limit of 4,000"):
        preprocess(png.getvalue(), spec, max_pixels=4000)
    with predict.load(model) as net:
        net.max_pixels = 1000
        photo = io.BytesIO()
        Image.new("RGB", (40, 30)).save(photo, "JPEG")
        with pytest.raises(ImageError, match="40x30 is 1,200 pixels, more than the limit of 1,000"):
            net.classify(photo.getvalue())


def test_a_huge_resize_in_a_model_file_cannot_blow_up_a_photo(model):
    edited(model, _set("preprocess", "resize", 65536))
    with predict.load(model) as net:
        with pytest.raises(ImageError, match="would make 4,294,967,296 pixels"):
            net.classify(np.zeros((30, 30, 3), np.uint8))


# --------------------------------------------------------------------------- threads and fork

def test_threads_racing_a_close_get_results_or_a_clear_error(model):
    x = np.random.default_rng(3).standard_normal((2, 3, 12, 10)).astype(np.float32)
    with predict.load(model) as reference:
        expected = reference.run(x)
    net = predict.load(model)
    outcomes, started = [], threading.Barrier(5)

    def work():
        started.wait()
        for _ in range(200):
            try:
                y = net.run(x)
            except NativeError as e:
                outcomes.append(str(e))
                return
            np.testing.assert_array_equal(y, expected)
            outcomes.append("ok")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    net.close()
    for t in threads:
        t.join()
    assert all(o == "ok" or o.endswith("the network is closed") for o in outcomes), outcomes
    assert sum(o != "ok" for o in outcomes) == 4


def _in_child(work, timeout=20.0):
    """Runs work() in a forked child; returns its exit code (99 if it hung and was killed)."""
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(work())
        except BaseException:
            os._exit(98)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return 99


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_runs_the_network_it_inherited(model):
    x = np.random.default_rng(4).standard_normal((3, 3, 12, 10)).astype(np.float32)
    photo = np.random.default_rng(5).integers(0, 256, (20, 17, 3), dtype=np.uint8)
    with predict.load(model) as net:
        expected, top = net.run(x), net.classify(photo, top=2)
        features = net.features(photo)

        def child():
            same = (np.array_equal(net.run(x), expected) and net.classify(photo, top=2) == top
                    and np.array_equal(net.features(photo), features))
            return 0 if same else 1

        assert _in_child(child) == 0
        np.testing.assert_array_equal(net.run(x), expected)     # the parent's is unharmed


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_fork_while_another_thread_holds_the_network_still_gives_a_working_child(model):
    x = np.random.default_rng(6).standard_normal((1, 3, 12, 10)).astype(np.float32)
    photo = np.zeros((9, 9, 3), np.uint8)
    with predict.load(model) as net:
        expected = net.run(x)
        net.features(photo)                         # build the features network too
        held, release = threading.Event(), threading.Event()
        from predict import image, resample

        def hold():
            # What a run in progress looks like at fork time: every lock of the network taken.
            locks = [net._lock, net._net._lock, image._WARNINGS_LOCK, resample._RULE_LOCK]
            locks += [extra._lock for extra in net._extra_nets.values()]
            with contextlib.ExitStack() as stack:
                for lock in locks:
                    stack.enter_context(lock)
                held.set()
                release.wait()

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(timeout=30), "the holder thread could not take every lock"
        assert net._extra_nets, "the features network was not built"
        try:
            code = _in_child(lambda: 0 if (np.array_equal(net.run(x), expected)
                                           and net.classify(photo, top=1)) else 1)
        finally:
            release.set()
            holder.join()
        assert code == 0, "the child deadlocked on a lock held by a thread it does not have" \
            if code == 99 else f"the child failed ({code})"


# --------------------------------------------------------------------------- fuzz findings

HOSTILE = sorted(p for p in (ROOT / "tests" / "hostile").glob("*/*") if p.suffix == ".bin")


@pytest.mark.filterwarnings("ignore::UserWarning")     # Pillow's, about the broken TIFF
@pytest.mark.parametrize("path", HOSTILE, ids=[f"{p.parent.name}/{p.name}" for p in HOSTILE])
def test_fuzz_findings_give_documented_errors(path):
    target = path.parent.name
    if target == "onnx":
        pytest.importorskip("onnx")
    error = targets.check(target, path.read_bytes())
    if target != "native":      # that one refuses garbage any way it likes, short of crashing
        assert isinstance(error, PredictError), f"{path.name} is accepted: {error!r}"


def test_the_fuzz_targets_accept_their_seeds(tmp_path):
    # The seeds are real files: a target refusing one would fuzz nothing but its refusal.
    pytest.importorskip("onnx")
    import seeds
    seeds.write(tmp_path, ["pnet", "native", "checkpoint", "image", "predictor"])
    for folder in tmp_path.iterdir():
        for seed in folder.iterdir():
            error = targets.check(folder.name, seed.read_bytes())
            assert error is None, f"{folder.name}/{seed.name}: {error}"
    assert math.prod(len(list(f.iterdir())) for f in tmp_path.iterdir()) > 0
