"""Test strength of stored problems: reading, describing and summarising mutation scores.

The loop stores, for every benchmark problem, ``metadata["mutation_score"]`` =
:meth:`infosynth_core.mutants.MutationScore.to_dict` (``score`` = killed / total, a fraction
in [0, 1], or None when no mutant could be made). Problems from older runs, seeds and
problems outside the benchmark have no such key: they are *unscored*, never a score of 0.
Equivalent mutants cannot be killed, so a score is a lower bound on test strength.

Every view (Explore, Review, export) reads the score through :func:`stored_mutation_score`,
which ignores malformed values rather than crashing on them.

>>> summary = strength_summary(problems)  # doctest: +SKIP
>>> summary["scored"], summary["mean"], summary["share_at_least_0_8"]  # doctest: +SKIP
(12, 0.8421, 0.75)
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import Any

from .errors import ConfigError
from .problem import Problem

__all__ = [
    "STRONG_SCORE",
    "stored_mutation_score",
    "score_of",
    "describe_strength",
    "strength_summary",
    "check_min_score",
]

STRONG_SCORE = 0.8  # "tests reject ≥ 80% of mutants": the manifest's share threshold


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def stored_mutation_score(problem: Problem) -> dict[str, Any] | None:
    """The problem's stored mutation score, or None when it has none (or a malformed one).

    Returns a dict with ``score`` (float in [0, 1], or None when no mutant could be made),
    ``killed`` and ``total`` (ints, killed ≤ total), ``survivors`` and ``notes`` (lists of
    strings, as stored: not escaped).
    """
    ms = problem.metadata.get("mutation_score")
    if not isinstance(ms, dict):
        return None
    killed, total, score = _count(ms.get("killed")), _count(ms.get("total")), ms.get("score")
    if killed is None or total is None or killed > total:
        return None
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            return None
        if not math.isfinite(score) or not 0.0 <= score <= 1.0:
            return None
        score = float(score)

    def texts(key: str) -> list[str]:
        value = ms.get(key)
        return [str(s) for s in value] if isinstance(value, (list, tuple)) else []

    return {
        "score": score,
        "killed": killed,
        "total": total,
        "survivors": texts("survivors"),
        "notes": texts("notes"),
    }


def score_of(problem: Problem) -> float | None:
    """The mutation score (killed / total, in [0, 1]) or None when the problem is unscored."""
    ms = stored_mutation_score(problem)
    return None if ms is None else ms["score"]


def describe_strength(ms: dict[str, Any] | None) -> str:
    """One line for a :func:`stored_mutation_score` dict (plain text, not escaped).

    ``"tests reject 7 of 8 mutants (score 0.88)"``; ``"no mutants could be made"`` when the
    score is None; ``"—"`` when there is no score at all (an older run, a seed).
    """
    if ms is None:
        return "—"
    if ms["score"] is None:
        return "no mutants could be made"
    return f"tests reject {ms['killed']} of {ms['total']} mutants (score {ms['score']:.2f})"


def strength_summary(problems: Iterable[Problem]) -> dict[str, Any]:
    """Test strength of a set of problems, as exports record it in their manifest.

    ``scored`` (problems with a score), ``mean`` and ``median`` of their scores, and
    ``share_at_least_0_8`` (fraction of the scored problems whose tests reject at least
    :data:`STRONG_SCORE` of their mutants); the three are None when nothing is scored.
    Rounded to 4 decimals.
    """
    scores = [s for s in (score_of(p) for p in problems) if s is not None]
    if not scores:
        return {"scored": 0, "mean": None, "median": None, "share_at_least_0_8": None}
    return {
        "scored": len(scores),
        "mean": round(statistics.fmean(scores), 4),
        "median": round(statistics.median(scores), 4),
        "share_at_least_0_8": round(sum(s >= STRONG_SCORE for s in scores) / len(scores), 4),
    }


def check_min_score(value: Any, where: str) -> float | None:
    """A ``min_mutation_score`` filter value as a float in [0, 1] (None: no filter)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(
            f"The 'min_mutation_score' parameter of {where} must be a fraction in [0, 1] "
            f"(0.8 = tests reject at least 80% of mutants) or None; got {value!r}."
        )
    return float(value)
