"""Find the ONNX backend test cases of the operators the converter maps, and
prepare them to run with constant weights.

onnx 1.22.0 ships ``onnx/backend/test/data/node/test_*`` (one operator per
model, new opsets) and ``pytorch-converted/test_*`` (PyTorch modules exported
at opset 6), each with ``model.onnx`` and ``test_data_set_0/{input,output}_*.pb``.
Cases are chosen by the operator types inside the model, never by folder name.

    >>> cases = discover()                                  # doctest: +SKIP
    >>> cases[0].suite, cases[0].name                       # doctest: +SKIP
    ('node', 'test_add')
"""

import glob
import os
from dataclasses import dataclass

from converters.onnx_consteval import FOLDABLE
from converters.onnx_ops import MAPPERS

# The operators the converter maps to engine layers, less Cast: its backend
# tests are about converting between element types; the engine is float32.
SELECTED_OPS = frozenset(MAPPERS) - {"Cast"}
# Every operator the converter knows: mapped, or folded when its inputs are constant.
KNOWN_OPS = frozenset(MAPPERS) | FOLDABLE
SUITES = ("node", "pytorch-converted")


@dataclass(frozen=True)
class Case:
    suite: str
    name: str
    path: str
    ops: frozenset

    @property
    def id(self):
        return f"{self.suite}/{self.name}"


def data_root():
    import onnx

    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")


def discover():
    """Every case of SUITES whose model uses at least one operator of SELECTED_OPS
    (test_onnx_node.py keeps those whose every operator is in KNOWN_OPS)."""
    import onnx

    cases = []
    for suite in SUITES:
        for path in sorted(glob.glob(os.path.join(data_root(), suite, "test_*"))):
            model_path = os.path.join(path, "model.onnx")
            if not os.path.exists(model_path):
                continue
            model = onnx.load(model_path, load_external_data=False)
            ops = frozenset(n.op_type for n in model.graph.node)
            if ops & SELECTED_OPS:
                cases.append(Case(suite, os.path.basename(path), path, ops))
    return cases


def _tensors(case, kind):
    import onnx
    from onnx import numpy_helper

    files = sorted(glob.glob(os.path.join(case.path, "test_data_set_0", f"{kind}_*.pb")),
                   key=lambda p: int(p.rsplit("_", 1)[1].split(".")[0]))
    return [numpy_helper.to_array(onnx.load_tensor(f)) for f in files]


def load_model(case):
    """The case's model as shipped."""
    import onnx

    return onnx.load(os.path.join(case.path, "model.onnx"))


def _is_tensor(value_info):
    return value_info.type.HasField("tensor_type")


def load_case(case):
    """(model with every run-time input but the first baked in as an initializer,
    the first input's array, the expected output arrays); the arrays are None
    when the model has non-tensor (sequence, optional) inputs or outputs.

    The engine runs with constant weights: a test that feeds a Conv's W, a
    BatchNormalization's statistics, Pad's pads, Clip's bounds, a Reshape's
    shape or Add's second operand as graph inputs gets the stored input data
    as initializers instead, which is how a trained model carries them.
    """
    from onnx import numpy_helper

    model = load_model(case)
    graph = model.graph
    if not all(_is_tensor(vi) for vi in list(graph.input) + list(graph.output)):
        return model, None, None  # sequences or optionals: nothing to bake or compare
    inputs = _tensors(case, "input")
    initialized = {t.name for t in graph.initializer}
    runtime = [vi for vi in graph.input if vi.name not in initialized]
    for vi, data in list(zip(runtime, inputs))[1:]:
        graph.initializer.append(numpy_helper.from_array(data, vi.name))
        graph.input.remove(vi)
    return model, (inputs[0] if inputs else None), _tensors(case, "output")
