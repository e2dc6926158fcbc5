"""Fuzz a PyTorch checkpoint through the restricted unpickler (load_state_dict).

Usage: python fuzz/fuzz_checkpoint.py [libFuzzer options] [corpus directories]
(`make fuzz` runs it with the seeds of fuzz/seeds.py, against the sanitized core.)
Only predict.errors.PredictError may come out; see fuzz/targets.py.
"""
from driver import main

if __name__ == "__main__":
    main("checkpoint")
