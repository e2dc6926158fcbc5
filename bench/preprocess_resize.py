"""preprocess_pixels per photo with the resize step done by the C core
(predict.resample.resize_image) against Pillow's ``Image.resize``, in one process,
interleaved in rounds, on the 2-megapixel JPEGs of bench/batch_e2e.py; then the resize
step alone, on those photos decoded in draft mode (408x306) as preprocessing decodes
them, resampling the box of their 224x224 centre crop.

    taskset -c 0 python bench/preprocess_resize.py [--photos 32] [--rounds 7]
                                                   [--interpolation bilinear|bicubic]

Each round times every photo once with each side (the order alternating between
rounds); the figure per side is the median over rounds of the mean ms per photo.
The photos are decoded from bytes in memory, so disk reads stay out of it.  Read
/work/shared/MEASURING.md before trusting a number.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import io  # noqa: E402

from PIL import Image  # noqa: E402

import predict.image  # noqa: E402
from predict._native import isa  # noqa: E402
from predict.image import preprocess_pixels  # noqa: E402
from predict.resample import resize_image  # noqa: E402

SPEC = {"size": [224, 224], "resize": 256, "interpolation": "bilinear", "channels": "RGB",
        "scale": 255.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def pillow_resize(img, size, resample, box=None):
    return np.asarray(img.resize(size, resample, box=box, reducing_gap=None))


def one_pass(datas, resize):
    predict.image.resize_image = resize
    t0 = time.perf_counter()
    for data in datas:
        preprocess_pixels(data, SPEC)
    return (time.perf_counter() - t0) / len(datas) * 1e3


def resize_rounds(datas, rounds, resample):
    """ms per photo of the crop-box resize of drafted photos, core and Pillow."""
    imgs = []
    for data in datas:
        img = Image.open(io.BytesIO(data))
        img.draft("RGB", (341, 256))
        img.load()
        imgs.append(img)
    crops = []
    for img in imgs:   # the box predict.image._resize asks for (resize 256, crop 224)
        w, h = predict.image._resized_size(img.width, img.height, predict.image._check_spec(SPEC))
        left, top = int(round((w - 224) / 2.0)), int(round((h - 224) / 2.0))
        sx, sy = img.width / w, img.height / h
        crops.append((img, (left * sx, top * sy, (left + 224) * sx, (top + 224) * sy)))
        assert np.array_equal(resize_image(img, (224, 224), resample, crops[-1][1]),
                              pillow_resize(img, (224, 224), resample, crops[-1][1]))
    sides = {"core": resize_image, "pillow": pillow_resize}
    times = {name: [] for name in sides}
    for r in range(rounds):
        for name in (list(sides) if r % 2 == 0 else list(sides)[::-1]):
            t0 = time.perf_counter()
            for _ in range(10):
                for img, box in crops:
                    sides[name](img, (224, 224), resample, box)
            times[name].append((time.perf_counter() - t0) / (10 * len(crops)) * 1e3)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--interpolation", default="bilinear", choices=["bilinear", "bicubic"])
    args = parser.parse_args()
    SPEC["interpolation"] = args.interpolation
    from batch_e2e import make_photos
    with tempfile.TemporaryDirectory() as folder:
        datas = [open(p, "rb").read() for p in make_photos(folder, args.photos)]
    for data in datas:   # same bytes either way (and every geometry checked once)
        predict.image.resize_image = pillow_resize
        want = preprocess_pixels(data, SPEC)
        predict.image.resize_image = resize_image
        assert np.array_equal(preprocess_pixels(data, SPEC), want)
    core = {"core": resize_image, "pillow": pillow_resize}
    times = {name: [] for name in core}
    for r in range(args.rounds):
        order = list(core) if r % 2 == 0 else list(core)[::-1]
        for name in order:
            times[name].append(one_pass(datas, core[name]))
    predict.image.resize_image = resize_image
    print(f"kernels: {isa()}, {args.photos} photos, {args.rounds} rounds, {args.interpolation}")
    for name, ts in times.items():
        print(f"{name:7s} preprocess_pixels {statistics.median(ts):.3f} ms/photo"
              f" (rounds {' '.join(f'{t:.3f}' for t in ts)})")
    print(f"saved {statistics.median(times['pillow']) - statistics.median(times['core']):.3f} ms/photo")
    resample = Image.Resampling.BILINEAR if args.interpolation == "bilinear" else Image.Resampling.BICUBIC
    times = resize_rounds(datas, args.rounds, resample)
    core, pillow = statistics.median(times["core"]), statistics.median(times["pillow"])
    print(f"the resize step alone (drafted photo -> its 224x224 crop box): core {core:.3f} ms,"
          f" Pillow {pillow:.3f} ms ({pillow / core:.1f}x)")


if __name__ == "__main__":
    main()
