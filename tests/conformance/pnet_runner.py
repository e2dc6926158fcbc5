"""Write a converted model to a .pnet file, load it with predict and run it.

This is the whole round trip a user makes (convert, write, map and check the
file, build the C network, run), so the conformance tests exercise the real
path, not an in-memory shortcut.

    >>> outputs = run_converted(header, arrays, x, tmp_path)    # doctest: +SKIP
"""

import os

import numpy as np

import predict
from predict.format import write_pnet


def run_converted(header, arrays, x, directory, name="model.pnet"):
    """Outputs (a list, in the header's output order) of the converted model on ``x``."""
    path = os.path.join(str(directory), name)
    write_pnet(path, header, arrays)
    x = np.ascontiguousarray(x, dtype=np.float32)
    with predict.load(path, max_batch=max(1, x.shape[0])) as net:
        result = net.run(x)
    if isinstance(result, dict):
        return [result[io["name"]] for io in header["outputs"]]
    return [result]
