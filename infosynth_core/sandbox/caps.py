"""Hard caps on a sandbox worker as a whole, enforced by the kernel through cgroups.

Levels, best first (:func:`detect_caps` says which works here; ``RunResult.caps`` says it):

* ``cgroup-v2``: the unified hierarchy's pids and memory controllers are delegated to us;
* ``cgroup-v1``: the legacy ``pids`` and ``memory`` hierarchies are writable (root);
* ``rlimit``: no writable cgroup, only the per-process limits of ``worker.py`` (RLIMIT_AS,
  RLIMIT_NPROC). The kernel does not enforce RLIMIT_NPROC for uid 0, so a fork bomb in a
  root-run ``process`` sandbox is then stopped only by the deadline.

Each worker (a zygote running one job at a time, see ``worker.py``) gets one cgroup for all
its jobs, ``<own cgroup>/infosynth/infosynth-<host pid>-<n>``: nested under this process's
own cgroup, so every limit set around InfoSynth still applies.

* ``pids.max`` = ``Limits.max_processes`` tasks (processes and threads) of the whole worker,
  its own 1 (process) or 3 (bubblewrap: bwrap, its init, the zygote) included: fewer than
  ``max_processes`` run processes are ever alive. (With an allowance on top, RLIMIT_NPROC,
  which binds in bubblewrap's user namespace, would stop a fork bomb before the cgroup.)
  A run always gets ``RUN_MIN_TASKS`` (pids.max is raised for a tiny ``max_processes``).
* memory: ``memory_mb + tmpfs_mb + ZYGOTE_MB`` MiB of resident memory, page cache and tmpfs
  files of all the worker's processes together (``memory.max``; v1 ``memory.limit_in_bytes``;
  swap included where accounted). RLIMIT_AS still holds each process to ``memory_mb``; the
  cgroup stops a run that spreads its memory over many processes: at the cap the kernel
  reclaims, then kills the largest process of the cgroup.

The worker joins its cgroup before it starts (:meth:`CgroupCaps.wrap`; moving it after
``Popen`` would race with bwrap's forks) and reaps its orphans (a child subreaper): zombies
awaiting a slow host init would otherwise hold the cgroup's PIDs (see ``ZOMBIE_SLACK``).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import signal
import subprocess
import sys
import time

from ..errors import InfoSynthError
from .result import Limits

__all__ = ["CAPS_LEVELS", "CapsError", "CgroupCaps", "caps_problem", "detect_caps", "ZYGOTE_MB"]

CAPS_LEVELS = ("cgroup-v2", "cgroup-v1", "rlimit")
ZYGOTE_MB = 64  # the zygote's interpreter, warm imports and coverage.py, MiB
RUN_MIN_TASKS = 2  # a run needs its tests' and its solution's process (see worker.py)
ZOMBIE_SLACK = 8  # zombies of earlier runs a worker may carry before it is replaced, tasks
PARENT = "infosynth"
_NAME = re.compile(r"^infosynth-(\d+)-\d+$")
_COUNTER = itertools.count(1)
_CLEANED: set[str] = set()  # parent cgroups already cleaned of dead processes' leftovers
# Joins the cgroups (a cgroup.procs file per controller), becomes a child subreaper (kept
# across exec: orphans of a run are then reaped by the zygote, not left as zombies that hold
# the cgroup's PIDs when the host's init is slow or is not an init), then execs the worker.
_JOIN = """import ctypes, os, sys
n = int(sys.argv[1])
for path in sys.argv[2 : 2 + n]:
    with open(os.open(path, os.O_WRONLY), "w") as f:  # never creates: a cgroup has it
        f.write(str(os.getpid()))
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
os.execvp(sys.argv[2 + n], sys.argv[2 + n :])
"""


class CapsError(InfoSynthError, RuntimeError):
    """A worker's cgroup could not be created, set or removed."""


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str, *, strict: bool = True) -> None:
    """Write to an existing cgroup file (never creates one: a missing file is an error)."""
    try:
        with open(os.open(path, os.O_WRONLY), "w") as f:
            f.write(value)
    except OSError:
        if strict:
            raise


def _keyed(path: str) -> dict[str, int]:
    """A flat-keyed cgroup file (``max 3``) as a dict; {} when it cannot be read."""
    try:
        pairs = (line.split() for line in _read(path).splitlines())
        return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}
    except OSError:
        return {}


def _number(path: str) -> int | None:
    """The first number in a cgroup file; None when absent or "max"."""
    try:
        return int(_read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _bases() -> tuple[str, list[str]]:
    """The level and this process's own cgroup folder(s): v2 one, v1 two (pids, memory)."""
    own: dict[str, str] = {}
    for line in _read("/proc/self/cgroup").splitlines():
        hid, ctrls, path = line.split(":", 2)
        for c in ctrls.split(",") if hid != "0" else ["<v2>"]:
            own[c] = path
    v1: dict[str, str] = {}
    v2 = None
    for line in _read("/proc/self/mountinfo").splitlines():
        left, _, right = line.partition(" - ")
        fields, (fstype, _src, opts) = left.split(), right.split()[:3]
        root, mnt = fields[3], fields[4]
        for c in {"pids", "memory"} & set(opts.split(",")) if fstype == "cgroup" else ():
            v1.setdefault(c, _inside(mnt, root, own.get(c, "/")))
        if fstype == "cgroup2" and v2 is None:
            v2 = _inside(mnt, root, own.get("<v2>", "/"))
    v2_controllers = f"{v2}/cgroup.controllers"
    if (
        v2
        and os.path.isfile(v2_controllers)
        and {"pids", "memory"} <= set(_read(v2_controllers).split())
    ):
        return "cgroup-v2", [v2]
    if {"pids", "memory"} <= set(v1) and all(
        os.path.isfile(f"{v1[c]}/cgroup.procs") for c in ("pids", "memory")
    ):  # (a mount hidden under another one is listed but not reachable)
        return "cgroup-v1", [v1["pids"], v1["memory"]]
    raise CapsError("neither the cgroup v2 nor the v1 pids and memory controllers are mounted")


def _inside(mount: str, root: str, path: str) -> str:
    """The folder of cgroup ``path`` in a cgroup filesystem mounted at ``mount`` from ``root``."""
    if root != "/" and (path == root or path.startswith(root + "/")):
        path = path[len(root) :]
    return os.path.join(mount, path.lstrip("/")).rstrip("/")


def _parents(level: str, bases: list[str]) -> list[str]:
    """Create (if needed) and return the ``infosynth`` parent cgroup in each base."""
    parents = []
    for base in bases:
        parent = os.path.join(base, PARENT)
        os.makedirs(parent, exist_ok=True)
        for folder in (base, parent) if level == "cgroup-v2" else ():  # delegate pids, memory
            if not {"pids", "memory"} <= set(_read(f"{folder}/cgroup.subtree_control").split()):
                _write(f"{folder}/cgroup.subtree_control", "+pids +memory")
        if parent not in _CLEANED:
            _CLEANED.add(parent)
            _clean_stale(parent)
        parents.append(parent)
    return parents


def _clean_stale(parent: str) -> None:
    """Remove the worker cgroups whose host process is gone (left by a crash or SIGKILL)."""
    for name in os.listdir(parent):
        m = _NAME.match(name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            with contextlib.suppress(CapsError):  # still busy: the next process tries again
                _remove(os.path.join(parent, name), deadline_s=2.0)


@functools.lru_cache(maxsize=1)
def caps_problem() -> str | None:
    """Why no cgroup caps can be used here, or None. Cached; the probe does what a worker
    needs: create a cgroup, set its caps, start a process in it (~15 ms), delete it."""
    probe = None
    try:
        level, _ = _bases()
        probe = CgroupCaps(Limits(), level)
        done = subprocess.run(probe.wrap(["true"]), capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            return f"a process cannot join a new cgroup here ({done.stderr.strip()[-200:]})"
    except (OSError, ValueError, subprocess.SubprocessError, CapsError) as exc:
        return f"no writable cgroup with the pids and memory controllers ({exc})"
    finally:
        if probe is not None:
            with contextlib.suppress(CapsError):
                probe.remove()
    return None


def detect_caps() -> str:
    """'cgroup-v2', 'cgroup-v1' or 'rlimit' (see the module docstring). Cached per process."""
    return "rlimit" if caps_problem() else _bases()[0]


def _remove(path: str, *, deadline_s: float = 10.0) -> None:
    """SIGKILL every process in the cgroup ``path``, then delete it (waits up to deadline_s)."""
    end = time.monotonic() + deadline_s
    while True:
        if os.path.exists(f"{path}/cgroup.kill"):
            _write(f"{path}/cgroup.kill", "1", strict=False)
        else:
            _kill_listed(path, frozenset())
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if time.monotonic() > end:
                raise CapsError(
                    f"The sandbox cgroup {path} could not be removed after {deadline_s:g} s "
                    f"({exc}); kill the processes listed in its cgroup.procs, then rmdir it."
                ) from exc
        time.sleep(0.005)


def _kill_listed(path: str, keep: frozenset[int]) -> tuple[int, int]:
    """SIGKILL the live processes of cgroup ``path`` but ``keep``: (signalled, of which not
    already dying). A pidfd pins each before its membership is checked (a reused pid is never
    hit); zombies are skipped, their parent reaps them."""
    signalled = fresh = 0
    try:
        pids = set(map(int, _read(f"{path}/cgroup.procs").split())) - keep
    except (OSError, ValueError):
        return 0, 0
    mine = "/" + os.path.basename(path)
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            ours = any(line.endswith(mine) for line in _read(f"/proc/{pid}/cgroup").splitlines())
            status = dict(
                line.split(":\t", 1) for line in _read(f"/proc/{pid}/status").splitlines()
            )
            flags = int(_read(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()[6])
            if ours and status.get("State", "Z")[0] not in "ZX":
                signal.pidfd_send_signal(fd, signal.SIGKILL)
                pending = int(status.get("SigPnd", "0"), 16) | int(status.get("ShdPnd", "0"), 16)
                signalled += 1  # not counted below: exiting (PF_EXITING) or SIGKILL pending
                fresh += not (flags & 0x4 or pending & (1 << (signal.SIGKILL - 1)))
        except (OSError, ValueError, IndexError):
            pass
        finally:
            os.close(fd)
    return signalled, fresh


class CgroupCaps:
    """The cgroup(s) of one sandbox worker: create, join, read, trim and remove.

    ``limits``: the worker's default :class:`Limits` (``max_processes``, ``memory_mb`` and
    ``tmpfs_mb`` set the caps); ``level``: cgroup-v2 or cgroup-v1 (default: detect_caps()).
    """

    def __init__(self, limits: Limits, level: str | None = None):
        level = level or detect_caps()
        if level not in ("cgroup-v2", "cgroup-v1"):
            raise CapsError(
                f"CgroupCaps needs level cgroup-v2 or cgroup-v1; got {level!r} "
                f"({caps_problem() or 'not this machine'}). Use detect_caps() first."
            )
        self.level = level
        name, self.paths = f"infosynth-{os.getpid()}-{next(_COUNTER)}", []
        try:
            for parent in _parents(level, _bases()[1]):
                os.mkdir(os.path.join(parent, name))
                self.paths.append(os.path.join(parent, name))
        except OSError as exc:
            for path in self.paths:
                os.rmdir(path)
            raise CapsError(
                f"The sandbox cgroup {name} could not be created ({exc}); check that "
                "/sys/fs/cgroup is writable, or run without cgroup caps."
            ) from exc
        self.pids_dir, self.memory_dir = self.paths[0], self.paths[-1]
        self._pids_set = self._mb_set = -1
        self.pending = 0  # zombies of earlier runs charged to the cgroup (tasks)
        self._base_tasks: frozenset[int] = frozenset()
        self._base_count = 0
        self.final: dict[str, int | None] | None = None
        self._seen = self.counters()
        self.apply(limits)

    def apply(self, limits: Limits) -> None:
        """Set the caps of the next job (with the zygote idle; one file read, writes only on a
        change). pids.max is ``max_processes`` plus the zombies of earlier runs not reaped yet:
        they hold a PID, no memory or CPU, and must not shrink this run's share."""
        current = _number(f"{self.pids_dir}/pids.current")
        self.pending = max(0, (current or 0) - self._base_count) if self._base_count else 0
        n = max(limits.max_processes, self._base_count + RUN_MIN_TASKS) + self.pending
        mb = limits.memory_mb + limits.tmpfs_mb + ZYGOTE_MB
        v2 = self.level == "cgroup-v2"
        try:
            if n != self._pids_set:
                _write(f"{self.pids_dir}/pids.max", str(n))
                self._pids_set = n
            if mb != self._mb_set:
                swap = "memory.swap.max" if v2 else "memory.memsw.limit_in_bytes"
                swap, swap_value = f"{self.memory_dir}/{swap}", "0" if v2 else str(mb << 20)
                if not v2:  # memsw must stay >= limit_in_bytes: raise it first, lower it after
                    _write(swap, swap_value, strict=False)
                mem = "memory.max" if v2 else "memory.limit_in_bytes"
                _write(f"{self.memory_dir}/{mem}", str(mb << 20))
                _write(swap, swap_value, strict=False)  # absent without swap accounting
                self._mb_set = mb
        except OSError as exc:
            raise CapsError(
                f"The caps max_processes={n}, memory={mb} MiB could not be set on "
                f"{self.pids_dir} ({exc}); raise Limits.memory_mb or check the cgroup."
            ) from exc

    @property
    def stale(self) -> bool:
        """True when more than ZOMBIE_SLACK zombies of earlier runs hold PIDs of this cgroup:
        the pool then replaces the worker, so a run never gets more than max_processes plus
        ZOMBIE_SLACK tasks, even if those zombies are reaped while it runs."""
        return self.pending > ZOMBIE_SLACK

    def wrap(self, command: list[str]) -> list[str]:
        """``command`` prefixed so that its process joins this cgroup before it starts (and
        reaps its orphans); costs one interpreter start (about 15 ms) per worker."""
        files = [f"{p}/cgroup.procs" for p in self.paths]
        return [sys.executable, "-I", "-S", "-c", _JOIN, str(len(files)), *files, *command]

    def started(self) -> None:
        """Record the worker's own processes (call once it is ready and idle)."""
        try:
            self._base_tasks = frozenset(map(int, _read(f"{self.pids_dir}/cgroup.procs").split()))
        except (OSError, ValueError):
            self._base_tasks = frozenset()
        self._base_count = _number(f"{self.pids_dir}/pids.current") or 0
        self._seen = self.counters()

    def counters(self, *, brief: bool = False) -> dict[str, int | None]:
        """The cgroup's settings and counters: ``pids_max``, ``pids_current``, ``pids_peak``
        (tasks; None where the kernel has no pids.peak), ``pids_max_hits`` (forks refused at
        the cap), ``memory_max`` and ``memory_peak`` (bytes), ``memory_max_hits``
        (allocations at the cap) and ``oom_kills`` (processes the kernel killed at the cap;
        None where unknown). ``brief`` skips the settings and peaks (4 file reads fewer).
        After :meth:`remove`, :attr:`final` keeps the last full reading."""
        p, m = self.pids_dir, self.memory_dir
        v2 = self.level == "cgroup-v2"
        out: dict[str, int | None] = {
            "pids_current": _number(f"{p}/pids.current"),
            "pids_max_hits": _keyed(f"{p}/pids.events").get("max", 0),
        }
        if v2:
            events = _keyed(f"{m}/memory.events")
            out["memory_max_hits"], out["oom_kills"] = events.get("max", 0), events.get("oom_kill")
        else:
            out["memory_max_hits"] = _number(f"{m}/memory.failcnt") or 0
            out["oom_kills"] = _keyed(f"{m}/memory.oom_control").get("oom_kill")
        if not brief:
            cap, peak = ("max", "peak") if v2 else ("limit_in_bytes", "max_usage_in_bytes")
            out["pids_max"], out["pids_peak"] = _number(f"{p}/pids.max"), _number(f"{p}/pids.peak")
            out["memory_max"] = _number(f"{m}/memory.{cap}")
            out["memory_peak"] = _number(f"{m}/memory.{peak}")
        return out

    def after_job(self, limits: Limits, *, idle: bool = True) -> list[str]:
        """Notes on what the caps did in the job that just ended; ``idle`` (the zygote answered:
        any extra process is the job's) also kills the job's leftovers."""
        notes, killed = [], 0
        now, was = self.counters(brief=True), self._seen
        if idle and self._base_tasks and (now["pids_current"] or 0) > self._base_count:
            end = time.monotonic() + 5.0
            while time.monotonic() < end:
                signalled, fresh = _kill_listed(self.pids_dir, self._base_tasks)
                killed += fresh
                if not signalled:
                    break
                time.sleep(0.002)
                now["pids_current"] = _number(f"{self.pids_dir}/pids.current")
        if killed:
            notes.append(f"{killed} leftover process(es) were killed through the cgroup")
        current = now["pids_current"] or 0
        self.pending = max(0, current - self._base_count) if self._base_count else 0
        self._seen = now
        if now["pids_max_hits"] > was["pids_max_hits"]:
            notes.append(f"the process cap ({limits.max_processes}) was reached: fork failed")
        killed = (now["oom_kills"] or 0) - (was["oom_kills"] or 0)
        if now["memory_max_hits"] > was["memory_max_hits"] or killed > 0:
            cap = limits.memory_mb + limits.tmpfs_mb + ZYGOTE_MB
            tail = f"; the kernel killed {killed} process(es)" if killed > 0 else ""
            notes.append(f"the memory cap of the run as a whole ({cap} MiB) was reached{tail}")
        return notes

    def remove(self) -> None:
        """Kill whatever is left in the cgroup and delete it (idempotent)."""
        if self.final is None:
            self.final = self.counters()
        errors = []
        for path in self.paths:
            try:
                _remove(path)
            except CapsError as exc:
                errors.append(exc)
        if errors:
            raise errors[0]
