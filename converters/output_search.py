"""Choices of an int8 graph made by the error of the network's output, not tensor by tensor.

A per-tensor score (the MSE of each tensor's own quantization) ignores how errors combine on
their way to the logits. ``tune_ranges`` scores each candidate by the whole network's output
on validation inputs (never the held-out ones): the mean KL divergence of the int8 model's
softmax from the float model's, which weighs the top classes, where near ties flip, more
than the cosine of all 1000 logits does. It chooses the clip range of each uint8 tensor by
coordinate descent: a few scalings of its calibrated range, each measured with every other
range fixed, the best kept. It only chooses among graphs the converter already builds: the
arithmetic, the file layout and the kernels do not change.

    >>> import numpy as np
    >>> f = np.array([[2.0, 1.0, 0.0]]); mean_kl(f, f)
    0.0
"""

import numpy as np

__all__ = ["mean_kl", "tune_ranges", "RANGE_FACTORS"]

# Scalings of a tensor's calibrated (MSE) range tried by tune_ranges; 1.0 is the start.
RANGE_FACTORS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.25, 1.5)


def _log_softmax(x):
    x = np.asarray(x, np.float64)
    x = x - x.max(axis=1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


def mean_kl(ref, out):
    """Mean over rows of KL(softmax(ref) || softmax(out)), logits [n, classes].

    >>> import numpy as np
    >>> round(mean_kl(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])), 4)
    0.4621
    """
    lr, lo = _log_softmax(ref), _log_softmax(out)
    return float(np.mean(np.sum(np.exp(lr) * (lr - lo), axis=1)))


def tune_ranges(tensors, base, objective, *, factors=RANGE_FACTORS, sweeps=1, log=None,
                label=str):
    """{tensor: (lo, hi)}: each tensor's range chosen among ``base[t]`` scaled by ``factors``
    (and itself) by the lowest ``objective(ranges)``, one tensor at a time in the order given,
    the others at their current choice; ``sweeps`` passes over the tensors.

    >>> target = {0: 2.0, 1: 0.5}
    >>> err = lambda r: sum((r.get(t, (0, 1))[1] - target[t]) ** 2 for t in target)
    >>> tune_ranges([0, 1], {0: (0.0, 1.0), 1: (0.0, 1.0)}, err, factors=(0.5, 2.0))
    {0: (0.0, 2.0), 1: (0.0, 0.5)}
    """
    chosen = {t: base[t] for t in tensors}
    current = objective(chosen)
    for _ in range(sweeps):
        changed = False
        for t in tensors:
            lo, hi = base[t]
            best = chosen[t]
            for f in (1.0,) + tuple(factors):
                trial = (lo * f, hi * f)
                if trial == chosen[t]:
                    continue
                value = objective({**chosen, t: trial})
                if value < current:
                    current, best = value, trial
            if best != chosen[t]:
                changed = True
                chosen[t] = best
                if log:
                    log(f"    {label(t)}: range x{best[1] / hi if hi else 1:.2f}, "
                        f"output KL {current:.5f}")
        if not changed:
            break
    return chosen
