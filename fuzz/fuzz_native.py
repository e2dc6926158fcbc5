"""Fuzz the C core's own checks: a header decoded but not validated, straight to NativeNet.

Usage: python fuzz/fuzz_native.py [libFuzzer options] [corpus directories]
(`make fuzz` runs it with the pnet seeds of fuzz/seeds.py.) Run it on the sanitized core
(fuzz/run.py --native-asan does) to see the memory errors the core's checks must prevent.
"""
from driver import main

if __name__ == "__main__":
    main("native")
