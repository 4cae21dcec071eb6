"""Generation metrics off the loop: one background process per run measures each
generation's novelty and diversity while the loop goes on.

The joint UMAP fits behind the metrics take seconds to a minute per generation and hold
Python's GIL, so measured in the loop they stall it (no requests sent, no answers read,
no verification) and every run waits for them. Instead, at a generation's end the loop
embeds the statements (cached in the store), records the generation with
``"metrics": {"pending": ...}`` and hands the vectors to :class:`MetricsWorker`; a single
worker process (spawned, so it shares no threads or locks with the loop) computes
:func:`~infosynth_core.evolve_records.measure_vectors` and the loop writes the result into
the generation's record as soon as it is ready. A finished run waits for the last
generation's metrics; a stopped run leaves them pending, and a resumed run measures them.

Where no process can be started, the worker measures in a thread instead (slower for the
loop, but nothing is lost).
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import multiprocessing
import threading
from typing import Any

import numpy as np

from .evolve_records import measure_vectors

__all__ = ["MetricsWorker", "PENDING", "warm"]

PENDING = "measuring in the background"


def _measure(ref, cand, groups, metrics, random_state) -> dict[str, Any]:
    try:
        return measure_vectors(ref, cand, groups, metrics, random_state)
    except Exception as exc:  # noqa: BLE001 - a metric failure must not end the run
        return {"skipped": f"metrics failed: {type(exc).__name__}: {exc}"}


_shared: cf.Executor | None = None
_shared_lock = threading.Lock()


def _exit_with_parent(parent: int) -> None:
    """In the metrics process: exit as soon as the process that started it is gone (a
    killed runner or a finished test session must not leave it behind)."""
    import os
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _shared_pool(replace: bool = False) -> cf.Executor:
    """The process's one metrics process, started on first use and kept for later runs in
    the same process (UMAP compiles its kernels once per process: a long-lived worker pays
    that once, not once per run)."""
    global _shared
    with _shared_lock:
        if replace and _shared is not None:
            _shared.shutdown(wait=False, cancel_futures=True)
            _shared = None
        if _shared is None:
            try:
                ctx = multiprocessing.get_context("spawn")
                import os

                _shared = cf.ProcessPoolExecutor(
                    max_workers=1,
                    mp_context=ctx,
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
            except (OSError, ValueError, NotImplementedError):  # pragma: no cover
                _shared = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrics")
        return _shared


def _warm_up() -> None:
    from .projection import warm_up

    warm_up(background=False)


def warm() -> cf.Future:
    """Start the metrics process and compile UMAP there, while the loop's first steps run."""
    try:
        return _shared_pool().submit(_warm_up)
    except (cf.BrokenExecutor, RuntimeError):
        return _shared_pool(replace=True).submit(_warm_up)


class MetricsWorker:
    """One run's generations, measured in the process's background metrics process."""

    def __init__(self) -> None:
        self._futures: dict[int, cf.Future] = {}

    def submit(
        self,
        generation: int,
        ref: np.ndarray,
        cand: np.ndarray,
        groups: dict[str, list[int]],
        metrics: dict[str, Any],
        random_state: int,
    ) -> None:
        """Start measuring ``generation`` (a later submit for the same one replaces it)."""
        args = (np.asarray(ref), np.asarray(cand), groups, metrics, random_state)
        try:
            self._futures[generation] = _shared_pool().submit(_measure, *args)
        except (cf.BrokenExecutor, RuntimeError):  # the process died: start a new one
            self._futures[generation] = _shared_pool(replace=True).submit(_measure, *args)

    @property
    def pending(self) -> list[int]:
        return sorted(self._futures)

    def ready(self) -> dict[int, dict[str, Any]]:
        """The generations measured since the last call (without waiting)."""
        done = {g: f for g, f in self._futures.items() if f.done()}
        for g in done:
            del self._futures[g]
        return {g: _result(f) for g, f in done.items()}

    async def wait_all(self) -> dict[int, dict[str, Any]]:
        """Wait (without blocking the event loop) for every pending generation."""
        futures, self._futures = self._futures, {}
        out = {}
        for g, f in futures.items():
            try:
                await asyncio.wrap_future(f)
            except BaseException:  # noqa: BLE001 - reported by _result
                pass
            out[g] = _result(f)
        return out

    def close(self) -> None:
        """Drop this run's pending generations (they stay ``pending`` in the store)."""
        for f in self._futures.values():
            f.cancel()
        self._futures.clear()


def _result(future: cf.Future) -> dict[str, Any]:
    if future.cancelled():
        return {"pending": "cancelled before it was measured"}
    exc = future.exception()
    if exc is not None:
        return {"skipped": f"metrics worker failed: {type(exc).__name__}: {exc}"}
    return future.result()
