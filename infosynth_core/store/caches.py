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
