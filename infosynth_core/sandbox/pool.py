"""The sandbox pool: warm workers (one per core by default) that run solutions against tests.

>>> from infosynth_core.sandbox import Sandbox
>>> with Sandbox() as sb:                                        # doctest: +SKIP
...     r = sb.run("def f(x):\\n    return x + 1\\n",
...                "from solution import f\\n\\ndef test_f():\\n    assert f(1) == 2\\n")
>>> r.status, r.tests                                            # doctest: +SKIP
('passed', {'test_f': 'passed'})

Each worker is one sandboxed "zygote" process (see ``worker.py``) that forks a child per
run. The pool never raises because the candidate code misbehaved: every outcome, a crash,
a timeout, a killed worker, is a :class:`RunResult`.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ..apikeys import make_undumpable
from ..errors import ConfigError
from .caps import CapsError, CgroupCaps, caps_problem, detect_caps
from .isolation import (
    BASE_ENV,
    ISOLATION_LEVELS,
    detect_isolation,
    fallback_warning,
    worker_command,
)
from .result import Limits, RunResult, sanitize_output
from .worker import HEADER, write_frame

__all__ = ["Sandbox", "Job", "collect_tests"]

GRACE_S = 5.0  # the host's deadline is the run's wall-clock backstop plus this margin


@dataclass(frozen=True)
class Job:
    """One run: a solution and its tests (pytest-style source importing ``solution``)."""

    id: str
    solution: str
    tests: str
    limits: Limits | None = None


def collect_tests(tests: str) -> tuple[list[str], int, list[str]]:
    """Test names, number of asserts and notes, read from the source without running it.

    Collects module-level ``test_*`` functions and ``test_*`` methods of ``Test*`` classes
    (as ``TestX::test_y``), as pytest does for plain functions. Raises SyntaxError.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(tests)
    names, notes = [], []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
            "test"
        ):
            names.append(node.name)
            if isinstance(node, ast.AsyncFunctionDef):
                notes.append(f"{node.name} is async; async tests are not supported")
            elif node.args.args or node.args.kwonlyargs:
                notes.append(f"{node.name} takes arguments (pytest fixtures are not supported)")
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                    names.append(f"{node.name}::{item.name}")
    n_asserts = sum(isinstance(n, ast.Assert) for n in ast.walk(tree))
    return names, n_asserts, notes


#: Every worker process is started from this one long-lived thread. bubblewrap's
#: ``--die-with-parent`` (PR_SET_PDEATHSIG) fires when the *thread* that forked it exits, so a
#: worker started from a short-lived thread (an executor thread, ``asyncio.to_thread``) would
#: die with that thread.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")


def _new_worker(level: str, limits: Limits, caps: str = "rlimit") -> _Worker:
    return _SPAWNER.submit(_Worker, level, limits, caps).result()


class _Worker:
    """One sandboxed zygote process and the pipes to it (in its own cgroup, see caps.py)."""

    def __init__(self, level: str, limits: Limits, caps: str = "rlimit"):
        self.level = level
        self.caps = CgroupCaps(limits, caps) if caps != "rlimit" else None
        self.caps_error: str | None = None
        self.scratch = tempfile.mkdtemp(prefix="infosynth-sandbox-")
        env = dict(BASE_ENV)
        cwd = self.scratch
        if level == "process":
            env.update(HOME=self.scratch, INFOSYNTH_RUN_ROOT=self.scratch, TMPDIR=self.scratch)
        self.log = open(os.path.join(self.scratch, "worker.log"), "wb")  # noqa: SIM115
        command = worker_command(level, tmpfs_mb=limits.tmpfs_mb)
        self.proc = subprocess.Popen(
            self.caps.wrap(command) if self.caps else command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
        ready = self._read(60.0)
        if not ready or not ready.get("ready"):
            self.kill()
            raise RuntimeError(f"the {level} sandbox worker did not start: {self.log_text()}")
        if self.caps:
            self.caps.started()

    def log_text(self) -> str:
        try:
            with open(os.path.join(self.scratch, "worker.log"), "rb") as f:
                return f.read()[-2000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def _read(self, timeout: float) -> dict | None:
        fd = self.proc.stdout.fileno()
        end = time.monotonic() + timeout
        buf = b""
        need = HEADER.size
        header_done = False
        while len(buf) < need:
            left = end - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                return None
            chunk = os.read(fd, need - len(buf))
            if not chunk:
                return None
            buf += chunk
            if not header_done and len(buf) == HEADER.size:
                need = HEADER.size + HEADER.unpack(buf)[0]
                header_done = True
        return json.loads(buf[HEADER.size :])

    def run(self, job: dict, timeout: float, limits: Limits | None = None) -> dict | None:
        """Send a job; the worker's report, or None if it died or missed the deadline."""
        self.caps_error = None
        if self.caps and limits is not None:
            try:
                self.caps.apply(limits)  # the job's caps (a no-op when they did not change)
            except CapsError as exc:
                self.caps_error = f"the cgroup caps of this run could not be set: {exc}"
        try:
            write_frame(self.proc.stdin.fileno(), job)
        except (BrokenPipeError, OSError):
            return None
        return self._read(timeout)

    def cap_notes(self, limits: Limits, *, idle: bool = True) -> list[str]:
        """What the cgroup caps did during the last job (call before kill or the next job)."""
        notes = [self.caps_error] if self.caps_error else []
        return notes + (self.caps.after_job(limits, idle=idle) if self.caps else [])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        self.log.close()
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.caps:
            try:
                self.caps.remove()
            except CapsError as exc:  # pragma: no cover - a process the kernel will not kill
                warnings.warn(str(exc), RuntimeWarning, stacklevel=2)


class Sandbox:
    """A pool of sandboxed workers.

    Parameters
    ----------
    workers
        Number of worker processes (default: the number of CPU cores).
    limits
        Default :class:`Limits` of every run (a Job may bring its own).
    isolation
        ``"auto"`` (bubblewrap when it works here, else process), ``"bubblewrap"`` or
        ``"process"``. The level in use is ``self.isolation``; ``self.warning`` explains a
        fallback.
    coverage
        Measure the line coverage of each solution under its tests (coverage.py).

    ``self.caps`` is the level of the kernel caps on each worker as a whole (processes and
    memory; see ``caps.py``): ``"cgroup-v2"``, ``"cgroup-v1"`` or ``"rlimit"``, and
    ``self.caps_warning`` explains an rlimit fallback.
    """

    def __init__(
        self,
        *,
        workers: int | None = None,
        limits: Limits | None = None,
        isolation: str = "auto",
        coverage: bool = True,
    ):
        if isolation not in ("auto", *ISOLATION_LEVELS):
            raise ConfigError(
                f"The 'isolation' parameter of Sandbox must be auto, bubblewrap or process; "
                f"got {isolation!r}."
            )
        self.n_workers = workers or os.cpu_count() or 1
        if self.n_workers < 1:
            raise ConfigError(f"The 'workers' parameter of Sandbox must be >= 1; got {workers}.")
        self.limits = limits or Limits()
        self.requested_isolation = isolation
        self.isolation = detect_isolation() if isolation == "auto" else isolation
        self.warning = fallback_warning(isolation) if self.isolation == "process" else None
        if self.isolation == "process":
            # Test code runs as this user: keep it out of this process's memory and /proc.
            make_undumpable()
        self.caps = detect_caps()
        self.caps_warning = (
            f"No kernel cap on a run's processes and memory as a whole: {caps_problem()}. "
            "Only per-process limits apply"
            + (", and RLIMIT_NPROC does not bind for uid 0 (root)." if os.geteuid() == 0 else ".")
            if self.caps == "rlimit"
            else None
        )
        self.coverage = coverage
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Sandbox:
        if not self._started:
            for _ in range(self.n_workers):
                w = _new_worker(self.isolation, self.limits, self.caps)
                self._all.append(w)
                self._idle.put(w)
            self._started = True
        return self

    def close(self) -> None:
        with self._lock:
            for w in self._all:
                w.kill()
            self._all.clear()
            self._idle = queue.Queue()
            self._started = False

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _replace(self, dead: _Worker) -> _Worker:
        dead.kill()
        fresh = _new_worker(self.isolation, self.limits, self.caps)
        with self._lock:
            self._all = [w for w in self._all if w is not dead] + [fresh]
        return fresh

    # ------------------------------------------------------------------ running
    def run(
        self, solution: str, tests: str, *, id: str = "problem", limits: Limits | None = None
    ) -> RunResult:
        """Run ``solution`` against ``tests``; never raises for anything the code does."""
        return self.run_job(Job(id=id, solution=solution, tests=tests, limits=limits))

    def run_job(self, job: Job) -> RunResult:
        self.start()
        limits = job.limits or self.limits
        base = RunResult(id=job.id, status="unparsable", isolation=self.isolation, caps=self.caps)
        if self.isolation == "process":
            base.notes.append("process-level isolation only (no kernel sandbox)")
        if not job.solution.strip() or not job.tests.strip():
            base.notes.append("nothing to run: the problem has no solution or no tests")
            return base
        try:
            with warnings.catch_warnings():  # old code warns about escapes; not our business
                warnings.simplefilter("ignore")
                compile(job.solution, "solution.py", "exec")
        except (SyntaxError, ValueError) as exc:
            base.notes.append(f"the solution is not valid Python: {exc}")
            return base
        try:
            names, base.n_asserts, notes = collect_tests(job.tests)
        except (SyntaxError, ValueError) as exc:
            base.notes.append(f"the tests are not valid Python: {exc}")
            return base
        base.notes.extend(notes)
        if not names:
            base.notes.append("no test functions (test_*) were found in the tests")
            return base
        base.status = "error"
        payload = {
            "id": job.id,
            "solution": job.solution,
            "tests": job.tests,
            "tests_names": names,
            "limits": limits.model_dump(),
            "coverage": self.coverage,
        }
        worker = self._idle.get()
        try:
            raw = worker.run(payload, limits.wall_s + GRACE_S, limits)
            base.notes.extend(worker.cap_notes(limits, idle=raw is not None))
            if raw is not None and worker.caps and worker.caps.stale:
                worker = self._replace(worker)  # zombies of its runs hold its PIDs
            if raw is None:
                died = not worker.alive()
                worker = self._replace(worker)
                base.tests = {n: "not run" for n in names}
                if died:
                    base.notes.append(
                        "the sandbox worker died during the run (killed by the program?)"
                    )
                    return base
                base.status = "timeout"
                base.duration_s = limits.wall_s + GRACE_S
                base.notes.append(
                    "the sandbox worker stopped answering; it was killed and replaced"
                )
                return base
        finally:
            self._idle.put(worker)
        return _verdict(base, raw, names, limits)

    def run_many(
        self,
        jobs: Iterable[Job],
        *,
        progress: Callable[[int, int, RunResult], None] | None = None,
    ) -> list[RunResult]:
        """Run jobs concurrently on all workers; results in job order.

        ``progress(done, total, result)`` is called after each run (from worker threads).
        """
        jobs = list(jobs)
        self.start()
        done = 0
        lock = threading.Lock()

        def one(job: Job) -> RunResult:
            nonlocal done
            result = self.run_job(job)
            if progress is not None:
                with lock:
                    done += 1
                    progress(done, len(jobs), result)
            return result

        with ThreadPoolExecutor(max_workers=self.n_workers) as pool:
            return list(pool.map(one, jobs))

    def run_problems(self, problems: Sequence, **kw) -> list[RunResult]:
        """Run :class:`~infosynth_core.problem.Problem` objects that have solution and tests."""
        return self.run_many(
            [Job(id=p.id, solution=p.solution or "", tests=p.tests or "") for p in problems], **kw
        )


def _verdict(r: RunResult, raw: dict, names: list[str], limits: Limits) -> RunResult:
    """Turn the worker's raw report into an honest status (see the module docstring)."""
    if "worker_error" in raw:
        r.notes.append(f"sandbox worker error: {raw['worker_error']}")
        r.tests = {n: "not run" for n in names}
        return r
    r.duration_s = raw["duration_s"]
    r.stdout = sanitize_output(raw["stdout"])
    r.stderr = sanitize_output(raw["stderr"])
    r.stdout_truncated, r.stderr_truncated = raw["stdout_truncated"], raw["stderr_truncated"]
    cap = f"{limits.output_cap_kb} KiB"
    if r.stdout_truncated:
        r.notes.append(f"stdout was truncated at {cap}")
    if r.stderr_truncated:
        r.notes.append(f"stderr was truncated at {cap}")
    outcomes: dict[str, str] = {}
    tampered = raw["bad_frames"] > 0
    done = False
    coverage_lines = None
    for ev in raw["events"]:
        kind = ev.get("event")
        if kind == "test":
            name = ev.get("name")
            if name not in names or name in outcomes or done:
                tampered = True
                continue
            outcomes[name] = ev.get("outcome")
            if ev.get("error"):
                r.errors[name] = sanitize_output(str(ev["error"]))
        elif kind == "import_error":
            r.notes.append(
                f"the {ev.get('what')} failed to import: {sanitize_output(str(ev.get('error')))}"
            )
        elif kind == "done":
            done = True
            coverage_lines = ev.get("coverage_lines")
    r.tests = {n: outcomes.get(n, "not run") for n in names}
    status = raw["exit_status"]
    if raw["leftover_processes"]:
        r.notes.append(f"{raw['leftover_processes']} leftover process(es) survived the cleanup")
    if tampered:
        r.notes.append(
            "the result channel received forged or duplicate reports; treated as an error"
        )
    if raw["timed_out"]:
        r.status = "timeout"
        if raw["timed_out"] == "wall":
            r.notes.append(
                f"killed at the {limits.wall_s:g} s wall-clock backstop after "
                f"{raw.get('cpu_s', 0):.1f} s of CPU time (the code slept or blocked)"
            )
        else:
            r.notes.append(
                f"killed when its CPU time reached the {limits.timeout_s:g} s limit "
                f"(after {r.duration_s:.1f} s wall clock)"
            )
        return r
    if status.get("kind") == "signal":
        name = status.get("name")
        hint = {
            "SIGXCPU": f"CPU time limit ({limits.cpu_s} s)",
            "SIGXFSZ": f"file size limit ({limits.file_size_mb} MiB)",
            "SIGSEGV": "segmentation fault",
            "SIGKILL": "killed",
        }.get(name, name)
        r.notes.append(f"the program was terminated by {name} ({hint})")
    elif status.get("kind") == "exit" and status.get("code") != 0:
        r.notes.append(f"the program exited with status {status.get('code')}")
    if any("MemoryError" in e for e in r.errors.values()) or "MemoryError" in r.stderr:
        r.notes.append(f"memory limit ({limits.memory_mb} MiB) reached")
    values = set(r.tests.values())
    finished = done and "not run" not in values and status == {"kind": "exit", "code": 0}
    if not done and not any("failed to import" in n for n in r.notes):
        r.notes.append("the program ended before its tests finished (no completion report)")
    if tampered or not finished or "error" in values:
        r.status = "error"
    elif "failed" in values:
        r.status = "failed"
    else:
        r.status = "passed"
    if coverage_lines and coverage_lines[0]:
        statements, missing, partial = (list(coverage_lines) + [0])[:3]
        r.coverage = (statements - missing) / statements
        if partial:
            r.notes.append(
                "line coverage was traced for the solution's first 0.5 s of CPU time only: "
                "a lower bound"
            )
    return r
