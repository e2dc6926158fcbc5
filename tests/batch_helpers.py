"""Shared material for the batch tests: a photo collection made from real photos,
broken files of every kind, and reading a results database back."""
import json
import os
import sqlite3
import struct
import zlib

import numpy as np
import pytest
from PIL import Image


def real_photos():
    """[(name, HxWx3 uint8)] real photos from scikit-image (see DATA.md)."""
    from skimage import data

    return [(name, getattr(data, name)()) for name in
            ("chelsea", "coffee", "astronaut", "rocket", "hubble_deep_field")]


def make_collection(folder, count, megapixels=(0.05, 0.3), seed=0, png_every=5):
    """Writes ``count`` JPEG/PNG photos made from the real photos under ``folder``
    (in a few subfolders), each resized to a size drawn from ``megapixels``,
    cropped and flipped at random; every ``png_every``-th is a PNG (0: none).
    Returns their absolute paths, sorted."""
    rng = np.random.default_rng(seed)
    photos = [Image.fromarray(a) for _, a in real_photos()]
    paths = []
    for i in range(count):
        base = photos[i % len(photos)]
        mp = rng.uniform(*megapixels) * 1e6
        aspect = rng.uniform(0.6, 1.6)
        w = max(8, int(np.sqrt(mp * aspect)))
        h = max(8, int(mp / w))
        left, top = rng.integers(0, base.width // 8), rng.integers(0, base.height // 8)
        img = base.crop((left, top, base.width - left // 2, base.height - top // 2))
        img = img.resize((w, h), Image.Resampling.BILINEAR)
        if i % 3 == 1:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        sub = os.path.join(folder, f"roll{i % 4}")
        os.makedirs(sub, exist_ok=True)
        if png_every and i % png_every == png_every - 1:
            path = os.path.join(sub, f"img{i:05d}.png")
            img.save(path, compress_level=1)
        else:
            path = os.path.join(sub, f"img{i:05d}.jpg")
            img.save(path, quality=int(rng.integers(70, 95)))
        paths.append(os.path.abspath(path))
    return sorted(paths)


def png_bomb(path, width=60000, height=60000):
    """A tiny PNG whose header claims width x height pixels."""
    import io

    buf = io.BytesIO()
    Image.new("L", (4, 4)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    # IHDR: length(4) "IHDR"(4) width(4) height(4) ...; the chunk starts at byte 8.
    start = 8 + 8
    data[start:start + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:start + 13])) & 0xFFFFFFFF
    data[start + 13:start + 17] = struct.pack(">I", crc)
    with open(path, "wb") as f:
        f.write(bytes(data))


def broken_files(folder, good_jpeg):
    """Writes one file of each broken kind next to a good JPEG; returns {kind: path}."""
    os.makedirs(folder, exist_ok=True)
    with open(good_jpeg, "rb") as f:
        jpeg = f.read()
    files = {
        "zero": ("zero.jpg", b""),
        "text": ("notes.png", b"this is not an image\n" * 10),
        "truncated": ("truncated.jpg", jpeg[: len(jpeg) // 3]),
        "corrupt": ("corrupt.jpg", jpeg[:2] + bytes(range(256)) * 8),
    }
    out = {}
    for kind, (name, data) in files.items():
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(data)
        out[kind] = os.path.abspath(path)
    out["bomb"] = os.path.abspath(os.path.join(folder, "bomb.png"))
    png_bomb(out["bomb"])
    return out


def rows(db):
    """{path: row dict} of a results database; asserts one row per path."""
    connection = sqlite3.connect(db)
    connection.row_factory = sqlite3.Row
    try:
        result = {}
        for row in connection.execute("SELECT * FROM photos"):
            record = dict(row)
            assert record["path"] not in result, f"two rows for {record['path']}"
            for key in ("classes", "labels", "scores"):
                if record[key] is not None:
                    record[key] = json.loads(record[key])
            result[record["path"]] = record
        (count,) = connection.execute("SELECT COUNT(*) FROM photos").fetchone()
        assert count == len(result)
        return result
    finally:
        connection.close()


def assert_same_tags(a, b, atol=1e-5):
    """Two {path: row} maps give the same classes and (nearly) the same scores."""
    assert sorted(a) == sorted(b)
    for path in a:
        ra, rb = a[path], b[path]
        assert (ra["error"] is None) == (rb["error"] is None), path
        if ra["error"] is None:
            assert ra["classes"] == rb["classes"], path
            np.testing.assert_allclose(ra["scores"], rb["scores"], atol=atol, err_msg=path)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A tiny float32 model file (test_network.write_tiny), one per test module; a module
    uses it by importing this fixture: ``from batch_helpers import model``."""
    from test_network import write_tiny

    path = tmp_path_factory.mktemp("model") / "tiny.pnet"
    write_tiny(path)
    return str(path)


def collection_fixture(count):
    """A module fixture: (folder, good photo paths, broken file paths) with ``count`` good
    photos from make_collection and every kind of broken file beside them."""
    @pytest.fixture(scope="module")
    def collection(tmp_path_factory):
        folder = tmp_path_factory.mktemp("photos")
        good = make_collection(str(folder), count)
        broken = broken_files(str(folder / "broken"), good[0])
        return str(folder), good, broken
    return collection
