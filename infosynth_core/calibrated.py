"""Novelty and diversity that a reader can compare: equal N, a null from the seeds, honest
intervals, bounded cost.

Raw k-NN estimates drift with sample size (in a 10-D UMAP projection, whose intrinsic
dimension is about 4, both move about 3 nats per e-fold of N) and the joint UMAP fit reads the
set stacked second as more diverse. So every value here is measured like this, in each of
``fits`` joint UMAP fits (rows shuffled before the fit and restored after, so no set has a
fixed place in the input):

- a common size ``n`` = min(candidates, reference // 2, ``max_n``);
- for each of ``draws`` subsample draws: ``n`` candidates, and a **held-out** random subset of
  ``n`` reference problems; the rest of the reference is what novelty is measured against;
- **novelty** D(candidates_n ‖ rest) and its **null** D(held-out_n ‖ rest) — the same
  estimator, same fit, same n, same rest: what "more seeds" would score (k-NN KL divergence,
  Wang, Kulkarni & Verdú 2009);
- **diversity** H(candidates_n) and its null H(held-out_n) (Kozachenko–Leonenko entropy,
  1987);
- the **excess** (value − null, nats) per fit and draw: 0 means "indistinguishable from more
  seeds". Its interval is the 2.5–97.5 percentile range over fits × draws, so it covers both
  the projection's randomness and which problems were drawn, widened by the null's own spread
  (the candidates' sampling error; see :func:`excess_spread`); one fit gives no interval.

Cost is bounded by design: each candidate group brings at most min(``max_n``, 4 N) of its
problems into a fit (uniform random subsets, preferring rows another group already brought),
and at most ``2 * max_n`` reference problems enter, so a generation's metrics cost the same at
500 or 50,000 problems (``bench/metrics_cost.py``). Below ``min_n`` the result says "too few" instead of a number.

Several candidate groups (e.g. "all verified so far" and "this generation's problems") share
one fit: pass their indices into ``candidate`` as ``groups``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError
from .metrics import Estimate, differential_entropy, entropy_at_n, kl_divergence

__all__ = ["Calibrated", "calibrated_measure", "measure_with", "spread", "MIN_N", "MAX_N"]

MIN_N = 30  #: below this many problems per set a value is "too few", not a number
ROWS_PER_N = 4  #: a group brings at most this many times its common size into a fit
MAX_N = 500  #: at most this many candidates (and twice as many reference problems) per fit


def spread(values: Sequence[float], fits: int) -> dict[str, float | int | None]:
    """Mean and 2.5–97.5 percentile range of per-fit-and-draw values (nats); with a single
    fit there is no interval (``low`` / ``high`` are None)."""
    v = np.asarray(values, dtype=np.float64)
    if fits < 2 or v.size < 2:
        return {"mean": float(v.mean()), "low": None, "high": None, "n": int(v.size)}
    e = Estimate.of_spread(v)
    return {"mean": e.mean, "low": e.low, "high": e.high, "n": e.n}


def excess_spread(excess: np.ndarray, null: np.ndarray, fits: int) -> dict[str, float | int | None]:
    """Mean excess (nats) with a 95% interval that covers both what varies between fits and
    draws *and* the candidates' own sampling spread.

    Per-draw excess values vary with the fit and with which seeds are held out, but when a
    group is smaller than the reference its same ``n`` problems enter every draw, so their
    own sampling error is not in that spread. The null's spread over draws measures exactly
    that error for a set of ``n`` (held-out seeds, same fit, same ``n``), so the interval is
    mean ± 1.96 · sqrt(var(excess) + var(null)) (normal approximation).
    """
    out = spread(excess, fits)
    if out["low"] is None:
        return out
    half = 1.96 * math.sqrt(float(np.var(excess, ddof=1) + np.var(null, ddof=1)))
    return {**out, "low": out["mean"] - half, "high": out["mean"] + half}


@dataclass(frozen=True)
class Calibrated:
    """One candidate group's calibrated measures (see the module docstring); nats.

    ``too_few`` is a reason (and every measure None) when the group or the reference is below
    ``min_n`` at the common size.
    """

    n: int
    n_candidates: int
    n_reference: int
    fits: int
    draws: int
    novelty: dict | None = None
    novelty_null: dict | None = None
    novelty_excess: dict | None = None
    diversity: dict | None = None
    diversity_null: dict | None = None
    diversity_excess: dict | None = None
    too_few: str | None = None
    #: uncalibrated values in the same fits: D(group‖reference) over the whole sets, and both
    #: entropies at the smaller set's size ``raw_n`` (mean over draws); drift with N
    raw: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _raw(values: dict[str, list[float]], fits: int, n: int) -> dict | None:
    if not values["nov"]:
        return None
    return {
        "matched_n": n,
        "novelty": spread(values["nov"], fits),
        "diversity_candidate": spread(values["cand"], fits),
        "diversity_reference": spread(values["ref"], fits),
    }


def _common_n(n_cand: int, n_ref: int, max_n: int) -> int:
    return min(n_cand, n_ref // 2, max_n)


def calibrated_measure(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    groups: Mapping[str, Sequence[int]] | None = None,
    dim: int = 10,
    k: int = 4,
    fits: int = 10,
    draws: int = 10,
    max_n: int = MAX_N,
    min_n: int = MIN_N,
    random_state: int = 0,
    n_neighbors: int = 80,
    min_dist: float = 0.1,
    progress: Callable[[int, int], None] | None = None,
    fit: Callable[..., dict[str, np.ndarray]] | None = None,
) -> dict[str, Calibrated]:
    """Calibrated novelty and diversity of each candidate group against ``reference``.

    ``reference`` and ``candidate`` are embedding matrices (rows = problems); ``groups`` maps
    a group name to row indices of ``candidate`` (default: one group ``"all"`` of every row).
    ``fits`` joint UMAP fits (seed ``random_state + f``), ``draws`` subsample draws per fit.
    ``fit`` replaces the joint UMAP (tests; default :func:`projection.joint_umap`).
    Returns one :class:`Calibrated` per group.
    """
    if fits < 1 or draws < 1:
        raise ConfigError(
            f"calibrated_measure needs fits >= 1 and draws >= 1; got fits={fits}, draws={draws}."
        )
    if min_n <= k + 1:
        raise ConfigError(
            f"The 'min_n' parameter of calibrated_measure must exceed k + 1 = {k + 1}; got {min_n}."
        )
    if fit is None:
        from .projection import joint_umap as fit
    reference = np.asarray(reference, dtype=np.float32)
    candidate = np.asarray(candidate, dtype=np.float32)
    groups = {"all": range(len(candidate))} if groups is None else groups
    rng = np.random.default_rng(random_state)
    # Bounded cost: random subsets of large sets enter the fit (each group keeps <= max_n).
    ref_rows = np.arange(len(reference))
    if len(ref_rows) > 2 * max_n:
        ref_rows = np.sort(rng.choice(ref_rows, 2 * max_n, replace=False))
    chosen: dict[str, np.ndarray] = {}
    taken = np.zeros(0, dtype=np.int64)
    for name, idx in groups.items():
        idx = np.asarray(list(idx), dtype=np.int64)
        # Each draw takes n of a group's rows; 4n of them give the draws room to differ, so
        # a group keeps at most min(max_n, 4n) rows (a uniform random subset) ...
        keep = min(max_n, ROWS_PER_N * _common_n(len(idx), len(ref_rows), max_n))
        if len(idx) > keep:
            # ... preferring rows another group already brought into the fit: the rows of
            # a uniform subset that are in this group are a uniform subset of it, topped up
            # uniformly from the rest, so the result is uniform, and the fit stays small.
            shared = rng.permutation(np.intersect1d(idx, taken))[:keep]
            rest = np.setdiff1d(idx, shared)
            extra = rng.choice(rest, keep - len(shared), replace=False)
            idx = np.sort(np.concatenate([shared, extra]))
        chosen[name] = idx
        taken = np.union1d(taken, idx)
    cand_rows = np.unique(np.concatenate([*chosen.values(), np.zeros(0, np.int64)]))
    where = {int(r): i for i, r in enumerate(cand_rows)}
    out: dict[str, Calibrated] = {}
    todo: dict[str, int] = {}
    raw_ok = {name: min(len(idx), len(ref_rows)) > k + 1 for name, idx in chosen.items()}
    raw: dict[str, dict[str, list[float]]] = {g: {"nov": [], "cand": [], "ref": []} for g in chosen}
    for name, idx in chosen.items():
        n = _common_n(len(idx), len(ref_rows), max_n)
        base = dict(
            n=n, n_candidates=len(groups[name]), n_reference=len(reference), fits=fits, draws=draws
        )
        if n < min_n:
            out[name] = Calibrated(
                **base,
                too_few=f"too few to measure: {len(idx)} problems and {len(ref_rows)} seeds give "
                f"a common size of {n}, below {min_n}",
            )
        else:
            todo[name] = n
    if not todo and not any(raw_ok.values()):
        return out
    values: dict[str, dict[str, list[float]]] = {
        g: {m: [] for m in ("nov", "nov0", "div", "div0")} for g in todo
    }
    for f in range(fits):
        proj = fit(
            {"reference": reference[ref_rows], "candidate": candidate[cand_rows]},
            n_components=dim,
            n_neighbors=n_neighbors,
            min_dist=min_dist,
            random_state=random_state + f,
            shuffle=True,
        )
        ref_p, cand_p = proj["reference"], proj["candidate"]
        for name, idx in chosen.items():
            if not raw_ok[name]:
                continue
            group = cand_p[[where[int(r)] for r in idx]]
            m = min(len(group), len(ref_p))
            seed = random_state + f
            raw[name]["nov"].append(kl_divergence(group, ref_p, k))
            raw[name]["cand"].append(
                entropy_at_n(group, m, k=k, draws=draws, random_state=seed).mean
            )
            raw[name]["ref"].append(
                entropy_at_n(ref_p, m, k=k, draws=draws, random_state=seed).mean
            )
        for _ in range(draws):
            order = rng.permutation(len(ref_p))
            for name, n in todo.items():
                hold, rest = ref_p[order[:n]], ref_p[order[n:]]
                pick = rng.choice(chosen[name], n, replace=False)
                cand_n = cand_p[[where[int(r)] for r in pick]]
                v = values[name]
                v["nov"].append(kl_divergence(cand_n, rest, k))
                v["nov0"].append(kl_divergence(hold, rest, k))
                v["div"].append(differential_entropy(cand_n, k))
                v["div0"].append(differential_entropy(hold, k))
        if progress:
            progress(f + 1, fits)
    for name in chosen:
        if name in out:
            out[name] = Calibrated(
                **{
                    **out[name].to_dict(),
                    "raw": _raw(raw[name], fits, min(len(chosen[name]), len(ref_rows))),
                }
            )
    for name, n in todo.items():
        v = {m: np.asarray(x) for m, x in values[name].items()}
        out[name] = Calibrated(
            raw=_raw(raw[name], fits, min(len(chosen[name]), len(ref_rows)))
            if raw_ok[name]
            else None,
            n=n,
            n_candidates=len(groups[name]),
            n_reference=len(reference),
            fits=fits,
            draws=draws,
            novelty=spread(v["nov"], fits),
            novelty_null=spread(v["nov0"], fits),
            novelty_excess=excess_spread(v["nov"] - v["nov0"], v["nov0"], fits),
            diversity=spread(v["div"], fits),
            diversity_null=spread(v["div0"], fits),
            diversity_excess=excess_spread(v["div"] - v["div0"], v["div0"], fits),
        )
    return out


def measure_with(
    metrics: Any,
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    groups: Mapping[str, Sequence[int]] | None = None,
    max_n: int | None = None,
    random_state: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Calibrated]:
    """:func:`calibrated_measure` with the sizes a :class:`~infosynth_core.config.MetricsConfig`
    sets (d, k, fits, draws, min_n, max_n unless given) and UMAP's ``n_neighbors`` capped at
    the rows there are (80 at most)."""
    return calibrated_measure(
        reference,
        candidate,
        groups=groups,
        dim=metrics.dim,
        k=metrics.k,
        fits=metrics.runs,
        draws=metrics.draws,
        max_n=metrics.max_n if max_n is None else max_n,
        min_n=metrics.min_n,
        random_state=random_state,
        n_neighbors=min(80, len(reference) + len(candidate) - 1),
        progress=progress,
    )
