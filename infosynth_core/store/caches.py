"""The LLM response cache and the embedding cache. Mixed into
:class:`~infosynth_core.store.Store`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np

from ._sql import _dumps, utc_now

__all__ = ["CacheMixin"]


class CacheMixin:
    """LLM responses keyed on a request hash; float32 embeddings keyed on (model, text hash).
    Needs the Store's ``_query`` and ``transaction``."""

    # ------------------------------------------------------------------ caches
    def llm_cache_get(self, key: str) -> dict[str, Any] | None:
        rows = self._query("SELECT response FROM llm_cache WHERE key = ?", (key,))
        return json.loads(rows[0]["response"]) if rows else None

    def llm_cache_put(
        self,
        key: str,
        *,
        model: str,
        request: str,
        response: dict[str, Any],
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO llm_cache (key, model, request, response, prompt_tokens, "
                "completion_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    model,
                    request,
                    _dumps(response),
                    prompt_tokens,
                    completion_tokens,
                    utc_now(),
                ),
            )

    def llm_answer_put(
        self,
        key: str,
        *,
        model: str,
        request: str,
        response: dict[str, Any],
        run_id: str | None,
        scope: str = "run",
        purpose: str,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float,
        estimated: bool = False,
    ) -> None:
        """Cache a billed answer and, when it was bought for a run, add it to that run's
        spend ledger, in one transaction: a crash leaves both or neither."""
        now = utc_now()
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO llm_cache (key, model, request, response, prompt_tokens, "
                "completion_tokens, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, model, request, _dumps(response), prompt_tokens, completion_tokens, now),
            )
            if run_id is not None:
                conn.execute(
                    "INSERT INTO llm_spend (run_id, scope, key, purpose, prompt_tokens, "
                    "completion_tokens, cost_usd, estimated, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id, scope, key, purpose, int(prompt_tokens), int(completion_tokens),
                        float(cost_usd), int(bool(estimated)), now,
                    ),
                )  # fmt: skip

    def llm_spend(self, run_id: str, scope: str = "run") -> dict[str, Any]:
        """A run's spend from its ledger: ``calls`` (billed answers), ``prompt_tokens``,
        ``completion_tokens``, ``cost_usd`` (US dollars), ``estimated_calls`` (answers without
        token counts from the server), ``paid_twice`` (billed answers to a request that had
        already been billed for this run: a request in flight when the runner was killed,
        asked again after the restart) and ``by_purpose`` (``{purpose: {calls, tokens,
        cost_usd}}``)."""
        rows = self._query(
            "SELECT purpose, COUNT(*) AS calls, SUM(prompt_tokens) AS p, "
            "SUM(completion_tokens) AS c, SUM(cost_usd) AS usd, SUM(estimated) AS est "
            "FROM llm_spend WHERE run_id = ? AND scope = ? GROUP BY purpose",
            (run_id, scope),
        )
        twice = self._query(
            "SELECT COUNT(*) - COUNT(DISTINCT key) AS n FROM llm_spend "
            "WHERE run_id = ? AND scope = ?",
            (run_id, scope),
        )
        out: dict[str, Any] = {
            "calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0,
            "estimated_calls": 0, "paid_twice": int(twice[0]["n"] or 0), "by_purpose": {},
        }  # fmt: skip
        for r in rows:
            out["calls"] += r["calls"]
            out["prompt_tokens"] += r["p"] or 0
            out["completion_tokens"] += r["c"] or 0
            out["cost_usd"] += r["usd"] or 0.0
            out["estimated_calls"] += r["est"] or 0
            out["by_purpose"][r["purpose"]] = {
                "calls": r["calls"],
                "tokens": (r["p"] or 0) + (r["c"] or 0),
                "cost_usd": r["usd"] or 0.0,
            }
        return out

    def embedding_cache_get(self, model: str, text_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached float32 vectors for the given text hashes (missing ones are absent)."""
        hashes = list(dict.fromkeys(text_hashes))
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(hashes), 500):
            chunk = hashes[i : i + 500]
            rows = self._query(
                "SELECT text_hash, dim, vector FROM embedding_cache WHERE model = ? AND text_hash "
                f"IN ({','.join('?' * len(chunk))})",
                (model, *chunk),
            )
            for r in rows:
                out[r["text_hash"]] = np.frombuffer(r["vector"], dtype="<f4", count=r["dim"]).copy()
        return out

    def embedding_cache_put(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        now = utc_now()
        with self.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO embedding_cache (model, text_hash, dim, vector, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (model, h, int(v.shape[-1]), np.asarray(v, dtype="<f4").tobytes(), now)
                    for h, v in vectors.items()
                ],
            )
