"""What the genetic loop records per generation (``generation_metrics`` rows in the store).

One record per generation, a JSON object::

    {"generation": 2,
     "operators": {"mutation-easy": {"proposed": 4, "kept": 3, "duplicates": 0,
                                      "passed": 2, "failed": 1, "error": 0, "timeout": 0,
                                      "unparsable": 0, "degenerate": 0,
                                      "prompt_tokens": 812, ...}, ...},
     "steps": {"mutation": 5, "crossover": 3},
     "unparsable_answers": {"mutation": 0, "crossover": 1},   # answers that gave no candidate
     "api_errors": {"mutation": 0, "crossover": 0,           # steps lost to endpoint failures
                    "verification": 0},                      # candidates whose solve/test
                                                             # calls failed at the endpoint
     "totals": {"proposed": ..., "kept": ..., "passed": ..., ...},
     "usage": {"calls": ..., "cached_calls": ..., "prompt_tokens": ..., "completion_tokens": ...,
               "cost_usd": ...},
     "seconds": 41.2,                     # wall-clock of the generation (seconds)
     "verified_total": 37,                # benchmark size after this generation's merge
     "merge_duplicates": 1,               # verified problems dropped by the cross-colony dedup
     "metrics": {"novelty": {"mean", "low", "high", "n"}, "diversity": {...},
                 "calibrated": {"all": {...}, "generation": {...}}, ...}
                | {"skipped": why} | {"pending": why},   # pending: the worker measures it
     "topic_coverage": {"seeds": {topic: share}, "generated": {topic: share}}}

Tokens of a mutation step's single proposal call are split evenly over its three operators
(integer split); verification tokens go to the operator of the candidate verified. Tokens
count what the endpoint billed; cached answers count as ``cached_calls`` and cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import MetricsConfig
from .engines.base import Proposal, Usage
from .problem import Problem

__all__ = [
    "OPERATORS",
    "OUTCOMES",
    "GenerationCounts",
    "generation_record",
    "is_benchmark_item",
    "measure_benchmark",
    "measure_vectors",
    "metrics_inputs",
]

OPERATORS = ("mutation-easy", "mutation-medium", "mutation-hard", "crossover")
#: outcomes of a kept candidate; "degenerate" = passed its tests but rejected by
#: :func:`~infosynth_core.degeneracy.find_degeneracies` (never counted as "passed")
OUTCOMES = ("passed", "failed", "error", "timeout", "unparsable", "degenerate")
_COUNTS = ("proposed", "kept", "duplicates", *OUTCOMES)
_USAGE = ("calls", "cached_calls", "prompt_tokens", "completion_tokens", "cost_usd")
_KINDS = ("mutation", "crossover")


def is_benchmark_item(p: Problem) -> bool:
    """A generated problem that counts for the benchmark: it passed its tests, was not
    dropped as a cross-colony duplicate (``metadata.duplicate_of``) and is not degenerate
    (``metadata.degenerate``, see :mod:`infosynth_core.degeneracy`)."""
    return (
        p.origin.operator != "seed"
        and p.status == "passed"
        and "duplicate_of" not in p.metadata
        and not p.metadata.get("degenerate")
    )


def _empty_op() -> dict[str, float]:
    return {k: 0 for k in (*_COUNTS, *_USAGE)}


@dataclass
class GenerationCounts:
    """Counters of one generation (or one step, merged into the generation's)."""

    operators: dict[str, dict[str, float]] = field(
        default_factory=lambda: {op: _empty_op() for op in OPERATORS}
    )
    steps: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_KINDS, 0))
    unparsable_answers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_KINDS, 0))
    api_errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_KINDS, 0))

    # ------------------------------------------------------------------ counting
    def bump(self, operator: str, key: str, n: int = 1) -> None:
        self.operators.setdefault(operator, _empty_op())[key] += n

    def _add_usage(self, operators: Sequence[str], usage: Usage) -> None:
        n = len(operators)
        for i, op in enumerate(operators):
            row = self.operators.setdefault(op, _empty_op())
            for key in _USAGE:
                total = getattr(usage, key)
                if key == "cost_usd":
                    row[key] += total / n
                else:
                    row[key] += total // n + (1 if i < total % n else 0)

    def step(self, kind: str, *, proposal: Proposal | None = None, api_error: bool = False):
        """Count one operator step (``kind`` mutation or crossover) and its proposal."""
        self.steps[kind] = self.steps.get(kind, 0) + 1
        if api_error:
            self.api_errors[kind] = self.api_errors.get(kind, 0) + 1
        if proposal is not None:
            self.unparsable_answers[kind] = self.unparsable_answers.get(kind, 0) + int(
                proposal.unparsable
            )
            ops = [op for op in OPERATORS if op.startswith(kind)]
            self._add_usage(ops, proposal.usage)

    def verification_api_error(self) -> None:
        """Count one candidate whose verification ended because the endpoint failed."""
        self.api_errors["verification"] = self.api_errors.get("verification", 0) + 1

    def outcome(self, operator: str, status: str, usage: dict[str, Any] | Usage) -> None:
        """Count the verification outcome of one kept candidate and its tokens."""
        if status in OUTCOMES:
            self.bump(operator, status)
        if isinstance(usage, dict):
            usage = Usage(**{k: usage.get(k, 0) for k in _USAGE})
        self._add_usage([operator], usage)

    def add(self, other: GenerationCounts) -> None:
        for op, row in other.operators.items():
            mine = self.operators.setdefault(op, _empty_op())
            for key, value in row.items():
                mine[key] = mine.get(key, 0) + value
        for name in ("steps", "unparsable_answers", "api_errors"):
            mine, theirs = getattr(self, name), getattr(other, name)
            for key, value in theirs.items():
                mine[key] = mine.get(key, 0) + value

    # ------------------------------------------------------------------ views
    def totals(self) -> dict[str, float]:
        return {
            key: sum(row.get(key, 0) for row in self.operators.values())
            for key in (*_COUNTS, *_USAGE)
        }

    def usage(self) -> Usage:
        t = self.totals()
        return Usage(*(t[k] for k in _USAGE))

    def to_dict(self) -> dict[str, Any]:
        return {
            "operators": {op: dict(row) for op, row in self.operators.items()},
            "steps": dict(self.steps),
            "unparsable_answers": dict(self.unparsable_answers),
            "api_errors": dict(self.api_errors),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationCounts:
        out = cls()
        out.add(
            cls(
                operators={op: dict(row) for op, row in data.get("operators", {}).items()},
                steps=dict(data.get("steps", {})),
                unparsable_answers=dict(data.get("unparsable_answers", {})),
                api_errors=dict(data.get("api_errors", {})),
            )
        )
        return out


def metrics_inputs(
    seeds: Sequence[Problem],
    benchmark: Sequence[Problem],
    embed: Callable[[list[str]], np.ndarray],
    metrics: MetricsConfig,
    generation: int | None = None,
) -> dict[str, Any] | tuple[np.ndarray, np.ndarray, dict[str, list[int]]]:
    """What :func:`measure_vectors` needs — (seed vectors, benchmark vectors, groups) — or
    ``{"skipped": why}``. Groups: ``"all"`` verified so far and, when ``generation`` is
    given, ``"generation"`` (that generation's problems)."""
    if not metrics.enabled:
        return {"skipped": "metrics are off in this run's config"}
    need = metrics.k + 2
    if len(benchmark) < need or len(seeds) < need:
        return {
            "skipped": f"needs at least {need} verified problems and seeds "
            f"(k={metrics.k}); have {len(benchmark)} and {len(seeds)}"
        }
    ref = embed([p.problem for p in seeds])
    cand = embed([p.problem for p in benchmark])
    groups = {"all": list(range(len(benchmark)))}
    if generation is not None:
        groups["generation"] = [
            i for i, p in enumerate(benchmark) if p.origin.generation == generation
        ]
    return ref, cand, groups


def measure_vectors(
    ref: np.ndarray,
    cand: np.ndarray,
    groups: dict[str, list[int]],
    metrics: MetricsConfig | dict[str, Any],
    random_state: int,
) -> dict[str, Any]:
    """The ``metrics`` part of a generation record from embeddings (a top-level function, so
    the background metrics process can run it; see :mod:`infosynth_core.metrics_worker`).

    Top-level ``novelty`` / ``diversity`` are the raw values (whole sets; entropies at the
    smaller set's size ``matched_n``). ``calibrated`` holds, per group, the values at a
    common N with their null from held-out seeds and the excess over it
    (:func:`infosynth_core.calibrated.calibrated_measure`), from the same fits."""
    from .calibrated import measure_with

    if isinstance(metrics, dict):
        metrics = MetricsConfig(**metrics)
    found = measure_with(metrics, ref, cand, groups=groups, random_state=random_state)
    raw = found["all"].raw
    return {
        "novelty": raw["novelty"],
        "diversity": {
            "reference": raw["diversity_reference"],
            "candidate": raw["diversity_candidate"],
            "matched_n": raw["matched_n"],
        },
        "n_reference": len(ref),
        "n_candidate": len(cand),
        "dim": metrics.dim,
        "k": metrics.k,
        "umap_runs": metrics.runs,
        "draws": metrics.draws,
        "calibrated": {name: c.to_dict() for name, c in found.items()},
    }


def measure_benchmark(
    seeds: Sequence[Problem],
    benchmark: Sequence[Problem],
    embed: Callable[[list[str]], np.ndarray],
    metrics: MetricsConfig,
    random_state: int,
    generation: int | None = None,
) -> dict[str, Any]:
    """Novelty (KL, nats) of the verified problems against the seeds and both sets' diversity
    (entropy, nats), in ``metrics.runs`` joint UMAP fits, here and now; or why not
    (:func:`metrics_inputs` then :func:`measure_vectors`)."""
    found = metrics_inputs(seeds, benchmark, embed, metrics, generation)
    if isinstance(found, dict):
        return found
    return measure_vectors(*found, metrics, random_state)


def generation_record(
    generation: int,
    counts: GenerationCounts,
    *,
    seeds: Sequence[Problem],
    benchmark: Sequence[Problem],
    metrics: dict[str, Any],
    seconds: float,
    merge_duplicates: int,
) -> dict[str, Any]:
    """The generation's record (see the module docstring); ``metrics`` is its ``metrics``
    part: measured (:func:`measure_vectors`), ``{"skipped": why}`` or ``{"pending": why}``
    while the background worker measures it."""
    from .topics import coverage

    data = counts.to_dict()
    return {
        "generation": generation,
        **data,
        "totals": counts.totals(),
        "usage": counts.usage().to_dict(),
        "seconds": seconds,
        "verified_total": len(benchmark),
        "merge_duplicates": merge_duplicates,
        "metrics": metrics,
        "topic_coverage": {
            "seeds": coverage([p.topics for p in seeds]),
            "generated": coverage([p.topics for p in benchmark]),
        },
        "test_quality": quality_of_tests(benchmark),
    }


def quality_of_tests(problems: Sequence[Problem]) -> dict[str, Any]:
    """The tests' quality over benchmark problems (each one's final passing attempt, stored
    as ``metadata.test_quality`` by the loop): ``problems`` with a record, mean ``tests`` and
    ``asserts`` per problem, mean line ``coverage`` of the solution (a fraction; None when
    none was measured)."""

    def mean(key: str) -> float | None:
        values = [
            float(q[key])
            for p in problems
            if isinstance(q := p.metadata.get("test_quality"), dict)
            and isinstance(q.get(key), int | float)
            and not isinstance(q.get(key), bool)
        ]
        return round(sum(values) / len(values), 4) if values else None

    n = sum(isinstance(p.metadata.get("test_quality"), dict) for p in problems)
    return {
        "problems": n,
        "tests_mean": mean("tests"),
        "asserts_mean": mean("asserts"),
        "coverage_mean": mean("coverage"),
    }
