"""Tests for neurosim.events.connect and the CSR container: the statistics of the random
builders, exact structure of the deterministic ones, and every validation error.

Statistical checks use fixed seeds (so CI is deterministic) and tolerances of 5 standard
errors, so a correct builder passes for essentially any seed and a biased one fails.
"""
import numpy as np
import pytest

from neurosim.events import CSR, all_to_all, fixed_indegree, fixed_probability, from_arrays, one_to_one


def dense(csr):
    """(n_pre, n_post) numpy matrix counting each synapse (a duplicate would show as 2). Built
    in numpy from the index arrays: cheaper than ``csr.to_dense`` (no compile per shape), which
    is checked against it below."""
    d = np.zeros((csr.n_pre, csr.n_post))
    rows = np.repeat(np.arange(csr.n_pre), np.diff(np.asarray(csr.indptr)))
    np.add.at(d, (rows, np.asarray(csr.indices)), 1.0)
    return d


def row_sizes(csr):
    return np.diff(np.asarray(csr.indptr))


def assert_well_formed(csr):
    """Rows sorted ascending, no duplicates, indices in range, ``rows`` consistent with indptr."""
    indptr, indices = np.asarray(csr.indptr), np.asarray(csr.indices)
    assert indptr[0] == 0 and indptr[-1] == csr.nnz
    assert np.all(np.diff(indptr) >= 0)
    assert indices.size == 0 or (indices.min() >= 0 and indices.max() < csr.n_post)
    rows = np.repeat(np.arange(csr.n_pre), np.diff(indptr))
    np.testing.assert_array_equal(np.asarray(csr.rows), rows)
    same_row = rows[1:] == rows[:-1]
    assert np.all(np.diff(indices.astype(np.int64))[same_row] > 0), "a row is unsorted or has a duplicate"
    assert csr.max_row == (int(np.diff(indptr).max()) if csr.n_pre else 0)


# --------------------------------------------------------------------------- fixed_probability


# p = 0.01 and 0.3 take the geometric-skip path, p = 0.7 the dense Bernoulli path.
@pytest.mark.parametrize("p", [0.01, 0.3, 0.7])
def test_fixed_probability_row_sizes_are_binomial(p):
    n_pre, n_post = 2000, 400
    csr = fixed_probability(n_pre, n_post, p, seed=3)
    k = row_sizes(csr)
    mean, var = n_post * p, n_post * p * (1 - p)
    # standard errors of the sample mean and of the sample variance of n_pre draws
    se_mean = np.sqrt(var / n_pre)
    se_var = var * np.sqrt(2.0 / (n_pre - 1))
    assert abs(k.mean() - mean) < 5 * se_mean, (k.mean(), mean)
    assert abs(k.var(ddof=1) - var) < 5 * se_var, (k.var(ddof=1), var)


@pytest.mark.parametrize("p", [0.01, 0.3, 0.7])
def test_fixed_probability_targets_are_uniform_over_columns(p):
    # Column sums are Binomial(n_pre, p) too: a sampler biased towards some targets fails.
    n_pre, n_post = 400, 2000
    col = dense(fixed_probability(n_pre, n_post, p, seed=4)).sum(axis=0)
    mean, var = n_pre * p, n_pre * p * (1 - p)
    assert abs(col.mean() - mean) < 5 * np.sqrt(var / n_post)
    assert abs(col.var(ddof=1) - var) < 5 * var * np.sqrt(2.0 / (n_post - 1))


@pytest.mark.parametrize("p", [0.01, 0.3, 0.7, 1.0])
def test_fixed_probability_rows_sorted_without_duplicates(p):
    csr = fixed_probability(300, 250, p, seed=5)
    assert_well_formed(csr)
    assert dense(csr).max() <= 1.0  # to_dense adds duplicates, so a duplicate shows as 2


def test_fixed_probability_same_seed_same_arrays():
    a = fixed_probability(500, 300, 0.05, seed=11)
    b = fixed_probability(500, 300, 0.05, seed=11)
    np.testing.assert_array_equal(np.asarray(a.indptr), np.asarray(b.indptr))
    np.testing.assert_array_equal(np.asarray(a.indices), np.asarray(b.indices))


def test_fixed_probability_different_seed_different_arrays():
    a = fixed_probability(500, 300, 0.05, seed=11)
    b = fixed_probability(500, 300, 0.05, seed=12)
    assert a.nnz != b.nnz or not np.array_equal(np.asarray(a.indices), np.asarray(b.indices))


@pytest.mark.parametrize("p", [0.2, 0.7, 1.0])
def test_fixed_probability_without_autapses_has_empty_diagonal(p):
    with_self = dense(fixed_probability(200, 200, p, seed=6))
    no_self = dense(fixed_probability(200, 200, p, seed=6, autapses=False))
    assert np.all(np.diag(no_self) == 0)
    # Only the diagonal is removed: the same draw otherwise.
    off = ~np.eye(200, dtype=bool)
    np.testing.assert_array_equal(no_self[off], with_self[off])
    assert_well_formed(fixed_probability(200, 200, p, seed=6, autapses=False))


def test_fixed_probability_zero_gives_no_synapses():
    csr = fixed_probability(50, 40, 0.0, seed=1)
    assert csr.nnz == 0 and csr.max_row == 0
    np.testing.assert_array_equal(np.asarray(csr.indptr), np.zeros(51))


def test_fixed_probability_one_gives_all_to_all():
    np.testing.assert_array_equal(dense(fixed_probability(30, 20, 1.0, seed=1)), np.ones((30, 20)))
    np.testing.assert_array_equal(dense(fixed_probability(20, 20, 1.0, autapses=False)), 1 - np.eye(20))


def test_fixed_probability_tiny_grid():
    # One cell: the geometric path must still stop inside the grid.
    for seed in range(20):
        csr = fixed_probability(1, 1, 0.4, seed=seed)
        assert csr.nnz in (0, 1)
        assert_well_formed(csr)


# --------------------------------------------------------------------------- fixed_indegree


# 2k <= n_pre takes the sparse resampling path, 2k > n_pre the dense ranking path.
@pytest.mark.parametrize("n_pre, k", [(300, 10), (300, 150), (300, 151), (300, 299), (300, 300)])
def test_fixed_indegree_exactly_k_distinct_pre(n_pre, k):
    csr = fixed_indegree(n_pre, 120, k, seed=2)
    d = dense(csr)
    assert d.max() <= 1.0  # distinct
    np.testing.assert_array_equal(d.sum(axis=0), np.full(120, k))
    assert_well_formed(csr)


@pytest.mark.parametrize("n_pre, k", [(300, 10), (300, 200), (300, 299)])
def test_fixed_indegree_without_autapses(n_pre, k):
    # k = n_pre - 1 leaves exactly one choice per column: everything but the diagonal.
    d = dense(fixed_indegree(n_pre, n_pre, k, seed=3, autapses=False))
    assert np.all(np.diag(d) == 0)
    np.testing.assert_array_equal(d.sum(axis=0), np.full(n_pre, k))
    assert d.max() <= 1.0


@pytest.mark.parametrize("k", [20, 400])  # sparse path, dense path (n_pre = 500)
def test_fixed_indegree_picks_presynaptic_neurons_uniformly(k):
    # Each pre is chosen by each post with probability k / n_pre: out-degrees are Binomial.
    n_pre, n_post = 500, 2000
    out = dense(fixed_indegree(n_pre, n_post, k, seed=7)).sum(axis=1)
    q = k / n_pre
    mean, var = n_post * q, n_post * q * (1 - q)
    assert abs(out.mean() - mean) < 1e-9  # exact: n_post * k synapses in all
    assert abs(out.var(ddof=1) - var) < 5 * var * np.sqrt(2.0 / (n_pre - 1)), (out.var(ddof=1), var)


def test_fixed_indegree_zero():
    csr = fixed_indegree(10, 7, 0)
    assert csr.nnz == 0
    assert_well_formed(csr)


def test_fixed_indegree_same_seed_same_arrays_and_different_seed_different():
    a, b, c = (fixed_indegree(200, 100, 15, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(np.asarray(a.indices), np.asarray(b.indices))
    assert not np.array_equal(np.asarray(a.indices), np.asarray(c.indices))


# --------------------------------------------------------------------------- deterministic builders


def test_one_to_one_is_identity():
    csr = one_to_one(17)
    np.testing.assert_array_equal(dense(csr), np.eye(17))
    assert_well_formed(csr)


@pytest.mark.parametrize("n_pre, n_post", [(1, 1), (5, 3), (3, 5)])
def test_all_to_all_is_ones(n_pre, n_post):
    csr = all_to_all(n_pre, n_post)
    np.testing.assert_array_equal(dense(csr), np.ones((n_pre, n_post)))
    assert_well_formed(csr)


def test_all_to_all_without_autapses():
    np.testing.assert_array_equal(dense(all_to_all(6, 6, autapses=False)), 1 - np.eye(6))
    # n_pre != n_post: only the pairs i -> i that exist are removed
    expected = np.ones((4, 6))
    expected[np.arange(4), np.arange(4)] = 0
    np.testing.assert_array_equal(dense(all_to_all(4, 6, autapses=False)), expected)


# --------------------------------------------------------------------------- CSR.from_arrays


def test_from_arrays_reorders_weights_consistently():
    rng = np.random.default_rng(0)
    n_pre, n_post = 13, 9
    cells = rng.choice(n_pre * n_post, size=40, replace=False)  # distinct pairs, shuffled order
    pre, post = np.divmod(cells, n_post)
    w = rng.normal(size=40).astype(np.float32)
    csr, w_csr = CSR.from_arrays(pre, post, n_pre, n_post, w)
    expected = np.zeros((n_pre, n_post), np.float32)
    expected[pre, post] = w
    np.testing.assert_array_equal(np.asarray(csr.to_dense(w_csr)), expected)
    assert_well_formed(csr)


def test_from_arrays_without_weights_returns_csr_only():
    csr = from_arrays([2, 0, 0], [1, 3, 0], 3, 4)
    assert isinstance(csr, CSR)
    np.testing.assert_array_equal(np.asarray(csr.indptr), [0, 2, 2, 3])
    np.testing.assert_array_equal(np.asarray(csr.indices), [0, 3, 1])


def test_from_arrays_empty():
    csr = from_arrays(np.zeros(0, int), np.zeros(0, int), 3, 4)
    assert csr.nnz == 0
    np.testing.assert_array_equal(dense(csr), np.zeros((3, 4)))


def test_to_dense_matches_numpy_with_weights():
    csr = fixed_probability(40, 30, 0.2, seed=8)
    w = np.random.default_rng(1).normal(size=csr.nnz).astype(np.float32)
    expected = np.zeros((40, 30), np.float32)
    rows = np.repeat(np.arange(40), np.diff(np.asarray(csr.indptr)))
    expected[rows, np.asarray(csr.indices)] = w
    np.testing.assert_array_equal(np.asarray(csr.to_dense(w)), expected)
    np.testing.assert_array_equal(np.asarray(csr.to_dense(2.0)), 2.0 * dense(csr))


def test_csr_constructor_accepts_valid_arrays():
    csr = CSR([0, 2, 2, 3], [0, 4, 1], 3, 5)
    expected = np.zeros((3, 5))
    expected[0, [0, 4]] = 1
    expected[2, 1] = 1
    np.testing.assert_array_equal(dense(csr), expected)
    assert csr.max_row == 2


# --------------------------------------------------------------------------- validation errors


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: CSR([0, 2], [0, 5], 1, 3), r"indices index 5 is out of range \[0, 3\)"),
        (lambda: CSR([0, 2], [-1, 0], 1, 3), r"out of range"),
        (lambda: CSR([0, 2, 3], [2, 1, 0], 2, 3), r"row 0 are unsorted"),
        (lambda: CSR([0, 1, 3], [0, 1, 1], 2, 3), r"row 1 are duplicated"),
        (lambda: CSR([0, 1], [0], 2, 3), r"indptr must have shape \(3,\)"),
        (lambda: CSR([1, 1, 2], [0, 1], 2, 3), r"indptr must start at 0"),
        (lambda: CSR([0, 1, 1], [0, 1], 2, 3), r"end at len\(indices\) = 2"),
        (lambda: CSR([0, 2, 1, 3], [0, 1, 2], 3, 3), r"non-decreasing; it decreases at row 1"),
        (lambda: CSR([0.0, 1.0], [0], 1, 3), r"indptr must hold integers"),
        (lambda: CSR([0, 1], [0.5], 1, 3), r"indices must hold integers"),
        (lambda: CSR.from_arrays([0, 3], [0, 0], 3, 3), r"pre index 3 is out of range"),
        (lambda: CSR.from_arrays([0, 1], [0, 7], 3, 3), r"post index 7 is out of range"),
        (lambda: CSR.from_arrays([1, 0, 1], [2, 0, 2], 3, 3), r"duplicate synapse \(1 -> 2\)"),
        (lambda: CSR.from_arrays([0, 1], [0], 3, 3), r"pre and post must be 1-D arrays of equal length"),
        (lambda: CSR.from_arrays([0, 1], [0, 1], 3, 3, np.ones(3)), r"weights must have shape \(2,\)"),
        (lambda: fixed_probability(10, 10, 1.5), r"p must be a probability in \[0, 1\], got 1.5"),
        (lambda: fixed_probability(10, 10, -0.1), r"p must be a probability"),
        (lambda: fixed_probability(10, 10, float("nan")), r"p must be a probability"),
        (lambda: fixed_probability(0, 10, 0.1), r"n_pre must be >= 1"),
        (lambda: fixed_probability(10, 2.5, 0.1), r"n_post must be an integer"),
        (lambda: fixed_indegree(10, 10, -1), r"k \(in-degree\) must be >= 0, got -1"),
        (lambda: fixed_indegree(10, 10, 11), r"k \(in-degree\) must be <= 10, got 11"),
        (lambda: fixed_indegree(10, 10, 10, autapses=False), r"must be <= 9"),
        (lambda: one_to_one(0), r"n must be >= 1"),
    ],
)
def test_invalid_connectivity_raises_helpful_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()
