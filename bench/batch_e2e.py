"""End-to-end photos per second per core on 2-megapixel JPEGs: `predict tag`
against the naive pipeline a user would write (Pillow full decode + resize,
onnxruntime, one photo at a time), in one run, interleaved in rounds.  Also
splits each side's time into decoding and inference.

    python bench/batch_e2e.py [--photos 64] [--rounds 3] [--model PNET]

``--model`` runs predict tag with that .pnet of the same MobileNetV2 (e.g. the int8 one from
``make model-int8``) instead of the float32 model built here; the naive side keeps onnxruntime
on the float32 ONNX, which is what its user would have.

The photos are 1632x1224 mosaics of crops of the real photos in scikit-image and
scikit-learn at their own resolution, saved at JPEG quality 90: they carry photographic
detail, which is what a JPEG decoder spends its time on (an upscaled small photo would be
unrealistically cheap to decode).

predict tag is reported two ways: the whole run (the driver checking the model file,
starting its worker process and the worker loading the model included, which a run of a
few dozen photos feels) and per photo once running,
measured as the extra time that twice the photos take (what a collection of millions gets).
The naive whole run likewise starts with loading its model (the onnxruntime session).

Needs the dev extra (onnxruntime, scikit-image) and the MobileNetV2 weights
package.  One core for both, the process pinned to it (its children inherit that):
predict with one worker process, onnxruntime with one intra-op thread.  Read
/work/shared/MEASURING.md before trusting a number.
"""
import argparse
import os
import sqlite3
import statistics
import sys
import tempfile
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def _sources():
    """The real photos big enough for 408x306 crops, as uint8 RGB arrays."""
    from skimage import data
    from sklearn.datasets import load_sample_images

    photos = [data.astronaut(), data.coffee(), data.rocket()]
    photos += list(load_sample_images().images)
    return [p for p in photos if p.shape[0] >= TILE[1] and p.shape[1] >= TILE[0]]


TILE = (408, 306)   # 4 x 4 tiles make a 1632x1224 (2-megapixel) photo


def make_photos(folder, count):
    sources = _sources()
    rng = np.random.default_rng(2026)
    paths = []
    for i in range(count):
        img = Image.new("RGB", (TILE[0] * 4, TILE[1] * 4))
        for y in range(4):
            for x in range(4):
                src = sources[rng.integers(len(sources))]
                top = rng.integers(src.shape[0] - TILE[1] + 1)
                left = rng.integers(src.shape[1] - TILE[0] + 1)
                tile = Image.fromarray(src[top:top + TILE[1], left:left + TILE[0]])
                if rng.integers(2):
                    tile = tile.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                img.paste(tile, (x * TILE[0], y * TILE[1]))
        path = os.path.join(folder, f"photo{i:03d}.jpg")
        img.save(path, quality=90)
        paths.append(path)
    return paths


def naive(paths, onnx_path):
    """(seconds, decode seconds, inference seconds, load seconds) of the textbook pipeline.

    Its whole run starts with loading the model (the onnxruntime session), as the user's
    script would, just as predict tag's whole run includes its worker loading the model.
    """
    import onnxruntime as ort

    start = time.perf_counter()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    loaded = time.perf_counter()
    decode = infer = 0.0
    for path in paths:
        t0 = time.perf_counter()
        img = Image.open(path).convert("RGB")
        w, h = img.size
        s = 256 / min(w, h)
        img = img.resize((max(256, round(w * s)), max(256, round(h * s))),
                         Image.Resampling.BILINEAR)
        left, top = (img.width - 224) // 2, (img.height - 224) // 2
        x = np.asarray(img.crop((left, top, left + 224, top + 224)), np.float32) / 255.0
        x = ((x - MEAN) / STD).transpose(2, 0, 1)[None]
        t1 = time.perf_counter()
        session.run(None, {name: np.ascontiguousarray(x)})
        t2 = time.perf_counter()
        decode += t1 - t0
        infer += t2 - t1
    return time.perf_counter() - start, decode, infer, loaded - start


def ours(paths, model, db):
    from predict.batch import tag

    if os.path.exists(db):
        os.remove(db)
    summary = tag(paths, model, db, workers=1, progress=False, shard_size=len(paths), batch=8)
    with sqlite3.connect(db) as c:
        decode, infer = c.execute("SELECT SUM(decode_ms), SUM(infer_ms) FROM photos").fetchone()
    return summary["seconds"], decode / 1000.0, infer / 1000.0


def decode_only(paths, spec):
    """(naive full decode + resize, predict's draft-mode preprocess) in ms/photo, no inference."""
    from predict.image import preprocess

    t0 = time.perf_counter()
    for path in paths:
        img = Image.open(path).convert("RGB")
        s = 256 / min(img.size)
        img.resize((round(img.width * s), round(img.height * s)), Image.Resampling.BILINEAR)
    t1 = time.perf_counter()
    for path in paths:
        preprocess(path, spec)
    t2 = time.perf_counter()
    return (t1 - t0) / len(paths) * 1000, (t2 - t1) / len(paths) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", help="the .pnet predict tag runs (default: float32, built here)")
    args = parser.parse_args()
    # "Per core" means one core: predict's worker decodes on a thread beside the C core, which
    # would otherwise use a second one. The worker processes inherit this affinity.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    from converters.default_model import build

    with tempfile.TemporaryDirectory() as tmp:
        model, onnx_path = os.path.join(tmp, "m.pnet"), os.path.join(tmp, "m.onnx")
        build(model, onnx_path=onnx_path)
        if args.model:
            model = os.path.abspath(args.model)
        paths = make_photos(tmp, args.photos)
        from converters.default_model import PREPROCESS

        half = paths[: len(paths) // 2]
        results = {"naive": [], "predict tag": [], "half": []}
        decodes = []
        # Once, untimed: the first run starts multiprocessing's fork server, which every
        # later run reuses (it would otherwise count in the first round alone).
        ours(paths[:2], model, os.path.join(tmp, "w.sqlite"))
        naive(paths[:2], onnx_path)   # and onnxruntime's first session, likewise
        for _ in range(args.rounds):   # interleaved: A B A B
            results["naive"].append(naive(paths, onnx_path))
            results["half"].append(ours(half, model, os.path.join(tmp, "h.sqlite")))
            results["predict tag"].append(ours(paths, model, os.path.join(tmp, "t.sqlite")))
            decodes.append(decode_only(paths, PREPROCESS))
    n = args.photos
    rates = {}
    for name in ("naive", "predict tag"):
        runs = results[name]
        seconds = statistics.median(r[0] for r in runs)
        decode = statistics.median(r[1] for r in runs) / n * 1000
        infer = statistics.median(r[2] for r in runs) / n * 1000
        rates[name] = n / seconds
        spread = ", ".join(f"{n / r[0]:.2f}" for r in runs)
        print(f"{name:12s} {n / seconds:7.2f} photos/s per core (rounds: {spread}); "
              f"decode {decode:6.1f} ms/photo, inference {infer:6.1f} ms/photo")
    load = statistics.median(r[3] for r in results["naive"]) * 1000
    print(f"naive's onnxruntime session: {load:.1f} ms of its whole run")
    extra = n - len(half)
    steady = [extra / (whole[0] - part[0])
              for whole, part in zip(results["predict tag"], results["half"])]
    rates["running"] = statistics.median(steady)
    print(f"predict tag once running: {rates['running']:.2f} photos/s per core (rounds: "
          + ", ".join(f"{r:.2f}" for r in steady) + f"; {n} photos less {len(half)})")
    full = statistics.median(d[0] for d in decodes)
    draft = statistics.median(d[1] for d in decodes)
    print(f"decoding alone, one thread: full decode + resize {full:.1f} ms/photo, predict's "
          f"draft-mode preprocess {draft:.1f} ms/photo ({full / draft:.1f}x)")
    which = os.path.basename(args.model) if args.model else "float32"
    print(f"predict tag / naive: whole run {rates['predict tag'] / rates['naive']:.2f}x, once "
          f"running {rates['running'] / rates['naive']:.2f}x ({n} JPEGs of 1632x1224, "
          f"MobileNetV2; predict ran {which})")


if __name__ == "__main__":
    main()
