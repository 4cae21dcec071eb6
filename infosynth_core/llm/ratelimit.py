"""An asyncio token bucket for requests-per-minute and tokens-per-minute limits.

The bucket refills continuously at ``rate`` units per second up to ``burst`` units. A caller
takes ``n`` units with :meth:`TokenBucket.acquire`; callers are served first come, first
served. A request larger than the burst is let through once the bucket is full and leaves it
in debt, so a single large request never deadlocks and the long-run rate still holds.
:meth:`TokenBucket.refund` gives units back (or, with a negative amount, charges more) when an
estimate charged up front turns out wrong.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

__all__ = ["TokenBucket", "per_minute"]


class TokenBucket:
    """Continuous token bucket.

    Parameters
    ----------
    rate
        Refill rate, in units per second (> 0).
    burst
        Capacity, in units (> 0): how much may be taken at once after an idle period.
    clock
        Monotonic clock in seconds (default ``time.monotonic``); tests may pass their own.
    """

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError(f"TokenBucket needs rate > 0 and burst > 0; got {rate=}, {burst=}.")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._level = float(burst)
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.burst, self._level + (now - self._stamp) * self.rate)
        self._stamp = now

    @property
    def level(self) -> float:
        """Units available now (negative while in debt)."""
        self._refill()
        return self._level

    async def acquire(self, n: float = 1.0) -> float:
        """Wait until ``n`` units may be taken, take them and return the seconds waited."""
        start = self._clock()
        async with self._lock:  # FIFO: whoever waits first is served first
            while True:
                self._refill()
                need = min(float(n), self.burst)
                if self._level >= need:
                    self._level -= float(n)
                    return self._clock() - start
                await asyncio.sleep((need - self._level) / self.rate)

    def refund(self, n: float) -> None:
        """Give ``n`` units back (capped at the burst); a negative ``n`` charges more."""
        self._refill()
        self._level = min(self.burst, self._level + float(n))


def per_minute(limit: int, *, burst_s: float = 1.0) -> TokenBucket:
    """A bucket for a per-minute limit (requests or tokens) that allows at most ``burst_s``
    seconds' worth of the limit at once (at least 1 unit), then spaces evenly:
    ``per_minute(120)`` lets 2 requests through at once, then one every 0.5 s."""
    rate = limit / 60.0
    return TokenBucket(rate, max(1.0, rate * burst_s))
