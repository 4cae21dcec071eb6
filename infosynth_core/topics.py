"""Topic bank, offline topic tagger, and topic coverage of problem sets.

The bank (``data/topics.json``) holds the 68 LeetCode topic names, each with a short
description written for this project. The offline tagger embeds problem statements and topic
descriptions with the same sentence model and gives each problem up to ``max_topics`` (3)
topics: the most similar description always, then further ones whose cosine similarity is
within ``margin`` of the best. No model call is needed; the LLM tagger comes with the
engines.

Coverage of a set is the share of its problems tagged with each topic (shares sum to more
than 1 when problems have several topics).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .embed import Embedder
from .errors import ConfigError

__all__ = ["Topic", "topic_bank", "topic_names", "TopicTagger", "coverage"]

_BANK = Path(__file__).resolve().parent.parent / "data" / "topics.json"


@dataclass(frozen=True)
class Topic:
    name: str
    description: str


@lru_cache(maxsize=1)
def topic_bank() -> tuple[Topic, ...]:
    """The topic bank: LeetCode topic names with descriptions written for InfoSynth."""
    data = json.loads(_BANK.read_text(encoding="utf-8"))
    return tuple(Topic(t["name"], t["description"]) for t in data["topics"])


def topic_names() -> list[str]:
    return [t.name for t in topic_bank()]


class TopicTagger:
    """Tags statements with up to ``max_topics`` bank topics by embedding similarity.

    Parameters
    ----------
    embedder
        The sentence embedder (its store caches the description vectors too).
    max_topics
        At most this many topics per problem (default 3).
    margin
        A second or third topic is kept when its similarity is within this much of the best
        topic's (cosine, default 0.08).
    """

    def __init__(self, embedder: Embedder, *, max_topics: int = 3, margin: float = 0.08):
        if not 1 <= max_topics <= 10:
            raise ConfigError(
                f"The 'max_topics' parameter of TopicTagger must be in [1, 10]; got {max_topics}."
            )
        if not 0 <= margin <= 1:
            raise ConfigError(
                f"The 'margin' parameter of TopicTagger must be in [0, 1]; got {margin}."
            )
        self.embedder = embedder
        self.max_topics = max_topics
        self.margin = margin
        self._names = topic_names()
        self._vectors: np.ndarray | None = None

    def _topic_vectors(self) -> np.ndarray:
        if self._vectors is None:
            texts = [f"{t.name}. {t.description}" for t in topic_bank()]
            self._vectors = self.embedder.encode(texts)
        return self._vectors

    def warm(self) -> None:
        """Embed the topic bank now (once; seconds on a cold model), e.g. off an event loop."""
        self._topic_vectors()

    def scores(self, statements: Sequence[str]) -> np.ndarray:
        """Cosine similarity of each statement to each topic, shape (n, 68)."""
        return self.embedder.encode(statements) @ self._topic_vectors().T

    def tag(self, statements: Sequence[str]) -> list[tuple[str, ...]]:
        """Up to ``max_topics`` topic names per statement, most similar first."""
        return self.tag_vectors(self.embedder.encode(statements))

    def tag_vectors(self, vectors: np.ndarray) -> list[tuple[str, ...]]:
        """As :meth:`tag`, for statements already embedded with the same embedder."""
        sims = np.asarray(vectors) @ self._topic_vectors().T
        out = []
        for row in sims:
            order = np.argsort(-row, kind="stable")[: self.max_topics]
            best = row[order[0]]
            out.append(tuple(self._names[i] for i in order if row[i] >= best - self.margin))
        return out


def coverage(
    topic_lists: Sequence[Sequence[str]], *, names: Sequence[str] | None = None
) -> dict[str, float]:
    """Share of problems tagged with each topic (every bank topic listed, 0.0 when absent).

    Topics outside ``names`` (default: the bank) are counted too, after the bank's.
    """
    names = list(names or topic_names())
    n = len(topic_lists)
    counts = Counter(t for topics in topic_lists for t in set(topics))
    out = {name: (counts.get(name, 0) / n if n else 0.0) for name in names}
    for extra in sorted(set(counts) - set(names)):
        out[extra] = counts[extra] / n
    return out
