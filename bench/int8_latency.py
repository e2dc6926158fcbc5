"""Batch-1 latency of .pnet models of the same network, interleaved call by call, 1 thread.

    python bench/int8_latency.py models/mobilenet_v2.pnet models/mobilenet_v2_int8.pnet [...]

Prints each model's median and p90 over ``--rounds`` rounds of ``--calls`` calls (the models
take turns within every round, so load on a shared machine hits them alike) and its ratio to
the first model, plus its count of float32 layers. The input is one real photo, preprocessed.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import predict  # noqa: E402
from converters import calibration as cal  # noqa: E402
from predict.format import read_pnet  # noqa: E402


def float_layers(net_header):
    """float32 layers that compute (not quantize / dequantize boundaries)."""
    tensors = net_header["tensors"]
    return sum(1 for layer in net_header["layers"] if "quant" not in layer
               and layer["op"] not in ("quantize", "dequantize")
               and tensors[layer["output"]]["dtype"] == "float32")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--calls", type=int, default=10)
    args = p.parse_args(argv)
    nets = [predict.load(m) for m in args.models]
    headers = [read_pnet(m).header for m in args.models]
    photo = [px for _, px in cal.packaged_photos()][0]
    x = cal.preprocess_all([photo], headers[0]["preprocess"])
    times = [[] for _ in nets]
    for net in nets:            # warm up
        for _ in range(3):
            net.run(x)
    for _ in range(args.rounds):
        for i, net in enumerate(nets):
            for _ in range(args.calls):
                t = time.perf_counter()
                net.run(x)
                times[i].append(time.perf_counter() - t)
    base = np.median(times[0])
    for path, header, t in zip(args.models, headers, times):
        print(f"{os.path.basename(path):32s} median {np.median(t) * 1e3:6.2f} ms  p90 "
              f"{np.percentile(t, 90) * 1e3:6.2f} ms  x{np.median(t) / base:.3f}  "
              f"float32 layers {float_layers(header)}  {os.path.getsize(path) / 1e6:.2f} MB")


if __name__ == "__main__":
    sys.exit(main())
