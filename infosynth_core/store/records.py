"""Per-problem and per-run records of the store: verification attempts, generation metrics,
reviews and run events. Mixed into :class:`~infosynth_core.store.Store`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..problem import REVIEWS
from ._sql import _dumps, utc_now

__all__ = ["Attempt", "RunRecordsMixin"]


@dataclass(frozen=True)
class Attempt:
    """One verification attempt of a problem (round 0 = first try)."""

    round: int
    status: str
    solution: str | None = None
    tests: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)
    output: str = ""
    duration_s: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    created_at: str = ""


class RunRecordsMixin:
    """Attempts, metrics, reviews and events; needs the Store's ``_query``, ``transaction``,
    ``get_problem`` and ``get_run``."""

    # ------------------------------------------------------------------ attempts
    def add_attempt(self, pk: int, attempt: Attempt) -> int:
        self.get_problem(pk)
        with self.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO attempts (problem_pk, round, status, solution, tests, outcomes, "
                "output, duration_s, details, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    pk,
                    attempt.round,
                    attempt.status,
                    attempt.solution,
                    attempt.tests,
                    _dumps(attempt.outcomes),
                    attempt.output,
                    attempt.duration_s,
                    _dumps(attempt.details),
                    attempt.created_at or utc_now(),
                ),
            )
            return cur.lastrowid

    def delete_attempts(self, pk: int) -> int:
        """Remove every attempt of problem ``pk`` (an unfinished verification about to be
        redone); returns how many were removed."""
        with self.transaction() as conn:
            return conn.execute("DELETE FROM attempts WHERE problem_pk = ?", (pk,)).rowcount

    def attempts(self, pk: int) -> list[Attempt]:
        rows = self._query("SELECT * FROM attempts WHERE problem_pk = ? ORDER BY round, id", (pk,))
        return [
            Attempt(
                r["round"],
                r["status"],
                r["solution"],
                r["tests"],
                json.loads(r["outcomes"]),
                r["output"],
                r["duration_s"],
                json.loads(r["details"]),
                r["created_at"],
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ metrics
    def record_generation(self, run_id: str, generation: int, data: dict[str, Any]) -> None:
        """Store (or replace) the summary of one generation of a run."""
        self.get_run(run_id)
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO generation_metrics (run_id, generation, data, created_at) "
                "VALUES (?, ?, ?, ?)",
                (run_id, generation, _dumps(data), utc_now()),
            )

    def generation_metrics(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT generation, data FROM generation_metrics WHERE run_id = ? ORDER BY generation",
            (run_id,),
        )
        return [{"generation": r["generation"], **json.loads(r["data"])} for r in rows]

    # ------------------------------------------------------------------ reviews
    def add_review(
        self, pk: int, decision: str, *, note: str = "", changes: dict[str, Any] | None = None
    ) -> None:
        """Record a review decision and set the problem's review state, atomically."""
        if decision not in REVIEWS:
            raise ValueError(f"review decision must be one of {REVIEWS}; got {decision!r}")
        self.get_problem(pk)
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO reviews (problem_pk, decision, note, changes, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (pk, decision, note, _dumps(changes or {}), utc_now()),
            )
            conn.execute("UPDATE problems SET review = ? WHERE pk = ?", (decision, pk))

    def reviews(self, pk: int) -> list[dict[str, Any]]:
        rows = self._query("SELECT * FROM reviews WHERE problem_pk = ? ORDER BY id", (pk,))
        return [
            {
                "decision": r["decision"],
                "note": r["note"],
                "changes": json.loads(r["changes"]),
                "created_at": r["created_at"],
            }
            for r in rows
        ]

    # ------------------------------------------------------------------ events
    def add_event(
        self, run_id: str, level: str, kind: str, message: str, data: dict[str, Any] | None = None
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO run_events (run_id, level, kind, message, data, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, level, kind, message, _dumps(data or {}), utc_now()),
            )

    def api_fault_counts(self, run_id: str) -> dict[str, Any]:
        """The run's failed API tries (its ``api_error`` events from the client): ``faults``
        (failed tries), ``retries`` (of those, the ones tried again), ``by_kind`` ("429",
        "5xx", "timeout", "connection", "malformed", HTTP status)."""
        rows = self._query(
            "SELECT json_extract(data, '$.kind') AS kind, COUNT(*) AS n, "
            "SUM(json_extract(data, '$.retry_in_s') IS NOT NULL) AS retried "
            "FROM run_events WHERE run_id = ? AND kind = 'api_error' "
            "AND json_extract(data, '$.attempt') IS NOT NULL GROUP BY 1",
            (run_id,),
        )
        return {
            "faults": sum(r["n"] for r in rows),
            "retries": sum(r["retried"] or 0 for r in rows),
            "by_kind": {str(r["kind"]): r["n"] for r in rows},
        }

    def events(self, run_id: str, *, since_id: int = 0) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT * FROM run_events WHERE run_id = ? AND id > ? ORDER BY id", (run_id, since_id)
        )
        return [
            {
                "id": r["id"],
                "level": r["level"],
                "kind": r["kind"],
                "message": r["message"],
                "data": json.loads(r["data"]),
                "created_at": r["created_at"],
            }
            for r in rows
        ]
