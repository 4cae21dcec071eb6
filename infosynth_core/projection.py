"""Joint UMAP projections and the novelty / diversity measurement built on them.

InfoSynth measures novelty and diversity in a low-dimensional projection of sentence
embeddings (paper: UMAP with n_neighbors=80, min_dist=0.1, d in [8, 12], cosine metric).
Sets that are compared must share one UMAP fit, so every measurement fits UMAP on all of them
jointly, ``runs`` times with different seeds (default 10), and reports each metric as the
mean over runs with a 95% Student-t interval.

UMAP compiles its numba kernels the first time it runs in a process (12–38 s on a 2-core
machine). :func:`warm_up` pays that once, in a background thread, while other work (loading,
embedding) goes on.

:class:`MapLayout` gives the 2-D layout for plots: fit once, then place new points with
``transform`` so the map stays stable across generations. It refits only when asked, or when
the points added since the fit outnumber ``refit_ratio`` × the fitted points (default 1.0):
the layout then changes, and ``generation`` of the layout goes up so views can say so.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError
from .metrics import Estimate, entropy_at_n, kl_divergence

__all__ = ["joint_umap", "warm_up", "measure", "Measurement", "MapLayout"]

_warm_lock = threading.Lock()
_warm_thread: threading.Thread | None = None


def _umap(
    n_points: int,
    *,
    n_components: int,
    n_neighbors: int,
    min_dist: float,
    metric: str,
    random_state: int,
):
    import umap

    if n_points < 4:
        raise ConfigError(f"UMAP needs at least 4 points; got {n_points}.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_jobs overridden by random_state, etc.
        return umap.UMAP(
            n_components=n_components,
            n_neighbors=max(2, min(n_neighbors, n_points - 1)),
            min_dist=min_dist,
            metric=metric,
            random_state=random_state,
            init="spectral" if n_points > n_components + 1 else "random",
        )


def warm_up(*, large: bool = False, background: bool = True) -> threading.Thread | None:
    """Compile UMAP's numba kernels once per process; in a background thread by default.

    A tiny fit and transform compile the small-data path. With ``large=True`` a second fit of
    4,200 points compiles the approximate-neighbour path (NN-descent) that UMAP switches to
    above 4,096 points, and its transform (about a minute more of compile time, once).
    """
    global _warm_thread

    def work() -> None:
        rng = np.random.default_rng(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = _umap(
                60, n_components=2, n_neighbors=10, min_dist=0.1, metric="cosine", random_state=0
            )
            model.fit(rng.standard_normal((60, 8)))
            model.transform(rng.standard_normal((5, 8)))
            if large:
                import umap

                big = umap.UMAP(
                    n_components=2, n_neighbors=10, metric="cosine", n_epochs=5, random_state=0
                )
                big.fit(rng.standard_normal((4_200, 8)))
                big.transform(rng.standard_normal((5, 8)))

    with _warm_lock:
        if _warm_thread is None:
            _warm_thread = threading.Thread(target=work, name="umap-warm-up", daemon=True)
            _warm_thread.start()
    if not background:
        _warm_thread.join()
    return _warm_thread


def joint_umap(
    sets: Mapping[str, np.ndarray],
    *,
    n_components: int = 10,
    n_neighbors: int = 80,
    min_dist: float = 0.1,
    metric: str = "cosine",
    random_state: int = 0,
    shuffle: bool = True,
) -> dict[str, np.ndarray]:
    """Fit one UMAP on all ``sets`` together; return each set's projected points (float64).

    ``n_neighbors`` is capped below the total number of points. With ``shuffle`` (the
    default) the stacked rows are put in a random order (from ``random_state``) before the
    fit and restored after: UMAP's result depends on row order, and a set stacked in a fixed
    place reads systematically more or less diverse (+0.2 to +1.0 nats of entropy for the set
    stacked second, measured on two random halves of LeetCode).
    """
    if not sets:
        raise ConfigError("joint_umap needs at least one set of points; got none.")
    dims = {name: np.asarray(v).shape[1] for name, v in sets.items()}
    if len(set(dims.values())) != 1:
        raise ConfigError(f"All sets given to joint_umap must have the same dimension; got {dims}.")
    if not 1 <= n_components <= 100:
        raise ConfigError(
            f"The 'n_components' parameter of joint_umap must be in [1, 100]; got {n_components}."
        )
    names = list(sets)
    stacked = np.vstack([np.asarray(sets[n], dtype=np.float32) for n in names])
    order = (
        np.random.default_rng(random_state).permutation(len(stacked))
        if shuffle
        else np.arange(len(stacked))
    )
    stacked = stacked[order]
    model = _umap(
        len(stacked),
        n_components=n_components,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric=metric,
        random_state=random_state,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        shuffled = model.fit_transform(stacked).astype(np.float64)
    emb = np.empty_like(shuffled)
    emb[order] = shuffled  # back to the stacked order
    out, start = {}, 0
    for n in names:
        size = len(sets[n])
        out[n] = emb[start : start + size]
        start += size
    return out


@dataclass(frozen=True)
class Measurement:
    """Novelty of a candidate set against a reference, and both sets' diversity, in nats.

    ``novelty`` is D(candidate‖reference) (k-NN KL); ``diversity_*`` are Kozachenko–Leonenko
    entropies at the matched size ``matched_n`` (the smaller set's size). Each is a mean over
    ``runs`` joint UMAP fits with a 95% interval.
    """

    novelty: Estimate
    diversity_reference: Estimate
    diversity_candidate: Estimate
    n_reference: int
    n_candidate: int
    matched_n: int
    dim: int
    k: int
    runs: int

    def to_dict(self) -> dict:
        return {
            "novelty": self.novelty.to_dict(),
            "diversity": {
                "reference": self.diversity_reference.to_dict(),
                "candidate": self.diversity_candidate.to_dict(),
                "matched_n": self.matched_n,
            },
            "n_reference": self.n_reference,
            "n_candidate": self.n_candidate,
            "dim": self.dim,
            "k": self.k,
            "umap_runs": self.runs,
        }


def measure(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    dim: int = 10,
    k: int = 4,
    runs: int = 10,
    draws: int = 100,
    random_state: int = 0,
    n_neighbors: int = 80,
    min_dist: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
) -> Measurement:
    """Novelty and diversity of ``candidate`` vs ``reference`` embeddings (see Measurement).

    Each of the ``runs`` joint UMAP fits uses seed ``random_state + r``; entropies at equal N
    average ``draws`` subsamples of the larger set per run.
    """
    if runs < 1:
        raise ConfigError(f"The 'runs' parameter of measure must be >= 1; got {runs}.")
    n_ref, n_cand = len(reference), len(candidate)
    matched = min(n_ref, n_cand)
    if matched <= k:
        raise ConfigError(
            f"measure needs more than k={k} problems in each set; got {n_ref} reference and "
            f"{n_cand} candidate problems."
        )
    novelty, h_ref, h_cand = [], [], []
    for r in range(runs):
        proj = joint_umap(
            {"reference": reference, "candidate": candidate},
            n_components=dim,
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            random_state=random_state + r,
        )
        novelty.append(kl_divergence(proj["candidate"], proj["reference"], k))
        h_ref.append(
            entropy_at_n(
                proj["reference"], matched, k=k, draws=draws, random_state=random_state + r
            ).mean
        )
        h_cand.append(
            entropy_at_n(
                proj["candidate"], matched, k=k, draws=draws, random_state=random_state + r
            ).mean
        )
        if progress:
            progress(r + 1, runs)
    return Measurement(
        novelty=Estimate.of_mean(novelty),
        diversity_reference=Estimate.of_mean(h_ref),
        diversity_candidate=Estimate.of_mean(h_cand),
        n_reference=n_ref,
        n_candidate=n_cand,
        matched_n=matched,
        dim=dim,
        k=k,
        runs=runs,
    )


class MapLayout:
    """A 2-D map that stays stable as points are added (see the module docstring).

    Parameters
    ----------
    random_state
        Seed of the UMAP fit.
    refit_ratio
        Refit automatically when the points placed since the last fit exceed this multiple
        of the fitted points.
    """

    def __init__(self, *, random_state: int = 0, refit_ratio: float = 1.0, n_neighbors: int = 30):
        self.random_state = random_state
        self.refit_ratio = refit_ratio
        self.n_neighbors = n_neighbors
        self.generation_ = 0
        self.model_ = None
        self.n_fitted_ = 0
        self.n_placed_ = 0

    def fit(self, embeddings: np.ndarray) -> np.ndarray:
        """Fit the layout on ``embeddings``; returns their 2-D coordinates."""
        x = np.asarray(embeddings, dtype=np.float32)
        self.model_ = _umap(
            len(x),
            n_components=2,
            n_neighbors=self.n_neighbors,
            min_dist=0.1,
            metric="cosine",
            random_state=self.random_state,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            coords = self.model_.fit_transform(x).astype(np.float64)
        # every point the layout holds, fitted or placed, and its coordinates
        self._points, self._coords = [x], [coords]
        self.n_fitted_, self.n_placed_ = len(x), 0
        self.generation_ += 1
        return coords

    def place(self, embeddings: np.ndarray) -> tuple[np.ndarray, bool]:
        """2-D coordinates of new points, and whether the layout was refitted to place them.

        Without a refit, existing points keep their coordinates. With one (``refit_ratio``
        exceeded), the caller must redraw everything from :meth:`coordinates`.
        """
        if self.model_ is None:
            raise ConfigError("MapLayout.place called before fit; call fit(embeddings) first.")
        x = np.asarray(embeddings, dtype=np.float32)
        if self.n_placed_ + len(x) > self.refit_ratio * self.n_fitted_:
            coords = self.fit(np.vstack([*self._points, x]))
            return coords[-len(x) :], True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            coords = self.model_.transform(x).astype(np.float64)
        self._points.append(x)
        self._coords.append(coords)
        self.n_placed_ += len(x)
        return coords, False

    def coordinates(self) -> np.ndarray:
        """2-D coordinates of every point held, in the order fitted and placed (after a refit,
        the refit's own coordinates)."""
        if self.model_ is None:
            raise ConfigError("MapLayout.coordinates called before fit.")
        return np.vstack(self._coords)
