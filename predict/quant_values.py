"""The int8 numbers a header cannot vouch for: checked in the blobs themselves.

predict.graph checks that each int8 layer's blobs exist with the right dtypes and shapes; what
they hold is checked here, on read and on write, so that a file's refusal is a
ModelFormatError naming the layer rather than the C core's second line of checks:

- requantization parameters (``quant.params``, int32 [2, n]): multipliers >= 0, shifts in
  [1, 62], and one shift for both inputs of an add or sub (docs/quantization.md);
- a softmax exp table: ``E[0] = 2^16`` and every entry in [0, 2^16], so the row sum the kernel
  divides by is at least 2^16 (a forged table of zeros would divide by zero);
- int8 weights in [-127, 127]: -128 is outside the symmetric range the kernels' overflow
  bounds assume.

    >>> first_bad_value(header, arrays)      # doctest: +SKIP
    "layer 3 'conv2' (conv): quant params blob 7: shift 5 is 63, must be in [1, 62]"
"""

import numpy as np

__all__ = ["first_bad_value"]

_EXP_ONE = 1 << 16
_SHIFT_LO, _SHIFT_HI = 1, 62


# The requantization parameters are checked by numpy's min and max first, one reduction per row
# (MobileNetV2's 64 int8 layers: 0.4 ms, where Python's min and max over lists took 2 ms of every
# load); only a row that fails is searched for its first bad entry, for the message.

def _first_outside(values, lo, hi):
    """Index of the first value of a 1-D integer array outside [lo, hi], or None."""
    if not values.size or (lo <= int(values.min()) and int(values.max()) <= hi):
        return None
    return int(np.argmax((values < lo) | (values > hi)))


def _first(values, lo, hi):
    """Index of the first value of a list outside [lo, hi], or None (min and max first: they are
    fast)."""
    if not values or (lo <= min(values) and max(values) <= hi):
        return None
    return next(j for j, v in enumerate(values) if not lo <= v <= hi)


def _params_problem(op, params):
    mult, shift = params[0], params[1]
    j = _first_outside(mult, 0, np.iinfo(mult.dtype).max)  # no upper bound but its dtype's
    if j is not None:
        return f"multiplier {j} is {int(mult[j])}, must be >= 0"
    j = _first_outside(shift, _SHIFT_LO, _SHIFT_HI)
    if j is not None:
        return f"shift {j} is {int(shift[j])}, must be in [{_SHIFT_LO}, {_SHIFT_HI}]"
    if op in ("add", "sub") and int(shift[0]) != int(shift[1]):
        return f"an {op} needs one shift for both inputs, got {int(shift[0])} and {int(shift[1])}"
    return None


def _table_problem(table):
    table = table.tolist()
    if table[0] != _EXP_ONE:
        return f"exp table entry 0 is {table[0]}, must be {_EXP_ONE}"
    j = _first(table, 0, _EXP_ONE)
    if j is not None:
        return f"exp table entry {j} is {table[j]}, must be in [0, {_EXP_ONE}]"
    return None


def first_bad_value(header, arrays):
    """A message for the first int8 blob value out of its range, or None.

    ``header`` is a validated header (read_pnet's, or write_pnet's with its blob list) and
    ``arrays[i]`` blob i; only int8 layers' blobs and int8 blobs are read.
    """
    for i, layer in enumerate(header["layers"]):
        q = layer.get("quant")
        if not isinstance(q, dict):
            continue
        where = f"layer {i} {layer['name']!r} ({layer['op']})"
        if q.get("params") is not None:
            problem = _params_problem(layer["op"], arrays[q["params"]])
            if problem:
                return f"{where}: quant params blob {q['params']}: {problem}"
        if q.get("table") is not None:
            problem = _table_problem(arrays[q["table"]])
            if problem:
                return f"{where}: quant table blob {q['table']}: {problem}"
    for b, array in enumerate(arrays):
        if array.dtype == np.int8 and array.size and int(array.min()) < -127:
            j = int(np.argmin(array.reshape(-1)))
            return f"blob {b}: int8 weight {j} is -128, must be in [-127, 127]"
    return None
