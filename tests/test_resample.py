"""Pillow-exact resampling of 8-bit images (predict.resample, native/src/resample.c) against
Pillow itself, for every kernel family this CPU runs (forced with PREDICT_ISA): random sizes,
up- and down-scaling, integral and fractional boxes, L, RGB and RGBX input, every filter.
Pillow 13 runs the vertical pass first for some geometries: every random case must match in
the order of the installed Pillow's rule (resample._pass_rule), and both orders must occur. The
families also agree with each other byte for byte on larger images."""

import numpy as np
import PIL
import pytest
from PIL import Image

from predict import _native, resample
from predict.errors import InputError, NativeError
from predict.resample import FILTERS, resample_u8, resize_image

FAMILIES = ["ref", "avx2", "avx512", "neon", "neondot"]
RUNNABLE = _native.runnable_isas()
PILLOW = {"box": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR,
          "hamming": Image.Resampling.HAMMING, "bicubic": Image.Resampling.BICUBIC,
          "lanczos": Image.Resampling.LANCZOS}


@pytest.fixture(params=FAMILIES)
def isa(request, monkeypatch):
    if request.param not in RUNNABLE:
        pytest.skip(f"this CPU or build cannot run {request.param}")
    monkeypatch.setenv("PREDICT_ISA", request.param)
    return request.param


def image(rng, w, h, channels, smooth=False):
    a = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    if smooth:   # photo-like: neighbours close, so rounding ties and clamping show up too
        a = np.cumsum(a.astype(np.int64), axis=1) // np.arange(1, w + 1)[None, :, None]
        a = a.astype(np.uint8)
    return Image.fromarray(a[:, :, 0] if channels == 1 else a)


def pixels(img, pixel_bytes):
    return img.tobytes("raw", "RGBX") if pixel_bytes == 4 else img.tobytes()


def random_box(rng, w, h):
    left, top = rng.random() * w * 0.6, rng.random() * h * 0.6
    right = left + (w - left) * (0.05 + 0.95 * rng.random())
    bottom = top + (h - top) * (0.05 + 0.95 * rng.random())
    if rng.random() < 0.3:
        left, top = int(left), int(top)
        right, bottom = max(int(right), left + 1), max(int(bottom), top + 1)
    return (left, top, right, bottom)


def pillow(img, size, filter, box=None):
    out = np.asarray(img.resize(size, PILLOW[filter], box=box, reducing_gap=None))
    return out.reshape(size[1], size[0], -1)


def describe(w, h, size, channels, pixel_bytes, filter, box):
    return f"{w}x{h} -> {size}, {channels} channels in {pixel_bytes} bytes, {filter}, box {box}"


def test_the_installed_pillow_follows_a_known_pass_order():
    assert resample._pass_rule() in (resample._rows_first, resample._columns_first)


def test_the_probes_agree_with_the_rule_known_for_this_pillow_version():
    """_pass_rule skips the probes for a release line whose rule it knows: that knowledge
    is checked here, against the installed Pillow (12 and older, and 13.0)."""
    probed = resample._probed_rule()
    assert probed in (resample._rows_first, resample._columns_first)
    known = resample._known_rule(PIL.__version__)
    assert known is None or known is probed
    assert resample._pass_rule() is probed


def test_known_rules_by_version():
    assert resample._known_rule("9.4.0") is resample._columns_first
    assert resample._known_rule("12.1.1") is resample._columns_first
    assert resample._known_rule("13.0.0") is resample._rows_first
    assert resample._known_rule("13.1.0") is None
    assert resample._known_rule("14.0.0.dev0") is None
    assert resample._known_rule("not a version") is None


def test_every_probe_tells_the_pass_orders_apart():
    """Otherwise a probe could not catch a Pillow whose rule differs there."""
    for w, h, size, box in resample._PROBES:
        noise = resample._noise(h, w)
        first = resample_u8(noise, w, h, 1, 1, size, "bilinear", box)
        assert not np.array_equal(
            first, resample_u8(noise, w, h, 1, 1, size, "bilinear", box, vertical_first=True))


def test_random_geometries_match_pillow_in_its_pass_order(isa):
    rule = resample._pass_rule()
    rng = np.random.default_rng(1)
    orders = set()
    for _ in range(400):
        w, h = (int(v) for v in rng.integers(1, 70, 2))
        size = tuple(int(v) for v in rng.integers(1, 90, 2))
        channels = int(rng.choice([1, 3]))
        pixel_bytes = int(rng.choice([3, 4])) if channels == 3 else 1
        filter = str(rng.choice(list(FILTERS)))
        img = image(rng, w, h, channels, smooth=rng.random() < 0.5)
        box = random_box(rng, w, h) if rng.random() < 0.6 else None
        want = pillow(img, size, filter, box)
        order = rule(w, h, *size)
        got = resample_u8(pixels(img, pixel_bytes), w, h, pixel_bytes, channels, size, filter,
                          box, vertical_first=order)
        assert np.array_equal(got, want), describe(w, h, size, channels, pixel_bytes, filter, box)
        orders.add(order)
    if rule is resample._rows_first:
        assert orders == {False, True}


@pytest.mark.parametrize("filter", list(FILTERS))
def test_one_pass_geometries_match_pillow_outright(isa, filter):
    """Only one axis resampled (the other keeps its size and a box edge-to-edge):
    there is no order to choose, so both orders must give Pillow's bytes."""
    rng = np.random.default_rng(2)
    for w, h, size in [(37, 5, (13, 5)), (5, 37, (5, 90)), (64, 33, (200, 33)), (33, 64, (33, 7)),
                       (300, 2, (3, 2)), (2, 300, (2, 3)), (17, 17, (16, 17)), (16, 9, (16, 31))]:
        for channels, pixel_bytes in [(1, 1), (3, 3), (3, 4)]:
            img = image(rng, w, h, channels)
            want = pillow(img, size, filter)
            for order in (False, True):
                got = resample_u8(pixels(img, pixel_bytes), w, h, pixel_bytes, channels, size,
                                  filter, vertical_first=order)
                assert np.array_equal(got, want), describe(w, h, size, channels, pixel_bytes,
                                                           filter, order)


def test_rgbx_without_resampling_is_a_copy(isa):
    img = image(np.random.default_rng(3), 29, 11, 3)
    got = resample_u8(pixels(img, 4), 29, 11, 4, 3, (29, 11), "bicubic")
    assert np.array_equal(got, np.asarray(img))


# Photo geometries: the preprocessing of a 2-megapixel JPEG drafted to 408x306 (resize 256,
# crop 224, the whole image or only the crop's box), strong reductions (many taps) and
# enlargements (Lanczos' 6+ taps), rows just around the SIMD widths.
PHOTO = [
    ((408, 306), (341, 256), None),
    ((408, 306), (224, 224), (14 * 408 / 341, 16 * 306 / 256, 238 * 408 / 341, 240 * 306 / 256)),
    ((306, 408), (256, 341), None),
    ((1632, 1224), (341, 256), None),
    ((200, 150), (85, 64), None),
    ((57, 43), (224, 224), None),
    ((33, 31), (31, 33), (0.5, 0.25, 32.75, 30.5)),
    ((120, 90), (17, 95), (3.3, 0, 117.9, 90)),
]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("filter", list(FILTERS))
def test_resize_image_gives_pillows_bytes(isa, channels, filter):
    rng = np.random.default_rng(4)
    for in_size, size, box in PHOTO:
        img = image(rng, *in_size, channels, smooth=True)
        want = np.asarray(img.resize(size, PILLOW[filter], box=box, reducing_gap=None))
        got = resize_image(img, size, PILLOW[filter], box)
        assert got.dtype == np.uint8 and got.shape == want.shape
        assert np.array_equal(got, want), (in_size, size, box, filter)


def test_resize_image_resamples_with_the_core(monkeypatch):
    resample._pass_rule()
    calls = []
    original = resample.resample_u8
    monkeypatch.setattr(resample, "resample_u8", lambda *a, **k: calls.append(a) or original(*a, **k))
    rng = np.random.default_rng(9)
    for in_size, size, box in PHOTO:
        img = image(rng, *in_size, 3)
        resize_image(img, size, Image.Resampling.BILINEAR, box)
    assert len(calls) == len(PHOTO)


def test_resize_image_leaves_the_rest_to_pillow(monkeypatch):
    calls = []
    monkeypatch.setattr(resample, "resample_u8", lambda *a, **k: calls.append(a))
    rng = np.random.default_rng(5)
    rgba = Image.fromarray(rng.integers(0, 256, (50, 60, 4), dtype=np.uint8))
    rgb = image(rng, 60, 50, 3)
    cases = [(rgba, (40, 30), Image.Resampling.BILINEAR, None),     # another mode
             (rgb, (40, 30), Image.Resampling.NEAREST, None),       # nearest
             (rgb, (40, 40), Image.Resampling.BICUBIC, (5, 6, 45, 46))]  # Pillow crops
    for img, size, filter, box in cases:
        want = np.asarray(img.resize(size, filter, box=box, reducing_gap=None))
        assert np.array_equal(resize_image(img, size, filter, box), want)
    assert calls == []


@pytest.mark.parametrize("other", [f for f in FAMILIES if f != "ref"])
def test_every_family_gives_the_references_bytes(monkeypatch, other):
    """Larger images than against Pillow: long rows, SIMD tails, many taps, both orders."""
    if other not in RUNNABLE:
        pytest.skip(f"this CPU or build cannot run {other}")
    rng = np.random.default_rng(7)
    for w, h, size, box in [(408, 306, (224, 224), (14.3, 16.1, 282.2, 285.8)),
                            (1001, 77, (99, 513), None), (77, 1001, (513, 99), None),
                            (35, 33, (301, 297), (0.5, 0.5, 34.5, 32.5)), (640, 480, (7, 5), None)]:
        for channels, pixel_bytes in [(1, 1), (3, 3), (3, 4)]:
            data = pixels(image(rng, w, h, channels, smooth=True), pixel_bytes)
            for filter in FILTERS:
                for order in (False, True):
                    args = (data, w, h, pixel_bytes, channels, size, filter, box)
                    monkeypatch.setenv("PREDICT_ISA", "ref")
                    want = resample_u8(*args, vertical_first=order)
                    monkeypatch.setenv("PREDICT_ISA", other)
                    got = resample_u8(*args, vertical_first=order)
                    assert np.array_equal(got, want), (w, h, size, box, channels, pixel_bytes,
                                                       filter, order)


# -- hostile arguments: refused in Python with InputError, before the core ---------------

GOOD = dict(pixels=bytes(12 * 10 * 3), width=12, height=10, pixel_bytes=3, channels=3,
            size=(6, 5), filter="bilinear", box=None)


@pytest.mark.parametrize("change, message", [
    (dict(size=(0, 5)), "output width"),
    (dict(size=(6, -1)), "output height"),
    (dict(size=(2**31, 1)), "output width"),
    (dict(size=(2**20, 2**20)), "more than"),
    (dict(size=(6.0, 5)), "integer"),
    (dict(size=(6,)), "size must be"),
    (dict(size=None), "size must be"),
    (dict(width=0), "width"),
    (dict(height=-3), "height"),
    (dict(width=True), "integer"),
    (dict(width=13), "bytes of pixels"),
    (dict(pixels=bytes(5)), "bytes of pixels"),
    (dict(channels=2, pixel_bytes=2), "channels"),
    (dict(channels=1, pixel_bytes=3), "channels"),
    (dict(channels=3, pixel_bytes=5), "channels"),
    (dict(filter="nearest"), "unknown filter"),
    (dict(filter=2), "unknown filter"),
    (dict(box=(-0.5, 0, 12, 10)), "not a non-empty region"),
    (dict(box=(0, 0, 12.5, 10)), "not a non-empty region"),
    (dict(box=(0, 0, 12, 10.001)), "not a non-empty region"),
    (dict(box=(3, 0, 3, 10)), "not a non-empty region"),
    (dict(box=(4, 0, 3, 10)), "not a non-empty region"),
    (dict(box=(0, 0, float("nan"), 10)), "finite"),
    (dict(box=(0, 0, float("inf"), 10)), "finite"),
    (dict(box=(0, 0, 12)), "4 finite numbers"),
    (dict(box="abcd"), "4 numbers"),
])
def test_bad_arguments_are_refused_before_the_core(change, message):
    args = dict(GOOD, **change)
    with pytest.raises(InputError, match=message):
        resample_u8(**args)


def test_a_read_only_or_odd_buffer_is_read_not_copied():
    img = image(np.random.default_rng(8), 12, 10, 3)
    a = np.asarray(img)          # read-only numpy view
    assert not a.flags.writeable
    got = resample_u8(a, 12, 10, 3, 3, (7, 4), "hamming")
    assert np.array_equal(got, pillow(img, (7, 4), "hamming"))
    got = resample_u8(memoryview(img.tobytes()), 12, 10, 3, 3, (7, 4), "hamming")
    assert np.array_equal(got, pillow(img, (7, 4), "hamming"))


def test_an_unknown_isa_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PREDICT_ISA", "sse1")
    with pytest.raises(NativeError, match="PREDICT_ISA=sse1"):
        resample_u8(**GOOD)
