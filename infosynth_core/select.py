"""k-farthest selection: keep the candidates least similar to what already exists.

InfoSynth (arXiv 2601.00575) filters each step's candidates by keeping those farthest, in
cosine similarity of their full embeddings, from the colony's seeds and new problems (paper:
2 of 3 mutation candidates). Similarity of a candidate to the existing set is its similarity
to the nearest existing item (``mode="nearest"``, default) or the mean similarity
(``mode="mean"``). Ties are broken by candidate order, so the selection is deterministic.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError

__all__ = ["k_farthest", "similarity_to_set"]

MODES = ("nearest", "mean")


def _unit(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ConfigError(
            f"The '{name}' parameter of k_farthest must be 2-D (n, dim); got shape {a.shape}."
        )
    if not np.isfinite(a).all():
        raise ConfigError(f"The '{name}' parameter of k_farthest has NaN or infinite values.")
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.where(norms == 0, 1.0, norms)


def similarity_to_set(
    candidates: np.ndarray, existing: np.ndarray, *, mode: str = "nearest"
) -> np.ndarray:
    """Cosine similarity of each candidate to the existing set (nearest item or mean)."""
    if mode not in MODES:
        raise ConfigError(
            f"The 'mode' parameter of k_farthest must be one of {MODES}; got {mode!r}."
        )
    c, e = _unit(candidates, "candidates"), _unit(existing, "existing")
    if len(e) == 0 or len(c) == 0:
        return np.zeros(len(c))
    if c.shape[1] != e.shape[1]:
        raise ConfigError(
            f"k_farthest: candidates and existing must have the same dimension; got {c.shape[1]} and {e.shape[1]}."
        )
    out = np.empty(len(c))
    step = max(1, 2_000_000 // max(1, len(e)))  # bounded memory for large sets
    for i in range(0, len(c), step):
        sims = c[i : i + step] @ e.T
        out[i : i + step] = sims.max(axis=1) if mode == "nearest" else sims.mean(axis=1)
    return out


def k_farthest(
    candidates: np.ndarray, existing: np.ndarray, keep: int, *, mode: str = "nearest"
) -> np.ndarray:
    """Indices of the ``keep`` candidates least similar to ``existing``, least similar first.

    With an empty ``existing`` every candidate scores 0 and the first ``keep`` are kept.
    """
    n = len(candidates)
    if not 0 <= keep <= n:
        raise ConfigError(f"The 'keep' parameter of k_farthest must be in [0, {n}]; got {keep}.")
    scores = similarity_to_set(candidates, existing, mode=mode)
    return np.argsort(scores, kind="stable")[:keep]
