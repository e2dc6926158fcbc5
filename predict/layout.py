"""Weight layouts of conv and fc blobs (docs/format.md, "Weight layouts").

``ohwi`` is the plain ``[Cout, kh, kw, Cin/groups]`` (fc: ``[Cout, K]``) order. ``panels16`` is
what the converter writes and every kernel family of the C core reads in place: per group, the
``[og, K]`` matrix (og = Cout / groups, K = kh * kw * Cin / groups) cut into panels of 16 output
channels, the last one ``og % 16`` wide when 16 does not divide og, each panel K-major. The blob
keeps its OHWI shape and element count; only the order of the elements changes.

    >>> import numpy as np
    >>> w = np.arange(2 * 18, dtype=np.float32).reshape(18, 2)     # fc: Cout 18, K 2
    >>> p = pack_panels16(w)
    >>> p.shape, p.ravel()[:4].tolist(), p.ravel()[32:].tolist()
    ((18, 2), [0.0, 2.0, 4.0, 6.0], [32.0, 34.0, 33.0, 35.0])
    >>> bool((unpack_panels16(p) == w).all())
    True
"""

import numpy as np

PANEL = 16


def _panels(matrix):
    """A [og, K] matrix in panels order, flat."""
    og = matrix.shape[0]
    return np.concatenate([matrix[o0:o0 + PANEL].T.ravel() for o0 in range(0, og, PANEL)])


def pack_panels16(weight, groups=1):
    """An OHWI conv weight (or ``[Cout, K]`` fc weight) in panels16 order, same shape.

    >>> pack_panels16(np.ones((4, 3, 3, 2), np.float32), groups=2).shape
    (4, 3, 3, 2)
    """
    weight = np.ascontiguousarray(weight, dtype=np.float32)
    cout = weight.shape[0]
    og = cout // groups
    flat = weight.reshape(groups, og, -1)
    return np.concatenate([_panels(flat[g]) for g in range(groups)]).reshape(weight.shape)


def unpack_panels16(weight, groups=1):
    """The OHWI (or ``[Cout, K]``) array a panels16 blob holds, same shape.

    >>> w = np.random.default_rng(0).standard_normal((40, 3)).astype(np.float32)
    >>> bool((unpack_panels16(pack_panels16(w)) == w).all())
    True
    """
    weight = np.asarray(weight, dtype=np.float32)
    cout = weight.shape[0]
    og = cout // groups
    k = weight.size // cout
    flat = weight.reshape(groups, og * k)
    out = np.empty((groups, og, k), np.float32)
    for g in range(groups):
        for o0 in range(0, og, PANEL):
            width = min(PANEL, og - o0)
            out[g, o0:o0 + width] = flat[g, o0 * k:(o0 + width) * k].reshape(k, width).T
    return out.reshape(weight.shape)
