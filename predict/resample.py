"""Pillow's ``Image.resize`` for 8-bit photos, computed by the C core's SIMD kernels.

``resample_u8`` gives exactly the bytes of ``Image.resize(size, filter, box=box,
reducing_gap=None)`` on an "L" or "RGB" image for Pillow's convolution filters (box,
bilinear, hamming, bicubic, lanczos): the same windows and double-precision weights, the
same 22-bit fixed point, the same two passes (native/src/resample.c). Pillow's resampling
is scalar C; the core's runs with the kernel family ``predict._native.isa()`` names (AVX2
and up on x86; ``PREDICT_ISA`` forces one), every family giving the same bytes. Photo
preprocessing (``predict.image``) resizes with it. Nearest-neighbour and other modes stay
with Pillow.

Like ``predict.checksum``, this module talks to ``predict._core`` directly; the arguments
are checked here, and the C call releases the GIL.

    >>> import numpy as np
    >>> from PIL import Image
    >>> img = Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3))
    >>> ours = resample_u8(img.tobytes(), 4, 4, 3, 3, (3, 2), "bilinear")
    >>> bool((ours == np.asarray(img.resize((3, 2), Image.Resampling.BILINEAR))).all())
    True
"""

import math
from array import array

import numpy as np
import PIL
from PIL import Image

from predict._core import ffi, lib
from predict.errors import InputError, NativeError
from predict.forksafe import ForkSafeLock
from predict.pillow_memory import pixel_view

__all__ = ["FILTERS", "MAX_OUTPUT_BYTES", "resample_u8", "resize_image"]

# Pillow's filter names (Image.Resampling members, lower case) -> the core's.
FILTERS = {
    "box": lib.PD_RESAMPLE_BOX,
    "bilinear": lib.PD_RESAMPLE_BILINEAR,
    "hamming": lib.PD_RESAMPLE_HAMMING,
    "bicubic": lib.PD_RESAMPLE_BICUBIC,
    "lanczos": lib.PD_RESAMPLE_LANCZOS,
}
# The largest image resample_u8 makes (the core indexes a row with int32).
MAX_OUTPUT_BYTES = 2**31 - 1
_ERR_SIZE = 256


def _positive_int(value, what):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise InputError(f"resample: {what} must be an integer, got {value!r}")
    if not 1 <= int(value) <= MAX_OUTPUT_BYTES:
        raise InputError(f"resample: {what} must be in [1, {MAX_OUTPUT_BYTES}], got {value}")
    return int(value)


def _float32_box(box, width, height):
    """The box as the four float32 values Pillow's C code compares and uses."""
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        raise InputError(f"resample: box must be 4 numbers (left, top, right, bottom), got {box!r}") from None
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise InputError(f"resample: box must be 4 finite numbers (left, top, right, bottom), got {box!r}")
    left, top, right, bottom = array("f", values)   # rounded as numpy's float32 rounds
    if not (0 <= left < right <= width and 0 <= top < bottom <= height):
        raise InputError(f"resample: box {tuple(values)} is not a non-empty region of the"
                         f" {width}x{height} image")
    return [float(left), float(top), float(right), float(bottom)]


def resample_u8(pixels, width, height, pixel_bytes, channels, size, filter, box=None, *,
                vertical_first=False):
    """Resizes 8-bit pixels like Pillow's ``Image.resize(size, filter, box=box,
    reducing_gap=None)``; returns a new uint8 array ``(size[1], size[0], channels)``.

    ``pixels`` is a bytes-like object (bytes, a C-contiguous numpy array ...) holding
    ``height`` rows of ``width`` pixels of ``pixel_bytes`` bytes whose first ``channels``
    bytes are the colour: 1 and 1 for "L", 3 and 3 for "RGB" (``np.asarray(img)``), 4 and 3
    for Pillow's "RGBX" raw layout (``img.tobytes("raw", "RGBX")``, the cheapest way out of
    a Pillow RGB image). ``size`` is (width, height); ``filter`` one of ``FILTERS``;
    ``box`` (left, top, right, bottom) the source region, the whole image by default.
    ``vertical_first`` runs the vertical pass first, as Pillow 13 does for some geometries
    (``resize_image`` follows the installed Pillow's rule).
    Raises InputError for anything malformed (and NativeError if ``PREDICT_ISA`` names a
    kernel family this CPU lacks).

    >>> resample_u8(bytes(range(6)), 6, 1, 1, 1, (3, 1), "box").tolist()
    [[[1], [3], [5]]]
    """
    if channels not in (1, 3) or not (pixel_bytes == channels or (channels == 3 and pixel_bytes == 4)):
        raise InputError(f"resample: {channels} channels in pixels of {pixel_bytes} bytes;"
                         " expected 1 in 1 (L), 3 in 3 (RGB) or 3 in 4 (RGBX)")
    if filter not in FILTERS:
        raise InputError(f"resample: unknown filter {filter!r}; expected one of {', '.join(FILTERS)}")
    width, height = _positive_int(width, "width"), _positive_int(height, "height")
    try:
        out_w, out_h = size
    except (TypeError, ValueError):
        raise InputError(f"resample: size must be (width, height), got {size!r}") from None
    out_w, out_h = _positive_int(out_w, "output width"), _positive_int(out_h, "output height")
    if out_w * out_h * channels > MAX_OUTPUT_BYTES:
        raise InputError(f"resample: a {out_w}x{out_h} output is more than {MAX_OUTPUT_BYTES} bytes")
    box = _float32_box((0, 0, width, height) if box is None else box, width, height)
    out = np.empty((out_h, out_w, channels), np.uint8)
    err = ffi.new("char[]", _ERR_SIZE)
    with ffi.from_buffer("uint8_t[]", pixels) as src, \
            ffi.from_buffer("uint8_t[]", out, require_writable=True) as dst:
        if len(src) != width * height * pixel_bytes:
            raise InputError(f"resample: {len(src)} bytes of pixels, expected {width}x{height}"
                             f" pixels of {pixel_bytes} bytes ({width * height * pixel_bytes})")
        status = lib.pd_resample_u8(src, width, height, width * pixel_bytes, pixel_bytes, channels,
                                    FILTERS[filter], box, 1 if vertical_first else 0, dst, out_w,
                                    out_h, out_w * channels,
                                    err, _ERR_SIZE)
    if status != lib.PD_OK:
        name = ffi.string(lib.pd_status_name(status)).decode()
        raise NativeError(f"{ffi.string(err).decode('utf-8', 'replace')} ({name})", status=name)
    return out


# Pillow's filter constants -> FILTERS names.
_PILLOW_FILTERS = {
    Image.Resampling.BOX: "box",
    Image.Resampling.BILINEAR: "bilinear",
    Image.Resampling.HAMMING: "hamming",
    Image.Resampling.BICUBIC: "bicubic",
    Image.Resampling.LANCZOS: "lanczos",
}


def _rows_first(in_w, in_h, out_w, out_h):
    """Pillow 13's pass order (python-pillow PR #9549, "if height is scaled down
    significantly more than width, resize vertically first"): the vertical pass first
    when the image loses more than twice as many rows as columns. Found by probing
    Pillow 13.0.0 (thresholds over thousands of geometries, boxes included: the image's
    size counts, not the box's) and checked against it by tests/test_resample.py."""
    return out_h < in_h and in_h - out_h > 2 * (in_w - out_w)


def _columns_first(in_w, in_h, out_w, out_h):
    """Pillow up to 12: always the horizontal pass first."""
    return False


# Geometries (width, height, size, box) whose two pass orders tell the rules apart.
_PROBES = [
    (40, 60, (30, 20), None),          # 40 rows lost > 2 x 10 columns: vertical first in 13
    (60, 40, (30, 30), None),          # 10 > 2 x 30: no
    (30, 50, (25, 40), None),          # 10 > 2 x 5: no (the boundary)
    (30, 50, (26, 40), None),          # 10 > 2 x 4: yes
    (40, 60, (50, 70), None),          # enlarged height: no
    (60, 40, (30, 30), (0, 0, 33, 40)),  # the image's width counts, not the box's: no
]
_RULE = []   # [the rule the installed Pillow follows, or None], once found
_RULE_LOCK = ForkSafeLock()


def _noise(height, width):
    """Deterministic pseudo-random bytes, height rows of width: the top byte of Knuth's
    multiplicative hash of each index. Plain Python: not numpy.random, whose import brings
    hashlib and OpenSSL into a process that classifies (tests/test_checksum.py), nor numpy
    arithmetic, whose loops would be paged in for this alone."""
    return bytes((i * 2654435761 % 2**32) >> 24 for i in range(height * width))


def _known_rule(version):
    """The rule of a Pillow release line whose order is known (Pillow's own resampling
    code: the horizontal pass always first up to 12; 13.0 is the release probed to find
    _rows_first), or None for a newer one, which is probed. tests/test_resample.py checks
    the installed Pillow against both this and the probes."""
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        return None
    if major < 13:
        return _columns_first
    return _rows_first if (major, minor) == (13, 0) else None


def _probed_rule():
    """The rule the installed Pillow follows on the probes (_rows_first or _columns_first),
    or None when it follows neither: pseudo-random pixels, where the wrong order shows up
    as different bytes."""
    candidates = [_rows_first, _columns_first]
    for width, height, size, box in _PROBES:
        noise = _noise(height, width)
        want = Image.frombytes("L", (width, height), noise).resize(
            size, Image.Resampling.BILINEAR, box=box, reducing_gap=None).tobytes()
        candidates = [
            rule for rule in candidates
            if want == resample_u8(noise, width, height, 1, 1, size, "bilinear", box,
                                   vertical_first=rule(width, height, *size)).tobytes()]
    return candidates[0] if candidates else None


def _pass_rule():
    """The pass-order rule of the installed Pillow (_rows_first or _columns_first), or
    None when it follows neither (resize_image then leaves everything to Pillow), once
    per process: a release line whose rule is known needs no probe (the probes page
    Pillow's own resampling code, ~160 KB, into a process that classifies one photo);
    any other is probed."""
    with _RULE_LOCK:
        if not _RULE:
            known = _known_rule(PIL.__version__)
            _RULE.append(known if known is not None else _probed_rule())
        return _RULE[0]


def _f32(x):
    """x rounded to float32, as Pillow's C code holds a box coordinate difference."""
    return array("f", (x,))[0]


def resize_image(img, size, resample, box=None):
    """``np.asarray(img.resize(size, resample, box=box, reducing_gap=None))``, the same
    bytes, computed by the core for "L" and "RGB" images with a convolution filter and
    by Pillow otherwise (other modes, NEAREST, and the crops Pillow does without
    resampling).

    >>> img = Image.fromarray(np.arange(64 * 48, dtype=np.uint32).reshape(48, 64).astype(np.uint8))
    >>> a = resize_image(img, (40, 30), Image.Resampling.BILINEAR)
    >>> bool((a == np.asarray(img.resize((40, 30), Image.Resampling.BILINEAR))).all())
    True
    """
    filter = _PILLOW_FILTERS.get(resample)
    if filter is None or img.mode not in ("L", "RGB"):
        return np.asarray(img.resize(size, resample, box=box, reducing_gap=None))
    width, height = img.size
    out_w, out_h = size
    box = _float32_box((0, 0, width, height) if box is None else box, width, height)
    left, top, right, bottom = box
    if (left == int(left) and _f32(right - left) == out_w and top == int(top)
            and _f32(bottom - top) == out_h):
        # Pillow crops (or copies) here rather than resampling
        return np.asarray(img.resize(size, resample, box=box, reducing_gap=None))
    rule = _pass_rule()
    if rule is None:
        return np.asarray(img.resize(size, resample, box=box, reducing_gap=None))
    vertical_first = rule(width, height, out_w, out_h)
    channels = 3 if img.mode == "RGB" else 1
    view = pixel_view(img)   # Pillow's memory in place: RGB as 4 bytes a pixel
    if view is not None:
        pixels, pixel_bytes = view.pixels, view.pixel_bytes
    elif channels == 3:
        # "RGBX" copies Pillow's 4 bytes a pixel without repacking them
        pixels, pixel_bytes = img.tobytes("raw", "RGBX"), 4
    else:
        pixels, pixel_bytes = img.tobytes(), 1
    out = resample_u8(pixels, width, height, pixel_bytes, channels, size, filter, box,
                      vertical_first=vertical_first)
    del view   # after the call: the view holds the memory it points into
    return out if channels == 3 else out[:, :, 0]
