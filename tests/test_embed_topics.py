"""Embeddings (offline bundled MiniLM, cached in the store) and the topic tagger."""

from __future__ import annotations

import numpy as np
import pytest

from infosynth_core.embed import Embedder, EmbeddingError, text_hash
from infosynth_core.topics import TopicTagger, coverage, topic_bank, topic_names


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    from infosynth_core import Store

    return Embedder(store=Store(tmp_path_factory.mktemp("emb") / "e.db"))


def test_embed_offline_unit_vectors_and_meaning(embedder):
    texts = [
        "Return the sum of all even numbers in a list of integers.",
        "Given a list of integers, add up the ones that are even.",
        "Find the shortest path between two cities in a road network.",
    ]
    v = embedder.encode(texts)
    assert v.shape == (3, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2  # paraphrases are closer than unrelated tasks


def test_embed_cache_embeds_each_text_once(embedder):
    texts = [f"Count the vowels in word number {i}." for i in range(5)]
    seen = []
    first = embedder.encode(texts + texts[:2], progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (5, 5)  # 5 distinct texts
    seen.clear()
    again = embedder.encode(texts, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(5, 5)]  # all from the cache, no batch run
    np.testing.assert_array_equal(first[:5], again)
    hashes = [text_hash(t) for t in texts]
    assert len(embedder.store.embedding_cache_get(embedder.cache_key, hashes)) == 5
    assert embedder.store.embedding_cache_get(embedder.model, hashes) == {}  # the new key only


def test_embed_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(EmbeddingError, match="Cannot load embedding model"):
        Embedder(str(tmp_path / "no-such-model")).encode(["x"])
    with pytest.raises(EmbeddingError, match="'batch_size'"):
        Embedder(batch_size=0)


def test_topic_bank_has_the_leetcode_names():
    names = topic_names()
    assert len(names) == len(set(names)) == 68
    assert {"Array", "Hash Table", "Dynamic Programming", "Bit Manipulation", "Matrix"} <= set(
        names
    )
    assert all(30 <= len(t.description.split()) <= 90 for t in topic_bank())


def test_topic_tagger_tags_obvious_statements(embedder):
    tagger = TopicTagger(embedder)
    tags = tagger.tag(
        [
            "Given the root of a binary tree, return its maximum depth.",
            "Given an m x n grid of characters, rotate the matrix by 90 degrees clockwise.",
        ]
    )
    assert all(1 <= len(t) <= 3 for t in tags)
    assert {"Binary Tree", "Tree"} & set(tags[0])
    assert "Matrix" in tags[1]
    # A known weakness: this one's top pick is "Suffix Array"; the right topics rank next.
    text = "Return the length of the longest substring without repeating characters."
    names = topic_names()
    ranked = [names[i] for i in np.argsort(-tagger.scores([text])[0])[:4]]
    assert {"String", "Sliding Window"} <= set(ranked), ranked


def test_topic_coverage_shares():
    cov = coverage([("Array", "Math"), ("Array",), ("Graph",), ()])
    assert cov["Array"] == 0.5 and cov["Math"] == 0.25 and cov["Graph"] == 0.25
    assert cov["Trie"] == 0.0 and len(cov) == 68
    assert coverage([("Custom",)])["Custom"] == 1.0


@pytest.mark.datasets
def test_topic_tagger_beats_the_majority_baseline_on_leetcode(embedder, datasets_dir):
    from collections import Counter

    from infosynth_core import load_problems

    probs = [p for p in load_problems(datasets_dir / "leetcode.jsonl").problems if p.topics][:400]
    pred = TopicTagger(embedder).tag([p.problem for p in probs])
    top1 = np.mean([pr[0] in p.topics for pr, p in zip(pred, probs, strict=True)])
    majority = Counter(t for p in probs for t in p.topics).most_common(1)[0][0]
    baseline = np.mean([majority in p.topics for p in probs])
    assert top1 > baseline, (top1, baseline, majority)
