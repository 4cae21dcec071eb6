"""Comparing runs honestly: calibrated novelty and diversity at one common N, and a refusal
(with the reason) where the runs' numbers cannot be compared.

Two runs' novelty and diversity mean the same thing only when they were measured against the
same seeds, with the same embedding model, projection dimension and k, and at the same N
(k-NN estimates drift about 3 nats per e-fold of N in d = 10; see
:mod:`infosynth_core.calibrated`). :func:`comparability` says whether the values stored with
the runs' last generations can be put side by side and, if not, why (naming the setting and
each run's value). :func:`measure_together` re-measures any runs in one set of joint UMAP
fits, against the union of their seed sets, with one embedding model, dimension and k, each
run at the same N (the smallest run's, capped at ``max_n``): numbers that can always be
compared, at the cost of the fits (about 5 s each at the default sizes on 2 cores).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .config import MetricsConfig, config_value
from .errors import ConfigError
from .store import Store

__all__ = [
    "CALIBRATED_COMPARE_COLUMNS",
    "Comparability",
    "calibrated_compare",
    "comparability",
    "measure_together",
]

#: settings that make two runs' numbers incomparable: (config path, what to call it)
REFUSED_WHEN_DIFFERENT = (
    ("seed_set", "seed set"),
    ("metrics.embedding_model", "embedding model"),
    ("metrics.dim", "projection dimension"),
    ("metrics.k", "k (k-NN order)"),
)

CALIBRATED_COMPARE_COLUMNS = (
    "run",
    "generation",
    "n",
    "verified",
    "novelty_excess_mean",
    "novelty_excess_low",
    "novelty_excess_high",
    "diversity_excess_mean",
    "diversity_excess_low",
    "diversity_excess_high",
    "fits",
    "draws",
    "too_few",
)


@dataclass(frozen=True)
class Comparability:
    """Whether runs' stored calibrated values can be compared.

    ``reasons``: why not (empty when ``comparable``), each naming the setting and every run's
    value; ``notes``: differences that do not forbid the comparison but a reader should know
    (fits and draws behind the intervals); ``common_n``: the N all measured runs share."""

    comparable: bool
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    common_n: int | None = None


def _setting(config: dict[str, Any], path: str) -> Any:
    value = config_value(config, path)
    if path.startswith("metrics.") and value is None:  # an older config: the default
        value = MetricsConfig().model_dump()[path.split(".", 1)[1]]
    return value


def _last_calibrated(store: Store, run_id: str) -> tuple[int, dict[str, Any], dict] | None:
    """(generation, metrics, calibrated "all") of the last generation with calibrated values."""
    for rec in reversed(store.generation_metrics(run_id)):
        m = rec.get("metrics") or {}
        cal = (m.get("calibrated") or {}).get("all")
        if cal:
            return rec["generation"], m, cal
    return None


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def calibrated_compare(store: Store, run_ids: Sequence[str]) -> pd.DataFrame:
    """The calibrated values stored with each run's last measured generation (all problems
    verified so far): excess novelty and diversity over held-out seeds (nats) with their 95%
    intervals, at ``n``; columns :data:`CALIBRATED_COMPARE_COLUMNS`, one row per run (NaN and
    an empty ``generation`` for runs not measured yet; ``too_few`` says why a run has no
    value)."""
    from .runner import benchmark_problems

    rows = []
    for run_id in run_ids:
        store.get_run(run_id)
        row: dict[str, Any] = {"run": run_id, "verified": len(benchmark_problems(store, run_id))}
        found = _last_calibrated(store, run_id)
        if found:
            g, m, cal = found
            row.update(generation=g, fits=m.get("umap_runs"), draws=m.get("draws"))
            _row(row, cal)
        rows.append(row)
    return _table(rows)


def comparability(store: Store, run_ids: Sequence[str]) -> Comparability:
    """Can the runs' stored calibrated values be compared? Refused when the runs differ in
    seed set, embedding model, projection dimension or k, or when their measured values are
    at different N; not refused, but noted, when their intervals come from different numbers
    of fits or draws. Runs without calibrated values yet are left out of the N check."""
    runs = [store.get_run(r) for r in run_ids]
    reasons = []
    for path, what in REFUSED_WHEN_DIFFERENT:
        values = {r.id: _setting(r.config, path) for r in runs}
        if len({repr(v) for v in values.values()}) > 1:
            each = ", ".join(f"{rid}: {v!r}" for rid, v in values.items())
            reasons.append(f"different {what} (`{path}`): {each}")
    table = calibrated_compare(store, run_ids)
    measured = table[table["novelty_excess_mean"].notna()]
    sizes = sorted({int(n) for n in measured["n"]})
    if len(sizes) > 1:
        each = ", ".join(
            f"{r}: N = {int(n)}" for r, n in zip(measured["run"], measured["n"], strict=True)
        )
        reasons.append(f"measured at different N ({each})")
    notes = []
    for col, what in (("fits", "UMAP fits"), ("draws", "draws per fit")):
        values = {int(v) for v in measured[col].dropna()}
        if len(values) > 1:
            notes.append(
                f"intervals come from different numbers of {what} "
                f"({', '.join(map(str, sorted(values)))})"
            )
    return Comparability(
        comparable=not reasons,
        reasons=reasons,
        notes=notes,
        common_n=sizes[0] if len(sizes) == 1 else None,
    )


def measure_together(
    store: Store,
    run_ids: Sequence[str],
    *,
    metrics: MetricsConfig | None = None,
    random_state: int = 0,
    embedder: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Re-measure runs in one set of joint UMAP fits, so their numbers can be compared.

    Reference: the union of the runs' seed sets (each problem once, by id). Each run's
    verified problems are one candidate group, all measured at the same N: the smallest
    group's size among those with at least ``metrics.min_n`` problems, capped at
    ``metrics.max_n`` and at half the reference (runs below ``min_n`` read "too few").
    ``metrics`` (default :class:`MetricsConfig`: 10 fits × 10 draws, d = 10, k = 4, the
    default embedding model) applies to every run; ``progress(done, total)`` is called after
    each fit. Returns the columns of :func:`calibrated_compare` (``generation`` empty);
    seconds: about ``metrics.runs`` × 5 at the default sizes on 2 cores, plus embedding any
    statement not in the store's cache.
    """
    from .calibrated import measure_with
    from .embed import Embedder, resolve_model
    from .runner import benchmark_problems

    if len(run_ids) < 2:
        raise ConfigError(
            f"measure_together compares at least two runs; got run_ids={list(run_ids)!r}."
        )
    metrics = metrics or MetricsConfig()
    runs = [store.get_run(r) for r in run_ids]
    seeds: dict[str, str] = {}
    for name in dict.fromkeys(r.config.get("seed_set") for r in runs):
        for p in store.seed_set_problems(name):
            seeds.setdefault(p.id, p.problem)
    groups: dict[str, list[int]] = {}
    texts: list[str] = []
    for run in runs:
        statements = [sp.problem.problem for sp in benchmark_problems(store, run.id)]
        groups[run.id] = list(range(len(texts), len(texts) + len(statements)))
        texts.extend(statements)
    sizes = [len(g) for g in groups.values() if len(g) >= metrics.min_n]
    common = min([metrics.max_n, len(seeds) // 2, *sizes])
    if embedder is None:
        embedder = Embedder(resolve_model(metrics.embedding_model), store=store)
    ref = embedder.encode(list(seeds.values()))
    cand = embedder.encode(texts) if texts else np.zeros((0, ref.shape[1]), np.float32)
    found = measure_with(
        metrics, ref, cand, groups=groups, max_n=max(common, 1), random_state=random_state,
        progress=progress,
    )  # fmt: skip
    rows = [
        _row(
            {"run": run_id, "verified": len(groups[run_id]), "fits": cal.fits, "draws": cal.draws},
            {
                "n": cal.n,
                "too_few": cal.too_few,
                "novelty_excess": cal.novelty_excess,
                "diversity_excess": cal.diversity_excess,
            },
        )  # fmt: skip
        for run_id, cal in found.items()
    ]
    return _table(rows)


def _row(row: dict[str, Any], cal: dict[str, Any]) -> dict[str, Any]:
    """One row of :data:`CALIBRATED_COMPARE_COLUMNS` from a calibrated group's values."""
    row.update(n=cal.get("n"), too_few=cal.get("too_few"))
    for name in ("novelty_excess", "diversity_excess"):
        for part in ("mean", "low", "high"):
            row[f"{name}_{part}"] = _num((cal.get(name) or {}).get(part))
    return row


def _table(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(CALIBRATED_COMPARE_COLUMNS))
    for col in ("generation", "n", "fits", "draws"):
        df[col] = df[col].astype("Int64")
    return df
