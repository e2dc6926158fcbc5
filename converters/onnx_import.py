"""Convert an ONNX model into a predict network (.pnet).

The steps, each in its own module:

1. ``onnx_graph.read_graph``: the ModelProto as plain Python (nodes,
   initializers, the one run-time input, the outputs).
2. ``onnx_walk.walk``: nodes in order; constant subgraphs are evaluated with
   numpy (``onnx_consteval``), the rest mapped to format layers by the mappers
   of ``onnx_ops``.  Every unsupported node is collected.
3. ``simplify.simplify``: fold batch norm and pads, fuse activations.
4. ``onnx_layers.emit``: the header of docs/format.md and the blob arrays.

The ``onnx`` package is imported only here and in those modules, never by the
runtime.

    >>> from onnx import helper, TensorProto
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4, 4])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 1, 1])
    >>> g = helper.make_graph([helper.make_node("GlobalAveragePool", ["x"], ["y"])], "g", [x], [y])
    >>> header, arrays = convert_onnx(helper.make_model(g))
    >>> [layer["op"] for layer in header["layers"]], header["tensors"][1]["shape"]
    (['global_avgpool'], [3, 1, 1])
"""

import datetime
import hashlib
import os

import numpy as np

from predict.errors import ConversionError, PredictError, UnsupportedModelError

CONVERTER_VERSION = "1"


def _load(model):
    """(ModelProto, source name or None, sha256 of the serialized model)."""
    import onnx

    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        try:
            with open(path, "rb") as f:
                data = f.read()
            proto = onnx.load(path)
        except OSError as e:
            raise ConversionError(f"cannot read ONNX model {path!r}: {e}") from e
        except Exception as e:  # protobuf decode errors have no common base class
            raise ConversionError(f"{path!r} is not a readable ONNX model: {e}") from e
        return proto, os.path.basename(path), hashlib.sha256(data).hexdigest()
    if isinstance(model, onnx.ModelProto):
        return model, None, hashlib.sha256(model.SerializeToString()).hexdigest()
    raise ConversionError(f"expected an onnx.ModelProto or a path, got {type(model).__name__}")


def _problem_message(problems):
    lines = [f"  - node {name!r} ({op}): {reason}" for name, op, reason in problems]
    return (f"the model cannot be converted: {len(problems)} unsupported "
            f"{'node' if len(problems) == 1 else 'nodes'}:\n" + "\n".join(lines))


def _outputs(walked, problems):
    """(name, tensor index) of each graph output; constants are problems."""
    from .onnx_walk import UNKNOWN

    outputs = []
    for name in walked.output_names:
        if name not in walked.values:
            raise ConversionError(f"graph output {name!r} is produced by no node")
        value = walked.values[name]
        if value is UNKNOWN:
            continue  # its cause is already among the problems
        if isinstance(value, np.ndarray):
            problems.append((name, "graph output", "the output is a constant, not computed from the input"))
            continue
        if not isinstance(value, int):
            problems.append((name, "graph output", "the output is a rank-5 channel view"))
            continue
        outputs.append((name, value))
    return outputs


def _copy_input_outputs(graph, input_tensor, outputs):
    """An output that is the input itself (Identity) gets a copy layer: a layer never
    writes the graph input, and an io output names a computed tensor."""
    from .onnx_layers import act

    fixed = []
    for name, t in outputs:
        if t == input_tensor:
            t = graph.add("activation", f"{name}:copy", [t], name, graph.tensors[t].shape, act=act())
        fixed.append((name, t))
    return fixed


def _find_features(walked, features):
    """The tensor index of ``features`` (an ONNX tensor name), or None."""
    if features is None:
        return None
    value = walked.values.get(features)
    if isinstance(value, int) and value != walked.input[1]:
        return value
    raise ConversionError(f"features={features!r} names no tensor computed at run time")


def _default_features(graph, input_tensor):
    """The input of the last fc layer (the penultimate features), if any."""
    fcs = [layer for layer in graph.layers if layer.op == "fc"]
    if not fcs or fcs[-1].inputs[0] == input_tensor:
        return None
    return fcs[-1].inputs[0]


def _provenance(given, source, sha, view):
    import onnx

    out = {
        "converter": f"predict.converters.onnx_import {CONVERTER_VERSION} (onnx {onnx.__version__})",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source_sha256": sha,
        "source_opset": str(view.opset),
    }
    if source is not None:
        out["source"] = source
    out.update({str(k): str(v) for k, v in (given or {}).items()})
    return out


def convert_onnx(model, *, input_shape=None, labels=None, preprocess=None, provenance=None,
                 features=None):
    """Convert an ONNX model (a ModelProto or a path) to ``(header, arrays)`` for write_pnet.

    ``input_shape`` gives the input's dims besides the batch, e.g. ``(3, 224, 224)``,
    where the model leaves them dynamic.  ``features`` names the tensor that
    ``Network.features`` returns; by default the input of the last fully
    connected layer.  ``labels``, ``preprocess`` and ``provenance`` go into the
    header (provenance gains the source's sha256, the converter and the time).

    Raises UnsupportedModelError listing every node it cannot convert, and
    ConversionError for a model that is malformed or under-specified, or whose
    weights hold NaN or infinity; nothing else, whatever the file holds.

    >>> from onnx import helper, TensorProto
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    >>> w = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], [0.5] * 8)
    >>> g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [w])
    >>> header, arrays = convert_onnx(helper.make_model(g), labels=["a", "b"])
    >>> header["layers"][0]["op"], arrays[0].shape, header["labels"]
    ('fc', (2, 4), ['a', 'b'])
    """
    proto, source, sha = _load(model)
    try:
        header, arrays = _convert(proto, source, sha, input_shape, labels, preprocess,
                                  provenance, features)
    except PredictError:
        raise
    except Exception as e:
        # Models come from strangers: a malformed one that slips past the checks (a tensor
        # whose data disagrees with its dims, an attribute of the wrong type...) must still
        # end as the converter's own error, never as a stray exception.
        text = f"{type(e).__name__}: {e}"
        raise ConversionError(f"{source or 'the model'} is malformed or not supported "
                              f"({text[:300]})") from e
    _check_finite(header, arrays)
    return header, arrays


def _check_finite(header, arrays):
    """Refuses NaN or infinite weights, which no trained model holds, naming their layer."""
    for index, array in enumerate(arrays):
        finite = np.isfinite(array)
        if finite.all():
            continue
        users = [f"layer {layer['name']!r} ({key})" for layer in header["layers"]
                 for key in ("weight", "bias") if layer.get(key) == index]
        users += [f"constant {t['name']!r}" for t in header["tensors"] if t["blob"] == index]
        value = float(array.reshape(-1)[int(np.argmin(finite.reshape(-1)))])
        raise ConversionError(f"the weights of {', '.join(users) or f'blob {index}'} hold "
                              f"{value}; a model's weights must be finite")


def _convert(proto, source, sha, input_shape, labels, preprocess, provenance, features):
    from .onnx_graph import read_graph
    from .onnx_layers import emit
    from .onnx_walk import walk
    from .simplify import simplify

    view = read_graph(proto)
    walked = walk(view, input_shape)
    problems = list(walked.problems)
    outputs = _outputs(walked, problems)
    if problems:
        raise UnsupportedModelError(_problem_message(problems), problems=problems)
    if not outputs:
        raise ConversionError("the graph has no outputs")
    graph = walked.graph
    input_name, input_tensor = walked.input
    outputs = _copy_input_outputs(graph, input_tensor, outputs)
    feature = _find_features(walked, features)
    protected = {t for _, t in outputs} | ({feature} if feature is not None else set())
    simplify(graph, protected)
    if feature is None:
        feature = _default_features(graph, input_tensor)

    labels = [str(label) for label in (labels or [])]
    if labels:
        count = int(np.prod(graph.tensors[outputs[0][1]].shape))
        if len(labels) != count:
            raise ConversionError(f"{len(labels)} labels for an output of {count} values")
    header, arrays = emit(graph, [(input_name, input_tensor)], outputs, feature)
    header["preprocess"] = preprocess
    header["labels"] = labels
    header["provenance"] = _provenance(provenance, source, sha, view)
    return header, arrays


def convert_onnx_file(src, dst, **kw):
    """Convert the ONNX file ``src`` and write the network to ``dst``; return its sha256.

    Keyword arguments are those of ``convert_onnx``.

    >>> import tempfile, onnx
    >>> from onnx import helper, TensorProto
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])
    >>> g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x],
    ...                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     onnx.save(helper.make_model(g), d + "/m.onnx")
    ...     len(convert_onnx_file(d + "/m.onnx", d + "/m.pnet"))
    64
    """
    from predict.format import write_pnet

    header, arrays = convert_onnx(src, **kw)
    return write_pnet(dst, header, arrays)
