"""Photos in, input tensors out: safe decoding and the preprocessing of a .pnet model.

Everything that turns a photo into a network input lives here, so that the one
place that decides how pixels are read also decides every error message about
them.  Two functions matter:

``open_image(src)``
    decodes a photo from a path, bytes, a file object, a PIL image or a numpy
    array, refusing decompression bombs before decoding a single pixel.
``preprocess(src, spec)``
    does what the model's ``preprocess`` header says (docs/format.md): EXIF
    orientation, colour channels, resize, centre crop, scale, mean and std,
    giving one float32 ``[C, H, W]`` sample.  It matches the usual
    torchvision/PIL pipeline (``Resize(256)``, ``CenterCrop(224)``,
    ``ToTensor()``, ``Normalize(mean, std)``), except that a JPEG much larger
    than the target is decoded at a reduced scale (JPEG "draft" mode), which
    is several times faster and changes the result very little.

Choices a caller should know about:

- numpy arrays are images in height-width-channel order: ``(H, W)`` or
  ``(H, W, 1)`` grey, ``(H, W, 3)`` RGB, ``(H, W, 4)`` RGBA.  ``uint8`` arrays
  hold 0-255; float arrays hold 0.0-1.0 (values outside are refused, since
  they almost always mean a 0-255 array that was cast to float).
- Transparent images are composited over white.
- 16-bit grey images (Pillow modes ``I;16*`` and ``I``) are mapped to 8 bits
  by dividing by 257, so that 65535 is white; float images (mode ``F``) are
  taken to hold 0.0-1.0, like float arrays.
- Only common photo formats are decoded (``DECODED_FORMATS``).  Pillow knows
  many more, some of which it hands to external programs (EPS runs
  Ghostscript); a photo pipeline has no use for them.
"""

import importlib
import io
import os
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from predict.errors import ImageError, InputError, PredictError
from predict.forksafe import ForkSafeLock
from predict.resample import resize_image

__all__ = [
    "DECODED_FORMATS",
    "DEFAULT_MAX_PIXELS",
    "open_image",
    "normalize",
    "pixel_table",
    "preprocess",
    "preprocess_batch",
    "preprocess_pixels",
]

# Pillow's own default limit (1024**3 // 4 // 3 pixels, ~89.5 MP): enough for
# any camera photo, and at 4 bytes a pixel about 358 MB once decoded.
DEFAULT_MAX_PIXELS = 89_478_485

# In the order Pillow should try them (most likely first).  AVIF only where
# this Pillow build has it; see _decodable_formats().
DECODED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "GIF", "BMP", "TIFF", "PPM", "AVIF")

_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}

# EXIF orientation -> the transpose that turns the stored pixels upright
# (the same table as PIL.ImageOps.exif_transpose).  5 to 8 swap width and height.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION = 0x0112

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")

# warnings.catch_warnings swaps a process-wide filter list; two threads doing it
# at once can restore each other's state.  Our own uses take turns (the
# guarded call only parses a header, so the wait is short).
_WARNINGS_LOCK = ForkSafeLock()


# The Pillow plugins that register DECODED_FORMATS.  Importing only these, not
# every plugin as Image.init() does, keeps about 2 MB of code out of memory:
# peak memory is a budget on a 1 GB board.
_PLUGINS = ("Jpeg", "Mpo", "Png", "WebP", "Gif", "Bmp", "Tiff", "Ppm", "Avif")
_formats = None

# First bytes -> the one plugin that decodes them.  A process that only ever sees
# JPEGs then never loads the MPO, TIFF, WebP and AVIF plugins and their codec
# libraries (1.3 MB per process).  MPO files start like JPEGs; Pillow's JPEG
# plugin hands them to its MPO plugin itself.
_SIGNATURES = (
    (b"\xff\xd8\xff", "Jpeg"),
    (b"\x89PNG\r\n\x1a\n", "Png"),
    (b"GIF87a", "Gif"),
    (b"GIF89a", "Gif"),
    (b"BM", "Bmp"),
    (b"II*\x00", "Tiff"),
    (b"MM\x00*", "Tiff"),
    (b"II+\x00", "Tiff"),
    (b"MM\x00+", "Tiff"),
)
_HEAD_BYTES = 16


def _import_plugin(plugin):
    try:
        importlib.import_module(f"PIL.{plugin}ImagePlugin")
    except ImportError:  # an older Pillow, or one built without that codec
        pass


def _decodable_formats():
    """Every format predict decodes that this Pillow has (imports all their plugins)."""
    global _formats
    if _formats is None:
        Image.preinit()
        for plugin in _PLUGINS:
            _import_plugin(plugin)
        # Image.open calls Image.init() (every plugin) when asked for a format nobody
        # registered, so only the registered ones are asked for.
        _formats = [f for f in DECODED_FORMATS if f in Image.OPEN]
    return _formats


def _plugin_for(head):
    """The plugin that decodes a file starting with ``head``, or None when unsure."""
    for magic, plugin in _SIGNATURES:
        if head.startswith(magic):
            return plugin
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if len(head) >= 2 and head[:1] == b"P" and head[1:2] in b"123456fF":
        return "Ppm"
    return None


def _formats_for(head):
    """The formats to offer Image.open for a file starting with ``head``.

    Only the sniffed format's plugin is imported when the first bytes say
    which it is; anything else gets every decoded format, so Pillow decides
    exactly as it would have (and unknown files get the same error).
    """
    plugin = _plugin_for(head) if head is not None else None
    if plugin is None or _formats is not None:
        return _decodable_formats()
    # not Image.preinit(): its five plugins bring subprocess, fractions and decimal along
    _import_plugin(plugin)
    registered = [f for f in DECODED_FORMATS if f in Image.OPEN]
    return registered or _decodable_formats()


def _head(fp):
    """The first bytes of a path or seekable file object (None when unreadable here;
    Image.open then reports the problem)."""
    try:
        if isinstance(fp, str):
            with open(fp, "rb") as f:
                return f.read(_HEAD_BYTES)
        pos = fp.tell()
        head = fp.read(_HEAD_BYTES)
        fp.seek(pos)
        return head if isinstance(head, bytes) else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def _describe(src):
    """A short name for a photo, for error messages."""
    if isinstance(src, (str, os.PathLike)):
        return os.fsdecode(src)
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"<{memoryview(src).nbytes} bytes>"
    if isinstance(src, Image.Image):
        return f"<PIL image {src.width}x{src.height} {src.mode}>"
    if isinstance(src, np.ndarray):
        return f"<array {src.shape} {src.dtype}>"
    name = getattr(src, "name", None)
    return name if isinstance(name, str) else f"<{type(src).__name__}>"


def _from_array(a, name):
    """Turns an HWC numpy image (see the module docstring) into a PIL image."""
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise ImageError(
            f"{name}: an array image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)"
            f" (height, width, channels), got shape {a.shape}"
        )
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError(f"{name}: the image is empty")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or a.min() < 0.0 or a.max() > 1.0:
            raise ImageError(
                f"{name}: a float array image must hold values in [0, 1]"
                " (use uint8 for 0-255 pixels)"
            )
        a = np.rint(a * 255.0).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ImageError(
            f"{name}: an array image must be uint8 (0-255) or float (0-1), not {a.dtype}")
    # uint8 (H, W), (H, W, 3), (H, W, 4): modes L, RGB, RGBA
    return Image.fromarray(np.ascontiguousarray(a))


def _open_lazy(src, max_pixels):
    """Identifies a photo without decoding it: returns (image, name, close).

    ``close`` is None for a PIL image given by the caller, which is used as
    it is and never modified.  Otherwise we made the image, may change how
    it decodes (draft mode), and call ``close()`` when done with it; that
    never closes a caller's file object (Pillow's Image.close would).
    """
    name = _describe(src)
    if isinstance(src, Image.Image):
        return src, name, None
    if isinstance(src, np.ndarray):
        img = _from_array(src, name)
        return img, name, img.close
    callers_file = False
    if isinstance(src, (str, os.PathLike)):
        fp = os.fspath(src)
    elif isinstance(src, (bytes, bytearray, memoryview)):
        data = memoryview(src).tobytes()
        if not data:
            raise ImageError(f"{name}: empty (zero bytes), not an image")
        fp = io.BytesIO(data)
    elif hasattr(src, "read"):
        fp, callers_file = src, True
    else:
        raise ImageError(
            f"cannot read an image from a {type(src).__name__}: expected a path, bytes,"
            " a binary file object, a PIL image or a numpy array"
        )

    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            # Pillow warns about images above its own limit while opening them;
            # max_pixels below is the policy here, so its warning would only be
            # noise next to our error (or a false alarm when max_pixels is higher).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            formats = _formats_for(_head(fp))
            try:
                img = Image.open(fp, formats=formats)
            except UnidentifiedImageError:
                if formats is _decodable_formats():
                    raise
                # the first bytes misled us: let every decoded format have a look
                img = Image.open(fp, formats=_decodable_formats())
    except Image.DecompressionBombError as e:
        raise ImageError(f"{name}: refusing a possible decompression bomb: {e}") from None
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a directory, not an image") from None
    except UnidentifiedImageError:
        if isinstance(fp, str) and os.path.isfile(fp) and os.path.getsize(fp) == 0:
            raise ImageError(f"{name}: empty (zero bytes), not an image") from None
        raise ImageError(
            f"{name}: not an image predict can decode ({', '.join(_decodable_formats())})"
        ) from None
    except (OSError, ValueError, SyntaxError, struct.error, EOFError) as e:
        raise ImageError(f"{name}: cannot read the image: {e}") from None
    except Exception as e:  # a plugin tripping over a malformed header (see _DecodeErrors)
        raise ImageError(f"{name}: cannot read the image ({type(e).__name__}: {e})") from None

    close = _leave_open if callers_file else img.close
    width, height = img.size
    if max_pixels is not None and width * height > max_pixels:
        close()
        raise ImageError(
            f"{name}: {width}x{height} is {width * height:,} pixels, more than the limit of"
            f" {max_pixels:,} (max_pixels); refusing to decode it"
        )
    if width < 1 or height < 1:
        close()
        raise ImageError(f"{name}: the image is empty ({width}x{height})")
    return img, name, close


def _leave_open():
    """The close() of an image read from a caller's file object: the file is theirs."""


class _DecodeErrors:
    """Turns any failure while decoding or converting pixels into ImageError(name)."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is None or issubclass(kind, ImageError):
            return False
        if issubclass(kind, Image.DecompressionBombError):
            raise ImageError(
                f"{self.name}: refusing a possible decompression bomb: {value}") from None
        if issubclass(kind, (OSError, ValueError, SyntaxError, struct.error, EOFError, IndexError)):
            raise ImageError(f"{self.name}: cannot decode the image: {value}") from None
        if issubclass(kind, Exception) and not issubclass(kind, PredictError):
            # Pillow's plugins trust parts of a file they should not: a TIFF whose strip
            # offsets are stored as doubles ends in a TypeError deep in ImageFile.load (found
            # by fuzzing, tests/hostile/image/). A photo from a stranger may fail any way it
            # likes; the caller still gets an ImageError naming it.
            raise ImageError(f"{self.name}: cannot decode the image "
                             f"({kind.__name__}: {value})") from None
        return False


def open_image(src, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Decodes one photo into a PIL image, refusing anything unsafe or broken.

    ``src`` is a path (``str`` or ``os.PathLike``), encoded bytes
    (``bytes``, ``bytearray``, ``memoryview``), a binary file object, a PIL
    image (returned as it is), or a numpy array in height-width-channel
    order (see the module docstring).  An encoded image larger than
    ``max_pixels`` (width times height; ``None`` for no limit of ours) is
    refused after reading its header, before any pixel is decoded.  The
    pixels are returned as stored: EXIF orientation is applied by
    ``preprocess``, not here.  The caller owns the image; close it (or use
    it in a ``with`` block) to release a multi-frame file at once.

    Raises ImageError naming the source for a missing file, zero bytes,
    something that is not an image, a truncated or corrupt image, or one too
    large.

    >>> img = open_image(np.zeros((2, 3, 3), np.uint8))
    >>> img.size, img.mode
    ((3, 2), 'RGB')
    """
    img, name, close = _open_lazy(src, max_pixels)
    with _DecodeErrors(name):
        try:
            img.load()
        except BaseException:
            if close is not None:
                close()
            raise
    return img


@dataclass(frozen=True)
class _Spec:
    size: tuple  # (h, w)
    resize: int
    resample: int
    channels: str
    scale: np.float32
    mean: np.ndarray  # float32, one per channel of the input tensor
    std: np.ndarray
    table: np.ndarray  # float32 (channels, 256): _pixel_table(scale, mean, std)


def _pixel_table(scale, mean, std):
    """(channels, 256) float32: the normalized value of every 8-bit pixel value.

    Built with the same float32 steps, in the same order, as normalizing an
    image pixel by pixel (``(v / scale - mean) / std``), so looking values up
    gives bit-identical results; it is about three times faster than that
    arithmetic on a whole image, which matters when decoding is what a batch
    job waits on.
    """
    values = np.arange(256, dtype=np.float32)[None, :]
    return ((values / scale) - mean[:, None]) / std[:, None]


def _check_spec(spec):
    """Validates a preprocess spec (the header's "preprocess" map) into a _Spec."""
    if isinstance(spec, _Spec):
        return spec
    if not isinstance(spec, dict):
        raise InputError(f"preprocess spec must be a dict, got {type(spec).__name__}")
    keys = ("size", "resize", "interpolation", "channels", "scale", "mean", "std")
    missing = [k for k in keys if k not in spec]
    if missing:
        raise InputError(f"preprocess spec: missing {', '.join(missing)}")
    size = spec["size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, int) and v >= 1 for v in size)):
        raise InputError(
            f"preprocess spec: size must be [h, w] with positive integers, got {size!r}")
    resize = spec["resize"]
    if not (isinstance(resize, int) and resize >= 0):
        raise InputError(f"preprocess spec: resize must be an integer >= 0, got {resize!r}")
    if spec["interpolation"] not in _FILTERS:
        raise InputError(
            f"preprocess spec: interpolation must be one of {', '.join(_FILTERS)},"
            f" got {spec['interpolation']!r}"
        )
    channels = spec["channels"]
    if channels not in ("RGB", "BGR", "L"):
        raise InputError(f"preprocess spec: channels must be RGB, BGR or L, got {channels!r}")
    n = 1 if channels == "L" else 3
    scale = spec["scale"]
    if not (isinstance(scale, (int, float)) and np.isfinite(scale) and scale > 0):
        raise InputError(f"preprocess spec: scale must be > 0, got {scale!r}")
    vectors = {}
    for key in ("mean", "std"):
        v = spec[key]
        if not (isinstance(v, (list, tuple)) and len(v) == n
                and all(isinstance(x, (int, float)) for x in v)):
            raise InputError(
                f"preprocess spec: {key} must be {n} numbers for {channels}, got {v!r}")
        vectors[key] = np.asarray(v, dtype=np.float32)
    if not np.all(vectors["std"] > 0):
        raise InputError(f"preprocess spec: std must be > 0, got {spec['std']!r}")
    return _Spec(
        size=(size[0], size[1]),
        resize=resize,
        resample=_FILTERS[spec["interpolation"]],
        channels=channels,
        scale=np.float32(scale),
        mean=vectors["mean"],
        std=vectors["std"],
        table=_pixel_table(np.float32(scale), vectors["mean"], vectors["std"]),
    )


def _orientation(img):
    """The EXIF orientation (1-8; 1 when absent or unreadable)."""
    try:
        value = img.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:
        # A photo with a mangled EXIF block still has good pixels; metadata
        # is optional, so it is read as "no rotation" rather than refused.
        return 1
    return value if value in _UPRIGHT else 1


def _resized_size(width, height, spec):
    """(w, h) after the resize step, for an upright image of width x height.

    torchvision's rule for ``Resize(int)``: the shorter side becomes
    ``resize`` and the longer one ``int(resize * long / short)``.
    """
    if spec.resize == 0:
        return spec.size[1], spec.size[0]
    if width <= height:
        return spec.resize, int(spec.resize * height / width)
    return int(spec.resize * width / height), spec.resize


def _request_draft(img, spec):
    """Asks a JPEG to decode at the largest DCT reduction (1/2, 1/4, 1/8)
    whose result still covers the resize target on both axes.

    Must run before load().  The target is in upright coordinates; the
    stored image is rotated when its EXIF orientation swaps the axes.
    """
    if img.format not in ("JPEG", "MPO"):
        return
    swap = _orientation(img) in (5, 6, 7, 8)
    width, height = img.size
    if swap:
        width, height = height, width
    target_w, target_h = _resized_size(width, height, spec)
    request = (target_h, target_w) if swap else (target_w, target_h)
    # Pillow picks the largest scale s in (8, 4, 2, 1) with s <= stored // request
    # on both axes, so the decoded size ceil(stored / s) is >= the request.
    img.draft(img.mode, request)


def _to_mode(img, channels):
    """Converts any Pillow mode to "RGB" (for RGB and BGR) or "L"."""
    target = "L" if channels == "L" else "RGB"
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        a = np.asarray(img).astype(np.float64)
        img = Image.fromarray(np.clip(np.rint(a / 257.0), 0, 255).astype(np.uint8))
    elif mode == "F":
        a = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0)
        img = Image.fromarray(np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8))
    elif mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode != target:
        img = img.convert(target)
    return img


def _center_crop(a, crop_h, crop_w):
    """torchvision's CenterCrop on an (H, W[, C]) array: zero-pads a side
    shorter than the crop, then crops at round((size - crop) / 2)."""
    h, w = a.shape[:2]
    if h < crop_h or w < crop_w:
        pad_h, pad_w = max(crop_h - h, 0), max(crop_w - w, 0)
        pads = [(pad_h // 2, (pad_h + 1) // 2), (pad_w // 2, (pad_w + 1) // 2)]
        pads += [(0, 0)] * (a.ndim - 2)
        a = np.pad(a, pads)
        h, w = a.shape[:2]
    top = int(round((h - crop_h) / 2.0))
    left = int(round((w - crop_w) / 2.0))
    return a[top : top + crop_h, left : left + crop_w]


def _resize(img, size, spec, crop_only):
    """The resize step: ``img`` resized to ``size`` (w, h), as a uint8 array (H, W[, C]).

    With ``crop_only`` (a JPEG decoded in draft mode, already an approximation
    of the full decode) and a crop that fits, only the centre crop's pixels are
    computed: Pillow resamples the matching box of the source, about half the
    work for a 256 -> 224 crop, and the result differs from resizing the whole
    image then cropping by at most one level on about 0.1% of the pixels (where
    the box's float coordinates round the filter weights differently).  Other
    images are resized whole, so they match the torchvision pipeline exactly.
    Pillow's resampling is done by the C core where it gives the same bytes
    (predict.resample.resize_image).
    """
    crop_h, crop_w = spec.size
    width, height = size
    if not crop_only or width < crop_w or height < crop_h or (width, height) == (crop_w, crop_h):
        return resize_image(img, size, spec.resample)
    top = int(round((height - crop_h) / 2.0))
    left = int(round((width - crop_w) / 2.0))
    sx, sy = img.width / width, img.height / height
    box = (left * sx, top * sy, (left + crop_w) * sx, (top + crop_h) * sy)
    return resize_image(img, (crop_w, crop_h), spec.resample, box=box)


def preprocess(image, spec, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Turns one photo into a model input sample: float32 ``[C, H, W]``.

    ``image`` is anything ``open_image`` takes; ``spec`` is a model's
    ``preprocess`` map (``Network.preprocess_spec``, docs/format.md).  The
    photo is decoded (a big JPEG at a reduced scale), turned upright by its
    EXIF orientation, converted to RGB or grey (transparency over white),
    resized with Pillow's antialiasing filter, centre-cropped, divided by
    ``scale`` and normalized with ``mean`` and ``std``; BGR models get the
    channels reversed before normalization.  Both the decoded photo and the
    resized one must stay within ``max_pixels`` (ImageError otherwise): a
    thin strip resized by its short side would otherwise become a huge image.

    >>> spec = {"size": [4, 4], "resize": 0, "interpolation": "bilinear",
    ...         "channels": "RGB", "scale": 255.0, "mean": [0.5] * 3, "std": [0.5] * 3}
    >>> x = preprocess(np.full((8, 6, 3), 255, np.uint8), spec)
    >>> x.shape, x.dtype, float(x.max())
    ((3, 4, 4), dtype('float32'), 1.0)
    """
    spec = _check_spec(spec)
    return normalize(preprocess_pixels(image, spec, max_pixels=max_pixels), spec)


def normalize(pixels, spec):
    """8-bit pixels ``(H, W, C)`` from ``preprocess_pixels`` -> float32 ``[C, H, W]``:
    divided by ``scale``, then ``mean`` subtracted and divided by ``std``.

    >>> spec = {"size": [2, 2], "resize": 0, "interpolation": "nearest",
    ...         "channels": "L", "scale": 255.0, "mean": [0.5], "std": [0.5]}
    >>> normalize(np.full((2, 2, 1), 255, np.uint8), spec)[0].tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    spec = _check_spec(spec)
    x = np.empty((pixels.shape[2],) + pixels.shape[:2], np.float32)
    for c in range(x.shape[0]):
        np.take(spec.table[c], pixels[:, :, c], out=x[c])
    return x


def pixel_table(spec):
    """The float32 ``(C, 256)`` table of ``normalize``: entry ``[c, v]`` is what
    value ``v`` of channel ``c`` becomes.  The C core applies it to a batch of
    ``preprocess_pixels`` output as it copies the batch in.

    >>> spec = {"size": [2, 2], "resize": 0, "interpolation": "nearest",
    ...         "channels": "L", "scale": 255.0, "mean": [0.0], "std": [1.0]}
    >>> pixel_table(spec).shape, float(pixel_table(spec)[0, 255])
    ((1, 256), 1.0)
    """
    return _check_spec(spec).table


def preprocess_pixels(image, spec, *, max_pixels=DEFAULT_MAX_PIXELS):
    """``preprocess`` up to the normalization: the photo decoded, upright,
    converted, resized and centre-cropped as 8-bit pixels ``(H, W, C)``
    (uint8, C-contiguous, channels in the model's order: reversed for BGR).
    ``normalize`` turns them into the float32 sample; handing them to the
    network as they are (``Network.scores`` takes a uint8 batch) lets the
    C core normalize them, with no float32 copy of the photo in Python.

    >>> spec = {"size": [4, 4], "resize": 0, "interpolation": "bilinear",
    ...         "channels": "RGB", "scale": 255.0, "mean": [0.5] * 3, "std": [0.5] * 3}
    >>> p = preprocess_pixels(np.full((8, 6, 3), 255, np.uint8), spec)
    >>> p.shape, p.dtype, int(p.min())
    ((4, 4, 3), dtype('uint8'), 255)
    """
    spec = _check_spec(spec)
    img, name, close = _open_lazy(image, max_pixels)
    try:
        with _DecodeErrors(name):
            stored_size = img.size
            if close is not None:
                _request_draft(img, spec)
            img.load()
            drafted = img.size != stored_size
            method = _UPRIGHT.get(_orientation(img))
            upright = img.transpose(method) if method is not None else img
            converted = _to_mode(upright, spec.channels)
            size = _resized_size(*converted.size, spec)
            if max_pixels is not None and size[0] * size[1] > max_pixels:
                # A thin strip resized by its short side, or a model whose resize is huge,
                # would make a bigger image than any photo we agree to decode.
                raise ImageError(
                    f"{name}: resizing {converted.width}x{converted.height} to {size[0]}x"
                    f"{size[1]} would make {size[0] * size[1]:,} pixels, more than the limit"
                    f" of {max_pixels:,} (max_pixels)")
            pixels = _resize(converted, size, spec, crop_only=drafted)
    finally:
        if close is not None:
            close()

    pixels = _center_crop(pixels, *spec.size)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    elif spec.channels == "BGR":
        pixels = pixels[:, :, ::-1]
    return np.ascontiguousarray(pixels)


def preprocess_batch(images, spec, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Preprocesses a list of photos into one float32 ``(N, C, H, W)`` batch.

    The first photo that fails raises its ImageError (which names it).

    >>> spec = {"size": [2, 2], "resize": 0, "interpolation": "nearest",
    ...         "channels": "L", "scale": 255.0, "mean": [0.0], "std": [1.0]}
    >>> preprocess_batch([np.zeros((3, 3), np.uint8)] * 5, spec).shape
    (5, 1, 2, 2)
    """
    spec = _check_spec(spec)
    samples = [preprocess(image, spec, max_pixels=max_pixels) for image in images]
    if not samples:
        return np.zeros((0, 1 if spec.channels == "L" else 3) + spec.size, np.float32)
    return np.stack(samples)
