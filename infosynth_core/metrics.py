"""Information-theoretic metrics of problem sets: novelty (k-NN KL divergence) and diversity
(Kozachenko–Leonenko differential entropy), in nats.

Both are exact k-nearest-neighbour estimators on points in R^d (InfoSynth uses a joint UMAP
projection of sentence embeddings, d≈10; see ``projection.py``). Neighbours are found with
``scipy.spatial.cKDTree`` for small sets and low dimensions, and by an exact blocked search
(numba) for large sets in d >= 5 (see "exact k-th neighbour distances" below); both use all
cores, distances are Euclidean, arithmetic is float64. :func:`novelty_and_diversity` returns
D(q‖p), H(Y) and H(X) from one index per set and one search per neighbour relation (three in
all) instead of the four searches of the separate calls.

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
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma, gammaln
from scipy.stats import t as student_t

from .errors import InfoSynthError

__all__ = [
    "kl_divergence",
    "differential_entropy",
    "novelty_and_diversity",
    "NoveltyDiversity",
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


# --- exact k-th neighbour distances ---------------------------------------------------------
#
# Two exact engines, same distances (to the last bit or two of float64):
# * cKDTree, for small sets and low dimensions, where a tree prunes well;
# * a blocked search for large sets in d >= 5, where a kd-tree visits a large share of the
#   points anyway: both sets are cut by median splits into spatially compact leaves; each tile
#   of queries visits the reference blocks in order of a box-to-box lower bound, stops when
#   the bound passes every query's current k-th distance, and skips a block for a query whose
#   point-to-box bound is already larger. Inside a block the distances are computed directly
#   (Σ (p − q)², vectorised), so they are exact and a duplicate gives exactly 0. The kernel is
#   compiled by numba (which comes with umap-learn) and cached on disk (``numba_cache``).
# Both engines issue queries in leaf order (spatially coherent; cheap, and it keeps the
# blocked engine's tiles compact) and use all cores. At N = M = 50,000, d = 10 the blocked
# engine needs ~1/3.5 of the CPU time of a textbook cKDTree search (bench/metrics.py).

_LEAFSIZE = 32  # cKDTree leaf size; balanced (default) trees query faster here than unbalanced
_TILE = 64  # queries per tile of the blocked engine
_BLOCK_TILES = 2  # consecutive leaves merged into one reference block (<= 128 points)
_BLOCKED_MIN_DIM = 5
_BLOCKED_MIN_POINTS = 4_000  # largest set size from which the blocked engine is used (3-4x
# faster than cKDTree at 5,000-20,000 in d=10, once compiled; see numba_cache for the compile)

_kernel_lock = threading.Lock()
_kernel_cache: list = []  # [compiled kernel or None when numba is not installed]


def _tree(points: np.ndarray) -> cKDTree:
    return cKDTree(points, leafsize=_LEAFSIZE)


def _leaves(points: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Median splits along the widest axis until <= ``size`` points: (order, leaf starts)."""
    n = points.shape[0]
    order = np.arange(n)
    starts = []
    stack = [(0, n)]
    while stack:
        s, e = stack.pop()
        if e - s <= size:
            starts.append(s)
            continue
        idx = order[s:e]
        sub = points[idx]
        axis = int(np.argmax(sub.max(axis=0) - sub.min(axis=0)))
        half = (e - s) // 2
        order[s:e] = idx[np.argpartition(sub[:, axis], half)]
        stack.append((half + s, e))
        stack.append((s, s + half))
    starts.append(n)
    return order, np.asarray(starts, dtype=np.int64)  # depth-first: already sorted


def _boxes(ordered: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.minimum.reduceat(ordered, starts[:-1], axis=0),
        np.maximum.reduceat(ordered, starts[:-1], axis=0),
    )


def _blocked_kernel(pts_t, b_start, b_lo, b_hi, q, t_start, t_lo, t_hi, kk, t0, t1, out):
    """Squared distance to the kk-th neighbour for the queries of tiles t0..t1-1 (numba)."""
    d = pts_t.shape[0]
    nb = b_start.shape[0] - 1
    max_t = 0
    for t in range(t_start.shape[0] - 1):
        max_t = max(max_t, t_start[t + 1] - t_start[t])
    max_b = 0
    for b in range(nb):
        max_b = max(max_b, b_start[b + 1] - b_start[b])
    buf = np.empty(max_b)
    best = np.empty((max_t, kk))
    thr = np.empty(max_t)
    lb = np.empty(nb)
    # The box bounds add the same squares in the same order as the distances below (a zero
    # gap adds nothing), and rounding is monotone, so bound <= computed distance: comparing
    # with ``>`` never skips a point that could be among the kk nearest.
    for t in range(t0, t1):
        s, e = t_start[t], t_start[t + 1]
        for b in range(nb):  # tile box to block box lower bound
            acc = 0.0
            for a in range(d):
                g = max(b_lo[b, a] - t_hi[t, a], t_lo[t, a] - b_hi[b, a])
                if g > 0.0:
                    acc += g * g
            lb[b] = acc
        for i in range(e - s):
            thr[i] = np.inf
            for c in range(kk):
                best[i, c] = np.inf
        worst = np.inf
        for b in np.argsort(lb):
            if lb[b] > worst:
                break
            b0, b1 = b_start[b], b_start[b + 1]
            for i in range(e - s):
                qi = s + i
                th = thr[i]
                acc = 0.0  # query point to block box lower bound
                for a in range(d):
                    x = q[qi, a]
                    g = max(b_lo[b, a] - x, x - b_hi[b, a])
                    if g > 0.0:
                        acc += g * g
                if acc > th:
                    continue
                x = q[qi, 0]
                row = pts_t[0, b0:b1]
                for j in range(b1 - b0):
                    z = row[j] - x
                    buf[j] = z * z
                for a in range(1, d):
                    x = q[qi, a]
                    row = pts_t[a, b0:b1]
                    for j in range(b1 - b0):
                        z = row[j] - x
                        buf[j] += z * z
                for j in range(b1 - b0):
                    v = buf[j]
                    if v < th:  # insert into the sorted kk best
                        c = kk - 1
                        while c > 0 and best[i, c - 1] > v:
                            best[i, c] = best[i, c - 1]
                            c -= 1
                        best[i, c] = v
                        th = best[i, kk - 1]
                thr[i] = th
            worst = 0.0
            for i in range(e - s):
                worst = max(worst, thr[i])
        for i in range(e - s):
            out[s + i] = thr[i]


def _compiled_kernel():
    """The numba-compiled blocked kernel, or None where numba is not installed."""
    with _kernel_lock:
        if not _kernel_cache:
            try:
                import numba
            except ImportError:  # the cKDTree engine gives the same values, only slower
                _kernel_cache.append(None)
            else:
                options = {"nogil": True, "boundscheck": False, "error_model": "numpy"}
                try:
                    kernel = numba.njit(cache=True, **options)(_blocked_kernel)
                except RuntimeError:  # nowhere writable to cache: compile in each process
                    kernel = numba.njit(cache=False, **options)(_blocked_kernel)
                _kernel_cache.append(kernel)
        return _kernel_cache[0]


def _use_blocked(n_max: int, d: int) -> bool:
    """The blocked engine for large sets in d >= 5 (where numba is installed), else cKDTree."""
    return d >= _BLOCKED_MIN_DIM and n_max >= _BLOCKED_MIN_POINTS and _compiled_kernel() is not None


def _n_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class _Index:
    """One point set prepared for exact k-NN searches, as reference and as queries."""

    def __init__(self, points: np.ndarray, *, blocked: bool) -> None:
        self.n = points.shape[0]
        self.blocked = blocked
        if blocked:
            self.order, self.tiles = _leaves(points, _TILE)
            self.ordered = np.ascontiguousarray(points[self.order])
            self.tile_lo, self.tile_hi = _boxes(self.ordered, self.tiles)
            self.blocks = np.append(self.tiles[:-1:_BLOCK_TILES], self.n)
            self.block_lo, self.block_hi = _boxes(self.ordered, self.blocks)
            self.ordered_t = np.ascontiguousarray(self.ordered.T)
        else:
            self.tree = _tree(points)
            self.order = self.tree.indices
            self.ordered = points[self.order]

    def kth(self, queries: _Index, kk: int) -> np.ndarray:
        """Distance from each point of ``queries`` to its kk-th neighbour here, in the
        queries' row order (a query that is also a point here counts as its own 1st)."""
        if self.blocked:
            sq = np.empty(queries.n)
            kernel = _compiled_kernel()
            n_tiles = queries.tiles.shape[0] - 1
            workers = _n_workers()
            cuts = np.linspace(0, n_tiles, min(n_tiles, 8 * workers) + 1).astype(np.int64)

            def run(c: int) -> None:
                kernel(
                    self.ordered_t, self.blocks, self.block_lo, self.block_hi,
                    queries.ordered, queries.tiles, queries.tile_lo, queries.tile_hi,
                    kk, cuts[c], cuts[c + 1], sq,
                )  # fmt: skip

            if workers == 1:
                for c in range(len(cuts) - 1):
                    run(c)
            else:
                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(run, range(len(cuts) - 1)))
            dist = np.sqrt(sq)
        else:
            dist = self.tree.query(queries.ordered, k=[kk], workers=-1)[0][:, 0]
        out = np.empty_like(dist)
        out[queries.order] = dist
        return out


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


def _entropy_value(eps: np.ndarray, k: int, d: int) -> float:
    n = eps.shape[0]
    return float(digamma(n) - digamma(k) + log_unit_ball_volume(d) + d * np.mean(np.log(eps)))


def _kl_value(rho: np.ndarray, nu: np.ndarray, m: int, d: int) -> float:
    n = rho.shape[0]
    return float(d * np.mean(np.log(nu) - np.log(rho)) + math.log(m / (n - 1)))


def _pair(Y, X, func: str) -> tuple[np.ndarray, np.ndarray]:
    Y = _points(Y, "Y", func)
    X = _points(X, "X", func)
    if Y.shape[1] != X.shape[1]:
        raise MetricInputError(
            f"{func}: Y and X must have the same dimension; got Y with d={Y.shape[1]} and X "
            f"with d={X.shape[1]}."
        )
    return Y, X


def differential_entropy(X, k: int = 4, *, strict: bool = False) -> float:
    """Kozachenko–Leonenko estimate of the differential entropy of the sample ``X``, in nats.

    Kozachenko & Leonenko (1987), "Sample estimate of the entropy of a random vector",
    Problems of Information Transmission 23(2); formula in the module docstring.

    Parameters
    ----------
    X : array of shape (N, d)
    k : int, default 4
        Neighbour order; must be < N.
    strict : bool
        Raise on zero k-NN distances (duplicates) instead of flooring them.

    Returns
    -------
    float
        The entropy estimate in nats.
    """
    func = "differential_entropy"
    X = _points(X, "X", func)
    n, d = X.shape
    _check_k(k, n - 1, "number of points - 1", func)
    index = _Index(X, blocked=_use_blocked(n, d))
    eps = _floor_zeros(
        index.kth(index, k + 1),
        strict=strict,
        what="k-NN",
        func=func,
    )
    return _entropy_value(eps, k, d)


def kl_divergence(Y, X, k: int = 4, *, strict: bool = False) -> float:
    """Wang–Kulkarni–Verdú k-NN estimate of D(q‖p) in nats, Y ~ q (generated), X ~ p (reference).

    Wang, Kulkarni & Verdú (2009), IEEE Trans. Inf. Theory 55(5); formula in the module
    docstring. To also get both entropies, :func:`novelty_and_diversity` shares the searches.

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

    Returns
    -------
    float
        The divergence estimate in nats.
    """
    func = "kl_divergence"
    Y, X = _pair(Y, X, func)
    n, d = Y.shape
    m = X.shape[0]
    _check_k(k, n - 1, "number of points in Y - 1", func)
    _check_k(k, m, "number of points in X", func)
    blocked = _use_blocked(max(n, m), d)
    y_index = _Index(Y, blocked=blocked)
    rho = _floor_zeros(y_index.kth(y_index, k + 1), strict=strict, what="within-Y", func=func)
    nu = _floor_zeros(
        _Index(X, blocked=blocked).kth(y_index, k),
        strict=strict,
        what="Y-to-X",
        func=func,
    )
    return _kl_value(rho, nu, m, d)


class NoveltyDiversity(NamedTuple):
    """``(kl, entropy_y, entropy_x)`` in nats: D(q‖p), H(Y) and H(X) from shared searches."""

    kl: float
    entropy_y: float
    entropy_x: float


def novelty_and_diversity(Y, X, k: int = 4, *, strict: bool = False) -> NoveltyDiversity:
    """Novelty D(q‖p) and both diversities H(Y), H(X), in nats, from one set of searches.

    Equal (to rounding, well within 1e-9) to ``(kl_divergence(Y, X, k),
    differential_entropy(Y, k), differential_entropy(X, k))`` at about 3/5 of their cost:
    each kd-tree is built once and each of the three k-NN searches is done once, all cores.
    H(Y) (Kozachenko & Leonenko 1987) reuses the within-Y k-th neighbour distances ρₖ of
    the KL estimate (Wang, Kulkarni & Verdú 2009); H(X) uses the within-X distances; the
    KL's νₖ comes from the X tree queried with Y.

    Parameters
    ----------
    Y : array of shape (n, d)
        Sample from q (the set whose novelty is measured, e.g. generated problems).
    X : array of shape (m, d)
        Sample from p (the reference).
    k : int, default 4
        Neighbour order; must be < n and < m.
    strict : bool
        Raise on zero distances (duplicates within Y, within X or shared by Y and X) instead
        of flooring them (see the module docstring).

    Returns
    -------
    NoveltyDiversity
        A named tuple ``(kl, entropy_y, entropy_x)`` of floats, in nats.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> Y, X = rng.standard_normal((500, 3)), rng.standard_normal((600, 3))
    >>> kl, h_y, h_x = novelty_and_diversity(Y, X, k=4)
    >>> abs(h_x - differential_entropy(X, k=4)) < 1e-9
    True
    """
    func = "novelty_and_diversity"
    Y, X = _pair(Y, X, func)
    n, d = Y.shape
    m = X.shape[0]
    _check_k(k, n - 1, "number of points in Y - 1", func)
    _check_k(k, m - 1, "number of points in X - 1", func)
    blocked = _use_blocked(max(n, m), d)
    y_index, x_index = _Index(Y, blocked=blocked), _Index(X, blocked=blocked)
    rho = _floor_zeros(y_index.kth(y_index, k + 1), strict=strict, what="within-Y", func=func)
    nu = _floor_zeros(x_index.kth(y_index, k), strict=strict, what="Y-to-X", func=func)
    eps = _floor_zeros(
        x_index.kth(x_index, k + 1),
        strict=strict,
        what="within-X",
        func=func,
    )
    return NoveltyDiversity(
        _kl_value(rho, nu, m, d), _entropy_value(rho, k, d), _entropy_value(eps, k, d)
    )


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
