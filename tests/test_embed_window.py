"""Whole-text embeddings: long texts are chunked into windows and pooled, short ones unchanged,
the cache key moved on, and the ONNX backend reproduces torch."""

from __future__ import annotations

import numpy as np
import pytest

from infosynth_core import Store
from infosynth_core import embed as embed_mod
from infosynth_core.embed import (
    CACHE_VERSION,
    DEFAULT_MODEL,
    POOLING,
    Embedder,
    EmbeddingError,
    _spans,
    cache_key,
    embedding_info,
)
from infosynth_core.seeds import load_bundled_seeds


@pytest.fixture(scope="module")
def st():
    return embed_mod._load(DEFAULT_MODEL, "cpu")


@pytest.fixture(scope="module")
def seeds():
    return [p.problem for p in load_bundled_seeds().problems]


def n_tokens(st, text: str) -> int:
    return len(st.tokenizer(text, verbose=False)["input_ids"])


def truncating(st, texts):
    """What Embedder.encode gave before whole-text embedding."""
    return st.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


@pytest.fixture(scope="module")
def long_pair(st, seeds):
    """Two texts identical in their first 300+ word pieces, different after."""
    base = ""
    for s in seeds:
        base = f"{base} {s}".strip()
        if n_tokens(st, base) > 320:
            break
    a = base + " Then return the list sorted in ascending order, with duplicates removed."
    b = base + " Finally report how many prime numbers occur among the stored values."
    return a, b


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_texts_within_the_window_keep_their_vectors(st, seeds, backend):
    texts = [*seeds[:12], "  leading and trailing spaces  ", "", "x", "Größe über 9 — naïve café"]
    assert all(n_tokens(st, t) <= 256 for t in texts)
    got = Embedder(backend=backend).encode(texts)
    np.testing.assert_allclose(got, truncating(st, texts), atol=1e-6, rtol=0)


def test_long_texts_are_embedded_whole(st, long_pair):
    a, b = long_pair
    old = truncating(st, [a, b])
    np.testing.assert_array_equal(old[0], old[1])  # truncation at 256 pieces: the same vector
    emb = Embedder()
    new = emb.encode([a, b])
    assert emb.last_report_["chunked"] == 2 and emb.last_report_["windows"] == 4
    np.testing.assert_allclose(np.linalg.norm(new, axis=1), 1.0, atol=1e-5)
    assert new[0] @ new[1] < 0.999  # the endings now count
    assert new[0] @ new[1] > 0.9  # and they share most of their text


def test_a_long_text_pools_its_parts(st, seeds):
    """Two statements joined: the whole vector is close to the token-weighted mean of the two
    statements' own vectors, and closer to it than the truncated vector (mostly the first)."""
    a, b = seeds[0], seeds[1]
    joined = f"{a} {b}"
    assert n_tokens(st, joined) > 256
    va, vb, trunc = truncating(st, [a, b, joined])
    na, nb = n_tokens(st, a) - 2, n_tokens(st, b) - 2
    expected = na * va + nb * vb
    expected /= np.linalg.norm(expected)
    whole = Embedder().encode([joined])[0]
    assert whole @ expected > 0.97
    assert whole @ expected > trunc @ expected
    assert whole @ vb > trunc @ vb  # the second statement is seen, not cut off


def test_spans_are_consecutive_balanced_and_cut_at_word_starts():
    spans = _spans(600, 254, None)
    assert spans == [(0, 200), (200, 400), (400, 600)]
    assert _spans(254, 254, None) == [(0, 254)]
    assert _spans(255, 254, None) == [(0, 128), (128, 255)]
    words = [i // 5 for i in range(300)]  # five pieces per word: words start at multiples of 5
    spans = _spans(300, 254, words)
    assert spans[0] == (0, 150) and spans[-1][1] == 300
    words = [i // 5 for i in range(302)]
    (a0, a1), (b0, b1) = _spans(302, 254, words)
    assert (a0, b1) == (0, 302) and a1 == b0 and a1 % 5 == 0 and a1 <= 151
    assert all(b - a <= 254 for a, b in _spans(1000, 254, [0] * 1000))  # one long word


def test_report_and_info_count_chunked_texts(st, seeds, long_pair):
    emb = Embedder()
    texts = [seeds[0], long_pair[0], seeds[0], long_pair[1], seeds[1]]
    emb.encode(texts)
    assert emb.last_report_ == {
        "texts": 4,
        "cached": 0,
        "embedded": 4,
        "chunked": 2,
        "windows": 6,
    }
    info = embedding_info(emb, texts)
    assert info == {
        "model": DEFAULT_MODEL,
        "cache_key": f"{DEFAULT_MODEL}#{CACHE_VERSION}",
        "backend": emb.backend_,
        "window_tokens": 256,
        "pooling": POOLING,
        "texts": 5,
        "chunked": 2,
        "max_tokens": max(n_tokens(st, t) for t in texts),
    }
    assert emb.window_tokens == 256 and emb.backend_ in ("onnx", "torch")
    assert "texts" not in embedding_info(emb)


def test_cache_key_moved_on_so_truncated_vectors_are_not_reused(tmp_path, long_pair):
    store = Store(tmp_path / "e.db")
    text = long_pair[0]
    h = embed_mod.text_hash(text)
    stale = np.zeros(384, dtype=np.float32)
    stale[0] = 1.0
    store.embedding_cache_put(DEFAULT_MODEL, {h: stale})  # a vector cached under the old key
    emb = Embedder(store=store)
    assert emb.cache_key == cache_key(DEFAULT_MODEL) == f"{DEFAULT_MODEL}#whole-v1"
    v = emb.encode([text])[0]
    assert emb.last_report_["embedded"] == 1 and abs(v[0]) < 0.5  # embedded, not the stale one
    np.testing.assert_array_equal(store.embedding_cache_get(emb.cache_key, [h])[h], v)
    emb.encode([text])
    assert emb.last_report_["cached"] == 1 and emb.last_report_["embedded"] == 0


def test_backend_is_validated_and_falls_back_to_torch(tmp_path, monkeypatch):
    with pytest.raises(EmbeddingError, match="'backend'"):
        Embedder(backend="tpu")

    def missing(*args):
        raise ImportError("No module named 'onnxruntime'")

    monkeypatch.setattr(embed_mod, "_onnx_forward", missing)
    emb = Embedder(onnx_cache=tmp_path / "fallback")  # a new cache folder: a new backend
    emb.encode(["Reverse a string."])
    assert emb.backend_ == "torch" and "onnxruntime" in emb.backend_note_
    with pytest.raises(EmbeddingError, match="ONNX backend is not usable"):
        Embedder(backend="onnx", onnx_cache=tmp_path / "strict").encode(["x"])


def test_onnx_export_is_cached_checked_and_replaced_when_broken(st, seeds, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    path = embed_mod._onnx_path(DEFAULT_MODEL, st, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an onnx model")  # a broken cached file is exported anew
    emb = Embedder(backend="onnx", onnx_cache=tmp_path)
    texts = seeds[:6]
    got = emb.encode(texts)
    assert emb.backend_ == "onnx" and path.stat().st_size > 1_000_000
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]  # no temp files left
    np.testing.assert_allclose(got, truncating(st, texts), atol=1e-6, rtol=0)
