"""predict.checksum (SHA-256 by the C core) against hashlib, under every PREDICT_ISA this CPU
runs (the SHA instructions, or the portable C with PREDICT_ISA=ref), and the point of it: a
process that loads a model and classifies a photo never imports hashlib, OpenSSL's _hashlib,
secrets or random."""
import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from predict import _native, checksum
from predict.format import read_pnet
from test_network import write_tiny

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def expected_implementation(isa):
    if isa == "ref" or "sha256" not in _native.cpu_features():
        return "ref"
    return "armv8" if "neon" in _native.cpu_features() else "shani"


@pytest.fixture(params=_native.runnable_isas())
def isa(request, monkeypatch):
    monkeypatch.setenv("PREDICT_ISA", request.param)
    assert checksum.implementation() == expected_implementation(request.param)
    return request.param


def test_fips_examples(isa):
    assert checksum.sha256(b"").hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert checksum.sha256(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert checksum.sha256(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").hex() == (
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    assert checksum.sha256(b"a" * 1_000_000).hex() == (
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")


def test_every_length_and_offset_against_hashlib(isa):
    data = np.random.default_rng(1).integers(0, 256, 400, dtype=np.uint8).tobytes()
    view = memoryview(data)
    for n in range(301):
        for start in (0, 1, 3):
            part = view[start:start + n]
            assert checksum.sha256(part) == hashlib.sha256(part).digest(), (n, start)


def test_large_buffers_one_shot_and_streamed(isa):
    rng = np.random.default_rng(2)
    data = rng.integers(0, 256, 5 * 2**20 + 77, dtype=np.uint8)
    for start, n in [(0, 4 * 2**20), (1, 5 * 2**20 + 3), (13, 1_000_003)]:
        part = memoryview(data)[start:start + n]
        want = hashlib.sha256(part).digest()
        assert checksum.sha256(part) == want
        h, at = checksum.Sha256(), 0
        while at < n:
            take = int(rng.integers(0, 200_000))
            h.update(part[at:at + take])
            at += take
        assert h.digest() == want and h.hexdigest() == want.hex()


def test_incremental_digest_may_be_read_midway(isa):
    h = checksum.Sha256(b"ab")
    assert h.digest() == hashlib.sha256(b"ab").digest()
    h.update(bytearray(b"c"))
    assert h.hexdigest() == hashlib.sha256(b"abc").hexdigest()
    assert h.digest_size == 32


def test_buffers_of_every_kind():
    array = np.arange(1000, dtype=np.float32)
    assert checksum.sha256(array) == hashlib.sha256(array.tobytes()).digest()
    with pytest.raises(TypeError):
        checksum.sha256("text is not bytes")
    with pytest.raises(ValueError, match="contiguous"):
        checksum.sha256(array[::2])


def test_file_sha256_and_a_model_file(tmp_path):
    path = tmp_path / "tiny.pnet"
    sha, _ = write_tiny(path)
    data = path.read_bytes()
    assert checksum.file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert sha == checksum.sha256_tree(data[:-32]).hex() == data[-32:].hex()
    with read_pnet(path) as model:
        assert model.sha256 == sha


def tree_by_hashlib(data):
    leaves = b"".join(hashlib.sha256(data[i:i + checksum.TREE_CHUNK]).digest()
                      for i in range(0, len(data), checksum.TREE_CHUNK))
    return hashlib.sha256(checksum.TREE_TAG + leaves).digest()


def expected_tree(isa):
    """The lane kernels run where the CPU has no SHA instructions, the widest one by default,
    capped by PREDICT_ISA."""
    features = _native.cpu_features()
    if isa == "ref" or "sha256" in features:
        return expected_implementation(isa)
    if "avx512" in features and isa in (None, "avx512"):
        return "avx512x16"
    if "avx2" in features:
        return "avx2x8"
    return "neonx4" if "neon" in features else "ref"


def test_tree_against_hashlib_around_chunk_and_lane_group_edges(isa):
    """No whole chunk, fewer whole chunks than lanes, whole groups of 4, 8 and 16, groups and a
    remainder, a partial last chunk; at odd starts."""
    assert checksum.tree_implementation() == expected_tree(isa)
    chunk = checksum.TREE_CHUNK
    data = np.random.default_rng(4).integers(0, 256, 41 * chunk + 8, dtype=np.uint8).tobytes()
    view = memoryview(data)
    for whole in (0, 1, 3, 4, 5, 8, 9, 15, 16, 17, 24, 32, 33, 40):
        for extra, start in ((0, 0), (1, 3), (chunk - 1, 1), (777, 7)):
            part = view[start:start + whole * chunk + extra]
            assert checksum.sha256_tree(part) == tree_by_hashlib(part), (whole, extra)


def test_the_tree_of_nothing_is_the_hash_of_the_tag():
    assert checksum.sha256_tree(b"") == hashlib.sha256(b"PNET-SHA256-T16K").digest()
    assert checksum.TREE_CHUNK == 16384


def test_the_choice_follows_predict_isa_at_every_call(monkeypatch):
    monkeypatch.setenv("PREDICT_ISA", "ref")
    assert checksum.implementation() == "ref"
    monkeypatch.delenv("PREDICT_ISA")
    assert checksum.implementation() == expected_implementation(None)


CHILD = r"""
import json, sys
import predict
if sys.argv[3] == "worker":
    import predict.batch.worker
net = predict.load(sys.argv[1])
net.classify(sys.argv[2])
print(json.dumps({
    "modules": sorted(m for m in ("hashlib", "_hashlib", "secrets", "random", "hmac", "_ssl")
                      if m in sys.modules),
    "libraries": sorted({line.split()[-1] for line in open("/proc/self/maps")
                         if "libcrypto" in line or "libssl" in line}),
}))
"""


@pytest.mark.parametrize("what", ["predict", "worker"])
def test_loading_and_classifying_never_loads_hashlib_or_openssl(tmp_path, what):
    """predict alone imports none of them; a batch worker's stdlib imports (tempfile,
    multiprocessing) bring random, whose seeding uses the builtin _sha512, not OpenSSL."""
    model = tmp_path / "tiny.pnet"
    write_tiny(model)
    photo = tmp_path / "photo.jpg"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(photo)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", CHILD, str(model), str(photo), what], env=env,
                         capture_output=True, text=True, check=True, timeout=120).stdout
    found = json.loads(out.strip().splitlines()[-1])
    allowed = set() if what == "predict" else {"random"}
    assert set(found["modules"]) <= allowed, found
    if sys.platform.startswith("linux"):
        assert found["libraries"] == [], found
