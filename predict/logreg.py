"""Multinomial logistic regression with an L2 penalty, in numpy: the head ``predict.learn`` trains.

The problem is small (a few hundred examples of a 1280-long embedding, a handful of classes) and
convex, so it is solved to a tight tolerance rather than approximately: minimize over ``W`` (K x
D) and ``b`` (K)

    L(W, b) = mean_i -log softmax(W z_i + b)[y_i]  +  lam / 2 * ||W||^2

on standardized features ``z = (x - mean) / scale``, with L-BFGS (limited-memory BFGS, two-loop
recursion, Armijo backtracking).  Standardizing first makes one ``lam`` grid fit any embedding,
and makes the problem well conditioned enough that L-BFGS converges in tens to a few hundred
iterations.  The intercept is not penalized; the penalty makes ``W`` unique, and ``b`` is
centred (softmax ignores a constant added to every class), so a fit is deterministic.

``lam`` is chosen by stratified k-fold cross-validation (``choose_penalty``): the smallest held-out
log-loss (ties: the stronger penalty).  Log-loss rather than accuracy, because with a few dozen
examples accuracy moves in big steps and ties everywhere, while log-loss also sees how sure each
prediction was; on pure noise it picks the strongest penalty, as it should.  Fits go from the
strongest penalty to the weakest, each starting from the previous solution.

    >>> rng = np.random.default_rng(0)
    >>> x = np.concatenate([rng.normal(0, 1, (20, 5)), rng.normal(2, 1, (20, 5))])
    >>> y = np.repeat([0, 1], 20)
    >>> mean, scale = standardization(x)
    >>> fit = fit_softmax((x - mean) / scale, y, 2, lam=0.01)
    >>> fit.converged, float(accuracy(fit.weights, fit.bias, (x - mean) / scale, y))
    (True, 1.0)
"""

import contextlib
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DEFAULT_PENALTIES",
    "Fit",
    "Selection",
    "accuracy",
    "choose_penalty",
    "fit_softmax",
    "log_loss",
    "probabilities",
    "standardization",
    "stratified_folds",
]

# Half-decade steps.  On standardized features the mean loss is O(1) and ||W||^2 grows with the
# dimension, so useful penalties for a 1280-long embedding lie around 1e-3 .. 1e-1; the ends of
# the grid leave room for very easy (weak penalty) and very noisy (strong penalty) tasks.
DEFAULT_PENALTIES = tuple(float(v) for v in np.logspace(1, -4, 11))


@dataclass
class Fit:
    """A fitted head: ``weights`` (K, D), ``bias`` (K), and how the solver ended."""

    weights: np.ndarray
    bias: np.ndarray
    lam: float
    iterations: int
    converged: bool
    loss: float


@dataclass
class Selection:
    """What cross-validation found: per penalty, the held-out accuracy and log-loss.

    ``predictions`` are the held-out class indices of every example at the chosen penalty (each
    predicted by the fold's model that did not see it).
    """

    lam: float
    folds: int
    penalties: list
    accuracies: list
    log_losses: list
    predictions: np.ndarray

    @property
    def accuracy(self):
        return self.accuracies[self.penalties.index(self.lam)]

    @property
    def log_loss(self):
        return self.log_losses[self.penalties.index(self.lam)]


def _one_blas_thread():
    """A context in which numpy's BLAS uses one thread (when threadpoolctl is installed).

    The products here are small (a few hundred rows); OpenBLAS still splits them across every
    core, and on a busy machine its threads wait for each other: measured here (2 shared cores),
    a 10-class fit on 200 examples took 1-7 s multi-threaded and 0.1 s on one thread.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it the results are the same, maybe slower
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def standardization(x):
    """Per-feature mean and scale (the standard deviation; 1 where a feature is constant).

    >>> mean, scale = standardization(np.array([[1.0, 5.0], [3.0, 5.0]]))
    >>> mean.tolist(), scale.tolist()
    ([2.0, 5.0], [1.0, 1.0])
    """
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    # A constant feature (a ReLU that never fires on these photos) carries nothing: scale 1
    # keeps it at 0 after centring instead of dividing by ~0.
    scale[scale < 1e-6 * max(1.0, float(np.abs(mean).max(initial=0.0)))] = 1.0
    return mean, scale


def _logits(weights, bias, z):
    return z @ weights.T + bias


def probabilities(weights, bias, z):
    """Softmax probabilities (N, K) for standardized features ``z`` (N, D), in float64."""
    s = _logits(weights, bias, np.asarray(z, np.float64))
    s -= s.max(axis=1, keepdims=True)
    np.exp(s, out=s)
    s /= s.sum(axis=1, keepdims=True)
    return s


def accuracy(weights, bias, z, y):
    """The fraction of rows of ``z`` whose most probable class is ``y``."""
    return float(np.mean(np.argmax(_logits(weights, bias, z), axis=1) == y))


def log_loss(weights, bias, z, y):
    """The mean negative log-probability of the true classes."""
    s = _logits(weights, bias, np.asarray(z, np.float64))
    top = s.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(s - top).sum(axis=1))
    return float(np.mean(log_norm - s[np.arange(len(y)), y]))


def _objective(params, z, onehot, lam):
    """L and its gradient, for params = [W | b] flattened (K x (D + 1))."""
    n, d = z.shape
    k = onehot.shape[1]
    wb = params.reshape(k, d + 1)
    w, b = wb[:, :d], wb[:, d]
    s = z @ w.T + b
    s -= s.max(axis=1, keepdims=True)
    e = np.exp(s)
    total = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(total[:, 0]) - (s * onehot).sum(axis=1)))
    loss += 0.5 * lam * float(np.sum(w * w))
    residual = (e / total - onehot) / n  # dL/ds
    grad = np.empty_like(wb)
    grad[:, :d] = residual.T @ z + lam * w
    grad[:, d] = residual.sum(axis=0)
    return loss, grad.ravel()


def _lbfgs(fun, x0, *, tol, max_iter, memory=10):
    """Minimizes a smooth convex ``fun(x) -> (f, grad)``; returns (x, f, iterations, converged).

    Converged means the largest gradient component fell below ``tol``.  Steps come from the
    two-loop recursion; Armijo backtracking keeps every step a decrease; a pair with no positive
    curvature (only possible from rounding) is not stored.
    """
    x = x0.copy()
    f, g = fun(x)
    s_list, y_list, rho_list = [], [], []
    for iteration in range(1, max_iter + 1):
        if np.max(np.abs(g)) < tol:
            return x, f, iteration - 1, True
        q = g.copy()
        alphas = []
        for s, y, rho in reversed(list(zip(s_list, y_list, rho_list))):
            a = rho * (s @ q)
            alphas.append(a)
            q -= a * y
        if s_list:
            q *= (s_list[-1] @ y_list[-1]) / (y_list[-1] @ y_list[-1])
        else:
            q /= max(1.0, float(np.linalg.norm(g)))  # a cautious first step
        for (s, y, rho), a in zip(zip(s_list, y_list, rho_list), reversed(alphas)):
            q += s * (a - rho * (y @ q))
        direction = -q
        slope = float(g @ direction)
        if slope >= 0:  # not a descent direction (rounding): restart from steepest descent
            s_list, y_list, rho_list = [], [], []
            direction, slope = -g, -float(g @ g)
        step = 1.0
        while True:
            x_new = x + step * direction
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope:
                break
            step *= 0.5
            if step < 1e-12:  # no decrease representable: as close as float64 gets
                return x, f, iteration, bool(np.max(np.abs(g)) < tol * 100)
        s, y = x_new - x, g_new - g
        sy = float(s @ y)
        if sy > 1e-12 * float(np.linalg.norm(s) * np.linalg.norm(y)):
            s_list.append(s)
            y_list.append(y)
            rho_list.append(1.0 / sy)
            if len(s_list) > memory:
                del s_list[0], y_list[0], rho_list[0]
        x, f, g = x_new, f_new, g_new
    return x, f, max_iter, bool(np.max(np.abs(g)) < tol)


def fit_softmax(z, y, classes, lam, *, start=None, tol=1e-6, max_iter=3000):
    """Fits the penalized multinomial logistic regression on standardized features.

    ``z`` (N, D) float, ``y`` (N,) class indices in ``range(classes)``, ``lam`` > 0 the L2
    penalty, ``start`` an optional previous Fit to begin from.  Returns a Fit whose ``converged``
    says whether the gradient's largest component fell below ``tol * min(lam, 1)``: the
    objective is ``lam``-strongly convex in ``W``, so a gradient g puts ``W`` within ``|g| /
    lam`` of the optimum, and a weak penalty needs a proportionally smaller gradient.

    >>> z = np.array([[-1.0], [-0.5], [0.5], [1.0]])
    >>> fit = fit_softmax(z, np.array([0, 0, 1, 1]), 2, lam=0.1)
    >>> fit.converged, fit.weights.shape, bool(fit.weights[1, 0] > fit.weights[0, 0])
    (True, (2, 1), True)
    """
    with _one_blas_thread():
        return _fit_softmax(z, y, classes, lam, start, tol, max_iter)


def _fit_softmax(z, y, classes, lam, start, tol, max_iter):
    z = np.ascontiguousarray(z, np.float64)
    y = np.asarray(y)
    n, d = z.shape
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), y] = 1.0
    if start is not None:
        x0 = np.concatenate([start.weights, start.bias[:, None]], axis=1).ravel()
    else:
        # Start from the class priors: W = 0, b = log frequencies (smoothed).
        counts = onehot.sum(axis=0) + 1.0
        x0 = np.concatenate([np.zeros((classes, d)), np.log(counts / counts.sum())[:, None]],
                            axis=1).ravel()
    params, loss, iterations, converged = _lbfgs(
        lambda p: _objective(p, z, onehot, lam), x0, tol=tol * min(lam, 1.0), max_iter=max_iter)
    wb = params.reshape(classes, d + 1)
    bias = wb[:, d] - wb[:, d].mean()
    return Fit(np.ascontiguousarray(wb[:, :d]), bias, float(lam), iterations, converged, loss)


def stratified_folds(y, folds, seed=0):
    """Assigns each example a fold in ``range(folds)`` so that every class is spread evenly.

    Deterministic for a given ``seed``: each class's examples are shuffled, then dealt out in
    turn, continuing where the previous class stopped so fold sizes stay within one.

    >>> stratified_folds(np.array([0, 0, 0, 1, 1, 1]), 3).tolist()
    [1, 2, 0, 2, 1, 0]
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), np.int64)
    offset = 0
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        members = members[rng.permutation(len(members))]
        fold[members] = (offset + np.arange(len(members))) % folds
        offset += len(members)
    return fold


def choose_penalty(z, y, classes, *, penalties=DEFAULT_PENALTIES, folds=5, seed=0):
    """Picks the L2 penalty by stratified k-fold cross-validation; returns a Selection.

    ``folds`` is lowered to the size of the smallest class (each training fold then still holds
    every class); it must leave at least 2.  Standardization is redone inside each fold from its
    training part only, so no held-out statistic leaks into the fit it is scored against.
    """
    with _one_blas_thread():
        return _choose_penalty(z, y, classes, penalties, folds, seed)


def _choose_penalty(z, y, classes, penalties, folds, seed):
    z = np.asarray(z, np.float64)
    y = np.asarray(y)
    smallest = int(np.bincount(y, minlength=classes).min())
    k = min(folds, smallest)
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 examples of every class, "
                         f"the smallest class has {smallest}")
    fold = stratified_folds(y, k, seed)
    penalties = sorted((float(p) for p in penalties), reverse=True)  # strong to weak: warm starts
    correct = np.zeros(len(penalties))
    losses = np.zeros(len(penalties))
    predicted = np.zeros((len(penalties), len(y)), np.int64)
    for f in range(k):
        train, held = fold != f, fold == f
        mean, scale = standardization(z[train])
        z_train, z_held = (z[train] - mean) / scale, (z[held] - mean) / scale
        previous = None
        for i, lam in enumerate(penalties):
            previous = _fit_softmax(z_train, y[train], classes, lam, previous, 1e-6, 3000)
            s = _logits(previous.weights, previous.bias, z_held)
            predicted[i, held] = np.argmax(s, axis=1)
            correct[i] += np.sum(predicted[i, held] == y[held])
            losses[i] += log_loss(previous.weights, previous.bias, z_held, y[held]) * held.sum()
    accuracies = (correct / len(y)).tolist()
    log_losses = (losses / len(y)).tolist()
    # min log-loss, then the strongest penalty (the first in the list)
    best = min(range(len(penalties)), key=lambda i: (log_losses[i], i))
    return Selection(penalties[best], k, penalties, accuracies, log_losses, predicted[best])
