"""predict.logreg: the softmax head's objective, solver and cross-validation, checked against
finite differences and against scikit-learn's LogisticRegression (an independent solver)."""
import numpy as np
import pytest

from predict import logreg

sklearn_linear = pytest.importorskip("sklearn.linear_model")


def blobs(seed=0, n=40, d=30, k=3, spread=1.5):
    """k Gaussian classes in d dimensions, n each, that overlap a little."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, spread / np.sqrt(d), (k, d)) * np.sqrt(d)
    x = np.concatenate([rng.normal(c, 1.0, (n, d)) for c in centres])
    return x, np.repeat(np.arange(k), n)


def test_gradient_matches_finite_differences():
    x, y = blobs(d=6, n=5)
    z = (x - x.mean(0)) / x.std(0)
    onehot = np.eye(3)[y]
    rng = np.random.default_rng(1)
    params = rng.normal(0, 0.3, 3 * 7)
    _, grad = logreg._objective(params, z, onehot, 0.05)
    numeric = np.empty_like(params)
    for i in range(len(params)):
        step = np.zeros_like(params)
        step[i] = 1e-6
        numeric[i] = (logreg._objective(params + step, z, onehot, 0.05)[0]
                      - logreg._objective(params - step, z, onehot, 0.05)[0]) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("lam", [1.0, 0.03, 1e-3])
@pytest.mark.parametrize("k", [2, 4])
def test_fit_matches_scikit_learn(lam, k):
    x, y = blobs(seed=k, k=k)
    mean, scale = logreg.standardization(x)
    z = (x - mean) / scale
    fit = logreg.fit_softmax(z, y, k, lam)
    assert fit.converged and fit.iterations < 1000
    # scikit-learn minimizes C * sum(loss) + ||W||^2 / 2, i.e. ours scaled by n for C = 1/(n lam);
    # its binary model has one vector v = w1 - w0, and ours puts w1 = -w0 = v / 2, so that
    # lam / 2 * (|w0|^2 + |w1|^2) = lam / 4 * |v|^2: C doubles.
    c = (2 if k == 2 else 1) / (len(y) * lam)
    ref = sklearn_linear.LogisticRegression(C=c, tol=1e-10, max_iter=10_000)
    ref.fit(z, y)
    ref_w, ref_b = ref.coef_, ref.intercept_
    if k == 2:  # scikit-learn's binary model is one logit: the difference of our two
        np.testing.assert_allclose(fit.weights[1] - fit.weights[0], ref_w[0], rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(fit.bias[1] - fit.bias[0], ref_b[0], rtol=1e-3, atol=1e-4)
    else:
        np.testing.assert_allclose(fit.weights, ref_w, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(fit.bias - fit.bias.mean(), ref_b - ref_b.mean(),
                                   rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(logreg.probabilities(fit.weights, fit.bias, z),
                               ref.predict_proba(z), atol=1e-5)


def test_warm_start_reaches_the_same_solution_and_fits_are_deterministic():
    x, y = blobs(seed=3)
    z = (x - x.mean(0)) / x.std(0)
    cold = logreg.fit_softmax(z, y, 3, 0.01)
    warm = logreg.fit_softmax(z, y, 3, 0.01, start=logreg.fit_softmax(z, y, 3, 1.0))
    np.testing.assert_allclose(warm.weights, cold.weights, atol=1e-5)
    again = logreg.fit_softmax(z, y, 3, 0.01)
    assert np.array_equal(again.weights, cold.weights) and np.array_equal(again.bias, cold.bias)


def test_separable_data_with_a_weak_penalty_still_converges():
    # Perfectly separable classes: without the penalty the weights would grow forever.
    x, y = blobs(seed=4, spread=20.0, d=200, n=10)
    z = (x - x.mean(0)) / x.std(0)
    for lam in logreg.DEFAULT_PENALTIES:
        fit = logreg.fit_softmax(z, y, 3, lam)
        assert fit.converged, lam
        assert logreg.accuracy(fit.weights, fit.bias, z, y) == 1.0


def test_standardization_keeps_constant_features_finite():
    x = np.array([[1.0, 0.0, 7.0], [3.0, 0.0, 7.0], [5.0, 0.0, 7.0]])
    mean, scale = logreg.standardization(x)
    assert mean.tolist() == [3.0, 0.0, 7.0]
    assert scale[1] == scale[2] == 1.0 and scale[0] == pytest.approx(np.std([1, 3, 5]))


def test_stratified_folds_spread_each_class_evenly():
    y = np.repeat([0, 1, 2], [10, 7, 3])
    fold = logreg.stratified_folds(y, 3, seed=5)
    for c in range(3):
        counts = np.bincount(fold[y == c], minlength=3)
        assert counts.max() - counts.min() <= 1
    assert np.bincount(fold).max() - np.bincount(fold).min() <= 1
    assert np.array_equal(fold, logreg.stratified_folds(y, 3, seed=5))
    assert not np.array_equal(fold, logreg.stratified_folds(y, 3, seed=6))


def test_cross_validation_prefers_a_strong_penalty_for_noise_and_a_weak_one_for_signal():
    rng = np.random.default_rng(7)
    noise = rng.normal(size=(60, 50))
    labels = np.repeat([0, 1], 30)
    chosen = logreg.choose_penalty(noise, labels, 2, folds=5)
    assert chosen.lam == max(logreg.DEFAULT_PENALTIES) and chosen.accuracy < 0.75
    x, y = blobs(seed=8, spread=6.0, d=50, n=20)
    clean = logreg.choose_penalty(x, y, 3, folds=4)
    assert clean.accuracy == 1.0 and clean.folds == 4
    assert len(clean.accuracies) == len(clean.penalties) == len(logreg.DEFAULT_PENALTIES)
    assert np.array_equal(clean.predictions, y)  # every held-out prediction right
    # too few examples of a class for any fold split
    with pytest.raises(ValueError, match="at least 2 examples"):
        logreg.choose_penalty(x[:41], y[:41], 3)
