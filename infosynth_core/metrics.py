"""Information-theoretic metrics of problem sets: novelty (k-NN KL divergence) and diversity
(Kozachenko–Leonenko differential entropy), in nats.

Both are exact k-nearest-neighbour estimators on points in R^d (InfoSynth uses a joint UMAP
projection of sentence embeddings, d≈10; see ``projection.py``). Neighbours are found with
``scipy.spatial.cKDTree`` (exact, all cores), distances are Euclidean, arithmetic is float64.

Novelty, D(q‖p) with Y ~ q (generated, n points) and X ~ p (reference, m points)
(Wang, Kulkarni & Verdú 2009, "Divergence estimation for multidimensional densities via
k-nearest-neighbor distances", IEEE Trans. Inf. Theory 55(5)):

    D(q‖p) = (d/n) Σᵢ ln(νₖ(i) / ρₖ(i)) + ln(m / (n − 1))

ρₖ(i): distance from yᵢ to its k-th neighbour in Y (itself excluded); νₖ(i): distance from
yᵢ to its k-th neighbour in X.

Diversity (Kozachenko & Leonenko 1987; radius convention, unit-radius ball volume V_d):

    H = ψ(N) − ψ(k) + ln V_d + (d/N) Σᵢ ln εᵢ,   V_d = π^(d/2) / Γ(d/2 + 1)

εᵢ: distance from xᵢ to its k-th neighbour (itself excluded).

Exact duplicates and zero distances. A zero k-NN distance makes a logarithm −∞. The rule
here: every zero distance is replaced by the smallest positive k-NN distance of the same
computation (a conservative floor, so the estimate stays finite and is, if anything,
pulled towards less novelty / less diversity), and a :class:`DuplicatePointsWarning` says
how many were replaced. ``strict=True`` raises :class:`MetricInputError` instead.

Reading the numbers. Both estimators are biased at finite n in d≈10 (the KL estimate
strongly so: a set against itself does not give 0 at these sizes). Only compare values
computed at matched n, m, d, k and in the same projection; compare entropies at equal N
(:func:`entropy_at_n`).

>>> import numpy as np
>>> round(differential_entropy(np.array([[0.0], [1.0], [3.0]]), k=1), 6)
2.424196
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln
from scipy.stats import t as student_t

from .errors import InfoSynthError

__all__ = [
    "kl_divergence",
    "differential_entropy",
    "entropy_at_n",
    "Estimate",
    "log_unit_ball_volume",
    "MetricInputError",
    "DuplicatePointsWarning",
]


class MetricInputError(InfoSynthError, ValueError):
    """Points given to a metric are unusable (empty, mismatched, non-finite, k too large)."""


class DuplicatePointsWarning(UserWarning):
    """Zero k-NN distances (exact duplicates) were floored; see the module docstring."""


def _points(X, name: str, func: str) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 1:
        raise MetricInputError(
            f"The '{name}' parameter of {func} must be a 2-D array of shape (n, d); got a 1-D "
            f"array of length {arr.shape[0]} (use X.reshape(-1, 1) for 1-D data)."
        )
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise MetricInputError(
            f"The '{name}' parameter of {func} must be a non-empty array of shape (n, d); "
            f"got shape {arr.shape}."
        )
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise MetricInputError(
            f"The '{name}' parameter of {func} has {bad} row(s) with NaN or infinite values; "
            "drop or fix them first."
        )
    return arr


def _check_k(k: int, limit: int, what: str, func: str) -> None:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise MetricInputError(
            f"The 'k' parameter of {func} must be a positive integer; got {k!r}."
        )
    if k > limit:
        raise MetricInputError(f"The 'k' parameter of {func} must be <= {what} ({limit}); got {k}.")


def _kth_distance(
    points: np.ndarray, queries: np.ndarray, k: int, *, self_excluded: bool
) -> np.ndarray:
    """Distance from each query to its k-th neighbour among ``points`` (exact, all cores)."""
    kk = k + 1 if self_excluded else k
    # leafsize 32: the fastest exact setting measured for 5-NN in d=10 (bench/metrics.py)
    dist, _ = cKDTree(points, leafsize=32).query(queries, k=[kk], workers=-1)
    return dist[:, 0]


def _floor_zeros(dist: np.ndarray, *, strict: bool, what: str, func: str) -> np.ndarray:
    zero = dist <= 0.0
    n_zero = int(zero.sum())
    if not n_zero:
        return dist
    if strict:
        raise MetricInputError(
            f"{func}: {n_zero} point(s) have a zero {what} distance (exact duplicates); "
            "remove duplicates, use a smaller k, or pass strict=False to floor them."
        )
    positive = dist[~zero]
    if positive.size == 0:
        raise MetricInputError(
            f"{func}: every {what} distance is zero (all points coincide); the estimate is "
            "undefined."
        )
    warnings.warn(
        f"{func}: {n_zero} zero {what} distance(s) (exact duplicates) were floored at "
        f"{positive.min():.3g}.",
        DuplicatePointsWarning,
        stacklevel=3,
    )
    return np.where(zero, positive.min(), dist)


def log_unit_ball_volume(d: int) -> float:
    """ln V_d, V_d = π^(d/2) / Γ(d/2 + 1), the volume of the unit-radius ball in R^d."""
    return 0.5 * d * math.log(math.pi) - float(gammaln(0.5 * d + 1.0))


def differential_entropy(X, k: int = 4, *, strict: bool = False) -> float:
    """Kozachenko–Leonenko estimate of the differential entropy of the sample ``X``, in nats.

    Parameters
    ----------
    X : array of shape (N, d)
    k : int, default 4
        Neighbour order; must be < N.
    strict : bool
        Raise on zero k-NN distances (duplicates) instead of flooring them.
    """
    func = "differential_entropy"
    X = _points(X, "X", func)
    n, d = X.shape
    _check_k(k, n - 1, "number of points - 1", func)
    eps = _floor_zeros(
        _kth_distance(X, X, k, self_excluded=True), strict=strict, what="k-NN", func=func
    )
    return float(digamma(n) - digamma(k) + log_unit_ball_volume(d) + d * np.mean(np.log(eps)))


def kl_divergence(Y, X, k: int = 4, *, strict: bool = False) -> float:
    """Wang–Kulkarni–Verdú k-NN estimate of D(q‖p) in nats, Y ~ q (generated), X ~ p (reference).

    Parameters
    ----------
    Y : array of shape (n, d)
        Sample from q (the set whose novelty is measured).
    X : array of shape (m, d)
        Sample from p (the reference).
    k : int, default 4
        Neighbour order; must be < n and <= m.
    strict : bool
        Raise on zero distances (duplicates within Y or shared by Y and X) instead of flooring.
    """
    func = "kl_divergence"
    Y = _points(Y, "Y", func)
    X = _points(X, "X", func)
    if Y.shape[1] != X.shape[1]:
        raise MetricInputError(
            f"{func}: Y and X must have the same dimension; got Y with d={Y.shape[1]} and X "
            f"with d={X.shape[1]}."
        )
    n, d = Y.shape
    m = X.shape[0]
    _check_k(k, n - 1, "number of points in Y - 1", func)
    _check_k(k, m, "number of points in X", func)
    rho = _floor_zeros(
        _kth_distance(Y, Y, k, self_excluded=True), strict=strict, what="within-Y", func=func
    )
    nu = _floor_zeros(
        _kth_distance(X, Y, k, self_excluded=False), strict=strict, what="Y-to-X", func=func
    )
    return float(d * np.mean(np.log(nu) - np.log(rho)) + math.log(m / (n - 1)))


@dataclass(frozen=True)
class Estimate:
    """A value with a 95% interval: ``mean``, ``low``, ``high`` (nats) over ``n`` samples."""

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of_mean(cls, values) -> Estimate:
        """Mean of repeated estimates with a Student-t 95% confidence interval of the mean."""
        v = np.asarray(values, dtype=np.float64)
        if v.size == 1:
            return cls(float(v[0]), float(v[0]), float(v[0]), 1)
        half = float(student_t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
        return cls(float(v.mean()), float(v.mean() - half), float(v.mean() + half), int(v.size))

    @classmethod
    def of_spread(cls, values) -> Estimate:
        """Mean of repeated estimates with the 2.5–97.5 percentile range of the values."""
        v = np.asarray(values, dtype=np.float64)
        lo, hi = np.percentile(v, [2.5, 97.5])
        return cls(float(v.mean()), float(lo), float(hi), int(v.size))

    def to_dict(self) -> dict[str, float]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def entropy_at_n(
    X,
    n: int,
    *,
    k: int = 4,
    draws: int = 100,
    random_state: int | np.random.Generator | None = 0,
    strict: bool = False,
) -> Estimate:
    """Entropy of ``X`` at sample size ``n``: mean over ``draws`` subsamples without
    replacement, with the 2.5–97.5 percentile range of the draws (nats).

    Entropies of sets of different sizes are only comparable at equal N; use the smaller set's
    size for both. With ``n == len(X)`` every draw is the whole set (one value).
    """
    func = "entropy_at_n"
    X = _points(X, "X", func)
    if not 2 <= n <= X.shape[0]:
        raise MetricInputError(
            f"The 'n' parameter of {func} must be in [2, {X.shape[0]}]; got {n}."
        )
    if draws < 1:
        raise MetricInputError(f"The 'draws' parameter of {func} must be >= 1; got {draws}.")
    if n == X.shape[0]:
        h = differential_entropy(X, k, strict=strict)
        return Estimate(h, h, h, 1)
    rng = np.random.default_rng(random_state)
    values = [
        differential_entropy(X[rng.choice(X.shape[0], size=n, replace=False)], k, strict=strict)
        for _ in range(draws)
    ]
    return Estimate.of_spread(values)
