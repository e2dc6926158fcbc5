"""Choices of an int8 graph made by the error of the network's output, not layer by layer.

Per-layer scores (each layer's own sensitivity, each tensor's own quantization error) ignore
how errors combine on their way to the logits. The two searches here score every candidate
by the whole network's output on validation inputs (never the held-out ones): the mean
KL divergence of the int8 model's softmax from the float model's, which weighs the top
classes, where near ties flip, more than the cosine of all 1000 logits does.

- ``greedy_fallback``: which layers stay float32 within a byte budget, taken one at a time by
  the reduction of the output KL per byte of float weights, each gain measured with the
  layers already chosen in float32 (lazy greedy: a stale gain is measured again before it is
  trusted).
- ``tune_ranges``: the clip range of each uint8 tensor, by coordinate descent: a few scalings
  of its calibrated range, each measured with every other range fixed, the best kept.

Both only choose among graphs the converter already builds: the arithmetic, the file and the
kernels do not change.

    >>> import numpy as np
    >>> f = np.array([[2.0, 1.0, 0.0]]); mean_kl(f, f)
    0.0
"""

import numpy as np

__all__ = ["mean_kl", "greedy_fallback", "tune_ranges", "RANGE_FACTORS"]

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


def greedy_fallback(candidates, cost, objective, budget_bytes, *, start=(), log=None):
    """Layers to keep float32, in the order chosen: repeatedly the candidate whose float32
    version lowers ``objective(chosen)`` (the output error, lower is better) most per byte of
    ``cost(i)`` (a free one, cost 0, counts as 1 byte), while it lowers it at all and the
    chosen layers' costs fit ``budget_bytes``.

    ``start`` is taken first (e.g. the weightless joins, whose gains come in pairs: a float
    add helps when the next one is float too). Gains are measured with the layers already
    chosen; a candidate's gain is measured again before it is taken (it is usually smaller
    once others are float32), so each step costs a few evaluations rather than one per
    candidate; when no known gain is positive, all are measured again once before stopping.
    Returns (chosen list, final objective).

    >>> err = {(): 3.0, (1,): 2.0, (2,): 1.5, (1, 2): 1.0}
    >>> greedy_fallback([1, 2], lambda i: 1, lambda c: err[tuple(sorted(c))], 10)
    ([2, 1], 1.0)
    """
    chosen = list(start)
    spent = sum(cost(i) for i in chosen)
    current = objective(chosen)
    stale, fresh = {}, {}       # candidate -> gain per byte, maybe outdated; -> objective now

    def measure_all():
        stale.clear()
        for i in candidates:
            if i not in chosen and spent + cost(i) <= budget_bytes:
                fresh[i] = objective(chosen + [i])
                stale[i] = (current - fresh[i]) / max(cost(i), 1)
    measure_all()
    while stale:
        i = max(stale, key=lambda c: (stale[c], -c))
        if stale[i] <= 0:
            if set(fresh) >= set(stale):
                break
            measure_all()                       # a gain that was <= 0 may have grown since
            continue
        if spent + cost(i) > budget_bytes:
            del stale[i]
            continue
        value = fresh[i] if i in fresh else objective(chosen + [i])
        gain = (current - value) / max(cost(i), 1)
        others = [stale[c] for c in stale if c != i]
        stale[i], fresh[i] = gain, value
        if (others and gain < max(others)) or gain <= 0:
            continue                            # no longer the best: measure the next one
        chosen.append(i)
        spent += cost(i)
        current = value
        del stale[i]
        fresh.clear()
        if log:
            log(f"    + layer {i}: {cost(i)} bytes (total {spent}), output KL {current:.5f}")
    return chosen, current


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
