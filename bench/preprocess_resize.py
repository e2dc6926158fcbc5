"""preprocess_pixels per photo with the resize step done by the C core
(predict.resample.resize_image) against Pillow's ``Image.resize``, in one process,
interleaved in rounds, on the 2-megapixel JPEGs of bench/batch_e2e.py.

    taskset -c 0 python bench/preprocess_resize.py [--photos 32] [--rounds 7] [--spec mobilenet]

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


if __name__ == "__main__":
    main()
