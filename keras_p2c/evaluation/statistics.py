"""The distances between two sets of image features: Fréchet (FID) and kernel (KID) Inception distances.

NumPy only, in float64. Both take `(n, d)` feature arrays (InceptionV3 pool features for FID / KID, see
`keras_p2c.evaluation.features`); lower is better, 0 means the two sets are alike.

FID (Heusel et al. 2017) is the Fréchet distance between Gaussians fitted to the two sets,

    ||mu1 - mu2||² + Tr(S1 + S2 - 2 (S1 S2)^½).

The reference implementations (pytorch-fid, torch-fidelity) take `scipy.linalg.sqrtm(S1 @ S2)`, drop the
imaginary part round-off leaves, and add 1e-6 to the diagonals when the product is singular. Here only the
trace of the square root is needed, and it comes from a symmetric matrix instead: with A = S1^½,
S1 S2 = A (A S2) has the eigenvalues of A S2 A (AB and BA share their non-zero eigenvalues), which is
symmetric positive semi-definite, so

    Tr (S1 S2)^½ = sum_i sqrt(lambda_i(A S2 A)),

from two symmetric eigen-decompositions, with real results and no offset. The product is formed in S1's
eigenbasis, restricted to the directions where S1's eigenvalue is above round-off (`d * eps * lambda_max`,
the cut `numpy.linalg.matrix_rank` makes; the product's eigenvalues get the same cut): with fewer images
than feature dimensions (the usual case for a test folder, e.g. 100 images of 2048 features) S1 has rank
n - 1 and the other directions hold only round-off, which through a plain square root would add up to
~1e-5 of the trace and keep FID(X, X) from being 0. Within round-off the result equals the reference
formula.

`fid` of two feature sets with fewer images than features skips the d × d matrices altogether. With the
centred features C1 (n1 × d) and C2, S1 S2 = C1ᵀ C1 C2ᵀ C2 / k (k = (n1 - 1)(n2 - 1)) has the non-zero
eigenvalues of Gᵀ G / k with G = C2 C1ᵀ (n2 × n1), so Tr (S1 S2)^½ = ||G||_* / sqrt(k), the sum of G's
singular values, and Tr S = ||C||_F² / (n - 1): exact, and for 100 images of 2048 features a 100 × 100
SVD instead of two 2048 × 2048 eigen-decompositions.

KID (Bińkowski et al. 2018, "Demystifying MMD GANs") is the unbiased estimate of the squared maximum mean
discrepancy with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over random subsets of both
sets, as torch-fidelity computes it (same kernel, same estimator, same subset draws for the same seed).
Unlike FID it is unbiased for small sets, so it compares runs evaluated on a few hundred images fairly.
"""

import collections

import numpy as np

# The kernel matrix of all features at once is used below this many entries (200 MB of float64); larger
# sets compute each subset's kernels on their own.
_PRECOMPUTED_KERNEL_ENTRIES = 25_000_000


class KernelInceptionDistance(collections.namedtuple("KernelInceptionDistance", ["mean", "standard_error"])):
    """KID as `(mean, standard_error)` over the subsets (unpacks as a pair).

    `mean` is the average of the subsets' unbiased MMD² estimates; `standard_error` their standard
    deviation (population, as torch-fidelity's `kernel_inception_distance_std`): the spread of one
    estimate from `subset_size` images per set, the "±" Bińkowski et al. and torch-fidelity report.
    It is 0 when every subset is the whole of both sets.
    """

    __slots__ = ()


def _as_features(features, name):
    """`features` as a 2-D float64 array with at least two rows; the error names the argument."""
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D (samples, features) array. Received: shape={array.shape}")
    if array.shape[0] < 2:
        raise ValueError(
            f"`{name}` needs at least 2 samples for a covariance / an unbiased MMD estimate; give more images. "
            f"Received: shape={array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` holds NaN or infinite values (a feature extractor that overflowed?).")
    return array


def _feature_pair(features_a, features_b):
    features_a = _as_features(features_a, "features_a")
    features_b = _as_features(features_b, "features_b")
    if features_a.shape[1] != features_b.shape[1]:
        raise ValueError(
            f"The two feature sets have different widths: {features_a.shape[1]} and {features_b.shape[1]}."
        )
    return features_a, features_b


def _as_covariance(sigma, name, dimension):
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    if sigma.shape != (dimension, dimension):
        raise ValueError(
            f"`{name}` must be a ({dimension}, {dimension}) covariance matching the means. "
            f"Received: shape={sigma.shape}"
        )
    if not np.all(np.isfinite(sigma)):
        raise ValueError(f"`{name}` holds NaN or infinite values.")
    return (sigma + sigma.T) / 2.0  # exactly symmetric, so eigh sees the matrix it assumes


def trace_sqrt_product(sigma1, sigma2):
    """Tr((sigma1 sigma2)^½) of two symmetric positive semi-definite matrices, from symmetric eigen-decompositions.

    Args:
        sigma1, sigma2: `(d, d)` covariance matrices (float64 after conversion).

    Returns:
        A non-negative float: the sum of the square roots of the eigenvalues of
        sigma1^½ sigma2 sigma1^½ (see the module docstring for why this equals the trace).
    """
    eigenvalues, eigenvectors = np.linalg.eigh(sigma1)
    keep = eigenvalues > _round_off(eigenvalues)
    if not np.any(keep):
        return 0.0
    basis = eigenvectors[:, keep]
    root = np.sqrt(eigenvalues[keep])
    # A S2 A in S1's eigenbasis: D (V^T S2 V) D with D = diag(sqrt(lambda)); a diagonal scaling keeps the
    # relative precision of every entry.
    product = root[:, None] * (basis.T @ sigma2 @ basis) * root[None, :]
    product = (product + product.T) / 2.0
    eigenvalues = np.linalg.eigvalsh(product)
    # The same cut for the product: where S2 is singular on S1's range its zero eigenvalues come out as
    # ±round-off, whose square roots (~1e-8 of the scale each) would be counted as signal.
    eigenvalues[eigenvalues <= _round_off(eigenvalues)] = 0.0
    return float(np.sum(np.sqrt(eigenvalues)))


def _round_off(eigenvalues):
    """The eigenvalue below which a symmetric PSD matrix's eigenvalue is round-off (as `numpy.linalg.matrix_rank`)."""
    return eigenvalues.size * np.finfo(np.float64).eps * max(float(eigenvalues.max(initial=0.0)), 0.0)


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2): the FID formula.

    ||mu1 - mu2||² + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^½), computed in float64 with the
    symmetric square root of the module docstring (stable for singular and near-singular covariances).

    Args:
        mu1, mu2: `(d,)` means.
        sigma1, sigma2: `(d, d)` covariances (symmetric positive semi-definite).

    Returns:
        A float ≥ 0 (negative round-off is clipped to 0).

    Raises:
        ValueError: shapes that do not match, or NaN / infinite values.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"`mu1` and `mu2` must be vectors of one length. Received: shapes {mu1.shape} and {mu2.shape}")
    if not (np.all(np.isfinite(mu1)) and np.all(np.isfinite(mu2))):
        raise ValueError("`mu1` / `mu2` hold NaN or infinite values.")
    sigma1 = _as_covariance(sigma1, "sigma1", mu1.shape[0])
    sigma2 = _as_covariance(sigma2, "sigma2", mu1.shape[0])
    difference = mu1 - mu2
    distance = (
        difference @ difference
        + np.trace(sigma1)
        + np.trace(sigma2)
        - 2.0 * trace_sqrt_product(sigma1, sigma2)
    )
    return max(float(distance), 0.0)


def feature_statistics(features):
    """Mean and covariance of a feature set, the Gaussian FID fits.

    Args:
        features: `(n, d)` array, n ≥ 2.

    Returns:
        `(mu, sigma)`: `(d,)` mean and `(d, d)` unbiased covariance (divided by n - 1, as `numpy.cov` and
        the reference implementations), float64.
    """
    features = _as_features(features, "features")
    mu = features.mean(axis=0)
    centred = features - mu
    return mu, centred.T @ centred / (features.shape[0] - 1)


def fid(features_a, features_b):
    """Fréchet Inception distance between two feature sets.

    Args:
        features_a, features_b: `(n_a, d)` and `(n_b, d)` arrays (e.g. InceptionV3 pool features of
            generated and real cartoons), at least 2 rows each.

    Returns:
        A float ≥ 0. FID is biased upward for small sets (it falls as n grows), so compare only values
        computed from the same numbers of images.
    """
    features_a, features_b = _feature_pair(features_a, features_b)
    (n_a, d), n_b = features_a.shape, features_b.shape[0]
    if n_a * n_b > d * d:
        return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))
    # Fewer images than features: the Gram form of the module docstring, exact and much smaller.
    mu_a, mu_b = features_a.mean(axis=0), features_b.mean(axis=0)
    centred_a, centred_b = features_a - mu_a, features_b - mu_b
    trace_sqrt = np.sum(np.linalg.svd(centred_b @ centred_a.T, compute_uv=False)) / np.sqrt((n_a - 1) * (n_b - 1))
    distance = (
        np.sum((mu_a - mu_b) ** 2)
        + np.sum(centred_a**2) / (n_a - 1)
        + np.sum(centred_b**2) / (n_b - 1)
        - 2.0 * trace_sqrt
    )
    return max(float(distance), 0.0)


def polynomial_kernel(x, y):
    """The KID kernel k(x, y) = (x·y / d + 1)³ between the rows of `x` and `y`.

    Args:
        x, y: `(n, d)` and `(m, d)` float arrays.

    Returns:
        `(n, m)` float64 kernel matrix.
    """
    return (np.asarray(x, np.float64) @ np.asarray(y, np.float64).T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(k_xx, k_xy, k_yy):
    """The unbiased estimate of the squared MMD from the kernel matrices of two equal-size samples.

    Args:
        k_xx, k_yy: `(m, m)` kernels within each sample; k_xy: `(m, m)` between them.

    Returns:
        A float (it can be slightly negative when the samples are alike):
        mean of k_xx and k_yy off their diagonals, less twice the mean of k_xy.
    """
    m = k_xx.shape[0]
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kid(features_a, features_b, subsets=100, subset_size=1000, seed=0):
    """Kernel Inception distance: the unbiased MMD² (cubic polynomial kernel) averaged over random subsets.

    Each of `subsets` rounds draws `subset_size` rows of each set without replacement (a
    `numpy.random.RandomState(seed)`, first from `features_a` then from `features_b`, as torch-fidelity
    does) and computes `mmd2_unbiased` of their kernels.

    Args:
        features_a, features_b: `(n_a, d)` and `(n_b, d)` arrays, at least 2 rows each.
        subsets: number of random subsets (≥ 1).
        subset_size: rows drawn from each set per subset; clipped to the smaller set's size (then the
            subsets of that set are all of it, and `standard_error` only reflects the other set's draws).
        seed: seed of the subset draws.

    Returns:
        `KernelInceptionDistance(mean, standard_error)`, floats (see that class).

    Raises:
        ValueError: arrays that are not `(n, d)` of one width with n ≥ 2, or a non-positive
            `subsets` / a `subset_size` below 2.
    """
    features_a, features_b = _feature_pair(features_a, features_b)
    if not isinstance(subsets, (int, np.integer)) or subsets < 1:
        raise ValueError(f"`subsets` must be a positive integer. Received: subsets={subsets!r}")
    if not isinstance(subset_size, (int, np.integer)) or subset_size < 2:
        raise ValueError(f"`subset_size` must be an integer of at least 2. Received: subset_size={subset_size!r}")
    n_a, n_b = features_a.shape[0], features_b.shape[0]
    m = min(int(subset_size), n_a, n_b)
    rng = np.random.RandomState(seed)

    if (n_a + n_b) ** 2 <= _PRECOMPUTED_KERNEL_ENTRIES:
        # Small sets (a test folder): one kernel matrix of everything, then each subset indexes into it.
        both = np.concatenate([features_a, features_b])
        kernel = polynomial_kernel(both, both)

        def subset_kernels(rows_a, rows_b):
            rows_b = rows_b + n_a
            return kernel[np.ix_(rows_a, rows_a)], kernel[np.ix_(rows_a, rows_b)], kernel[np.ix_(rows_b, rows_b)]
    else:

        def subset_kernels(rows_a, rows_b):
            x, y = features_a[rows_a], features_b[rows_b]
            return polynomial_kernel(x, x), polynomial_kernel(x, y), polynomial_kernel(y, y)

    estimates = np.empty(subsets)
    for index in range(subsets):
        rows_a = rng.choice(n_a, m, replace=False)
        rows_b = rng.choice(n_b, m, replace=False)
        estimates[index] = mmd2_unbiased(*subset_kernels(rows_a, rows_b))
    return KernelInceptionDistance(float(estimates.mean()), float(estimates.std()))
