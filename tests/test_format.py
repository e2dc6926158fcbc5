"""predict.format: .pnet files round-trip, map without copies, and refuse every kind of damage.

Damaged files come in two kinds: accidents (truncation, bit flips), which the checksum or the
preamble checks catch, and forgeries, which carry a valid checksum over lying fields and must be
caught by the field checks. `forge` below rebuilds a file from a modified header and recomputes
the checksum, so each forgery reaches the check it targets.
"""
import gc
import hashlib
import mmap
import os
import pathlib

import msgpack
import numpy as np
import pytest

from predict import _native, format as fmt
from predict.errors import ModelFormatError
from test_graph import NONE, Builder, tiny_model, window, with_blobs


def align(n):
    return -(-n // fmt.ALIGN) * fmt.ALIGN


@pytest.fixture
def model(tmp_path):
    """(path, header without blobs, arrays, returned sha256) of a freshly written tiny model."""
    header, arrays = tiny_model()
    path = tmp_path / "tiny.pnet"
    sha = fmt.write_pnet(path, header, arrays)
    return path, header, arrays, sha


def split(raw):
    """(header dict, data section bytes) of a well-formed file."""
    header_len = fmt.PREAMBLE.unpack_from(raw)[3]
    header = msgpack.unpackb(raw[24:24 + header_len], raw=False)
    return header, raw[align(24 + header_len):-32]


def tree_sha256(body):
    """The tree checksum by its definition (docs/format.md), with hashlib."""
    leaves = b"".join(hashlib.sha256(body[i:i + 16384]).digest()
                      for i in range(0, len(body), 16384))
    return hashlib.sha256(b"PNET-SHA256-T16K" + leaves).digest()


def assemble(header_bytes, data, *, magic=fmt.MAGIC, version=fmt.VERSION,
             flags=fmt.FLAG_TREE_CHECKSUM, header_len=None, pad_byte=0):
    """A file from raw parts, with a correct checksum over whatever they say (the tree checksum
    when flags has its bit, else a plain SHA-256, as older files have)."""
    header_len = len(header_bytes) if header_len is None else header_len
    body = fmt.PREAMBLE.pack(magic, version, flags, header_len) + header_bytes
    body += bytes([pad_byte]) * (align(len(body)) - len(body)) + data
    return body + (tree_sha256(body) if flags & 1 else hashlib.sha256(body).digest())


def forge(path, mutate=None, data=None, header_bytes=None, **kw):
    """Rewrites `path` with its header changed by `mutate` and a valid checksum."""
    header, old_data = split(path.read_bytes())
    if mutate is not None:
        mutate(header)
    if header_bytes is None:
        header_bytes = msgpack.packb(header, use_bin_type=True)
    path.write_bytes(assemble(header_bytes, old_data if data is None else data, **kw))
    return path


def refused(path, fragment, **kw):
    with pytest.raises(ModelFormatError) as info:
        fmt.read_pnet(path, **kw)
    assert fragment in str(info.value), str(info.value)
    return str(info.value)


# --------------------------------------------------------------------------- round trip

def test_round_trip(model):
    path, header, arrays, sha = model
    with fmt.read_pnet(path) as m:
        assert m.header == with_blobs(header, arrays)
        assert m.header["format"] == "pnet" and m.header["version"] == fmt.VERSION
        assert len(m.arrays) == len(arrays)
        for got, want in zip(m.arrays, arrays):
            assert got.dtype == np.dtype("<f4") and got.shape == want.shape
            np.testing.assert_array_equal(got, want)
        assert m.path == str(path) and m.size == path.stat().st_size
        assert m.sha256 == sha


def test_checksum_is_the_tree_sha256_of_all_but_the_last_32_bytes(model):
    path, _, _, sha = model
    raw = path.read_bytes()
    assert fmt.PREAMBLE.unpack_from(raw)[2] == fmt.FLAG_TREE_CHECKSUM
    assert sha == tree_sha256(raw[:-32]).hex() == raw[-32:].hex()


def test_a_file_with_the_older_plain_sha256_still_loads(model):
    """Files written before the tree checksum (flags 0) keep loading, with their own identity."""
    path, _, arrays, _ = model
    forge(path, flags=0)
    raw = path.read_bytes()
    assert raw[-32:] == hashlib.sha256(raw[:-32]).digest()
    with fmt.read_pnet(path) as m:
        assert m.sha256 == raw[-32:].hex()
        for got, want in zip(m.arrays, arrays):
            np.testing.assert_array_equal(got, want)
    flipped = bytearray(raw)
    flipped[100] ^= 1
    path.write_bytes(bytes(flipped))
    refused(path, "checksum mismatch")


@pytest.mark.parametrize("isa", _native.runnable_isas())
def test_a_file_of_many_chunks_is_checked_in_every_chunk(tmp_path, monkeypatch, isa):
    """37 chunks of 16 KiB: whole lane groups, a remainder (the overlapping group) and a
    partial last chunk, hashed with each path this CPU runs. The stored checksum is the tree's by
    definition, and a flipped byte in any chunk is refused."""
    monkeypatch.setenv("PREDICT_ISA", isa)
    b = Builder(5)
    x = b.input([64, 4, 4])
    y = b.layer("conv", [x], [256, 4, 4], **window(), groups=1, weight=b.blob([256, 3, 3, 64]),
                bias=b.blob([256]), act=NONE)
    path = tmp_path / "big.pnet"
    sha = fmt.write_pnet(path, b.header([y]), b.arrays)
    raw = path.read_bytes()
    assert 36 * 16384 < len(raw) - 32 < 37 * 16384
    assert sha == tree_sha256(raw[:-32]).hex()
    with fmt.read_pnet(path) as m:
        assert m.sha256 == sha
    for at in (100, 16384 * 5 + 7, 16384 * 17, 16384 * 33 + 5, len(raw) - 40):
        flipped = bytearray(raw)
        flipped[at] ^= 0x10
        path.write_bytes(bytes(flipped))
        refused(path, "checksum mismatch")


def test_arrays_are_read_only_views_into_the_mapping(model):
    path, header, arrays, _ = model
    m = fmt.read_pnet(path)
    base = np.frombuffer(m._mapping, np.uint8).ctypes.data
    for array, blob in zip(m.arrays, m.header["blobs"]):
        assert not array.flags.owndata and not array.flags.writeable
        assert array.flags.c_contiguous
        owner = array
        while isinstance(owner, np.ndarray):
            owner = owner.base
        assert isinstance(owner, memoryview) and isinstance(owner.obj, mmap.mmap)
        assert array.ctypes.data == base + m.data_start + blob["offset"]
        assert array.ctypes.data % fmt.ALIGN == 0
        with pytest.raises(ValueError):
            array[...] = 0
    del base, array, owner
    assert m.close() is True


def test_layout_is_aligned_and_zero_padded(model):
    path, _, arrays, _ = model
    raw = path.read_bytes()
    magic, version, flags, header_len = fmt.PREAMBLE.unpack_from(raw)
    assert (magic, version, flags) == (fmt.MAGIC, 1, fmt.FLAG_TREE_CHECKSUM)
    data_start = align(24 + header_len)
    assert not any(raw[24 + header_len:data_start])
    header, data = split(raw)
    covered = np.zeros(len(data), bool)
    for blob, array in zip(header["blobs"], arrays):
        assert blob["offset"] % 64 == 0
        stop = blob["offset"] + blob["nbytes"]
        assert data[blob["offset"]:stop] == array.astype("<f4").tobytes()
        covered[blob["offset"]:stop] = True
    assert not any(np.frombuffer(data, np.uint8)[~covered])
    assert covered[-1], "the data section ends with the last blob"


def test_writing_is_deterministic_and_overwrites_atomically(model, tmp_path):
    path, header, arrays, sha = model
    first = path.read_bytes()
    assert fmt.write_pnet(path, header, arrays) == sha
    assert path.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.pnet"]


def test_write_accepts_any_float32_layout(tmp_path):
    header, arrays = tiny_model()
    arrays[0] = np.asfortranarray(arrays[0]).astype(">f4")       # big-endian, not C order
    arrays[2] = np.ascontiguousarray(arrays[2].T).T                # a transposed view
    path = tmp_path / "m.pnet"
    fmt.write_pnet(str(path), header, arrays)                     # str paths work too
    with fmt.read_pnet(path) as m:
        for got, want in zip(m.arrays, arrays):
            np.testing.assert_array_equal(got, want)


def test_write_accepts_correct_format_and_version(tmp_path):
    header, arrays = tiny_model()
    fmt.write_pnet(tmp_path / "a.pnet", {"format": "pnet", "version": 1, **header}, arrays)
    with pytest.raises(ModelFormatError, match="header: version 7 is not supported"):
        fmt.write_pnet(tmp_path / "b.pnet", {**header, "version": 7}, arrays)


def test_unicode_names_round_trip(tmp_path):
    header, arrays = tiny_model()
    header["labels"] = [f"chat n° {i} 猫" for i in range(10)]
    header["tensors"][0]["name"] = "entrée"
    header["provenance"]["note"] = "ünïcödé"
    fmt.write_pnet(tmp_path / "u.pnet", header, arrays)
    with fmt.read_pnet(tmp_path / "u.pnet") as m:
        assert m.header["labels"] == header["labels"]
        assert m.header["tensors"][0]["name"] == "entrée"


@pytest.mark.parametrize("change,fragment", [
    (lambda h, a: h.__setitem__("blobs", []), "header: has 'blobs'"),
    (lambda h, a: a.__setitem__(1, a[1].astype(np.float64)),
     "arrays[1]: dtype float64 cannot be stored (supported: float32"),
    (lambda h, a: a.__setitem__(1, a[1].astype(np.int32)),
     "bias blob 1 has dtype int32, expected float32"),
    (lambda h, a: a.__setitem__(1, list(a[1])), "arrays[1]: must be a numpy array, not list"),
    (lambda h, a: a.__setitem__(1, a[1][:4]), "expected [8] ([Cout])"),
    (lambda h, a: a.__setitem__(1, np.float32(1.0)), "must be a numpy array"),
    (lambda h, a: a.__setitem__(1, np.zeros((), np.float32)), "blob 1: shape [] must have 1"),
    (lambda h, a: a.append(np.zeros((0,), np.float32)), "blob 4: shape[0] is 0"),
    (lambda h, a: h["layers"][0].__setitem__("op", "conv3d"), "unknown op 'conv3d'"),
    (lambda h, a: h["provenance"].__setitem__("when", 3), "provenance: 'when' must be a string"),
    (lambda h, a: h["preprocess"].__setitem__("mean", [np.float32(0.5)] * 3),
     "mean[0] must be a number, not float32"),
])
def test_write_refuses_bad_input_and_leaves_nothing(tmp_path, change, fragment):
    header, arrays = tiny_model()
    change(header, arrays)
    with pytest.raises(ModelFormatError) as info:
        fmt.write_pnet(tmp_path / "bad.pnet", header, arrays)
    assert fragment in str(info.value), str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file(model, tmp_path):
    path, header, arrays, _ = model
    before = path.read_bytes()
    header = dict(header, labels=["too few"])
    with pytest.raises(ModelFormatError, match="1 labels"):
        fmt.write_pnet(path, header, arrays)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.pnet"]


def test_write_applies_limits(tmp_path):
    header, arrays = tiny_model()
    with pytest.raises(ModelFormatError, match="more than the limit of 1000 bytes"):
        fmt.write_pnet(tmp_path / "a.pnet", header, arrays, limits=fmt.Limits(max_file_bytes=1000))
    with pytest.raises(ModelFormatError, match=r"header: \d+ bytes packed, more than the limit"):
        fmt.write_pnet(tmp_path / "a.pnet", header, arrays,
                       limits=fmt.Limits(max_header_bytes=100))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- close

def test_close_drops_arrays_and_unmaps(model):
    path = model[0]
    m = fmt.read_pnet(path)
    assert not m.closed
    assert m.close() is True
    assert m.closed and m.arrays == []
    assert m.close() is True                                       # idempotent
    with fmt.read_pnet(path) as m:
        pass
    assert m.closed


def test_close_while_the_caller_holds_an_array_keeps_it_valid(model):
    path, _, arrays, _ = model
    m = fmt.read_pnet(path)
    kept = m.arrays[2]
    assert m.close() is False                                      # mapping deferred
    assert m.closed and m.arrays == []
    np.testing.assert_array_equal(kept, arrays[2])                 # still readable, no crash
    del kept
    gc.collect()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_refused_files_leave_no_open_descriptors(model):
    path = model[0]
    forge(path, lambda h: h["blobs"][1].__setitem__("nbytes", 36))
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        with pytest.raises(ModelFormatError):
            fmt.read_pnet(path)
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) == before


# --------------------------------------------------------------------------- accidents

def test_missing_empty_and_special_files(tmp_path):
    refused(tmp_path / "missing.pnet", "cannot open: No such file or directory")
    refused(tmp_path, "cannot open")
    (tmp_path / "empty.pnet").write_bytes(b"")
    refused(tmp_path / "empty.pnet", "0 bytes is too small for a .pnet file (at least 56)")
    if os.path.exists("/dev/null"):
        refused("/dev/null", "not a regular file")


def boundaries(raw):
    header_len = fmt.PREAMBLE.unpack_from(raw)[3]
    header, _ = split(raw)
    data_start = align(24 + header_len)
    cuts = {0, 1, 7, 8, 11, 12, 15, 16, 23, 24, 25, 24 + header_len - 1, 24 + header_len,
            data_start - 1, data_start, len(raw) - 33, len(raw) - 32, len(raw) - 31, len(raw) - 1}
    for blob in header["blobs"]:
        cuts |= {data_start + blob["offset"], data_start + blob["offset"] + blob["nbytes"]}
    return sorted(c for c in cuts if 0 <= c < len(raw))


def test_truncation_anywhere_is_refused(model, tmp_path):
    path = model[0]
    raw = path.read_bytes()
    rng = np.random.default_rng(0)
    cuts = boundaries(raw) + list(rng.integers(0, len(raw), 40))
    bad = tmp_path / "cut.pnet"
    for cut in cuts:
        bad.write_bytes(raw[:cut])
        with pytest.raises(ModelFormatError):
            fmt.read_pnet(bad)


def test_trailing_garbage_is_refused(model):
    path = model[0]
    path.write_bytes(path.read_bytes() + b"\0")
    refused(path, "checksum mismatch")


def test_bit_flips_anywhere_are_refused(model, tmp_path):
    path = model[0]
    raw = bytearray(path.read_bytes())
    rng = np.random.default_rng(1)
    positions = list(range(24)) + list(rng.integers(24, len(raw), 150)) + [len(raw) - 1]
    bad = tmp_path / "flip.pnet"
    for position in positions:
        flipped = bytearray(raw)
        flipped[position] ^= 1 << int(rng.integers(0, 8))
        bad.write_bytes(flipped)
        with pytest.raises(ModelFormatError) as info:
            fmt.read_pnet(bad)
        if position >= 24:
            assert "checksum mismatch" in str(info.value)


# --------------------------------------------------------------------------- forgeries

def test_forge_helper_makes_valid_files(model):
    path = model[0]
    before = path.read_bytes()
    forge(path)
    assert path.read_bytes() == before
    fmt.read_pnet(path).close()


def setter(*path_and_value):
    *path, value = path_and_value

    def mutate(header):
        node = header
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return mutate


FORGED_HEADERS = [
    (setter("blobs", 3, "offset", 4096), "blob 3: offset 4096 + nbytes 40 passes the end of the "
                                         "data section"),
    (setter("blobs", 1, "offset", 0), "blob 0: bytes [0, 864) overlap blob 1 at [0, 32)"),
    (setter("blobs", 1, "nbytes", 36), "blob 1: nbytes 36 does not match shape [8]"),
    (setter("blobs", 1, "offset", 65), "blob 1: offset 65 is not a multiple of 64"),
    (setter("blobs", 0, "shape", [2**31 - 1, 2**31 - 1, 1, 1]), "more than the limit"),
    (setter("tensors", 1, "shape", [8, -5, 6]), "tensor 1 't1': shape[1] is -5, must be >= 1"),
    (setter("version", 2), "header: version 2 is not supported"),
    (setter("layers", 0, "op", "conv3d"), "layer 0 'conv0': unknown op 'conv3d'"),
    (setter("tensors", "x"), "header: tensors must be a list, not str"),
    (setter("layers", 4, "weight", 2.0), "layer 4 'fc4' (fc): weight must be a blob index, not "
                                         "float"),
    (setter("layers", 5, "inputs", [6]), "layer 5 'softmax5' (softmax): inputs[0] is tensor 6"),
    (setter("labels", ["x"]), "labels: 1 labels"),
    (setter("hidden", "payload"), "header: unknown key 'hidden'"),
]


@pytest.mark.parametrize("mutate,fragment", FORGED_HEADERS,
                         ids=[f[:40] for _, f in FORGED_HEADERS])
def test_forged_headers_with_valid_checksums_are_refused(model, mutate, fragment):
    path = forge(model[0], mutate)
    message = refused(path, fragment)
    assert message.startswith(str(path) + ": ")


@pytest.mark.parametrize("preamble,fragment", [
    ({"magic": b"\x89PNG\r\n\x1a\n"}, "not a .pnet file (starts with b'\\x89PNG"),
    ({"version": 2}, "format version 2 is not supported (this reader knows version 1)"),
    ({"version": 0}, "format version 0 is not supported"),
    ({"flags": 2}, "flags 0x00000002 are not supported (this reader knows 0x00000001, the tree "
                   "checksum)"),
    ({"flags": 3}, "flags 0x00000003 are not supported"),
    ({"header_len": 2**64 - 1}, "header_len 18446744073709551615 is more than the limit of "
                                "67108864 bytes"),
])
def test_forged_preambles_are_refused(model, preamble, fragment):
    refused(forge(model[0], **preamble), fragment)


def test_forged_header_lengths_are_refused(model):
    path = model[0]
    raw = path.read_bytes()
    header_len = fmt.PREAMBLE.unpack_from(raw)[3]
    refused(forge(path, header_len=header_len + 10_000),
            f"header_len {header_len + 10_000} passes the end of the file ({len(raw)} bytes")
    path.write_bytes(raw)
    # One byte short: the header's last byte lands in the padding, which must be zero.
    refused(forge(path, header_len=header_len - 1), "the padding after the header [")


def test_data_section_shorter_than_its_blobs(model):
    path = model[0]
    _, data = split(path.read_bytes())
    refused(forge(path, data=data[:-4]), f"blob 3: offset {len(data) - 40} + nbytes 40 passes "
                                         f"the end of the data section ({len(data) - 4} bytes)")
    refused(forge(path, data=b""), "passes the end of the data section (0 bytes)")


@pytest.mark.parametrize("header_bytes,fragment", [
    (msgpack.packb([1, 2, 3]), "header: must be a map, not list"),
    (msgpack.packb({1: 2}), "the header is not one valid msgpack map (ValueError: int is not "
                            "allowed for map key"),
    (msgpack.packb({b"format": "pnet"}, use_bin_type=True), "header: keys must be strings"),
    (msgpack.packb({"a": msgpack.ExtType(5, b"")}), "msgpack extension type 5 is not allowed"),
    (msgpack.packb({"a": msgpack.Timestamp(0, 0)}), "the header is not one valid msgpack map"),
    (msgpack.packb({"a": 1}) + msgpack.packb(2), "(ExtraData"),
    (b"\xc1", "the header is not one valid msgpack map"),
    (b"", "the header is not one valid msgpack map"),
    (b"\xdd\xff\xff\xff\xff", "exceeds max_array_len"),
    (b"\xdb\xff\xff\xff\x00" + b"a" * 40, "the header is not one valid msgpack map"),
    (b"\xdf\xff\xff\xff\xff", "exceeds max_map_len"),
    (b"\x91" * 100_000 + b"\xc0", "the header is not one valid msgpack map"),
    (msgpack.packb({"format": b"pnet"}, use_bin_type=True), "header: missing keys"),
])
def test_forged_header_bytes_are_refused(model, header_bytes, fragment):
    refused(forge(model[0], header_bytes=header_bytes), fragment)


def test_bytes_where_strings_belong_are_refused(model):
    path = model[0]
    refused(forge(path, setter("format", b"pnet")), "header: format must be a string, not bytes")


def test_nonzero_padding_is_refused(model):
    path = model[0]
    header, data = split(path.read_bytes())
    header["provenance"]["pad"] = ""
    while (24 + len(msgpack.packb(header))) % 64 == 0:             # make sure there is padding
        header["provenance"]["pad"] += "x"
    path.write_bytes(assemble(msgpack.packb(header), data))
    fmt.read_pnet(path).close()
    path.write_bytes(assemble(msgpack.packb(header), data, pad_byte=7))
    refused(path, "the padding after the header [")


def test_nonzero_bytes_between_and_after_blobs_are_refused(model):
    path = model[0]
    _, data = split(path.read_bytes())
    gap = bytearray(data)
    gap[870] = 1                            # blob 0 ends at 864, blob 1 starts at 896
    refused(forge(path, data=bytes(gap)), "the data section between blobs")
    forge(path, data=data + bytes(100))     # trailing zeros after the last blob are harmless
    fmt.read_pnet(path).close()
    refused(forge(path, data=data + b"\1"), "the data section between blobs")


def test_reader_limits(model):
    path, _, _, _ = model
    size = path.stat().st_size
    refused(path, f"{size} bytes is more than the limit of 1000 bytes (Limits.max_file_bytes)",
            limits=fmt.Limits(max_file_bytes=1000))
    refused(path, "is more than the limit of 64 bytes (Limits.max_header_bytes)",
            limits=fmt.Limits(max_header_bytes=64))
    refused(path, "more than the limit of 10", limits=fmt.Limits(max_tensor_elements=10))
    refused(path, "layers has 6 entries, at most 2 allowed", limits=fmt.Limits(max_layers=2))
    fmt.read_pnet(path, limits=fmt.Limits(max_file_bytes=size)).close()


def test_constants_are_shared_with_the_graph_module():
    from predict import graph
    assert fmt.VERSION is graph.VERSION and fmt.ALIGN == 64 and fmt.Limits is graph.Limits
    assert fmt.MAGIC == b"\x89PNET\r\n\x1a" and fmt.PREAMBLE.size == 24


def test_pathlike_and_repr(model):
    path = pathlib.Path(model[0])
    with fmt.read_pnet(path) as m:
        assert "4 blobs" in repr(m)
    assert "closed" in repr(m)
