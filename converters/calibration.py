"""Photos for calibrating and measuring int8 models: a folder of the user's photos, or the
real photos that ship inside installed packages (scikit-image, scikit-learn, matplotlib), and
distinct crops / flips / rescalings of them for a bigger held-out set.

    >>> photos = packaged_photos()                     # doctest: +SKIP
    >>> len(photos) >= 4                               # doctest: +SKIP
    True
"""

import os

import numpy as np

from predict import image
from predict.errors import ConversionError

_SKIMAGE = ("chelsea", "coffee", "astronaut", "rocket", "camera", "hubble_deep_field",
            "immunohistochemistry", "cat", "horse", "moon", "page", "text", "grass", "gravel",
            "brick", "colorwheel", "retina", "logo")


def packaged_photos():
    """[(name, HxWx3 uint8)] of the sample photos installed packages carry (no download)."""
    out = []
    try:
        from skimage import data
        for name in _SKIMAGE:
            try:
                pixels = np.asarray(getattr(data, name)())
            except Exception:  # noqa: BLE001 - a future version may need a download
                continue
            out.append((name, _rgb(pixels)))
    except ImportError:
        pass
    try:
        from sklearn.datasets import load_sample_images
        bunch = load_sample_images()
        out += [(os.path.basename(f), _rgb(i)) for f, i in zip(bunch.filenames, bunch.images)]
    except ImportError:
        pass
    try:
        from matplotlib import cbook
        from PIL import Image
        with cbook.get_sample_data("grace_hopper.jpg") as f:
            out.append(("grace_hopper", _rgb(np.asarray(Image.open(f).convert("RGB")))))
    except Exception:  # noqa: BLE001 - matplotlib absent or without sample data
        pass
    return out


def _rgb(pixels):
    if pixels.ndim == 2:
        pixels = np.stack([pixels] * 3, axis=-1)
    if pixels.shape[-1] == 4:
        pixels = pixels[..., :3]
    if pixels.dtype != np.uint8:
        pixels = np.clip(pixels * (255 if pixels.max() <= 1 else 1), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(pixels)


def variants(pixels, count, rng):
    """``count`` distinct random crops (50-100 % of each side), horizontal flips and
    rescalings (0.5-1.5x) of an HxWx3 photo."""
    from PIL import Image
    img = Image.fromarray(pixels)
    out = []
    for _ in range(count):
        w, h = img.size
        sw, sh = rng.uniform(0.5, 1.0, 2)
        cw, ch = max(8, int(w * sw)), max(8, int(h * sh))
        x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        v = img.crop((x0, y0, x0 + cw, y0 + ch))
        if rng.random() < 0.5:
            v = v.transpose(Image.FLIP_LEFT_RIGHT)
        scale = rng.uniform(0.5, 1.5)
        v = v.resize((max(8, int(cw * scale)), max(8, int(ch * scale))), Image.BILINEAR)
        out.append(np.asarray(v))
    return out


def folder_photos(folder):
    """Paths of the decodable photos in ``folder`` (sorted, not recursive)."""
    if not os.path.isdir(folder):
        raise ConversionError(f"calibration folder {folder!r} does not exist")
    exts = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.lower().endswith(exts))
    if not paths:
        raise ConversionError(f"calibration folder {folder!r} holds no photos")
    return paths


def preprocess_all(photos, spec):
    """float32 (n, C, H, W) of photos (paths or arrays) with a model's own preprocessing."""
    samples = [image.preprocess(p, spec) for p in photos]
    if not samples:
        c = len(spec["mean"])
        return np.zeros((0, c, *spec["size"]), np.float32)
    return np.stack(samples)


def split_sets(photos, spec, *, calib_variants=2, held_variants=0, seed=0):
    """(calibration, held-out) inputs from photos: calibration = variants of every photo;
    held-out = every photo itself plus other variants (never a calibration one)."""
    rng = np.random.default_rng(seed)
    arrays = [image.open_image(p) if isinstance(p, str) else p for p in photos]
    arrays = [_rgb(np.asarray(a.convert("RGB"))) if hasattr(a, "convert") else a for a in arrays]
    calib = [v for a in arrays for v in variants(a, calib_variants, rng)]
    held = list(arrays) + [v for a in arrays for v in variants(a, held_variants, rng)]
    return preprocess_all(calib, spec), preprocess_all(held, spec)
