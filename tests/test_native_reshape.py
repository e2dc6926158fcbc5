"""The C core's reshape: the element order is that of the channels-first
source layout, whatever the core's NHWC order makes of it."""

import numpy as np
import pytest

from native_helpers import Graph, run_source

SHAPES = [
    ([8, 1, 1], [8]),              # flatten after global pooling (a copy in the core)
    ([3, 4, 5], [60]),             # flatten: NHWC -> source order
    ([60], [3, 4, 5]),
    ([3, 4, 5], [5, 4, 3]),
    ([6, 2, 5], [6, 5, 2]),        # same channels: same NHWC order
    ([2, 15], [5, 3, 2]),          # 1-D signal to image
    ([7, 1, 3], [1, 7, 3]),
]


@pytest.mark.parametrize("src,dst", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_reshape_keeps_source_order(src, dst):
    g = Graph()
    g.output(g.layer("reshape", [g.input(src)], dst))
    xs = np.arange(2 * np.prod(src), dtype=np.float32).reshape([2] + src)
    got, = run_source(g, [xs])
    np.testing.assert_array_equal(got, xs.reshape([2] + dst))
