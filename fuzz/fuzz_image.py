"""Fuzz an encoded photo through predict.image.preprocess (the first byte picks the spec).

Usage: python fuzz/fuzz_image.py [libFuzzer options] [corpus directories]
(`make fuzz` runs it with the seeds of fuzz/seeds.py, against the sanitized core.)
Only predict.errors.PredictError may come out; see fuzz/targets.py.
"""
from driver import main

if __name__ == "__main__":
    main("image")
