"""Kernel caps on a sandbox worker as a whole (issue 13, item 3): a fork bomb and a memory hog
spread over many processes end as not passed, with the cgroup's counters showing the cap
acted; normal runs still pass and say which caps were in force; no cgroup outlives close().

The cgroup tests skip where this machine has no writable cgroup (``detect_caps() == "rlimit"``).
No assertion depends on speed: deadlines are generous and no test sleeps to synchronise.
"""

from __future__ import annotations

import os
import subprocess

import pytest
from conftest import wait_until

from infosynth_core.sandbox import Limits, RunResult, Sandbox, detect_caps, detect_isolation
from infosynth_core.sandbox import caps as caps_mod
from infosynth_core.sandbox import pool as pool_mod

LEVEL = detect_caps()
needs_cgroups = pytest.mark.skipif(
    LEVEL == "rlimit",
    reason=f"no writable cgroup here, caps fall back to rlimit: {caps_mod.caps_problem()}",
)
ISOLATIONS = [
    "process",
    pytest.param(
        "bubblewrap",
        marks=pytest.mark.skipif(
            detect_isolation() != "bubblewrap", reason="bubblewrap is not available here"
        ),
    ),
]
TESTS = "from solution import *\n\ndef test_f():\n    assert f() == 1\n"
GOOD = "def f():\n    return 1\n"
BOMB_AT_IMPORT = "import os\nwhile True:\n    os.fork()\n"
BOMB_IN_TEST = (
    "import os\nfrom solution import f\n\ndef test_f():\n    while True:\n        os.fork()\n"
)
# Each child maps well below RLIMIT_AS (256 MiB) but together they need far more than the
# cgroup's cap (256 + 64 + 64 MiB). Children allocate one after another and wait; the test
# fails, without any timing, when the kernel killed any of them (or the test itself).
HOG = """import os

def test_f():
    release_r, release_w = os.pipe()
    kids, ok = [], 0
    for _ in range(6):
        done_r, done_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(release_w)
            os.close(done_r)
            block = b"x" * (120 * 1024 * 1024)
            os.write(done_w, b"1")
            os.read(release_r, 1)
            os._exit(len(block) and 0)
        kids.append(pid)
        os.close(done_w)
        ok += os.read(done_r, 1) == b"1"
        os.close(done_r)
    os.close(release_w)
    statuses = [os.waitpid(pid, 0)[1] for pid in kids]
    assert ok == 6 and statuses == [0] * 6, statuses
"""
# A daemon in its own session, outside the run's process group: only the cgroup finds it.
DAEMON = """import os

def test_f():
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(ready_w, b"1")
            os.read(os.pipe()[0], 1)  # blocks forever
        os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert os.read(ready_r, 1) == b"1"
"""


def _sandbox(isolation: str, **limits) -> Sandbox:
    return Sandbox(
        workers=1,
        isolation=isolation,
        coverage=False,
        limits=Limits(timeout_s=60, **limits),
    )


def _run_and_close(isolation: str, solution: str, tests: str, **limits):
    """One run on a fresh one-worker sandbox; the result and the cgroup's final counters."""
    sb = _sandbox(isolation, **limits).start()
    worker = sb._all[0]
    try:
        r = sb.run(solution, tests)
    finally:
        sb.close()
    return r, worker.caps.final


def _all_own_cgroups() -> list[str]:
    _, bases = caps_mod._bases()
    found = []
    for base in bases:
        parent = os.path.join(base, caps_mod.PARENT)
        if os.path.isdir(parent):
            found += [n for n in os.listdir(parent) if n.startswith(f"infosynth-{os.getpid()}-")]
    return found


_EARLIER: set[str] = set()


@pytest.fixture(autouse=True)
def _cgroups_of_other_sandboxes():
    """Sandboxes that other tests of this session keep open have cgroups of this process too:
    they are not this test's."""
    _EARLIER.clear()
    if LEVEL != "rlimit":
        _EARLIER.update(_all_own_cgroups())
    yield


def _own_cgroups() -> list[str]:
    """The worker cgroups this test's sandboxes made that exist now."""
    return [n for n in _all_own_cgroups() if n not in _EARLIER]


def test_detect_caps_is_a_known_level_and_result_reports_it():
    assert LEVEL in caps_mod.CAPS_LEVELS
    assert RunResult(id="x", status="passed").caps == ""
    assert "caps" in RunResult(id="x", status="passed", caps=LEVEL).to_dict()


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_normal_solution_passes_and_reports_caps(isolation):
    with _sandbox(isolation) as sb:
        assert sb.caps == LEVEL
        r = sb.run(GOOD, TESTS)
        assert r.status == "passed", r.to_dict()
        assert r.caps == LEVEL
        assert not any("cap" in n for n in r.notes), r.notes
        if LEVEL != "rlimit":
            worker = sb._all[0]
            procs = caps_mod._read(f"{worker.caps.pids_dir}/cgroup.procs").split()
            assert str(worker.proc.pid) in procs  # joined before it started
            assert sb.run(GOOD, TESTS).status == "passed"  # the cgroup serves every job


def test_rlimit_fallback_is_reported(monkeypatch):
    monkeypatch.setattr(pool_mod, "detect_caps", lambda: "rlimit")
    monkeypatch.setattr(pool_mod, "caps_problem", lambda: "no cgroup (test)")
    before = set(_own_cgroups()) if LEVEL != "rlimit" else set()
    with _sandbox("process") as sb:
        assert sb.caps == "rlimit" and "RLIMIT_NPROC" in sb.caps_warning
        assert sb._all[0].caps is None
        if LEVEL != "rlimit":
            assert set(_own_cgroups()) == before
        r = sb.run(GOOD, TESTS)
    assert r.status == "passed" and r.caps == "rlimit"


@needs_cgroups
@pytest.mark.parametrize("isolation", ISOLATIONS)
@pytest.mark.parametrize("where", ["import", "test"])
def test_fork_bomb_ends_not_passed_below_the_cap(isolation, where):
    solution, tests = (BOMB_AT_IMPORT, TESTS) if where == "import" else (GOOD, BOMB_IN_TEST)
    r, final = _run_and_close(isolation, solution, tests, max_processes=64)
    assert r.status in ("error", "timeout"), r.to_dict()
    assert r.caps == LEVEL
    assert "the process cap (64) was reached: fork failed" in r.notes, r.notes
    assert final["pids_max_hits"] > 0
    assert final["pids_max"] == 64  # a fresh worker: no zombies of earlier runs
    if final["pids_peak"] is not None:  # older kernels have no pids.peak
        # the zygote's own 1-3 tasks included: the run had fewer than 64 processes alive
        assert final["pids_peak"] <= 64
    assert not _own_cgroups()


@needs_cgroups
@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_memory_spread_over_children_hits_the_run_cap(isolation):
    r, final = _run_and_close(isolation, GOOD, HOG, memory_mb=256)
    assert r.status != "passed", r.to_dict()
    cap_mb = 256 + Limits().tmpfs_mb + caps_mod.ZYGOTE_MB
    assert final["memory_max"] == cap_mb * 1024 * 1024
    assert final["memory_max_hits"] > 0 or final["oom_kills"]  # v1 failcnt stays 0 on 6.x
    assert final["memory_peak"] <= final["memory_max"]
    assert any(f"memory cap of the run as a whole ({cap_mb} MiB)" in n for n in r.notes), r.notes
    assert not _own_cgroups()


@needs_cgroups
def test_daemon_outside_the_process_group_is_killed_through_the_cgroup():
    with _sandbox("process") as sb:
        worker = sb._all[0]
        r = sb.run(GOOD, DAEMON)
        assert r.status == "passed", r.to_dict()
        killed = [
            n for n in r.notes if n.endswith("leftover process(es) were killed through the cgroup")
        ]
        assert killed and int(killed[0].split()[0]) >= 1, r.notes  # the daemon

        def states():
            out = []
            for pid in caps_mod._read(f"{worker.caps.pids_dir}/cgroup.procs").split():
                if int(pid) == worker.proc.pid:
                    continue
                try:
                    out.append(caps_mod._read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()[0])
                except OSError:
                    continue
            return out

        # SIGKILL takes effect when the kernel next schedules the process: on a busy machine
        # a killed process can still read 'R' for a moment, so wait for it (an event, with a
        # generous limit), then check that nothing but zombies is left.
        wait_until(lambda: all(s in ("Z", "X") for s in states()), 60, "the daemon to die")
        assert sb.run(GOOD, TESTS).status == "passed"


@needs_cgroups
def test_close_removes_cgroups_and_stale_ones_are_cleaned():
    with _sandbox("process", max_processes=16) as sb:
        assert len(set(_own_cgroups())) == 1  # one cgroup (v1: in each of pids, memory)
        assert sb._all[0].caps.counters()["pids_max"] == 16
    assert not _own_cgroups()
    # A cgroup left by a host process that died (crash, SIGKILL) goes on first use.
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    level, bases = caps_mod._bases()
    parents = caps_mod._parents(level, bases)
    stale = [os.path.join(p, f"infosynth-{dead_pid.pid}-1") for p in parents]
    for path in stale:
        os.makedirs(path, exist_ok=True)
    caps_mod._CLEANED.clear()
    caps = caps_mod.CgroupCaps(Limits(), level)
    try:
        assert not any(os.path.exists(p) for p in stale)
    finally:
        caps.remove()
    assert not _own_cgroups()
