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


# ---------------------------------------------------------------------------------------------
# q8panels16: the int8 layout (docs/format.md, "Weight layouts"; native/src/kernels/q8.h).

KGROUP = 4


def q8_shape(cout, k, groups=1):
    """Shape of a q8panels16 blob: ``[groups * ceil(og / 16), ceil(K / 4), 16, 4]`` int8.

    >>> q8_shape(18, 27)
    [2, 7, 16, 4]
    """
    og = cout // groups
    return [groups * -(-og // PANEL), -(-k // KGROUP), PANEL, KGROUP]


def pack_q8panels16(weight, groups=1):
    """An OHWI int8 conv weight (or ``[Cout, K]`` fc weight) in the q8panels16 layout: per
    group, panels of 16 output channels (the last one filled up with zero channels), K padded
    with zeros to a multiple of 4, each panel ``[Kp/4][16][4]``: one 64-byte row holds 4
    consecutive k of 16 channels, the operand of one vpdpbusd.

    >>> w = np.arange(3 * 5, dtype=np.int8).reshape(3, 5)       # fc: Cout 3, K 5
    >>> p = pack_q8panels16(w)
    >>> p.shape, p[0, 0, :3].tolist(), p[0, 1, :3].tolist()
    ((1, 2, 16, 4), [[0, 1, 2, 3], [5, 6, 7, 8], [10, 11, 12, 13]], [[4, 0, 0, 0], [9, 0, 0, 0], [14, 0, 0, 0]])
    >>> bool((unpack_q8panels16(p, w.shape) == w).all())
    True
    """
    weight = np.asarray(weight)
    if weight.dtype != np.int8:
        raise ValueError(f"q8panels16 packs int8 weights, not {weight.dtype}")
    cout = weight.shape[0]
    og = cout // groups
    k = weight.size // cout
    shape = q8_shape(cout, k, groups)
    panels, kg = shape[0] // groups, shape[1]
    padded = np.zeros((groups, panels * PANEL, kg * KGROUP), np.int8)
    padded[:, :og, :k] = weight.reshape(groups, og, k)
    # [g, p, 16, kg, 4] -> [g, p, kg, 16, 4]
    out = padded.reshape(groups, panels, PANEL, kg, KGROUP).transpose(0, 1, 3, 2, 4)
    return np.ascontiguousarray(out).reshape(shape)


def unpack_q8panels16(packed, shape, groups=1):
    """The OHWI (or ``[Cout, K]``) int8 array of ``shape`` a q8panels16 blob holds.

    >>> w = np.random.default_rng(0).integers(-127, 128, (40, 3, 3, 6)).astype(np.int8)
    >>> bool((unpack_q8panels16(pack_q8panels16(w, 2), w.shape, 2) == w).all())
    True
    """
    shape = tuple(int(d) for d in shape)
    cout = shape[0]
    og = cout // groups
    k = int(np.prod(shape[1:]))
    want = q8_shape(cout, k, groups)
    packed = np.asarray(packed)
    if list(packed.shape) != want:
        raise ValueError(f"q8panels16 blob has shape {list(packed.shape)}, expected {want}")
    panels, kg = want[0] // groups, want[1]
    full = packed.reshape(groups, panels, kg, PANEL, KGROUP).transpose(0, 1, 3, 2, 4)
    full = full.reshape(groups, panels * PANEL, kg * KGROUP)[:, :og, :k]
    return np.ascontiguousarray(full).reshape(shape)
