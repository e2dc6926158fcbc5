"""Rewrite a converted layer graph into fewer, fused layers.

Each pass looks for one local pattern and rewrites it in place; none changes
what the graph computes.  A tensor is only fused away when exactly one layer
reads it and it is not ``protected`` (a graph output, or features the caller
asked for), because a fused intermediate no longer exists at run time.
``simplify`` runs these passes, in this order:

- ``_fuse_silu``: ``x * sigmoid(x)`` -> one ``silu`` activation (and
  ``x * hardsigmoid(x)`` with alpha 1/6, beta 1/2 -> ``hardswish``).
- ``_fold_affine``: a per-channel affine (an inference BatchNormalization)
  after a conv, depthwise or fc layer is multiplied into its weights and bias.
- ``_fold_pad``: a zero constant ``pad`` before a conv or depthwise layer joins
  the layer's own padding (when the sum stays below the kernel extent).
- ``_fold_fc_bias``: ``fc`` then ``add``/``sub`` of a ``[Cout]`` constant ->
  the constant joins the fc bias (MatMul + Add is how Linear often exports).
- ``_fuse_activations``: an ``activation`` layer joins its producer's output
  stage (conv, depthwise, fc, add, sub, mul, div, affine).
- ``_lower_affine``: an affine left over becomes a 1x1 ``depthwise`` layer, or
  ``mul`` then ``add`` of constants on a ``[K]`` vector.
- ``_prune``: layers whose results nobody reads are dropped.
"""

import numpy as np

from .onnx_layers import act

_WEIGHTED = ("conv", "depthwise", "fc", "conv_transpose")
_FUSE_INTO = ("conv", "depthwise", "fc", "add", "sub", "mul", "div", "affine", "conv_transpose")


def _plain(layer):
    """True when the layer applies no activation yet."""
    return layer.attrs.get("act", act())["kind"] == "none"


class _Pass:
    """Producer and consumer bookkeeping shared by the passes."""

    def __init__(self, graph, protected):
        self.graph = graph
        self.protected = protected
        self.counts = graph.consumers()
        self.producers = graph.producers()
        self.removed = set()

    def sole_producer(self, t, ops):
        """The layer writing ``t`` if it is one of ``ops`` and ``t`` can be fused away."""
        layer = self.producers.get(t)
        if layer is None or id(layer) in self.removed or layer.op not in ops:
            return None
        if self.counts.get(t, 0) != 1 or t in self.protected:
            return None
        return layer

    def absorb(self, producer, consumer):
        """``producer`` now writes ``consumer``'s output; ``consumer`` goes away."""
        self.counts.pop(producer.output, None)
        producer.output = consumer.output
        self.producers[consumer.output] = producer
        self.removed.add(id(consumer))

    def finish(self):
        self.graph.layers = [layer for layer in self.graph.layers if id(layer) not in self.removed]


def _fuse_silu(graph, protected):
    """``mul(x, sigmoid(x))`` -> ``activation silu`` (and the hard-swish equivalent)."""
    p = _Pass(graph, protected)
    for layer in graph.layers:
        if layer.op != "mul" or not _plain(layer):
            continue
        for x, gate in (layer.inputs, layer.inputs[::-1]):
            g = p.sole_producer(gate, ("activation",))
            if g is None or g.inputs[0] != x:
                continue
            a = g.attrs["act"]
            if a["kind"] == "sigmoid":
                kind = "silu"
            elif (a["kind"] == "hardsigmoid" and abs(a["alpha"] - 1 / 6) < 1e-6
                  and a["beta"] == 0.5):
                kind = "hardswish"
            else:
                continue
            layer.op, layer.inputs, layer.attrs = "activation", [x], {"act": act(kind)}
            p.counts[x] -= 1
            p.removed.add(id(g))
            break
    p.finish()


def _scale_output_channels(layer, scale, shift):
    w = layer.attrs["weight"]
    if layer.op == "conv_transpose":
        # [Cin, kh, kw, Cout/groups]: input channel ci feeds the output channels of its group.
        groups = layer.attrs["groups"]
        per_in = np.repeat(scale.reshape(groups, -1), w.shape[0] // groups, axis=0)
        layer.attrs["weight"] = (w * per_in[:, None, None, :]).astype(np.float32)
    elif layer.op == "depthwise":
        layer.attrs["weight"] = (w * scale).astype(np.float32)  # [kh, kw, C]
    else:
        layer.attrs["weight"] = (w * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
    bias = layer.attrs["bias"]
    bias = np.zeros_like(shift) if bias is None else bias
    layer.attrs["bias"] = (bias * scale + shift).astype(np.float32)


def _fold_affine(graph, protected):
    """Multiply an affine into the conv, depthwise or fc layer that feeds it."""
    p = _Pass(graph, protected)
    for layer in graph.layers:
        if layer.op != "affine" or not _plain(layer):
            continue
        producer = p.sole_producer(layer.inputs[0], _WEIGHTED)
        if producer is None or not _plain(producer):
            continue
        _scale_output_channels(producer, layer.attrs["scale"], layer.attrs["shift"])
        p.absorb(producer, layer)
    p.finish()


def _fold_pad(graph, protected):
    """Move a zero constant pad into the padding of the conv or depthwise layer it feeds."""
    p = _Pass(graph, protected)
    for layer in graph.layers:
        if layer.op not in ("conv", "depthwise"):
            continue
        pad = p.sole_producer(layer.inputs[0], ("pad",))
        if pad is None or pad.attrs["mode"] != "constant" or pad.attrs["value"] != 0.0:
            continue
        (kh, kw), (dh, dw) = layer.attrs["kernel"], layer.attrs["dilations"]
        extent = [(kh - 1) * dh + 1, (kw - 1) * dw + 1] * 2
        pads = [a + b for a, b in zip(layer.attrs["pads"], pad.attrs["pads"])]
        if any(v >= e for v, e in zip(pads, extent)):
            continue  # format.md: each pad stays below the dilated kernel extent
        layer.attrs["pads"] = pads
        layer.inputs[0] = pad.inputs[0]
        p.removed.add(id(pad))
    p.finish()


def _fold_fc_bias(graph, protected):
    """Add (or subtract) a constant ``[Cout]`` (or ``[1]``) vector into the fc bias before it."""
    p = _Pass(graph, protected)
    for layer in graph.layers:
        if layer.op not in ("add", "sub") or not _plain(layer):
            continue
        const = graph.tensors[layer.inputs[1]].const
        fc = p.sole_producer(layer.inputs[0], ("fc",))
        if const is None or fc is None or not _plain(fc):
            continue
        cout = fc.attrs["weight"].shape[0]
        bias = fc.attrs["bias"] if fc.attrs["bias"] is not None else np.zeros(cout, np.float32)
        sign = 1.0 if layer.op == "add" else -1.0
        fc.attrs["bias"] = (bias + sign * np.broadcast_to(const.reshape(-1), (cout,))).astype(np.float32)
        p.absorb(fc, layer)
    p.finish()


def _fuse_activations(graph, protected):
    """Give an ``activation`` layer's function to the layer producing its input."""
    p = _Pass(graph, protected)
    for layer in graph.layers:
        if layer.op != "activation":
            continue
        producer = p.sole_producer(layer.inputs[0], _FUSE_INTO)
        if producer is None or not _plain(producer):
            continue
        producer.attrs["act"] = dict(layer.attrs["act"])
        p.absorb(producer, layer)
    p.finish()


def _lower_affine(graph):
    """Turn each remaining ``affine`` into format ops."""
    layers = []
    for layer in graph.layers:
        if layer.op != "affine":
            layers.append(layer)
            continue
        scale, shift, a = layer.attrs["scale"], layer.attrs["shift"], layer.attrs["act"]
        shape = graph.tensors[layer.output].shape
        if len(shape) >= 2:
            layer.op = "depthwise"
            layer.attrs = {"kernel": [1, 1], "strides": [1, 1], "dilations": [1, 1],
                           "pads": [0, 0, 0, 0], "weight": scale.reshape(1, 1, -1),
                           "bias": shift, "act": a}
            layers.append(layer)
            continue
        # A [K] vector: depthwise needs a [C, (H,) W] tensor, so use two binary ops.
        out_name = graph.tensors[layer.output].name
        s = graph.constant(f"{out_name}:scale", scale)
        b = graph.constant(f"{out_name}:shift", shift)
        mid = graph.tensor(f"{out_name}:scaled", shape)
        layers.append(type(layer)("mul", layer.name, [layer.inputs[0], s], mid, {"act": act()}))
        layers.append(type(layer)("add", layer.name, [mid, b], layer.output, {"act": a}))
    graph.layers = layers


def _prune(graph, protected):
    """Drop layers whose outputs no layer reads and that are not protected."""
    while True:
        counts = graph.consumers()
        keep = [layer for layer in graph.layers
                if counts.get(layer.output, 0) > 0 or layer.output in protected]
        if len(keep) == len(graph.layers):
            return
        graph.layers = keep


def simplify(graph, protected):
    """Run every pass in order; ``protected`` is a set of tensor indices to keep.

    >>> import numpy as np
    >>> from converters.onnx_layers import LayerGraph, act
    >>> g = LayerGraph()
    >>> x = g.tensor("x", (2, 4, 4))
    >>> y = g.add("conv", "c", [x], "y", (2, 4, 4), kernel=[1, 1], strides=[1, 1],
    ...           dilations=[1, 1], pads=[0, 0, 0, 0], groups=1, weight=np.ones((2, 1, 1, 2)),
    ...           bias=None, act=act())
    >>> z = g.add("activation", "r", [y], "z", (2, 4, 4), act=act("relu"))
    >>> simplify(g, protected={z})
    >>> [(layer.op, layer.attrs["act"]["kind"]) for layer in g.layers]
    [('conv', 'relu')]
    """
    protected = set(protected)
    _prune(graph, protected)
    _fuse_silu(graph, protected)
    _fold_affine(graph, protected)
    _fold_pad(graph, protected)
    _fold_fc_bias(graph, protected)
    _fuse_activations(graph, protected)
    _lower_affine(graph)
    _prune(graph, protected)
