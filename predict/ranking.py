"""Which classes come first: the top-k of rows of probabilities.

Every place that ranks (``classify``, ``predict classify``, a learned
predictor, the batch tagger) goes through here, so all of them order ties
alike: largest first, equal values by lower index, as
``np.argsort(-row, kind="stable")`` does.

``top_indices`` ranks one row with Python's heapq rather than numpy's sort: a
process that classifies one photo would otherwise page in numpy's sorting code
(about 190 KB of resident memory here) to order a thousand values.
``top_indices_rows`` ranks a whole batch with that sort, in one call, where
the batch tagger's speed matters more (a row costs about 20 us that way,
50 us with heapq).

    >>> top_indices([0.1, 0.6, 0.1, 0.2], 3)
    [1, 3, 0]
"""

import heapq

import numpy as np

__all__ = ["top_indices", "top_indices_rows"]


def top_indices(row, k=None):
    """Indices of the ``k`` largest values of ``row`` (all of them when
    ``k`` is None), largest first, equal values by lower index.

    ``row`` is a 1-D numpy array or a sequence of numbers, without NaN.

    >>> top_indices([3.0, 1.0, 3.0, 2.0], 2)
    [0, 2]
    """
    values = row.tolist() if hasattr(row, "tolist") else list(row)
    n = len(values)
    if k is None or k >= n:
        return sorted(range(n), key=values.__getitem__, reverse=True)   # stable
    # The k-th largest value, then the few candidates at or above it, ordered.
    threshold = heapq.nlargest(k, values)[-1]
    candidates = [i for i, v in enumerate(values) if v >= threshold]
    candidates.sort(key=values.__getitem__, reverse=True)
    return candidates[:k]


def top_indices_rows(rows, k):
    """``top_indices`` of each row of a 2-D array, as an ``(N, min(k, K))`` int array.

    >>> top_indices_rows(np.array([[1.0, 3.0, 2.0], [5.0, 5.0, 0.0]]), 2).tolist()
    [[1, 2], [0, 1]]
    """
    return np.argsort(-rows, axis=1, kind="stable")[:, :k]
