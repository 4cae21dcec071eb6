"""The background metrics process: it never outlives the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from conftest import ROOT, wait_until

STARTER = """
import concurrent.futures as cf, os, sys, time
from infosynth_core import metrics_worker
pool = metrics_worker._shared_pool()
print(pool.submit(os.getpid).result(timeout=300), flush=True)
time.sleep(3600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except OSError:
        return False


def test_the_metrics_process_exits_when_its_parent_is_killed():
    parent = subprocess.Popen(
        [sys.executable, "-c", STARTER], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    try:
        wait_until(lambda: not _alive(child), 60, "the metrics process to exit")
    finally:
        if _alive(child):  # left behind: clean up, the assertion above has failed
            os.kill(child, signal.SIGKILL)
