"""The ONNX backend's own operator tests, through the whole predict path.

Each case is converted (converters.onnx_import), written to a .pnet file,
loaded with ``predict.load`` and run by the C core; its outputs must match the
outputs stored beside the model (rtol 1e-4, atol 1e-5).

Selection is by the operator types inside each model, never by folder name:
a case is selected when it uses an operator the converter maps and every
operator in it is one the converter knows (maps, or folds as a constant).

The engine runs with constant weights: inputs of a test other than the first
(a Conv's W, BatchNormalization statistics, Pad's pads, Clip's bounds, a
Reshape's shape, Add's second operand...) are baked into the model as
initializers from the stored input data (onnx_cases.load_case).

A selected case either runs and passes, or is covered by a reason in SKIP_RULES
or SKIP_CATEGORIES; a skipped case must still be refused by the converter, so
a stale reason fails too.  A case that fails to convert without a stated
reason is a failure, never a silent skip.  ``test_every_case_is_accounted_for``
prints the figures (run with ``-s`` to see them).
"""

import collections
import os
import re

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from converters.onnx_import import convert_onnx  # noqa: E402
from predict.errors import ConversionError, UnsupportedModelError  # noqa: E402

from .onnx_cases import KNOWN_OPS, data_root, discover, load_case, load_model  # noqa: E402
from .pnet_reference import run_reference  # noqa: E402
from .pnet_runner import run_converted  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5

# (regular expression on "suite/name", why the case cannot run, a regular expression
# the converter's refusal must match, so that the stated reason is the real one).
SKIP_RULES = [
    (r"^node/test_(add|sub|mul|div)$",
     "the second operand has the full batch shape (3, 4, 5); baked as a constant it varies "
     "along the batch axis, and engine constants have batch 1",
     r"varies along the batch axis"),
    (r"^node/test_concat_[23]d_axis_|^node/test_causal_conv_with_state_(decode_step|.*past_state)",
     "Concat with a constant input (the baked value1 / past_state): a constant can only be "
     "the second operand of a binary op",
     r"\(Concat\): input \d \('\w+'\) is a constant"),
    (r"^node/test_softmax_axis_0$", "Softmax over the batch axis",
     r"Softmax over the batch axis or several axes"),
    (r"^node/test_flatten_(axis0|axis2|axis3|negative_axis1|negative_axis2|negative_axis4)$",
     "Flatten at an axis other than 1 changes the batch dimension",
     r"Flatten with axis=-?\d changes the batch"),
    (r"^node/test_reshape_(one_dim|reordered_all_dims|negative_extended_dims)$",
     "Reshape that changes the batch dimension",
     r"Reshape to .* (changes|merges or splits) the batch"),
    (r"^node/test_reshape_allowzero_reordered$", "Reshape with allowzero=1 to an empty tensor",
     r"allowzero=1"),
    (r"^node/test_squeeze$|^node/test_unsqueeze_axis_0$", "Squeeze / Unsqueeze of the batch axis",
     r"(Squeeze of|Unsqueeze before) the batch axis"),
    (r"^node/test_unsqueeze_(two_axes|three_axes|negative_axes|unsorted_axes)$|"
     r"^pytorch-converted/test_PixelShuffle$",
     "a result of rank 5 or more (graph tensors have rank 2 to 4 with the batch)",
     r"result would be a rank-[56] tensor"),
    (r"^node/test_gemm_(all_attributes|transposeA)$",
     "Gemm with transA=1 (the activation transposed across the batch)", r"transA=1"),
    (r"^node/test_gemm_default_matrix_bias$", "Gemm bias C that varies along the batch axis",
     r"C of shape \[3, 4\] varies along the batch axis"),
    (r"^node/test_matmul_(3d|4d|4d_1d|bcast)$|^node/test_flexattention_",
     "batched MatMul of rank-3/4 tensors (fc takes a (N, K) activation and a constant matrix)",
     r"MatMul needs a 2-D \(batch, K\) activation"),
    (r"^node/test_averagepool_2d_dilations$", "dilated AveragePool (avgpool has dilation 1)",
     r"dilations=\[2, 2\] unsupported"),
    (r"^node/test_maxpool_with_argmax_", "MaxPool's Indices output / storage_order=1",
     r"Indices output|storage_order=1"),
    (r"^node/test_batchnorm_.*_training_mode$", "training_mode BatchNormalization",
     r"training_mode=1"),
    (r"^node/test_training_dropout", "training-mode Dropout", r"training_mode=True"),
    (r"^node/test_dropout_default_mask", "Dropout's mask output", r"mask output"),
    (r"^node/test_center_crop_pad_(?!crop_axes_chw_expanded)",
     "CenterCropPad on HWC data or cropping the first axis: Slice of the batch axis and "
     "padding the channel axis", r"Slice of the batch axis|padding the batch or channel axis"),
    (r"^node/test_resize_.*cubic", "cubic Resize (nearest and linear only)", r"mode=cubic"),
    (r"^node/test_resize_.*antialias", "antialiased Resize", r"antialias=1"),
    (r"^node/test_resize_.*_not_(larger|smaller)$", "Resize keeping the aspect ratio",
     r"keep_aspect_ratio_policy=not_"),
    (r"^node/test_resize_tf_crop_and_resize", "Resize with tf_crop_and_resize (a region of "
     "interest)", r"coordinate_transformation_mode=tf_crop_and_resize"),
    (r"^node/test_resize_.*half_pixel_symmetric$", "half_pixel_symmetric Resize to a size "
     "that is not exactly input x scale", r"half_pixel_symmetric with an output not exactly"),
    (r"^node/test_reduce_(mean|max)_(?!empty_set)",
     "ReduceMean / ReduceMax over the batch or channel axis (the engine reduces every spatial "
     "axis: global pooling)", r"Reduce(Mean|Max) over axes \[[\d, ]*\] of a rank-\d tensor"),
    (r"^node/test_reduce_max_empty_set$", "an input with a zero-size dim",
     r"dims \[1\] are not static"),
    (r"^node/test_(layer|rms|group)_normalization_.*_expanded(_ver18)?$|"
     r"^node/test_mvn_expanded(_ver18)?$",
     "normalization layers spelled out: reductions over non-spatial axes, Sqrt / Pow of "
     "run-time tensors, group views reshaped",
     r"Reduce(Mean|Max) over axes|operator (Sqrt|Pow) on a run-time tensor|"
     r"Reshape of a grouped channel view"),
    (r"^node/test_slice$|^node/test_slice_neg_steps$",
     "Slice of the batch axis (and negative steps)", r"Slice of the batch axis"),
    (r"^node/test_slice_start_out_of_bounds$", "Slice to an empty tensor", r"is empty"),
    (r"^node/test_transpose_(default|all_permutations_[2-5])$",
     "Transpose that moves the batch axis", r"Transpose with perm \[[\d, ]+\] moves the batch"),
    (r"^node/test_rotary_embedding(_.*)?_expanded$",
     "RotaryEmbedding's expansion: empty splits, strided slices, constants that vary along "
     "the batch",
     r"does not cut dim \d+ into \d+ non-empty parts|varies along the batch|Slice with steps"),
    (r"^pytorch-converted/test_Softmin$", "Neg of a run-time tensor", r"Neg on a run-time tensor"),
]


def _first_input(model):
    graph = model.graph
    initialized = {t.name for t in graph.initializer}
    runtime = [vi for vi in graph.input if vi.name not in initialized]
    return runtime[0] if runtime else None


def _non_tensor(model):
    values = list(model.graph.input) + list(model.graph.output)
    return any(not vi.type.HasField("tensor_type") for vi in values)


def _rank(model):
    vi = _first_input(model)
    return None if vi is None else len(vi.type.tensor_type.shape.dim)


# (predicate on the ONNX model, why the cases cannot run, what the refusal must match):
# the reasons that follow from the model's input rather than from one operator.
SKIP_CATEGORIES = [
    (lambda m: _first_input(m) is None,
     "no run-time input (the graph is a constant)", r"exactly one run-time input"),
    (_non_tensor,
     "sequence or optional values: the engine has tensors only", r"is not a tensor"),
    (lambda m: _first_input(m).type.tensor_type.elem_type != onnx.TensorProto.FLOAT,
     "non-float32 data (integer, float16, double): the engine computes in float32",
     r"element type \w+ unsupported"),
    (lambda m: _rank(m) == 1,
     "a (N,) input has no feature axis: per-sample tensors are [K], [C, L] or [C, H, W]",
     r"a rank-1 input unsupported"),
    (lambda m: _rank(m) >= 5,
     "rank-5 input (3-D convolution, pooling or batch norm)", r"a rank-5 input unsupported"),
]

# Cases compared with onnxruntime instead of the stored outputs, and why.
ORACLE_ONNXRUNTIME = {
    "node/test_averagepool_2d_ceil_last_window_starts_on_pad":
        "its stored output is rounded to 4 decimals (off by 5.6e-5, beyond atol 1e-5)",
    "node/test_resize_downsample_scales_linear_align_corners":
        "align_corners with a scale whose output length is fractional (4 x 0.6 = 2.4): the "
        "stored output divides by 2.4 - 1, onnxruntime (and the engine) by the integer "
        "output length 2 - 1",
}


def _selected():
    cases = discover()
    return ([c for c in cases if c.ops <= KNOWN_OPS],
            [c for c in cases if not c.ops <= KNOWN_OPS])


if not os.path.isdir(os.path.join(data_root(), "node")):
    pytest.skip(f"onnx {onnx.__version__} ships no backend node tests (1.22.0 does)",
                allow_module_level=True)

CASES, OTHER_OPERATORS = _selected()
RESULTS = {}  # case id -> "passed" or the skip reason, filled as the cases run


def skip_reason(case, model):
    """(the stated reason a case cannot run, what its refusal must match), or None."""
    for pattern, reason, evidence in SKIP_RULES:
        if re.search(pattern, case.id):
            return reason, evidence
    for predicate, reason, evidence in SKIP_CATEGORIES:
        if predicate(model):
            return reason, evidence
    return None


def _compare(case, header, arrays, x, got, expected):
    assert len(got) == len(expected), f"{len(got)} outputs, expected {len(expected)}"
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, f"output {i}: shape {g.shape}, expected {e.shape}"
        if np.allclose(g, e, rtol=RTOL, atol=ATOL):
            continue
        # Name the guilty half: does a plain numpy run of the same header agree?
        ref = run_reference(header, arrays, [x])[i]
        verdict = ("the numpy reference of the converted graph agrees with the expected "
                   "output: the C core is wrong" if np.allclose(ref, e, rtol=RTOL, atol=ATOL)
                   else "the numpy reference of the converted graph is wrong too: the converter is wrong")
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=ATOL, err_msg=f"{case.id} output {i}: {verdict}")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case, tmp_path):
    model, x, expected = load_case(case)
    skip = skip_reason(case, model)
    if skip is not None:
        # A stated reason must still hold: the converter refuses the case, for that reason.
        reason, evidence = skip
        try:
            convert_onnx(model)
        except (UnsupportedModelError, ConversionError) as e:
            assert re.search(evidence, str(e)), (
                f"{case.id} is refused, but not as the skip table says ({reason}): {e}")
            RESULTS[case.id] = reason
            pytest.skip(reason)
        pytest.fail(f"{case.id} converts although the skip table says: {reason}; "
                    f"remove the stale entry")
    header, arrays = convert_onnx(model)
    got = run_converted(header, arrays, x, tmp_path)
    if case.id in ORACLE_ONNXRUNTIME:
        import onnxruntime

        session = onnxruntime.InferenceSession(model.SerializeToString(),
                                               providers=["CPUExecutionProvider"])
        expected = session.run(None, {_first_input(model).name: x})
    _compare(case, header, arrays, x, got, expected)
    RESULTS[case.id] = "passed"


def test_every_case_is_accounted_for(record_property):
    """Every selected case runs or has a stated reason; print the figures."""
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    # onnx 1.22.0 holds 279 selected cases; far fewer means discovery broke.
    assert len(CASES) >= 250, f"only {len(CASES)} cases selected"
    dead = [p for p, _, _ in SKIP_RULES if not any(re.search(p, i) for i in ids)]
    assert not dead, f"skip rules that match no case: {dead}"

    by_reason = collections.Counter()
    to_run = []
    for case in CASES:
        skip = skip_reason(case, load_model(case))
        if skip is None:
            to_run.append(case)
        else:
            by_reason[skip[0]] += 1
    assert len(to_run) + sum(by_reason.values()) == len(CASES)

    suites = collections.Counter(c.suite for c in to_run)
    passed = sum(1 for v in RESULTS.values() if v == "passed")
    lines = [f"ONNX conformance: {len(CASES)} cases selected "
             f"({len(OTHER_OPERATORS)} more use operators outside the converter, not selected)",
             f"  to run: {len(to_run)} (node {suites['node']}, pytorch-converted "
             f"{suites['pytorch-converted']}); passed in this session: {passed}",
             f"  skipped: {sum(by_reason.values())}"]
    lines += [f"    {n:3d}  {reason}" for reason, n in by_reason.most_common()]
    print("\n".join(lines))
    record_property("onnx_conformance", {"selected": len(CASES), "to_run": len(to_run),
                                         "passed": passed, "skipped": dict(by_reason)})
