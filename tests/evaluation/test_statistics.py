"""The FID / KID formulas against direct NumPy (and SciPy, where installed) implementations."""

import numpy as np
import pytest

from keras_p2c.evaluation import statistics
from keras_p2c.evaluation.statistics import (
    KernelInceptionDistance,
    feature_statistics,
    fid,
    frechet_distance,
    kid,
    trace_sqrt_product,
)


def reference_trace_sqrt(sigma1, sigma2):
    """Tr sqrtm(S1 S2) as pytorch-fid takes it: SciPy's sqrtm of the product (real part), else its eigenvalues."""
    try:
        from scipy import linalg
    except ImportError:
        eigenvalues = np.linalg.eigvals(sigma1 @ sigma2)
        return float(np.sum(np.sqrt(np.clip(eigenvalues.real, 0, None))))
    return float(np.trace(linalg.sqrtm(sigma1 @ sigma2)).real)


def reference_fid(a, b):
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * reference_trace_sqrt(s1, s2))


def random_covariance(rng, d, rank=None):
    factor = rng.standard_normal((d, rank or 2 * d))
    return factor @ factor.T / factor.shape[1]


# --- FID -----------------------------------------------------------------------------------


def test_frechet_distance_matches_the_reference_formula():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(8), rng.standard_normal(8)
    s1, s2 = random_covariance(rng, 8), random_covariance(rng, 8)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * reference_trace_sqrt(s1, s2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-10)


def test_fid_of_features_matches_the_reference():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((50, 6))
    b = rng.standard_normal((40, 6)) * 1.5 + 0.3
    assert fid(a, b) == pytest.approx(reference_fid(a, b), rel=1e-9)


def test_feature_statistics_are_numpy_mean_and_cov():
    features = np.random.default_rng(2).standard_normal((9, 4)).astype("float32")
    mu, sigma = feature_statistics(features)
    np.testing.assert_allclose(mu, features.astype("float64").mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(features.astype("float64"), rowvar=False), rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("shape", [(12, 64), (12, 2048), (300, 16)])
def test_fid_of_a_set_with_itself_is_zero(shape):
    # (12, 2048): fewer images than features, the usual test-folder case, with a rank-11 covariance.
    features = np.random.default_rng(3).standard_normal(shape).astype("float32") * 0.01 + 0.5
    scale = np.trace(np.cov(features.astype("float64"), rowvar=False))
    assert fid(features, features) <= 1e-6 * scale


def test_frechet_distance_of_a_rank_deficient_covariance_with_itself_is_zero():
    # The covariance form (eigenbasis restricted to S1's range) with n - 1 = 11 of 96 directions.
    mu, sigma = feature_statistics(np.random.default_rng(3).standard_normal((12, 96)) * 0.01 + 0.5)
    assert frechet_distance(mu, sigma, mu, sigma) <= 1e-6 * np.trace(sigma)


@pytest.mark.parametrize("sizes", [(10, 14), (14, 10), (40, 30)])
def test_the_gram_and_covariance_forms_agree(sizes):
    # n_a * n_b below d² takes the Gram form; (40, 30) at d = 24 the covariance form.
    rng = np.random.default_rng(8)
    a = rng.standard_normal((sizes[0], 24))
    b = rng.standard_normal((sizes[1], 24)) * 0.7 + 0.2
    expected = frechet_distance(*feature_statistics(a), *feature_statistics(b))
    assert fid(a, b) == pytest.approx(expected, rel=1e-9)
    assert fid(a, b) == pytest.approx(reference_fid(a, b), rel=1e-6)


def test_singular_covariances_match_the_exact_value():
    # Covariances that commute (diagonal in one rotated basis): Tr (S1 S2)^½ = Σ sqrt(a_i b_i), zeros included.
    rng = np.random.default_rng(4)
    a = np.array([3.0, 2.0, 1.0, 0.0, 0.0, 0.5])
    b = np.array([1.0, 0.0, 4.0, 2.0, 0.0, 0.25])
    rotation, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    s1, s2 = rotation @ np.diag(a) @ rotation.T, rotation @ np.diag(b) @ rotation.T
    assert trace_sqrt_product(s1, s2) == pytest.approx(np.sum(np.sqrt(a * b)), rel=1e-12)
    mu1, mu2 = np.zeros(6), np.full(6, 0.5)
    expected = 6 * 0.25 + a.sum() + b.sum() - 2 * np.sum(np.sqrt(a * b))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-12)
    assert frechet_distance(mu1, np.zeros((6, 6)), mu1, s2) == pytest.approx(b.sum(), rel=1e-12)


def test_fid_errors_name_the_problem():
    rng = np.random.default_rng(5)
    with pytest.raises(ValueError, match="at least 2 samples"):
        fid(rng.standard_normal((1, 4)), rng.standard_normal((5, 4)))
    with pytest.raises(ValueError, match="different widths"):
        fid(rng.standard_normal((5, 4)), rng.standard_normal((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        fid(np.full((3, 2), np.nan), rng.standard_normal((5, 2)))
    with pytest.raises(ValueError, match=r"\(3, 3\) covariance"):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))


# --- KID -----------------------------------------------------------------------------------


def brute_force_mmd2(x, y):
    """The unbiased MMD² written as its sums over index pairs, kernel (x·y/d + 1)³ by explicit loops."""
    m, d = x.shape

    def k(u, v):
        return (sum(float(p) * float(q) for p, q in zip(u, v)) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def brute_force_kid(a, b, subsets, subset_size, seed):
    rng = np.random.RandomState(seed)  # torch-fidelity's draws: a's rows, then b's, per subset
    values = []
    for _ in range(subsets):
        rows_a = rng.choice(len(a), subset_size, replace=False)
        rows_b = rng.choice(len(b), subset_size, replace=False)
        values.append(brute_force_mmd2(a[rows_a], b[rows_b]))
    return np.mean(values), np.std(values)


@pytest.fixture
def kid_sets():
    rng = np.random.default_rng(6)
    return rng.standard_normal((7, 5)), rng.standard_normal((9, 5)) + 0.4


def test_kid_matches_a_brute_force_loop(kid_sets):
    a, b = kid_sets
    mean, error = brute_force_kid(a, b, subsets=4, subset_size=4, seed=1)
    result = kid(a, b, subsets=4, subset_size=4, seed=1)
    assert isinstance(result, KernelInceptionDistance)
    assert result.mean == pytest.approx(mean, rel=1e-10)
    assert result.standard_error == pytest.approx(error, rel=1e-8)
    assert result.standard_error > 0


def test_kid_large_set_path_gives_the_same_values(kid_sets, monkeypatch):
    a, b = kid_sets
    small = kid(a, b, subsets=5, subset_size=3, seed=2)
    monkeypatch.setattr(statistics, "_PRECOMPUTED_KERNEL_ENTRIES", 0)  # kernels per subset
    large = kid(a, b, subsets=5, subset_size=3, seed=2)
    assert large.mean == pytest.approx(small.mean, rel=1e-12)
    assert large.standard_error == pytest.approx(small.standard_error, rel=1e-9)


def test_kid_subset_size_is_clipped_to_the_smaller_set(kid_sets):
    a, b = kid_sets
    assert kid(a, b, subsets=3, subset_size=1000) == kid(a, b, subsets=3, subset_size=7)
    mean, error = brute_force_kid(a, b, subsets=3, subset_size=7, seed=0)
    assert kid(a, b, subsets=3, subset_size=1000).mean == pytest.approx(mean, rel=1e-10)


def test_kid_tells_alike_sets_from_different_ones():
    rng = np.random.default_rng(7)
    a, same, shifted = rng.standard_normal((3, 60, 8))
    alike = kid(a, same, subsets=20, subset_size=30)
    different = kid(a, shifted + 1.0, subsets=20, subset_size=30)
    assert abs(alike.mean) < 3 * alike.standard_error + 1e-3
    assert different.mean > 3 * different.standard_error > 0
    assert different.mean > 100 * abs(alike.mean)


def test_kid_errors_name_the_argument(kid_sets):
    a, b = kid_sets
    with pytest.raises(ValueError, match="subsets"):
        kid(a, b, subsets=0)
    with pytest.raises(ValueError, match="subset_size"):
        kid(a, b, subset_size=1)
    with pytest.raises(ValueError, match="features_b.*2 samples"):
        kid(a, b[:1])
