"""The table of ONNX operators the converter maps to layers, op type -> mapper.

A mapper takes the walk's ``Context`` and an ``onnx_graph.Node``, appends
layers (or aliases its output to its input), and raises
``onnx_layers.Unsupported`` with a reason when the node is outside what the
engine runs.  Operators that only compute constants (Shape, Gather, ...) are
not here: ``onnx_consteval`` folds them.

    >>> sorted(MAPPERS)[:4]
    ['Add', 'AveragePool', 'BatchNormalization', 'Cast']
"""

from .onnx_convnet import (map_conv_transpose, map_lrn, map_resize, map_slice, map_split,
                           map_transpose)
from .onnx_dense import map_batchnorm, map_gemm, map_matmul
from .onnx_elementwise import (ACTIVATIONS, map_activation, map_binary, map_concat,
                               map_softmax)
from .onnx_reshape import (map_dropout, map_flatten, map_identity, map_reshape, map_squeeze,
                           map_unsqueeze)
from .onnx_window import (map_avgpool, map_conv, map_global_pool, map_maxpool, map_pad,
                          map_reduce_spatial)

MAPPERS = {
    "Conv": map_conv,
    "MaxPool": map_maxpool,
    "AveragePool": map_avgpool,
    "GlobalAveragePool": map_global_pool,
    "GlobalMaxPool": map_global_pool,
    "Pad": map_pad,
    "Gemm": map_gemm,
    "MatMul": map_matmul,
    "BatchNormalization": map_batchnorm,
    "Add": map_binary,
    "Sub": map_binary,
    "Mul": map_binary,
    "Div": map_binary,
    "Softmax": map_softmax,
    "Concat": map_concat,
    "Reshape": map_reshape,
    "Flatten": map_flatten,
    "Squeeze": map_squeeze,
    "Unsqueeze": map_unsqueeze,
    "Identity": map_identity,
    "Cast": map_identity,
    "Dropout": map_dropout,
    "LRN": map_lrn,
    "ConvTranspose": map_conv_transpose,
    "Resize": map_resize,
    "Upsample": map_resize,
    "Split": map_split,
    "Slice": map_slice,
    "Transpose": map_transpose,
    "ReduceMean": map_reduce_spatial,
    "ReduceMax": map_reduce_spatial,
    **{op: map_activation for op in ACTIVATIONS},
}
