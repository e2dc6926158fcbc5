"""Small real .pnet models that touch every operator, for fuzz seeds, valgrind and hostile tests.

Each builder returns ``(header, arrays)``, what ``predict.format.write_pnet`` takes: a header
without blobs and float32 weights drawn from a seeded generator, so a model is the same on every
run. ``MODELS`` maps a name to its builder; ``write_all(directory)`` writes every one.

    >>> header, arrays = image_chain()
    >>> [layer["op"] for layer in header["layers"]][:4]
    ['conv', 'depthwise', 'maxpool', 'pad']
"""
import pathlib
import sys

import numpy as np

ACT = {"none": (0.0, 0.0), "relu": (0.0, 0.0), "clip": (0.0, 6.0), "hardswish": (0.0, 0.0),
       "hardsigmoid": (0.2, 0.5), "sigmoid": (0.0, 0.0), "silu": (0.0, 0.0),
       "leakyrelu": (0.1, 0.0)}


def act(kind="none"):
    alpha, beta = ACT[kind]
    return {"kind": kind, "alpha": alpha, "beta": beta}


def window(kernel=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1)):
    return {"kernel": list(kernel), "strides": list(strides), "dilations": list(dilations),
            "pads": list(pads)}


class Graph:
    """A header under construction: tensors, layers and their float32 blobs."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.tensors, self.layers, self.arrays, self.inputs = [], [], [], []

    def tensor(self, shape, blob=None, name=None):
        self.tensors.append({"name": name or f"t{len(self.tensors)}", "shape": list(shape),
                             "dtype": "float32", "blob": blob})
        return len(self.tensors) - 1

    def input(self, shape, name="image"):
        t = self.tensor(shape, name=name)
        self.inputs.append({"name": name, "tensor": t})
        return t

    def blob(self, shape, scale=0.5):
        self.arrays.append((self.rng.standard_normal(shape) * scale).astype(np.float32))
        return len(self.arrays) - 1

    def const(self, shape):
        return self.tensor(shape, blob=self.blob(shape))

    def layer(self, op, inputs, shape, **attrs):
        out = self.tensor(shape)
        self.layers.append({"op": op, "name": f"{op}{len(self.layers)}", "inputs": list(inputs),
                            "output": out, **attrs})
        return out

    def header(self, outputs, *, features=None, preprocess=None, labels=()):
        return {"tensors": self.tensors, "layers": self.layers, "inputs": self.inputs,
                "outputs": [{"name": f"out{i}", "tensor": t} for i, t in enumerate(outputs)],
                "features": features, "preprocess": preprocess, "labels": list(labels),
                "provenance": {"source": "tools/small_models.py"}}


def image_chain(seed=0):
    """A 3x12x10 image through conv, depthwise, pools, pad, a residual add, concat and fc."""
    g = Graph(seed)
    x = g.input([3, 12, 10])
    y = g.layer("conv", [x], [8, 6, 5], **window(strides=(2, 2)), groups=1,
                weight=g.blob([8, 3, 3, 3]), bias=g.blob([8]), act=act("clip"))
    y = g.layer("depthwise", [y], [8, 6, 5], **window(), weight=g.blob([3, 3, 8]),
                bias=g.blob([8]), act=act("hardswish"))
    y = g.layer("maxpool", [y], [8, 3, 3], **window((2, 2), (2, 2), (0, 0, 0, 0)), ceil_mode=True)
    y = g.layer("pad", [y], [8, 5, 5], pads=[1, 1, 1, 1], mode="reflect", value=0.0)
    y = g.layer("avgpool", [y], [8, 3, 3], kernel=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                ceil_mode=False, count_include_pad=False)
    z = g.layer("conv", [y], [8, 3, 3], **window((1, 1), pads=(0, 0, 0, 0)), groups=2,
                weight=g.blob([8, 1, 1, 4]), bias=None, act=act("none"))
    y = g.layer("add", [y, z], [8, 3, 3], act=act("relu"))
    y = g.layer("mul", [y, g.const([8, 1, 1])], [8, 3, 3], act=act("none"))
    y = g.layer("concat", [y, z], [16, 3, 3])
    y = g.layer("global_avgpool", [y], [16, 1, 1])
    features = g.layer("reshape", [y], [16])
    y = g.layer("fc", [features], [5], weight=g.blob([5, 16]), bias=g.blob([5]), act=act("none"))
    y = g.layer("softmax", [y], [5])
    preprocess = {"size": [12, 10], "resize": 14, "interpolation": "bilinear", "channels": "RGB",
                  "scale": 255.0, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    return g.header([y], features=features, preprocess=preprocess,
                    labels=[f"class {i}" for i in range(5)]), g.arrays


def signal_two_outputs(seed=1):
    """A 1-D signal [4, 16]: dilated conv, edge pad, global max pool, two outputs, no preprocess."""
    g = Graph(seed)
    x = g.input([4, 16], name="signal")
    y = g.layer("conv", [x], [6, 16], kernel=[1, 3], strides=[1, 1], dilations=[1, 2],
                pads=[0, 2, 0, 2], groups=1, weight=g.blob([6, 1, 3, 4]), bias=g.blob([6]),
                act=act("leakyrelu"))
    y = g.layer("pad", [y], [6, 18], pads=[0, 1, 0, 1], mode="edge", value=0.0)
    y = g.layer("sub", [y, g.const([6, 1])], [6, 18], act=act("sigmoid"))
    pooled = g.layer("global_maxpool", [y], [6, 1])
    flat = g.layer("reshape", [pooled], [6])
    out = g.layer("fc", [flat], [3], weight=g.blob([3, 6]), bias=None, act=act("silu"))
    y2 = g.layer("div", [y, g.const([1, 18])], [6, 18], act=act("hardsigmoid"))
    return g.header([out, y2]), g.arrays


def vector_mlp(seed=2):
    """A plain vector model: fc layers and a constant-padded activation."""
    g = Graph(seed)
    x = g.input([7], name="x")
    y = g.layer("fc", [x], [9], weight=g.blob([9, 7]), bias=g.blob([9]), act=act("relu"))
    y = g.layer("activation", [y], [9], act=act("clip"))
    y = g.layer("fc", [y], [2], weight=g.blob([2, 9]), bias=g.blob([2]), act=act("none"))
    return g.header([y], labels=["no", "yes"]), g.arrays


def grey_image(seed=3):
    """A one-channel image with BGR-free grey preprocessing and a 5x5 convolution."""
    g = Graph(seed)
    x = g.input([1, 8, 8])
    y = g.layer("conv", [x], [4, 4, 4], **window((5, 5), (2, 2), (2, 2, 2, 2)), groups=1,
                weight=g.blob([4, 5, 5, 1]), bias=g.blob([4]), act=act("relu"))
    y = g.layer("pad", [y], [4, 6, 6], pads=[1, 1, 1, 1], mode="constant", value=-1.5)
    y = g.layer("global_avgpool", [y], [4, 1, 1])
    y = g.layer("reshape", [y], [4])
    preprocess = {"size": [8, 8], "resize": 0, "interpolation": "nearest", "channels": "L",
                  "scale": 1.0, "mean": [128.0], "std": [64.0]}
    return g.header([y], preprocess=preprocess), g.arrays


def image_chain_int8(seed=0):
    """image_chain quantized by the converter (calibrated on random inputs): every int8 operator,
    with quantize/dequantize boundaries around the float32 ``mul`` by a constant."""
    from converters.quantize import quantize_model

    header, arrays = image_chain(seed)
    calibration = np.random.default_rng(seed + 10).standard_normal((16, 3, 12, 10))
    header, arrays, _ = quantize_model(header, arrays, calibration.astype(np.float32))
    return header, arrays


MODELS = {"image_chain": image_chain, "image_chain_int8": image_chain_int8,
          "signal_two_outputs": signal_two_outputs, "vector_mlp": vector_mlp,
          "grey_image": grey_image}


def write_all(directory):
    """Writes every model as <name>.pnet into directory; returns the paths."""
    from predict.format import write_pnet

    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, build in MODELS.items():
        path = directory / f"{name}.pnet"
        write_pnet(path, *build())
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_all(sys.argv[1] if len(sys.argv) > 1 else "build/small_models"):
        print(p)
