"""How long the runner's event loop is blocked: its longest stall, in wall and CPU seconds.

Every request to the endpoint, every answer and every sandbox result goes through one asyncio
event loop. While a callback runs on it (an embedding, a MinHash, a store write, a parse), no
answer is read and no request is sent: the endpoint sits idle and requests in flight can time
out. :class:`LoopWatch` is a coroutine that wakes every ``interval_s`` seconds and measures, for
each gap between two wake-ups:

- the **wall** time beyond the interval (the usual "loop lag"; it also grows when the OS does
  not schedule the process, e.g. on a busy machine), and
- the **CPU** time the loop's thread spent in that gap (``time.thread_time``): what the loop
  itself did while the watcher could not run. Descheduling and waiting for the GIL are not
  counted, so this figure is the same on a quiet and a busy machine, which is what a test can
  assert on.

A gap can hold several callbacks, so the CPU figure is an upper bound on the longest single
callback. Both are reported as the maximum and the 99th percentile, in seconds.

Example
-------
>>> import asyncio
>>> async def main():
...     async with LoopWatch(interval_s=0.005) as watch:
...         await asyncio.sleep(0.05)
...     return watch.report()
>>> sorted(asyncio.run(main()))
['interval_s', 'max_cpu_s', 'max_wall_s', 'p99_cpu_s', 'p99_wall_s', 'ticks']
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

__all__ = ["LoopWatch"]


class LoopWatch:
    """Measures the event loop's stalls while it is entered (``async with``).

    Parameters
    ----------
    interval_s : float
        How often the watcher wakes, in seconds (default 0.01). Stalls shorter than this are
        not resolved.
    """

    def __init__(self, *, interval_s: float = 0.01):
        self.interval_s = interval_s
        self.wall_gaps_: list[float] = []  # seconds beyond interval_s, per gap
        self.cpu_gaps_: list[float] = []  # loop-thread CPU seconds, per gap
        self._task: asyncio.Task | None = None

    async def _watch(self) -> None:
        interval = self.interval_s
        wall, cpu = time.monotonic(), time.thread_time()
        while True:
            await asyncio.sleep(interval)
            w, c = time.monotonic(), time.thread_time()
            self.wall_gaps_.append(max(0.0, w - wall - interval))
            self.cpu_gaps_.append(c - cpu)
            wall, cpu = w, c

    async def __aenter__(self) -> LoopWatch:
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def report(self) -> dict[str, float | int]:
        """``{"ticks", "interval_s", "max_wall_s", "p99_wall_s", "max_cpu_s", "p99_cpu_s"}``
        (seconds; zeros before the first tick)."""
        wall = np.asarray(self.wall_gaps_ or [0.0])
        cpu = np.asarray(self.cpu_gaps_ or [0.0])
        return {
            "ticks": len(self.wall_gaps_),
            "interval_s": self.interval_s,
            "max_wall_s": float(wall.max()),
            "p99_wall_s": float(np.percentile(wall, 99)),
            "max_cpu_s": float(cpu.max()),
            "p99_cpu_s": float(np.percentile(cpu, 99)),
        }
