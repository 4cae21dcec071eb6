"""The data behind the Explore and Compare pages: maps, curves, coverage, yield, lineage.

Every function reads the store and returns plain data (pandas frames, dicts); the pages only
draw. The 2-D maps live in :mod:`infosynth_core.maps` and are re-exported here.

Units: novelty is the k-NN KL divergence D(generated‖seeds) and diversity the
Kozachenko–Leonenko entropy at matched N, both in nats, as recorded per generation by the
loop (see :mod:`infosynth_core.evolve_records`); Δnovelty (:func:`operator_yield`) is a
difference of cosine distances in the full sentence-embedding space (dimensionless, 0–2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .embed import Embedder, resolve_model
from .errors import ConfigError, NotFoundError
from .evolve_records import OPERATORS
from .maps import MAP_COLUMNS, SEED_MAP_COLUMNS, clear_cache, run_map, seed_map
from .runner import benchmark_problems
from .store import RunInfo, Store, StoredProblem
from .strength import score_of
from .topics import coverage

__all__ = [
    "MAP_COLUMNS",
    "SEED_MAP_COLUMNS",
    "CURVE_COLUMNS",
    "YIELD_COLUMNS",
    "COMPARE_COLUMNS",
    "run_map",
    "seed_map",
    "clear_cache",
    "generation_curves",
    "pending_generations",
    "topic_coverage_frame",
    "operator_yield",
    "lineage",
    "compare_runs",
    "topic_coverage_compare",
]

CURVE_COLUMNS = (
    "generation",
    "novelty_mean",
    "novelty_low",
    "novelty_high",
    "diversity_generated_mean",
    "diversity_generated_low",
    "diversity_generated_high",
    "diversity_seeds_mean",
    "diversity_seeds_low",
    "diversity_seeds_high",
    "matched_n",
    "verified_total",
    "novelty_excess_mean",
    "novelty_excess_low",
    "novelty_excess_high",
    "diversity_excess_mean",
    "diversity_excess_low",
    "diversity_excess_high",
    "calibrated_n",
    "fits",
    "draws",
    "too_few",
)
#: which problems a curve point measures: all verified so far, or this generation's only
CURVE_SCOPES = ("all", "generation")
YIELD_COLUMNS = (
    "operator",
    "proposed",
    "kept",
    "verified",
    "degenerate",
    "verified_pct",
    "tokens",
    "tokens_per_verified",
    "cost_usd",
    "benchmark",
    "delta_novelty",
    "test_strength",
)
COMPARE_COLUMNS = (
    "run",
    "name",
    "status",
    "seed_set",
    "engine",
    "k_farthest",
    "keep",
    "mutation_ratio",
    "generations",
    "generations_done",
    "verified",
    "kept",
    "passed",
    "pass_rate",
    "metrics_generation",
    "novelty_mean",
    "novelty_low",
    "novelty_high",
    "diversity_mean",
    "diversity_low",
    "diversity_high",
    "diversity_seeds_mean",
    "matched_n",
    "tokens",
    "cost_usd",
)
_NUM = (
    "proposed",
    "kept",
    "passed",
    "degenerate",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
)


# ============================================================================ curves
def _metric_rows(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Generation records that carry novelty/diversity (not ``skipped``), in order."""
    store.get_run(run_id)
    return [
        r
        for r in store.generation_metrics(run_id)
        if "novelty" in (r.get("metrics") or {}) and "diversity" in r["metrics"]
    ]


def pending_generations(store: Store, run_id: str) -> list[int]:
    """Generations whose novelty and diversity are still being measured in the background
    (see :mod:`infosynth_core.metrics_worker`), or were left pending by a stop and will be
    measured when the run resumes."""
    store.get_run(run_id)
    return [
        r["generation"]
        for r in store.generation_metrics(run_id)
        if "pending" in (r.get("metrics") or {})
    ]


def _num(value: Any) -> float:
    """A stored number, or NaN for a missing one (no interval with a single fit)."""
    return float("nan") if value is None else float(value)


def generation_curves(store: Store, run_id: str, scope: str = "all") -> pd.DataFrame:
    """Novelty and diversity per generation, with their intervals (nats).

    Calibrated columns (``novelty_excess_*``, ``diversity_excess_*``: value minus its null
    from held-out seeds at the common size ``calibrated_n``, interval over ``fits`` ×
    ``draws``; see :mod:`infosynth_core.calibrated`) are for ``scope`` = ``"all"`` verified
    so far or ``"generation"`` (that generation's problems only); ``too_few`` says why a
    generation has no calibrated value (NaN otherwise, and for records made before
    calibration). The raw columns always describe all verified so far.

    One row per generation whose record has metrics (generations still below k + 2 verified
    problems are ``skipped`` by the loop and left out), columns :data:`CURVE_COLUMNS`:
    ``novelty_*`` is D(generated‖seeds), ``diversity_generated_*`` / ``diversity_seeds_*``
    the entropies of the verified problems and of the seeds at the matched size
    ``matched_n``; ``*_mean`` is the mean over the generation's UMAP fits and ``*_low`` /
    ``*_high`` the interval. ``verified_total`` is the benchmark size after the generation.
    An empty frame with these columns when no generation has metrics yet.
    """
    if scope not in CURVE_SCOPES:
        raise ConfigError(
            f"The 'scope' parameter of generation_curves must be one of {list(CURVE_SCOPES)}; "
            f"got {scope!r}."
        )
    rows = []
    for r in _metric_rows(store, run_id):
        m = r["metrics"]
        row = {"generation": r["generation"]}
        for name, est in (
            ("novelty", m["novelty"]),
            ("diversity_generated", m["diversity"]["candidate"]),
            ("diversity_seeds", m["diversity"]["reference"]),
        ):
            for part in ("mean", "low", "high"):
                row[f"{name}_{part}"] = _num(est[part])
        row["matched_n"] = m["diversity"].get("matched_n")
        row["verified_total"] = r.get("verified_total", 0)
        cal = (m.get("calibrated") or {}).get(scope)
        row["fits"] = m.get("umap_runs")
        row["draws"] = m.get("draws")
        if cal:
            row["calibrated_n"] = cal["n"]
            row["too_few"] = cal.get("too_few")
            for name in ("novelty_excess", "diversity_excess"):
                for part in ("mean", "low", "high"):
                    row[f"{name}_{part}"] = _num((cal.get(name) or {}).get(part))
        rows.append(row)
    return pd.DataFrame(rows, columns=list(CURVE_COLUMNS))


# ============================================================================ topics
def topic_coverage_frame(store: Store, run_id: str) -> pd.DataFrame:
    """Share of seeds and of verified (benchmark) problems tagged with each topic.

    Computed from the stored problems, so it is current while the run is running; at the end
    of a generation it equals that generation's recorded ``topic_coverage`` (same sets: the
    run's seed set, and :func:`~infosynth_core.runner.benchmark_problems`). Shares are
    fractions in [0, 1] and sum to more than 1 when problems have several topics. Columns
    ``topic``, ``seeds``, ``generated``; topics absent from both sets are left out; sorted by
    ``seeds + generated``, largest first.
    """
    run = store.get_run(run_id)
    seeds = _seed_problems(store, run)
    bench = [sp.problem for sp in benchmark_problems(store, run_id)]
    cov_s = coverage([p.topics for p in seeds])
    cov_g = coverage([p.topics for p in bench], names=list(cov_s))
    topics = [t for t in cov_g if cov_s.get(t, 0.0) > 0 or cov_g[t] > 0]
    df = pd.DataFrame(
        {
            "topic": topics,
            "seeds": [cov_s.get(t, 0.0) for t in topics],
            "generated": [cov_g[t] for t in topics],
        }
    )
    order = (df["seeds"] + df["generated"]).sort_values(ascending=False, kind="stable").index
    return df.loc[order].reset_index(drop=True)


def _seed_problems(store: Store, run: RunInfo):
    name = run.config.get("seed_set")
    return store.seed_set_problems(name) if name and store.has_seed_set(name) else []


# ============================================================================ yield
def _operator_counts(store: Store, run: RunInfo) -> dict[str, dict[str, float]]:
    """Counts per operator summed over the recorded generations and the one in progress."""
    records = store.generation_metrics(run.id)
    parts = [r.get("operators", {}) for r in records]
    state = run.state or {}
    last = max((r["generation"] for r in records), default=0)
    if state.get("generation", 0) > last:  # the generation in progress (reset once recorded)
        parts.append((state.get("counts") or {}).get("operators", {}))
    out: dict[str, dict[str, float]] = {}
    for ops in parts:
        for op, row in ops.items():
            mine = out.setdefault(op, dict.fromkeys(_NUM, 0))
            for key in _NUM:
                mine[key] += row.get(key, 0)
    return out


def _nearest_distance(points: np.ndarray, ref: np.ndarray, *, exclude_self: bool = False):
    """Cosine distance (1 − cos) from each unit row of ``points`` to its nearest row of
    ``ref`` (itself excluded when ``points`` is ``ref``), in chunks."""
    out = np.empty(len(points))
    for i in range(0, len(points), 2048):
        sim = points[i : i + 2048] @ ref.T
        if exclude_self:
            idx = np.arange(i, min(i + 2048, len(points)))
            sim[idx - i, idx] = -np.inf
        out[i : i + 2048] = 1.0 - sim.max(axis=1)
    return out


def operator_yield(store: Store, run_id: str) -> pd.DataFrame:
    """Per operator: what it proposed, what survived, what verified, at what cost, how novel.

    Columns :data:`YIELD_COLUMNS`, one row per operator (mutation-easy, -medium, -hard,
    crossover, then any other) and a last row ``all``:

    - ``proposed``, ``kept``, ``verified`` — candidates proposed, kept after dedup and
      k-farthest filtering, and verified (tests passed), summed over the recorded
      generations' ``operators`` counts plus the generation in progress;
    - ``degenerate`` — kept candidates that passed their tests but were rejected by the
      degeneracy filter (constant answers, an ignored argument, duplicate tests, a copy of
      a parent: :mod:`infosynth_core.degeneracy`); not included in ``verified``;
    - ``verified_pct`` — 100 × verified / kept (NaN when nothing was kept);
    - ``tokens`` (prompt + completion, as billed) and ``tokens_per_verified`` (NaN when
      nothing verified); ``cost_usd``;
    - ``benchmark`` — the operator's problems in the benchmark now (verified and not a
      cross-colony duplicate);
    - ``delta_novelty`` — mean cosine distance (1 − cos of the sentence embeddings, full
      dimension, the run's ``metrics.embedding_model``) from each of the operator's benchmark
      problems to its nearest seed, minus the mean distance from each seed to its nearest
      other seed. Dimensionless, in [−2, 2]: > 0 means the operator's problems lie farther
      from the seeds than the seeds lie from each other; NaN without benchmark problems or
      with fewer than 2 seeds. A cheap, fixed-space complement to the per-generation KL
      novelty (nats), not the same quantity;
    - ``test_strength`` — mean mutation score (killed / total, in [0, 1]; see
      :mod:`infosynth_core.strength`) of the operator's benchmark problems that have one;
      NaN when none has (older runs).
    """
    run = store.get_run(run_id)
    counts = _operator_counts(store, run)
    bench = [sp.problem for sp in benchmark_problems(store, run_id)]
    ops = [op for op in OPERATORS if op in counts]
    ops += sorted({*counts, *(p.origin.operator for p in bench)} - set(ops))
    distances = _novelty_distances(store, run, bench)
    scores = [score_of(p) for p in bench]
    rows = []
    for op in [*ops, "all"]:
        c = counts.get(op) if op != "all" else {k: sum(r[k] for r in counts.values()) for k in _NUM}
        c = c or dict.fromkeys(_NUM, 0)
        mine = [i for i, p in enumerate(bench) if op in ("all", p.origin.operator)]
        tokens = int(c["prompt_tokens"] + c["completion_tokens"])
        delta = np.nan
        if distances is not None and mine:
            delta = float(distances[0][mine].mean() - distances[1])
        scored = [scores[i] for i in mine if scores[i] is not None]
        rows.append(
            {
                "operator": op,
                "proposed": int(c["proposed"]),
                "kept": int(c["kept"]),
                "verified": int(c["passed"]),
                "degenerate": int(c["degenerate"]),
                "verified_pct": 100.0 * c["passed"] / c["kept"] if c["kept"] else np.nan,
                "tokens": tokens,
                "tokens_per_verified": tokens / c["passed"] if c["passed"] else np.nan,
                "cost_usd": float(c["cost_usd"]),
                "benchmark": len(mine),
                "delta_novelty": delta,
                "test_strength": float(np.mean(scored)) if scored else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=list(YIELD_COLUMNS))


def _novelty_distances(store: Store, run: RunInfo, bench):
    """(nearest-seed distance of each benchmark problem, mean seed-to-other-seed distance)."""
    seeds = _seed_problems(store, run)
    if not bench or len(seeds) < 2:
        return None
    model = resolve_model((run.config.get("metrics") or {}).get("embedding_model"))
    embedder = Embedder(model, store=store)
    s = embedder.encode([p.problem for p in seeds]).astype(np.float64)
    b = embedder.encode([p.problem for p in bench]).astype(np.float64)
    return _nearest_distance(b, s), float(_nearest_distance(s, s, exclude_self=True).mean())


# ============================================================================ lineage
def lineage(store: Store, pk: int | str, *, run_id: str | None = None) -> dict[str, Any]:
    """A problem with its parents and children within a run.

    Parameters
    ----------
    pk
        A stored problem's ``pk`` (int), or a :func:`run_map` ``key``: ``"run:<pk>"`` or
        ``"seed:<id>"`` (a seed of the run's seed set; needs ``run_id``).
    run_id
        The run the problem belongs to (or whose seed set holds it). When omitted for an int
        ``pk``, the runs are searched, newest first (slower).

    Returns
    -------
    dict
        ``key``, ``set`` (``"seed"`` | ``"generated"``), ``run_id``, ``problem``
        (:class:`~infosynth_core.store.StoredProblem`), ``parents`` (those of
        ``origin.parents`` found among the run's problems or seeds, in that order),
        ``missing_parents`` (ids found in neither), ``children`` (the run's problems that
        name this one as a parent, in the order stored). Each parent and child is a dict
        with ``key``, ``set`` and ``stored`` (a StoredProblem).
    """
    if isinstance(pk, str) and pk.startswith("seed:"):
        if run_id is None:
            raise ConfigError(
                f"lineage of a seed ('{pk}') needs run_id=: the run whose seed set holds it."
            )
        run = store.get_run(run_id)
    else:
        try:
            pk = int(pk.removeprefix("run:") if isinstance(pk, str) else pk)
        except ValueError:
            raise ConfigError(
                f"The 'pk' parameter of lineage must be a problem pk or a map key ('run:<pk>', "
                f"'seed:<id>'); got {pk!r}."
            ) from None
        run = store.get_run(run_id) if run_id is not None else _run_of(store, pk)
    name = run.config.get("seed_set")
    seeds = store.problems(seed_set=name) if name and store.has_seed_set(name) else []
    problems = store.problems(run_id=run.id)
    by_id = {sp.problem.id: _item("seed", sp) for sp in seeds}
    by_id.update({sp.problem.id: _item("generated", sp) for sp in problems})
    if isinstance(pk, str):
        me = next((i for i in by_id.values() if i["key"] == pk), None)
    else:
        me = next((_item("generated", sp) for sp in problems if sp.pk == pk), None)
    if me is None:
        raise NotFoundError(
            f"Problem {pk!r} is not in run '{run.id}' or its seed set; pick a point of this run's map."
        )
    p = me["stored"].problem
    parents = [by_id[i] for i in p.origin.parents if i in by_id]
    children = [_item("generated", sp) for sp in problems if p.id in sp.problem.origin.parents]
    return {
        "key": me["key"],
        "set": me["set"],
        "run_id": run.id,
        "problem": me["stored"],
        "parents": parents,
        "missing_parents": [i for i in p.origin.parents if i not in by_id],
        "children": children,
    }


def _item(kind: str, sp: StoredProblem) -> dict[str, Any]:
    key = f"seed:{sp.problem.id}" if kind == "seed" else f"run:{sp.pk}"
    return {"key": key, "set": kind, "stored": sp}


def _run_of(store: Store, pk: int) -> RunInfo:
    store.get_problem(pk)  # NotFoundError when it does not exist at all
    for run in reversed(store.list_runs()):
        if any(sp.pk == pk for sp in store.problems(run_id=run.id)):
            return run
    raise NotFoundError(
        f"Problem pk={pk} belongs to no run (a seed set's problem?); pass run_id= with the key 'seed:<id>'."
    )


# ============================================================================ compare
def compare_runs(store: Store, run_ids: Sequence[str]) -> pd.DataFrame:
    """One row per run, for side-by-side comparison; columns :data:`COMPARE_COLUMNS`.

    Config highlights (``engine``, ``k_farthest``, ``keep``, ``mutation_ratio``,
    ``generations`` configured, ``seed_set``); ``generations_done`` (recorded);
    ``verified`` (benchmark size now); ``kept`` and ``passed`` summed over the operators'
    counts and ``pass_rate`` = passed / kept (fraction, NaN when nothing was kept); the
    novelty (nats) and generated-set diversity (nats, at ``matched_n``) of the last generation
    with metrics (``metrics_generation``; NaN when none), mean and 95% interval, and the
    seeds' diversity at the same N; ``tokens`` and ``cost_usd`` billed. Novelty and diversity
    are comparable between runs only at equal ``matched_n``, seed set and metrics settings.
    """
    rows = []
    for run_id in run_ids:
        run = store.get_run(run_id)
        cfg = run.config
        totals = {k: sum(r[k] for r in _operator_counts(store, run).values()) for k in _NUM}
        records = _metric_rows(store, run_id)
        last = records[-1] if records else None
        m = last["metrics"] if last else None
        row = {
            "run": run.id,
            "name": run.name,
            "status": run.status,
            "seed_set": cfg.get("seed_set"),
            "engine": cfg.get("engine"),
            "k_farthest": cfg.get("k_farthest"),
            "keep": cfg.get("keep"),
            "mutation_ratio": cfg.get("mutation_ratio"),
            "generations": cfg.get("generations"),
            "generations_done": len(store.generation_metrics(run_id)),
            "verified": len(benchmark_problems(store, run_id)),
            "kept": int(totals["kept"]),
            "passed": int(totals["passed"]),
            "pass_rate": totals["passed"] / totals["kept"] if totals["kept"] else np.nan,
            "metrics_generation": last["generation"] if last else pd.NA,
            "diversity_seeds_mean": m["diversity"]["reference"]["mean"] if m else np.nan,
            "matched_n": m["diversity"].get("matched_n") if m else pd.NA,
            "tokens": int(totals["prompt_tokens"] + totals["completion_tokens"]),
            "cost_usd": float(totals["cost_usd"]),
        }
        for name, est in (
            ("novelty", m["novelty"] if m else None),
            ("diversity", m["diversity"]["candidate"] if m else None),
        ):
            for part in ("mean", "low", "high"):
                row[f"{name}_{part}"] = _num(est[part]) if est else np.nan
        rows.append(row)
    df = pd.DataFrame(rows, columns=list(COMPARE_COLUMNS))
    for col in ("metrics_generation", "matched_n"):
        df[col] = df[col].astype("Int64")
    return df


def topic_coverage_compare(store: Store, run_ids: Sequence[str]) -> pd.DataFrame:
    """Topic coverage of several runs' benchmarks side by side.

    Columns ``topic`` and one per run id: the share (fraction in [0, 1]) of the run's
    verified, non-duplicate problems tagged with the topic. Topics no run covers are left
    out; sorted by the mean share over the runs, largest first.
    """
    shares = {}
    for run_id in dict.fromkeys(run_ids):
        store.get_run(run_id)
        shares[run_id] = coverage([sp.problem.topics for sp in benchmark_problems(store, run_id)])
    names = list(dict.fromkeys(t for cov in shares.values() for t in cov))
    df = pd.DataFrame(
        {"topic": names, **{r: [c.get(t, 0.0) for t in names] for r, c in shares.items()}}
    )
    if not shares:
        return df
    values = df[list(shares)]
    df = df[values.sum(axis=1) > 0]
    order = df[list(shares)].mean(axis=1).sort_values(ascending=False, kind="stable").index
    return df.loc[order].reset_index(drop=True)
