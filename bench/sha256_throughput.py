"""SHA-256 throughput of each implementation on a model-sized buffer.

predict's own (predict.checksum: the CPU's SHA instructions by default, the portable C
reference with PREDICT_ISA=ref, read at each call, so one process measures both) beside
hashlib's (OpenSSL, what the loader used before) and CPython's builtin _sha256 (no OpenSSL, the
other way to avoid it), on the same random buffer (4 MiB by default: the int8 MobileNetV2 file
is 3.8 MiB; --mib 13 for the float32 one); then the .pnet tree checksum (sha256_tree: 16 KiB
chunks hashed in SIMD lanes where the CPU has no SHA instructions) with each PREDICT_ISA this
CPU runs. Interleaved rounds; each figure is the median over rounds of the per-round median
of --calls calls. Under qemu the times mean nothing: run it on the hardware.

    python bench/sha256_throughput.py [--mib 4] [--rounds 7] [--calls 5]
"""
import argparse
import hashlib
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from predict import checksum  # noqa: E402


def with_isa(isa, function=checksum.sha256):
    """predict.checksum.sha256 (or function) with PREDICT_ISA=isa (None: unset) for the call."""
    def run(data):
        old = os.environ.pop("PREDICT_ISA", None)
        if isa is not None:
            os.environ["PREDICT_ISA"] = isa
        try:
            return function(data)
        finally:
            os.environ.pop("PREDICT_ISA", None)
            if old is not None:
                os.environ["PREDICT_ISA"] = old
    return run


def engines():
    """name -> a function hashing a buffer to its digest."""
    os.environ.pop("PREDICT_ISA", None)
    found = {f"predict {checksum.implementation()}": with_isa(None)}
    if checksum.implementation() != "ref":
        found["predict ref"] = with_isa("ref")
    found["hashlib (OpenSSL)"] = lambda d: hashlib.sha256(d).digest()
    try:
        import _sha256
        found["builtin _sha256"] = lambda d: _sha256.sha256(d).digest()
    except ImportError:  # CPython 3.12 renamed it _sha2
        try:
            import _sha2
            found["builtin _sha2"] = lambda d: _sha2.sha256(d).digest()
        except ImportError:
            pass
    return found


def tree_engines():
    """name -> a function computing the tree checksum, for each PREDICT_ISA this CPU runs."""
    from predict import _native

    found = {}
    for isa in _native.runnable_isas():
        os.environ["PREDICT_ISA"] = isa
        name = f"tree {checksum.tree_implementation()} ({isa})"
        os.environ.pop("PREDICT_ISA")
        found.setdefault(name, with_isa(isa, checksum.sha256_tree))
    return found


def tree_by_hashlib(data):
    view = memoryview(data).cast("B")
    leaves = b"".join(hashlib.sha256(view[i:i + checksum.TREE_CHUNK]).digest()
                      for i in range(0, len(view), checksum.TREE_CHUNK))
    return hashlib.sha256(checksum.TREE_TAG + leaves).digest()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=float, default=4.0, help="buffer size in MiB (default 4)")
    ap.add_argument("--rounds", type=int, default=7, help="interleaved rounds (default 7)")
    ap.add_argument("--calls", type=int, default=5, help="calls per engine per round (default 5)")
    args = ap.parse_args(argv)
    data = np.random.default_rng(0).integers(0, 256, int(args.mib * 2**20), dtype=np.uint8)
    found, trees = engines(), tree_engines()
    want, want_tree = hashlib.sha256(data).digest(), tree_by_hashlib(data)
    for name, run in found.items():
        if run(data) != want:
            raise SystemExit(f"{name}: wrong digest")
    for name, run in trees.items():
        if run(data) != want_tree:
            raise SystemExit(f"{name}: wrong digest")
    found.update(trees)
    medians = {name: [] for name in found}
    for r in range(args.rounds):
        order = list(found) if r % 2 == 0 else list(reversed(list(found)))
        for name in order:
            times = []
            for _ in range(args.calls):
                t0 = time.perf_counter()
                found[name](data)
                times.append(time.perf_counter() - t0)
            medians[name].append(float(np.median(times)))
    print(f"SHA-256 of {data.nbytes / 2**20:g} MiB, median of {args.rounds} rounds x "
          f"{args.calls} calls")
    for name, m in medians.items():
        t = float(np.median(m))
        print(f"  {name:<20} {1e3 * t:8.2f} ms  {data.nbytes / t / 1e6:8.0f} MB/s  "
              f"(rounds {1e3 * min(m):.2f}..{1e3 * max(m):.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
