"""predict.ranking: the one top-k rule every ranking place uses, against numpy's stable sort."""
import numpy as np
import pytest

from predict.ranking import top_indices, top_indices_rows


def _reference(row, k):
    return np.argsort(-np.asarray(row, np.float64), kind="stable")[:k].tolist()


@pytest.mark.parametrize("seed", range(5))
def test_top_indices_equals_numpys_stable_sort_with_ties(seed):
    rng = np.random.default_rng(seed)
    for _ in range(400):
        n = int(rng.integers(1, 40))
        # few distinct values: ties everywhere, which is where orders could differ
        row = rng.integers(0, 4, n).astype(np.float64) / 3
        k = int(rng.integers(1, n + 3))
        assert top_indices(row, k) == _reference(row, k)
        assert top_indices(row) == _reference(row, n)
        assert top_indices(row.tolist(), k) == _reference(row, k)


def test_top_indices_on_probabilities_of_a_thousand_classes():
    p = np.random.default_rng(7).dirichlet(np.ones(1000))
    assert top_indices(p, 5) == _reference(p, 5)
    assert top_indices(p, 1) == [int(np.argmax(p))]


def test_top_indices_rows_is_the_same_rule_for_a_batch():
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 5, (64, 30)).astype(np.float64)
    for k in (1, 5, 30, 50):
        got = top_indices_rows(rows, k)
        assert got.tolist() == [top_indices(r, k) for r in rows]
