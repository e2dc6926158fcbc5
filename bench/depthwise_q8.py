"""Median time of MobileNetV2's int8 depthwise layers alone, per kernel family.

One-layer int8 nets (3x3, pads 1, batch 1, one thread) with MobileNetV2's depthwise shapes and
realistic multipliers (real M in 2^-10 .. 2^-4, so shifts 35 .. 41), run with each kernel family
this CPU supports (PREDICT_ISA, read at each net build, so one process measures them all), in
interleaved rounds; each figure is the median over rounds of the per-round median of --calls
calls. Under qemu the times mean nothing: run it on the hardware.

    python bench/depthwise_q8.py [--rounds 5] [--calls 30] [--isa ref --isa avx2 ...]
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from converters.quantize import _with_blobs  # noqa: E402
from predict import _native, graph, quant  # noqa: E402
from predict._native import NativeNet  # noqa: E402

# (channels, height, width, stride) of the int8-able depthwise layers of MobileNetV2
SHAPES = [(32, 112, 112, 1), (96, 112, 112, 2), (144, 56, 56, 1), (144, 56, 56, 2),
          (192, 28, 28, 1), (384, 14, 14, 1), (576, 14, 14, 2), (960, 7, 7, 1)]


def layer_net(c, h, w, stride, rng):
    """The header and arrays of a one-layer int8 depthwise net."""
    arrays = [rng.integers(-127, 128, (3, 3, c)).astype(np.int8),
              rng.integers(-2**20, 2**20, c).astype(np.int32),
              quant.quantize_multipliers(2.0 ** rng.uniform(-10, -4, c))]
    ho = graph.window_output_size(h, 3, stride, 1, 1, 1)
    wo = graph.window_output_size(w, 3, stride, 1, 1, 1)
    tensors = [{"name": "x", "shape": [c, h, w], "dtype": "uint8", "blob": None, "scale": 0.1,
                "zero_point": 3},
               {"name": "y", "shape": [c, ho, wo], "dtype": "uint8", "blob": None, "scale": 0.2,
                "zero_point": 7}]
    layer = {"op": "depthwise", "name": "dw", "inputs": [0], "output": 1, "weight": 0, "bias": 1,
             "act": {"kind": "none", "alpha": 0.0, "beta": 0.0},
             "quant": {"params": 2, "zero": 7, "lo": 0, "hi": 255, "lut": None, "table": None},
             "kernel": [3, 3], "strides": [stride, stride], "dilations": [1, 1],
             "pads": [1, 1, 1, 1]}
    header = {"tensors": tensors, "layers": [layer],
              "inputs": [{"name": "x", "tensor": 0}], "outputs": [{"name": "y", "tensor": 1}]}
    header = _with_blobs(dict(header, format="pnet", version=1, features=None, preprocess=None,
                              labels=[], provenance={}), arrays)
    graph.validate(header)
    return header, arrays


def time_calls(net, x, calls):
    for _ in range(3):
        net.run([x])
    ts = []
    for _ in range(calls):
        t = time.perf_counter()
        net.run([x])
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--isa", action="append", help="a family (default: every runnable one)")
    args = parser.parse_args()
    isas = args.isa or _native.runnable_isas()
    rng = np.random.default_rng(0)
    nets = [(shape, *layer_net(*shape, rng)) for shape in SHAPES]
    times = {(isa, shape): [] for isa in isas for shape in SHAPES}
    for _ in range(args.rounds):
        for isa in isas:
            os.environ["PREDICT_ISA"] = isa
            for shape, header, arrays in nets:
                c, h, w, _ = shape
                x = rng.integers(0, 256, (1, h, w, c)).astype(np.uint8)
                with NativeNet(header, arrays, max_batch=1, outputs=[1]) as net:
                    times[isa, shape].append(time_calls(net, x, args.calls))
    print("shape (c x h x w, stride)   " + "".join(f"{isa:>10}" for isa in isas) + "   (us)")
    for shape in SHAPES:
        c, h, w, s = shape
        row = "".join(f"{np.median(times[isa, shape]) * 1e6:10.0f}" for isa in isas)
        print(f"{c:4d} x {h:3d} x {w:3d}, s{s}          {row}")


if __name__ == "__main__":
    main()
