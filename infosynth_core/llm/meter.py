"""Running totals of what an :class:`~infosynth_core.llm.client.LLMClient` spent."""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..engines.base import Usage

__all__ = ["UsageMeter"]


class UsageMeter:
    """Tokens, US dollars, retries and failures of one client, in total and per purpose.

    Attributes
    ----------
    total
        :class:`~infosynth_core.engines.base.Usage` of this session (cache hits included as
        ``cached_calls`` with zero tokens and cost).
    by_purpose
        ``{purpose: Usage}``, e.g. "mutation", "crossover", "solve", "feedback".
    prior
        Usage of earlier sessions of the same run (given to the client); counts against the
        budget but is not part of ``total``.
    retries
        Tries repeated after a retryable failure.
    errors
        Failed tries by kind: "429", "5xx", "timeout", "connection", "malformed", or the HTTP
        status of a non-retryable error ("400", "401", ...).
    requests, in_flight
        HTTP requests sent so far, and those waiting for an answer now.
    estimated_calls
        Answers whose token counts the server did not report (estimated as characters / 4).
    seconds
        Summed wall time of successful requests, in seconds.
    shared
        Calls answered by an identical request already in flight (single flight; no HTTP).
    """

    def __init__(self, prior: Usage | None = None) -> None:
        self.prior = prior or Usage()
        self._total = Usage()
        self._by_purpose: dict[str, Usage] = {}
        self.retries = 0
        self.errors: Counter[str] = Counter()
        self.requests = 0
        self.in_flight = 0
        self.estimated_calls = 0
        self.seconds = 0.0
        self.shared = 0

    def add(self, purpose: str, usage: Usage, *, estimated: bool = False) -> None:
        """Count ``usage`` under ``purpose``."""
        self._total = self._total + usage
        self._by_purpose[purpose] = self._by_purpose.get(purpose, Usage()) + usage
        self.estimated_calls += int(estimated)

    @property
    def total(self) -> Usage:
        return self._total

    @property
    def by_purpose(self) -> dict[str, Usage]:
        return dict(self._by_purpose)

    @property
    def spent(self) -> Usage:
        """What counts against the budget: ``prior + total``."""
        return self.prior + self._total

    def snapshot(self) -> dict[str, Any]:
        """A JSON-serializable copy (for manifests, events and the dashboard)."""
        return {
            "total": self._total.to_dict(),
            "by_purpose": {k: v.to_dict() for k, v in sorted(self._by_purpose.items())},
            "prior": self.prior.to_dict(),
            "retries": self.retries,
            "errors": dict(sorted(self.errors.items())),
            "requests": self.requests,
            "in_flight": self.in_flight,
            "estimated_calls": self.estimated_calls,
            "seconds": round(self.seconds, 3),
            "shared": self.shared,
        }
