"""Check a conversion: run the converted network and an independent ONNX runtime on the same
random inputs and report, per output, how far apart they are.

The reference is onnxruntime; when it is not installed, or cannot run the model (an operator
it lacks), onnx's own ``ReferenceEvaluator``.  The converted network goes the whole way a
user's does: written to a .pnet file, loaded with ``predict.load``, run by the C core.

Per output the report gives ``max_abs`` (the largest absolute difference) and ``max_rel``,
that difference relative to the output's scale (the largest magnitude of the reference
output), which is what the tolerance bounds: a per-element relative difference means nothing
where an output crosses zero.

    >>> from onnx import helper, TensorProto
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])
    >>> g = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["y"])], "g", [x], [y])
    >>> report = check_onnx(helper.make_model(g))
    >>> report["ok"], report["outputs"][0]["name"], report["outputs"][0]["max_rel"] < 1e-6
    (True, 'y', True)
"""

import os
import tempfile

import numpy as np

DEFAULT_RTOL = 1e-4


def _runtime_input(model):
    initializers = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in initializers][0]


def reference_outputs(model, x):
    """(the name of the runtime used, its outputs on ``x`` in graph output order)."""
    name = _runtime_input(model).name
    data = model.SerializeToString()
    try:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # not the warnings about initializers listed as inputs
        session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        return "onnxruntime", session.run(None, {name: x})
    except ImportError:
        pass
    except Exception:  # onnxruntime refuses an operator or opset it lacks: fall back
        pass
    from onnx.reference import ReferenceEvaluator

    return "onnx.reference", ReferenceEvaluator(model).run(None, {name: x})


def _difference(got, ref):
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    if got.shape != ref.shape:
        return float("inf"), float("inf")
    if got.size == 0:
        return 0.0, 0.0
    max_abs = float(np.max(np.abs(got - ref)))
    scale = float(np.max(np.abs(ref)))
    if not np.isfinite(max_abs):
        return float("inf"), float("inf")
    return max_abs, (max_abs / scale if scale > 0 else max_abs)


def check_onnx(model, *, input_shape=None, batch=2, seed=0, rtol=DEFAULT_RTOL, header=None,
               arrays=None, pnet=None):
    """Convert ``model`` (a ModelProto or a path), run it and the reference on ``batch`` random
    inputs (seeded: random photos through the network's preprocessing when it has one,
    standard-normal arrays otherwise), and report the differences per output.

    ``header`` and ``arrays`` give an already converted network (e.g. an int8 one) to check
    instead of converting here; ``pnet`` names a .pnet file already written from ``model``.  Returns a dict: ``reference`` (the runtime used), ``rtol``,
    ``outputs`` (``name``, ``shape``, ``max_abs``, ``max_rel`` each) and ``ok`` (every
    ``max_rel`` within ``rtol``).  Raises what ``convert_onnx`` raises for a model it cannot
    convert.

    >>> check_onnx("resnet18.onnx", input_shape=(3, 224, 224))["ok"]   # doctest: +SKIP
    True
    """
    import onnx

    import predict
    from predict.format import write_pnet

    from .onnx_import import convert_onnx

    proto = onnx.load(os.fspath(model)) if isinstance(model, (str, os.PathLike)) else model
    dims = _runtime_input(proto).type.tensor_type.shape.dim
    if dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0:
        batch = dims[0].dim_value  # the model fixes its batch size
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as directory:
        if pnet is None:
            if header is None:
                header, arrays = convert_onnx(proto, input_shape=input_shape)
            pnet = os.path.join(directory, "checked.pnet")
            write_pnet(pnet, header, arrays)
        with predict.load(pnet, max_batch=batch) as net:
            x, inputs = _random_inputs(net, batch, rng)
            result = net.run(x)
            got = result if isinstance(result, dict) else {net.output_names[0]: result}

    runtime, expected = reference_outputs(proto, x)
    names = [o.name for o in proto.graph.output]
    outputs = []
    for name, ref in zip(names, expected):
        if name not in got:
            continue
        max_abs, max_rel = _difference(got[name], ref)
        outputs.append({"name": name, "shape": list(np.shape(ref)), "max_abs": max_abs,
                        "max_rel": max_rel})
    ok = bool(outputs) and all(o["max_rel"] <= rtol for o in outputs)
    return {"reference": runtime, "rtol": rtol, "inputs": inputs, "outputs": outputs, "ok": ok}


def _random_inputs(net, batch, rng):
    """(inputs, what they are): random photos (uniform pixels) through the network's own
    preprocessing when it has one, so the inputs span the range it was calibrated for;
    standard-normal arrays otherwise."""
    from predict.image import preprocess

    spec = net.preprocess_spec
    if spec is None:
        return (rng.standard_normal((batch, *net.input_shape)).astype(np.float32),
                "standard-normal inputs")
    h, w = spec["size"]
    shape = (h + h // 4, w + w // 4) + (() if spec["channels"] == "L" else (3,))
    photos = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(batch)]
    return (np.stack([preprocess(p, spec) for p in photos]),
            "random photos through the model's preprocessing")


def format_check(report):
    """The report as lines of text for the command line.

    >>> print(format_check({"reference": "onnxruntime", "rtol": 1e-4, "ok": True,
    ...                     "inputs": "standard-normal inputs",
    ...                     "outputs": [{"name": "y", "shape": [2, 10], "max_abs": 1.5e-06,
    ...                                  "max_rel": 2e-07}]}))
    check against onnxruntime on standard-normal inputs (tolerance 0.0001 relative):
      y (2, 10): max abs diff 1.5e-06, max rel diff 2e-07  ok
    """
    lines = [f"check against {report['reference']} on {report.get('inputs', 'random inputs')} "
             f"(tolerance {report['rtol']:g} relative):"]
    for o in report["outputs"]:
        verdict = "ok" if o["max_rel"] <= report["rtol"] else "ABOVE TOLERANCE"
        lines.append(f"  {o['name']} {tuple(o['shape'])}: max abs diff {o['max_abs']:.3g}, "
                     f"max rel diff {o['max_rel']:.3g}  {verdict}")
    return "\n".join(lines)
