"""predict.image: every kind of input, every pixel mode, EXIF orientation, JPEG
draft decoding, broken and oversized files, and the numbers against a plain
numpy + Pillow reference of the torchvision pipeline."""
import io
import pathlib
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

import predict.image
from predict.errors import ImageError, InputError
from predict.image import DEFAULT_MAX_PIXELS, open_image, preprocess, preprocess_batch

# Plain pixels out: x = p / 255, so a test reads 0-255 values back as x * 255.
IDENTITY = {"size": [8, 8], "resize": 0, "interpolation": "nearest", "channels": "RGB",
            "scale": 255.0, "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}
IMAGENET = {"size": [32, 32], "resize": 40, "interpolation": "bilinear", "channels": "RGB",
            "scale": 255.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def spec(**changes):
    return dict(IDENTITY, **changes)


def pixels(x):
    """A preprocess(IDENTITY-like) result back to 0-255 values, (H, W, C)."""
    return x.transpose(1, 2, 0) * 255.0


def photo(width=60, height=45, seed=0):
    """A smooth, asymmetric RGB test picture (uint8 HWC)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    a = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (width + height)], -1)
    a += rng.normal(0, 8, a.shape)
    return np.clip(a, 0, 255).astype(np.uint8)


def encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width, height, bit_depth, color_type, rows=None):
    """A PNG written by hand, for what Pillow cannot write (16-bit RGB, a huge
    header with no pixels behind it)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    data = b"".join(b"\0" + row for row in rows) if rows is not None else b"\0" * 16
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(data)) + png_chunk(b"IEND", b""))


class RecordResize:
    """Records the size of every image preprocessing resizes (by Pillow or the core:
    predict.image resizes through predict.resample.resize_image)."""

    def __init__(self, monkeypatch):
        self.sources = []
        original = predict.image.resize_image

        def resize(img, *args, **kw):
            self.sources.append(img.size)
            return original(img, *args, **kw)

        monkeypatch.setattr(predict.image, "resize_image", resize)


# -- every kind of input -------------------------------------------------------

@pytest.fixture
def png_path(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(photo()).save(path)
    return path


def test_every_encoded_input_kind_gives_the_same_tensor(png_path):
    data = png_path.read_bytes()
    expected = preprocess(str(png_path), IMAGENET)

    class NoSeek:  # a pipe or socket: read() only
        def __init__(self, data):
            self._f = io.BytesIO(data)

        def read(self, n=-1):
            return self._f.read(n)

    with open(png_path, "rb") as f:
        from_file = preprocess(f, IMAGENET)
        assert not f.closed, "a caller's file object is the caller's to close"
    for got in (preprocess(png_path, IMAGENET), preprocess(data, IMAGENET),
                preprocess(bytearray(data), IMAGENET), preprocess(memoryview(data), IMAGENET),
                preprocess(io.BytesIO(data), IMAGENET), preprocess(NoSeek(data), IMAGENET),
                from_file, preprocess(Image.open(png_path), IMAGENET)):
        np.testing.assert_array_equal(got, expected)
    assert expected.shape == (3, 32, 32) and expected.dtype == np.float32


def test_array_inputs_are_hwc_images():
    rgb = photo(8, 8)
    grey = rgb[:, :, 0]
    np.testing.assert_array_equal(pixels(preprocess(rgb, IDENTITY)), rgb)
    # a float array holds 0..1
    np.testing.assert_allclose(pixels(preprocess(rgb / 255.0, IDENTITY)), rgb, atol=1e-4)
    as_float32 = rgb.astype(np.float32) / 255
    np.testing.assert_allclose(pixels(preprocess(as_float32, IDENTITY)), rgb, atol=1e-4)
    # grey as (H, W) and (H, W, 1): the same grey in every channel, or one channel for L
    grey_spec = spec(channels="L", mean=[0.0], std=[1.0])
    for a in (grey, grey[:, :, None]):
        np.testing.assert_array_equal(pixels(preprocess(a, IDENTITY)),
                                      np.repeat(grey[:, :, None], 3, -1))
        np.testing.assert_array_equal(pixels(preprocess(a, grey_spec))[:, :, 0], grey)
    # a non-contiguous view is fine
    wide = photo(16, 8)
    np.testing.assert_array_equal(pixels(preprocess(wide[:, ::2], IDENTITY)), wide[:, ::2])
    # RGBA: alpha 0 is white, alpha 255 is the colour itself
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:4] = (10, 20, 30, 255)
    rgba[4:] = (10, 20, 30, 0)
    out = pixels(preprocess(rgba, IDENTITY))
    np.testing.assert_array_equal(out[:4], np.broadcast_to([10, 20, 30], (4, 8, 3)))
    np.testing.assert_array_equal(out[4:], 255)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((8, 8, 2), np.uint8), "must be"),
    (np.zeros((2, 8, 8, 3), np.uint8), "must be"),
    (np.zeros((8, 8, 3), np.int16), "uint8"),
    (np.full((8, 8, 3), 255.0), r"\[0, 1\]"),
    (np.full((8, 8, 3), np.nan), r"\[0, 1\]"),
    (np.zeros((0, 8, 3), np.uint8), "empty"),
    (12345, "cannot read an image from a int"),
    ("definitely/not/here.jpg", "definitely/not/here.jpg: no such file"),
])
def test_bad_inputs_raise_image_error_naming_them(bad, message):
    with pytest.raises(ImageError, match=message):
        preprocess(bad, IDENTITY)


def test_open_image_decodes_and_returns_pixels_as_stored(png_path):
    img = open_image(png_path)
    assert img.size == (60, 45) and img.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(img), photo())
    pil = Image.new("L", (3, 2))
    assert open_image(pil) is pil


# -- pixel modes ---------------------------------------------------------------

def test_cmyk_jpeg_is_converted_to_rgb():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red
    out = pixels(preprocess(encode(cmyk, "JPEG", quality=95), spec(size=[16, 16])))
    np.testing.assert_allclose(out, np.broadcast_to([255, 0, 0], out.shape), atol=3)


def test_palette_images_with_and_without_transparency():
    p = Image.new("P", (8, 8), 1)
    p.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    p.putpixel((0, 0), 0)
    out = pixels(preprocess(encode(p, "PNG"), IDENTITY))
    np.testing.assert_array_equal(out[0, 0], [0, 0, 0])
    np.testing.assert_array_equal(out[4, 4], [200, 100, 50])
    out = pixels(preprocess(encode(p, "PNG", transparency=0), IDENTITY))
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])  # transparent -> white
    np.testing.assert_array_equal(out[4, 4], [200, 100, 50])
    gif = pixels(preprocess(encode(p, "GIF", transparency=0), IDENTITY))
    np.testing.assert_array_equal(gif[0, 0], [255, 255, 255])


def test_grey_and_grey_alpha():
    grey = Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8) * 4)
    out = pixels(preprocess(encode(grey, "PNG"), IDENTITY))
    np.testing.assert_array_equal(out, np.repeat(np.asarray(grey)[:, :, None], 3, -1))
    la = Image.merge("LA", [grey, Image.new("L", (8, 8), 0)])
    out = pixels(preprocess(encode(la, "PNG"), spec(channels="L", mean=[0.0], std=[1.0])))
    np.testing.assert_array_equal(out, 255)


def test_rgba_png_is_composited_over_white():
    a = np.zeros((8, 8, 4), np.uint8)
    a[..., :3] = (200, 0, 0)
    a[..., 3] = 128
    out = pixels(preprocess(encode(Image.fromarray(a), "PNG"), IDENTITY))
    # 200 * 128/255 + 255 * 127/255 = 227.4 ; 0 + 127 = 127
    np.testing.assert_allclose(out[0, 0], [227, 127, 127], atol=1)


def test_sixteen_bit_grey_png_maps_65535_to_white():
    values = np.array([[0, 257 * 128, 65535, 1000]], np.uint16).repeat(4, 0)
    png = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(png)).mode.startswith("I")
    out = pixels(preprocess(png, spec(size=[4, 4])))[:, :, 0]
    np.testing.assert_allclose(out[0], [0, 128, 255, 4], atol=1e-4)  # 1000 / 257 = 3.9
    # mode "I" (32-bit integers, what older Pillow gave for 16-bit PNG) follows the same rule
    img_i = Image.fromarray(values.astype(np.int32))
    assert img_i.mode == "I"
    out = pixels(preprocess(img_i, spec(size=[4, 4])))
    np.testing.assert_allclose(out[0, :, 0], [0, 128, 255, 4], atol=1e-4)


def test_sixteen_bit_rgb_png_keeps_the_high_byte():
    row = struct.pack(">HHH", 0xABCD, 0x1234, 0xFFFF) * 4
    out = pixels(preprocess(raw_png(4, 4, 16, 2, [row] * 4), spec(size=[4, 4])))
    np.testing.assert_allclose(out[0, 0], [0xAB, 0x12, 0xFF], atol=1)


def test_float_image_mode_holds_zero_to_one():
    img = Image.fromarray(np.full((8, 8), 0.5, np.float32))
    assert img.mode == "F"
    np.testing.assert_allclose(pixels(preprocess(img, IDENTITY)), 128, atol=1e-4)


# -- EXIF orientation and JPEG draft decoding --------------------------------------

def blocks_image(width, height):
    """Big flat colour blocks: survives JPEG, and shows any rotation or flip."""
    a = np.zeros((height, width, 3), np.uint8)
    a[: height // 2, : width // 2] = (255, 0, 0)
    a[: height // 2, width // 2:] = (0, 255, 0)
    a[height // 2:, : width // 2] = (0, 0, 255)
    a[height // 2:, width // 2:] = (255, 255, 255)
    return Image.fromarray(a)


# orientation -> what turns an upright picture into the stored one
# (the inverse of the transpose a viewer applies)
STORED = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
          8: Image.Transpose.ROTATE_270}


def exif_jpeg(upright, orientation, quality=95):
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = upright.transpose(STORED[orientation])
    return encode(stored, "JPEG", quality=quality, exif=exif.tobytes())


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_jpeg_comes_out_upright(orientation):
    upright = blocks_image(64, 32)
    s = spec(size=[32, 64])
    got = preprocess(exif_jpeg(upright, orientation), s)
    want = preprocess(np.asarray(upright), s)
    assert got.shape == (3, 32, 64)
    assert np.abs(got - want).mean() < 0.02, "the picture is not upright"


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_draft_mode_accounts_for_orientation(monkeypatch, orientation):
    # Upright 800x400; resize 100 -> 200x100, so the stored JPEG can be decoded
    # at 1/4 scale.  Had the rotation been ignored, the request would be
    # (200, 100) on a 400x800 picture: only 1/2 scale.
    upright = blocks_image(800, 400)
    if orientation == 1:
        data = encode(upright, "JPEG", quality=90)
    else:
        data = exif_jpeg(upright, orientation, 90)
    record = RecordResize(monkeypatch)
    out = preprocess(data, spec(size=[100, 100], resize=100, interpolation="bilinear"))
    assert record.sources == [(200, 100)]   # upright, 1/4 scale
    assert out.shape == (3, 100, 100)


def test_big_jpeg_is_decoded_in_draft_mode_and_close_to_a_full_decode(monkeypatch):
    big = Image.fromarray(photo(400, 300)).resize((1600, 1200), Image.Resampling.BICUBIC)
    data = encode(big, "JPEG", quality=92)
    s = dict(IMAGENET, size=[56, 56], resize=64)
    # decoded in full by Pillow, then given as an array: no draft
    full = preprocess(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), s)
    record = RecordResize(monkeypatch)
    fast = preprocess(data, s)
    # target 85x64 (shorter side 64): 1600 // 85 = 18, 1200 // 64 = 18 -> the 1/8 scale
    assert record.sources == [(200, 150)]
    assert np.abs(fast - full).mean() < 0.03 and np.abs(fast - full).max() < 0.5


def test_a_drafted_jpeg_resamples_only_its_centre_crop(monkeypatch):
    big = Image.fromarray(photo(400, 300)).resize((1600, 1200), Image.Resampling.BICUBIC)
    data = encode(big, "JPEG", quality=92)
    s = dict(IMAGENET, size=[56, 56], resize=64)
    sizes = []
    original = Image.Image.resize
    resize_image = predict.image.resize_image

    def resize(img, size, *args, **kw):
        sizes.append(tuple(size))
        return resize_image(img, size, *args, **kw)

    monkeypatch.setattr(predict.image, "resize_image", resize)
    fast = preprocess(data, s)
    assert sizes == [(56, 56)]   # the crop, not the 85x64 resize
    # the same drafted pixels resized whole, then centre-cropped
    drafted = Image.open(io.BytesIO(data))
    drafted.draft("RGB", (85, 64))
    whole = original(drafted.convert("RGB"), (85, 64), Image.Resampling.BILINEAR, reducing_gap=None)
    table = np.asarray(whole)[0:64, 14:70]
    top = (64 - 56) // 2
    expected = preprocess(np.ascontiguousarray(table[top:top + 56]), dict(s, resize=0))
    step = 1 / 255 / min(IMAGENET["std"]) + 1e-6
    assert np.abs(fast - expected).max() <= step          # at most one level apart
    assert (np.abs(fast - expected) > 1e-6).mean() < 0.02


def test_draft_picks_the_smallest_scale_that_still_covers(monkeypatch):
    data = encode(Image.fromarray(photo(600, 400)), "JPEG", quality=90)
    record = RecordResize(monkeypatch)
    preprocess(data, dict(IMAGENET, size=[128, 128], resize=150))   # target 225x150: 1/2
    preprocess(data, dict(IMAGENET, size=[128, 128], resize=201))   # 400 // 201 = 1: full size
    preprocess(data, spec(size=[100, 100]))                         # straight to 100x100: 1/4
    assert record.sources == [(300, 200), (600, 400), (150, 100)]


def test_a_callers_pil_image_is_never_drafted(tmp_path):
    path = tmp_path / "big.jpg"
    Image.fromarray(photo(800, 600)).save(path, quality=90)
    img = Image.open(path)
    preprocess(img, IMAGENET)
    assert img.size == (800, 600)


# -- broken, hostile and oversized files -----------------------------------------------

def test_broken_files_raise_image_error_naming_the_source(tmp_path, png_path):
    jpeg = encode(Image.fromarray(photo(256, 256)), "JPEG")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo at all\n" * 10)
    cut = tmp_path / "cut.png"
    cut.write_bytes(png_path.read_bytes()[:200])
    cases = [
        (b"", "empty"),
        (str(empty), "empty.jpg: empty"),
        (str(text), "notes.jpg: not an image"),
        (str(tmp_path), "is a directory"),
        (jpeg[: len(jpeg) // 2], "<[0-9]+ bytes>: cannot decode the image: image file is trunc"),
        (jpeg[:300], "cannot (read|decode)"),
        (str(cut), "cut.png: cannot decode"),
        (np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes(), "not an image"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not an image predict can decode"),
    ]
    for src, message in cases:
        with pytest.raises(ImageError, match=message):
            preprocess(src, IMAGENET)
        with pytest.raises(ImageError, match=message):
            open_image(src)


def test_images_above_max_pixels_are_refused_before_decoding(monkeypatch):
    data = encode(Image.fromarray(photo(60, 45)), "PNG")
    def load(self):
        pytest.fail("decoded a refused image")

    monkeypatch.setattr(Image.Image, "load", load)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", load)
    message = r"60x45 is 2,700 pixels, more than the limit of 2,000 \(max_pixels\)"
    with pytest.raises(ImageError, match=message):
        preprocess(data, IMAGENET, max_pixels=2000)
    with pytest.raises(ImageError, match="max_pixels"):
        open_image(data, max_pixels=2699)


def test_decompression_bombs_become_image_errors_without_pillow_warnings():
    # 10000 x 10000: above the default limit and Pillow's warning threshold
    warn_size = raw_png(10000, 10000, 8, 0)
    # 100000 x 100000: above Pillow's own hard limit too
    error_size = raw_png(100000, 100000, 8, 0)
    assert 10000 * 10000 > DEFAULT_MAX_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match="more than the limit"):
            preprocess(warn_size, IMAGENET)
        with pytest.raises(ImageError, match="decompression bomb"):
            preprocess(error_size, IMAGENET, max_pixels=None)
        with pytest.raises(ImageError):
            open_image(error_size)


# -- the numbers ------------------------------------------------------------------

def reference(path, resize, crop, mean, std, resample):
    """torchvision's Resize(resize) + CenterCrop(crop) + ToTensor + Normalize,
    written out with Pillow and numpy."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    if w <= h:
        size = (resize, int(resize * h / w))
    else:
        size = (int(resize * w / h), resize)
    img = img.resize(size, resample)
    a = np.asarray(img)
    top = int(round((a.shape[0] - crop) / 2.0))
    left = int(round((a.shape[1] - crop) / 2.0))
    a = a[top:top + crop, left:left + crop].astype(np.float32) / np.float32(255)
    a = (a - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return a.transpose(2, 0, 1)


@pytest.mark.parametrize("interpolation, resample", [
    ("bilinear", Image.Resampling.BILINEAR), ("bicubic", Image.Resampling.BICUBIC),
    ("nearest", Image.Resampling.NEAREST)])
def test_preprocess_matches_the_torchvision_pipeline_exactly(tmp_path, interpolation, resample):
    path = tmp_path / "tall.png"
    # portrait, odd sizes: exercises the rounding
    Image.fromarray(photo(45, 67, seed=3)).save(path)
    s = dict(IMAGENET, size=[31, 31], resize=37, interpolation=interpolation)
    want = reference(path, 37, 31, IMAGENET["mean"], IMAGENET["std"], resample)
    np.testing.assert_array_equal(preprocess(path, s), want)
    # BGR: the same planes reversed, with the mean and std given in B, G, R order
    bgr = dict(s, channels="BGR", mean=IMAGENET["mean"][::-1], std=IMAGENET["std"][::-1])
    np.testing.assert_array_equal(preprocess(path, bgr), want[::-1])


def test_resize_zero_goes_straight_to_size_and_grey_uses_pillow_luma():
    a = photo(50, 30)
    s = spec(size=[10, 20], interpolation="bicubic", channels="L", mean=[0.5], std=[0.25])
    want = np.asarray(Image.fromarray(a).convert("L").resize((20, 10), Image.Resampling.BICUBIC))
    want = (want.astype(np.float32) / np.float32(255) - np.float32(0.5)) / np.float32(0.25)
    np.testing.assert_array_equal(preprocess(a, s), want[None])


def test_centre_crop_rounds_like_torchvision_and_pads_small_images():
    a = np.arange(7 * 7, dtype=np.uint8).reshape(7, 7) * 5
    # resize 7 (a no-op), crop 4: (7 - 4) / 2 = 1.5 rounds to 2 (round half to even)
    out = pixels(preprocess(a, spec(size=[4, 4], resize=7)))[:, :, 0]
    np.testing.assert_array_equal(out, a[2:6, 2:6])
    # crop 9 from 7: zero padding of 1 on each side, as torchvision pads
    out = pixels(preprocess(a, spec(size=[9, 9], resize=7)))[:, :, 0]
    np.testing.assert_array_equal(out[1:8, 1:8], a)
    assert out[0].max() == 0 and out[:, 0].max() == 0


def test_preprocess_batch_stacks_samples():
    batch = preprocess_batch([photo(30, 20), photo(20, 30), photo(25, 25)], IMAGENET)
    assert batch.shape == (3, 3, 32, 32) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch[1], preprocess(photo(20, 30), IMAGENET))
    assert preprocess_batch([], IMAGENET).shape == (0, 3, 32, 32)
    with pytest.raises(ImageError, match="<5 bytes>"):
        preprocess_batch([photo(), b"junk!"], IMAGENET)


@pytest.mark.parametrize("change, message", [
    ({"size": [0, 4]}, "size"), ({"resize": -1}, "resize"),
    ({"interpolation": "lanczos"}, "interpolation"),
    ({"channels": "RGBA"}, "channels"), ({"scale": 0}, "scale"), ({"mean": [0.0]}, "mean"),
    ({"std": [1.0, 0.0, 1.0]}, "std"),
])
def test_bad_specs_raise_input_error(change, message):
    with pytest.raises(InputError, match=message):
        preprocess(photo(), dict(IDENTITY, **change))
    with pytest.raises(InputError, match="missing"):
        preprocess(photo(), {"size": [4, 4]})


def test_pathlib_and_relative_paths(png_path, monkeypatch):
    monkeypatch.chdir(png_path.parent)
    np.testing.assert_array_equal(preprocess(pathlib.Path("photo.png"), IMAGENET),
                                  preprocess("photo.png", IMAGENET))


def test_files_opened_by_path_are_closed_even_when_refused(png_path, monkeypatch):
    opened = []
    original = Image.open

    def record(*args, **kw):
        opened.append(original(*args, **kw))
        return opened[-1]

    monkeypatch.setattr(Image, "open", record)
    for path in (str(png_path), png_path):
        with pytest.raises(ImageError, match="max_pixels"):
            preprocess(path, IMAGENET, max_pixels=10)
        preprocess(path, IMAGENET)
    assert len(opened) == 4
    for img in opened:
        assert img.fp is None or img.fp.closed


@pytest.mark.parametrize("channels", ["RGB", "BGR", "L"])
def test_every_pixel_value_normalizes_exactly_as_the_float_arithmetic(channels):
    # preprocess looks normalized values up in a table: every one of the 256 values, in every
    # channel, must equal (v / scale - mean) / std computed in float32 pixel by pixel.
    n = 1 if channels == "L" else 3
    rng = np.random.default_rng(7)
    mean = [float(m) for m in rng.uniform(-1, 1, n)]
    std = [float(s) for s in rng.uniform(0.01, 3, n)]
    values = np.arange(256, dtype=np.uint8).reshape(16, 16)
    a = np.stack([np.roll(values, 37 * c) for c in range(n)], axis=-1)
    s = spec(size=[16, 16], resize=0, interpolation="nearest", channels=channels,
             scale=3.7, mean=mean, std=std)
    got = preprocess(a if n == 3 else a[:, :, 0], s)
    x = a.astype(np.float32)
    if channels == "BGR":
        x = x[:, :, ::-1]
    want = ((x / np.float32(3.7)) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    np.testing.assert_array_equal(got, want.transpose(2, 0, 1))
    assert got.dtype == np.float32 and got.flags.c_contiguous


# -- which decoders get loaded -------------------------------------------------------

@pytest.mark.parametrize("fmt", ["PNG", "GIF", "BMP", "TIFF", "PPM", "WEBP"])
def test_each_lossless_format_is_found_by_its_first_bytes(fmt):
    # GIF is paletted: compare with a picture of few colours so it round-trips exactly
    picture = Image.fromarray(photo() // 64 * 64)
    expected = preprocess(encode(picture, "PNG"), IMAGENET)
    kw = {"lossless": True} if fmt == "WEBP" else {}
    if fmt == "WEBP" and "WEBP" not in Image.registered_extensions().values():
        pytest.importorskip("PIL.WebPImagePlugin")
    np.testing.assert_array_equal(preprocess(encode(picture, fmt, **kw), IMAGENET), expected)


def test_misleading_first_bytes_get_the_same_error_as_without_sniffing():
    class NoSeek:  # cannot be sniffed: every decoded format is offered, as before sniffing
        def __init__(self, data):
            self._f = io.BytesIO(data)

        def read(self, n=-1):
            return self._f.read(n)

    for data in (b"BM" + bytes(200), b"GIF89a" + bytes(50), b"P7" + bytes(40),
                 b"II*\x00" + bytes(30), b"\x89PNG\r\n\x1a\n" + bytes(30)):
        with pytest.raises(ImageError) as sniffed:
            preprocess(data, IMAGENET)
        with pytest.raises(ImageError) as unsniffed:
            preprocess(NoSeek(data), IMAGENET)
        assert str(sniffed.value).split(": ", 1)[1] == str(unsniffed.value).split(": ", 1)[1]


def test_a_jpeg_only_process_loads_no_other_decoder(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "photo.jpg"
    Image.fromarray(photo()).save(path)
    code = ("import sys; from predict.image import preprocess; "
            f"preprocess({str(path)!r}, {IMAGENET!r}); "
            "print(' '.join(m for m in sys.modules if m.startswith('PIL.') and m.endswith('Plugin')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=pathlib.Path(__file__).resolve().parent.parent).stdout
    # not even Pillow's "preinit" five (PNG's plugin alone brings fractions and decimal)
    assert out.split() == ["PIL.JpegImagePlugin"], out
