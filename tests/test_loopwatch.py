"""The event-loop watcher (infosynth_core.loopwatch) against known stalls: CPU burnt on the
loop's thread in one callback is reported; an idle loop reports almost nothing. CPU time, not
wall time, so a busy machine does not change the result."""

from __future__ import annotations

import asyncio
import time

from infosynth_core.loopwatch import LoopWatch


def _burn(cpu_s: float) -> None:
    end = time.thread_time() + cpu_s
    while time.thread_time() < end:
        pass


def test_a_blocking_callback_is_reported_as_the_longest_stall():
    async def main():
        async with LoopWatch(interval_s=0.005) as watch:
            await asyncio.sleep(0.02)
            _burn(0.15)  # blocks the loop: no tick can run meanwhile
            await asyncio.sleep(0.02)
        return watch.report()

    report = asyncio.run(main())
    assert report["ticks"] >= 2
    assert 0.15 <= report["max_cpu_s"] < 0.5
    assert report["max_wall_s"] >= 0.15 - 0.005  # wall includes it too (beyond the interval)


def test_an_idle_loop_has_no_stall_and_cpu_in_other_threads_is_not_counted():
    async def main():
        async with LoopWatch(interval_s=0.005) as watch:
            await asyncio.get_running_loop().run_in_executor(None, _burn, 0.15)
        return watch.report()

    report = asyncio.run(main())
    assert report["ticks"] >= 2
    assert report["max_cpu_s"] < 0.05  # the executor's thread burnt it, not the loop's


def test_report_before_any_tick_is_zeros():
    report = LoopWatch().report()
    assert report["ticks"] == 0 and report["max_cpu_s"] == 0.0 and report["max_wall_s"] == 0.0
