"""Fuzz an ONNX file through convert_onnx, then write, load and run what it accepts.

Usage: python fuzz/fuzz_onnx.py [libFuzzer options] [corpus directories]
(`make fuzz` runs it with the seeds of fuzz/seeds.py, against the sanitized core.)
Only predict.errors.PredictError may come out; see fuzz/targets.py.
"""
from driver import main

if __name__ == "__main__":
    main("onnx")
