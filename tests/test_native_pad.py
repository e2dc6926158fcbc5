"""The C core's spatial padding (constant, reflect, edge) against np.pad."""

import numpy as np
import pytest

from native_helpers import Graph, run_source

NP_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge"}


@pytest.mark.parametrize("mode", NP_MODES)
@pytest.mark.parametrize("shape,pads", [([1, 1, 1], (0, 0, 0, 0)), ([3, 5, 4], (1, 2, 3, 0)),
                                        ([2, 7, 7], (2, 2, 2, 2)), ([4, 9], (0, 3, 0, 1))],
                         ids=lambda v: "x".join(map(str, v)))
def test_pad_matches_numpy(mode, shape, pads):
    if mode == "edge" and shape == [1, 1, 1]:
        pads = (1, 2, 2, 1)  # edge may pad a single pixel; reflect may not
    pt, pl, pb, pr = pads
    rng = np.random.default_rng(len(shape))
    out = [shape[0], shape[1] + pt + pb, shape[2] + pl + pr] if len(shape) == 3 else [shape[0], shape[1] + pl + pr]
    g = Graph()
    g.output(g.layer("pad", [g.input(shape)], out, pads=list(pads), mode=mode, value=1.5))
    xs = rng.standard_normal([2] + shape).astype(np.float32)
    got, = run_source(g, [xs])
    widths = [(0, 0), (0, 0), (pt, pb), (pl, pr)] if len(shape) == 3 else [(0, 0), (0, 0), (pl, pr)]
    kw = {"constant_values": 1.5} if mode == "constant" else {}
    np.testing.assert_array_equal(got, np.pad(xs, widths, mode=NP_MODES[mode], **kw))
