"""The sandbox worker: a warm "zygote" that runs inside the isolation and forks one child per job.

This file runs as a standalone program (``python worker.py``) inside bubblewrap (or, as a
fallback, directly with process limits). It imports only the standard library (and
coverage.py when asked for coverage) and never imports infosynth_core.

Protocol on stdin/stdout: frames of a 4-byte big-endian length and a JSON object.
Host -> worker: ``{"id", "solution", "tests", "tests_names", "limits", "coverage"}``.
Worker -> host: ``{"id", "status", "tests", "duration_s", "stdout", "stderr", ...}``;
the first frame the worker sends is ``{"ready": true, "pid": ...}``.

Per job the zygote
  1. makes a fresh run directory (cwd and HOME of the child) and writes solution.py and
     test_solution.py;
  2. creates three pipes: the child's stdout, stderr and a private result channel;
  3. forks; the child applies hard limits (memory, CPU, file size, open files, processes),
     moves to its own process group, imports the solution and the tests, and calls every
     test function the zygote collected (from the AST, before any candidate code ran);
  4. drains stdout/stderr continuously (capped) and reads result frames until the child
     exits or the wall-clock deadline passes, then kills the child's process group;
  5. in ``--sweep`` mode (only inside a private PID namespace) kills every other process
     left in the namespace, so daemons that escaped into new sessions die too;
  6. deletes the run directory.

A test counts as passed only when the child reported, on the result channel and with the
job's nonce, that the test function returned. Printed text, exit codes and exceptions
raised outside a test never make a pass.
"""

# Warm imports: modules solutions commonly use are loaded once, before any fork.
import ast
import bisect  # noqa: F401
import collections  # noqa: F401
import functools  # noqa: F401
import heapq  # noqa: F401
import itertools  # noqa: F401
import json
import math  # noqa: F401
import os
import re  # noqa: F401
import resource
import secrets
import select
import shutil
import signal
import socket
import string  # noqa: F401
import struct
import sys
import time
import traceback
import types
import typing  # noqa: F401

try:  # inside the package (the host imports HEADER and write_frame from here)
    from . import _remote
except ImportError:  # run as a program (``python -I``: its folder is not on sys.path)
    import importlib.util as _util

    _spec = _util.spec_from_file_location(
        "_infosynth_remote", os.path.join(os.path.dirname(os.path.abspath(__file__)), "_remote.py")
    )
    _remote = _util.module_from_spec(_spec)
    _spec.loader.exec_module(_remote)

try:  # optional: line coverage of the solution
    import coverage as _coverage
except ImportError:  # pragma: no cover - coverage is in requirements
    _coverage = None

HEADER = struct.Struct(">I")
RUN_ROOT = os.environ.get("INFOSYNTH_RUN_ROOT", "/tmp")


def _read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(fd):
    head = _read_exact(fd, HEADER.size)
    if head is None:
        return None
    body = _read_exact(fd, HEADER.unpack(head)[0])
    return None if body is None else json.loads(body)


def write_frame(fd, obj):
    body = json.dumps(obj).encode()
    data = HEADER.pack(len(body)) + body
    while data:
        data = data[os.write(fd, data) :]


# ----------------------------------------------------------------------------- the child
def _apply_limits(limits):
    mb = 1024 * 1024

    def cap(which, value):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            soft, hard = resource.getrlimit(which)
            if hard != resource.RLIM_INFINITY and value > hard:
                resource.setrlimit(which, (hard, hard))

    cap(resource.RLIMIT_AS, int(limits["memory_mb"] * mb))
    cap(resource.RLIMIT_CPU, int(limits["cpu_s"]))
    cap(resource.RLIMIT_FSIZE, int(limits["file_size_mb"] * mb))
    cap(resource.RLIMIT_NOFILE, int(limits["max_open_files"]))
    cap(resource.RLIMIT_NPROC, int(limits["max_processes"]))
    cap(resource.RLIMIT_CORE, 0)


def _child(job, run_dir, out_w, err_w, res_w, nonce):
    """Runs in the forked child; never returns."""
    code = 70
    try:
        os.setpgid(0, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        # Keep only 0-2 and the result channel; move the channel to a random high fd.
        chan = 200 + secrets.randbelow(700)
        os.dup2(res_w, chan)
        os.closerange(3, chan)
        os.closerange(chan + 1, 4096)
        os.chdir(run_dir)
        os.environ["HOME"] = run_dir
        os.environ["TMPDIR"] = run_dir
        _apply_limits(job["limits"])
        sys.stdout = open(1, "w", buffering=1, closefd=False, errors="replace")
        sys.stderr = open(2, "w", buffering=1, closefd=False, errors="replace")
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        code = _run_tests(job, run_dir, chan, nonce)
    except BaseException:  # noqa: BLE001 - report anything, then exit
        try:
            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
    os._exit(code)


def _run_tests(job, run_dir, chan, nonce):
    """The tests' process: forks the solution's process, then runs the tests against a proxy
    of the solution (see ``_remote.py``). Only this process holds the result channel."""

    def report(event, **fields):
        write_frame(chan, {"nonce": nonce, "event": event, **fields})

    mine, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the solution's process: no result channel, nothing of the tests
        code = 70
        try:
            os.close(chan)
            mine.close()
            code = _serve_solution(job, run_dir, theirs)
        except BaseException:  # noqa: BLE001
            traceback.print_exc()
        os._exit(code)
    theirs.close()
    # Nothing the solution's process writes into the run folder is imported here: the
    # tests come from the job's text, ``solution`` is the proxy, and the folder is not on
    # sys.path.
    sys.path[:] = [p for p in sys.path if p not in ("", ".", run_dir)]
    ep = _remote.Endpoint(mine, trusted=True)
    try:
        first = ep.recv()
        if first[0] == "exc" and len(first) == 4:
            report("import_error", what="solution", error=str(first[3])[:2000])
            return 0
        if first[0] != "ok" or len(first) != 3:
            raise _remote.ProtocolError("no module listing")
        sys.modules["solution"] = _remote.SolutionProxy(ep, first[1])
    except BaseException as exc:  # noqa: BLE001 - the solution's process died or lied
        report("import_error", what="solution", error=_describe(exc))
        return 0
    try:
        path = os.path.join(run_dir, "test_solution.py")
        tests = types.ModuleType("test_solution")
        tests.__file__ = path
        sys.modules["test_solution"] = tests
        exec(compile(job["tests"], path, "exec"), tests.__dict__)
    except BaseException as exc:  # noqa: BLE001
        report("import_error", what="tests", error=_describe(exc))
        return 0
    for name in job["tests_names"]:
        cls_name, _, meth = name.partition("::")
        try:
            if meth:
                fn = getattr(getattr(tests, cls_name)(), meth)
            else:
                fn = getattr(tests, name)
            fn()
        except AssertionError as exc:
            report("test", name=name, outcome="failed", error=_describe(exc))
        except BaseException as exc:  # noqa: BLE001 - SystemExit, KeyboardInterrupt, ...
            report("test", name=name, outcome="error", error=_describe(exc))
        else:
            report("test", name=name, outcome="passed")
    lines = None
    if job.get("coverage"):
        try:
            got = ep.request("coverage", None)
            if type(got) is list and len(got) == 3 and all(type(n) is int for n in got):
                lines = got
        except BaseException:  # noqa: BLE001 - coverage is a note, never a verdict
            lines = None
    report("done", coverage_lines=lines)
    return 0


def _serve_solution(job, run_dir, sock):
    """The solution's process: imports the solution and answers the tests' calls."""
    sys.path.insert(0, run_dir)
    cov = _COV if job.get("coverage") else None
    if cov is not None:
        _start_coverage(cov)
    ep = _remote.Endpoint(sock, trusted=False)
    import importlib

    try:
        module = importlib.import_module("solution")
    except BaseException as exc:  # noqa: BLE001 - candidate code may raise anything
        ep.send(("exc", type(exc).__name__, "Exception", _describe(exc)))
        return 0
    ep.coverage_hook = lambda: _coverage_lines(cov, run_dir, job["solution"])
    ep.send(("ok", _remote.describe_module(module, ep), ()))
    while True:
        try:
            msg = ep.recv()
        except (_remote.ProtocolError, OSError):
            return 0  # the tests are done
        if msg[0] != "req":
            return 0
        ep.serve_one(msg)


COVERAGE_BUDGET_S = 0.5  # CPU seconds of the solution's process traced for line coverage
_coverage_state = {"over": False}


def _start_coverage(cov):
    """Trace the solution for line coverage for its first ``COVERAGE_BUDGET_S`` CPU seconds
    only. Line tracing slows hot loops about 4x; unbounded, it would make a solution that
    passes in 3 s time out, so coverage could change a verdict. After the budget (SIGPROF)
    tracing stops, and the run's coverage counts the lines executed until then (a lower
    bound, flagged as such)."""

    def over(signum, frame):
        if not _coverage_state["over"]:
            _coverage_state["over"] = True
            cov.stop()

    signal.signal(signal.SIGPROF, over)
    signal.setitimer(signal.ITIMER_PROF, COVERAGE_BUDGET_S)
    cov.start()


def _coverage_lines(cov, run_dir, source):
    """[statements, missing] of solution.py, or None. Statements are read from the job's
    text with ``ast`` (about 0.2 ms; coverage.py's own parser took 5.5 ms per run; it also
    leaves out unreachable code after a ``return``, which is counted here), executed lines
    from coverage.py's C tracer."""
    if cov is None:
        return None
    signal.setitimer(signal.ITIMER_PROF, 0)
    partial = _coverage_state["over"]
    if not partial:
        cov.stop()
    try:
        statements = _statement_lines(source)
        path = os.path.join(run_dir, "solution.py")
        # The C tracer's own record of this run (coverage.py 7.x internals, read-only):
        # 1 ms, against 4 ms for get_data(), which rebuilds its SQLite store in every fork.
        raw = getattr(getattr(cov, "_collector", None), "data", None)
        if isinstance(raw, dict) and raw.get(path):
            executed = set(raw[path])
        else:
            executed = set(cov.get_data().lines(path) or ())
        return [len(statements), len(statements - executed), int(partial)]
    except Exception:  # noqa: BLE001 - coverage is a note, never a verdict
        return None


def _statement_lines(source):
    """First lines of the executable statements of ``source``, as coverage.py counts them:
    every statement except docstrings, and the decorators of definitions."""
    lines = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and _is_docstring(body[0]):
            lines.discard(body[0].lineno)
        if isinstance(node, ast.stmt) and not _is_docstring(node):
            lines.add(node.lineno)
            lines.update(d.lineno for d in getattr(node, "decorator_list", None) or [])
    return lines


def _is_docstring(node):
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _describe(exc):
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    tb = traceback.extract_tb(exc.__traceback__)
    where = ""
    for frame in reversed(tb):
        if os.path.basename(frame.filename) in ("solution.py", "test_solution.py"):
            where = f" ({os.path.basename(frame.filename)}:{frame.lineno})"
            break
    return (text + where)[:2000]


# ----------------------------------------------------------------------------- the zygote
def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _sweep():
    """Kill every process in this PID namespace except init (1) and this zygote.

    ``kill(-1, SIGKILL)`` reaches every process the zygote may signal in its namespace in one
    kernel pass that a concurrent ``fork`` cannot outrun (a fork either finishes before the
    pass and its child is signalled, or sees the pending signal and aborts), so a fork bomb
    dies even where RLIMIT_NPROC does not bind (the kernel ignores it for host root). The loop
    then waits, up to 5 s, until the dying processes are gone. Returns how many remain.
    """
    me = os.getpid()
    deadline = time.monotonic() + 5.0
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _reap()
        others = []
        for p in os.listdir("/proc"):
            if p.isdigit() and int(p) not in (1, me):
                try:
                    with open(f"/proc/{p}/stat", "rb") as f:
                        state = f.read().rsplit(b")", 1)[1].split()[0]
                except (OSError, IndexError):
                    continue
                if state not in (b"Z", b"X"):  # zombies are dead; init reaps them
                    others.append(p)
        if not others or time.monotonic() > deadline:
            return len(others)
        time.sleep(0.005)


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def run_job(job, sweep, counter):
    limits = job["limits"]
    cap = int(limits["output_cap_kb"]) * 1024
    run_dir = os.path.join(RUN_ROOT, f"run-{counter}")
    os.makedirs(run_dir, mode=0o700)
    with open(os.path.join(run_dir, "solution.py"), "w", encoding="utf-8") as f:
        f.write(job["solution"])
    with open(os.path.join(run_dir, "test_solution.py"), "w", encoding="utf-8") as f:
        f.write(job["tests"])
    nonce = secrets.token_hex(16)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    res_r, res_w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(out_r)
        os.close(err_r)
        os.close(res_r)
        _child(job, run_dir, out_w, err_w, res_w, nonce)
    for fd in (out_w, err_w, res_w):
        os.close(fd)
    try:
        os.setpgid(pid, pid)
    except (ProcessLookupError, PermissionError):
        pass
    cpu_limit = float(limits["timeout_s"])
    deadline = start + float(limits.get("wall_s") or wall_backstop(cpu_limit))
    next_cpu_check = start + CPU_CHECK_S
    cpu_used = 0.0
    streams = {out_r: bytearray(), err_r: bytearray()}
    truncated = {out_r: False, err_r: False}
    res_buf = bytearray()
    pidfd = os.pidfd_open(pid)  # readable when the child exits, even if its pipes live on
    open_fds = {out_r, err_r, res_r}
    timed_out = None  # "cpu" or "wall" when a deadline killed the run
    exit_status = None

    def drain(fds, timeout):
        ready, _, _ = select.select(list(fds), [], [], timeout)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                open_fds.discard(fd)
                continue
            if fd == res_r:
                if len(res_buf) < 4 * 1024 * 1024:
                    res_buf.extend(chunk)
            else:
                room = cap - len(streams[fd])
                if room > 0:
                    streams[fd].extend(chunk[:room])
                if len(chunk) > room:
                    truncated[fd] = True
        return ready

    while exit_status is None:
        now = time.monotonic()
        if now >= next_cpu_check:
            cpu_used = max(cpu_used, _tree_cpu(pid))
            next_cpu_check = now + CPU_CHECK_S
        if cpu_used > cpu_limit or now >= deadline:
            timed_out = "cpu" if cpu_used > cpu_limit else "wall"
            _kill_group(pid)
            _, exit_status = os.waitpid(pid, 0)
            break
        ready = drain(open_fds | {pidfd}, max(0.0, min(deadline - now, CPU_CHECK_S)))
        if pidfd in ready:
            cpu_used = max(cpu_used, _tree_cpu(pid))  # before the reap: the tree is there
            _, exit_status = os.waitpid(pid, 0)
    os.close(pidfd)
    # What the child wrote before exiting is still in the pipes; read it without waiting
    # for descendants that may hold the pipes open.
    for _ in range(1000):
        if not open_fds or not drain(open_fds, 0):
            break
    duration = time.monotonic() - start
    _kill_group(pid)  # anything left in its group
    leftovers = _sweep() if sweep else 0
    _reap()
    for fd in (out_r, err_r, res_r):
        try:
            os.close(fd)
        except OSError:
            pass
    shutil.rmtree(run_dir, ignore_errors=True)
    events, bad_frames = _parse_events(bytes(res_buf), nonce)
    return {
        "id": job["id"],
        "events": events,
        "bad_frames": bad_frames,
        "timed_out": timed_out,
        "cpu_s": round(cpu_used, 3),
        "exit_status": _describe_status(exit_status),
        "duration_s": duration,
        "stdout": bytes(streams[out_r]).decode("utf-8", "replace"),
        "stderr": bytes(streams[err_r]).decode("utf-8", "replace"),
        "stdout_truncated": truncated[out_r],
        "stderr_truncated": truncated[err_r],
        "leftover_processes": leftovers,
    }


CPU_CHECK_S = 0.05  # how often the run's CPU time is read, seconds
_TICK = os.sysconf("SC_CLK_TCK")


def wall_backstop(cpu_limit):
    """The wall-clock deadline (seconds) of a run whose CPU-time limit is ``cpu_limit``: code
    that sleeps or blocks uses no CPU, so it ends here instead."""
    return 3.0 * cpu_limit + 5.0


def _tree_cpu(root):
    """CPU seconds (user + system) of ``root`` and its live descendants, plus what their
    reaped children used. Read from /proc; processes that left the tree (daemons) are
    killed after the run by the sweep."""
    total, todo, seen = 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except (OSError, IndexError, ValueError):
            continue
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children", "rb") as f:
                    todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return total / _TICK


def _parse_events(data, nonce):
    events, bad = [], 0
    pos = 0
    while pos + HEADER.size <= len(data):
        (n,) = HEADER.unpack_from(data, pos)
        body = data[pos + HEADER.size : pos + HEADER.size + n]
        pos += HEADER.size + n
        try:
            obj = json.loads(body)
        except ValueError:
            bad += 1
            continue
        if not isinstance(obj, dict) or obj.get("nonce") != nonce:
            bad += 1
            continue
        obj.pop("nonce")
        events.append(obj)
    if pos != len(data):
        bad += 1
    return events, bad


def _describe_status(status):
    if status is None:
        return {"kind": "unknown"}
    if os.WIFEXITED(status):
        return {"kind": "exit", "code": os.WEXITSTATUS(status)}
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return {"kind": "signal", "signal": sig, "name": signal.Signals(sig).name}
    return {"kind": "unknown"}


_COV = None  # one Coverage object, built and warmed in the zygote, inherited by every child


def _warm_coverage():
    """Build the shared Coverage object and pay coverage.py's lazy imports once, here,
    instead of in every forked child (the children inherit it through fork)."""
    global _COV
    if _coverage is None:
        return
    path = os.path.join(RUN_ROOT, "warm", "solution.py")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("def warm(x):\n    if x:\n        return 1\n    return 2\n")
    cov = _coverage.Coverage(data_file=None, config_file=False, include=["*/solution.py"])
    cov.start()
    # The same path a run takes: the import machinery and the proxy's serving code. The C
    # tracer asks coverage.py (in Python, ~0.1 ms a time) whether to trace each new source
    # file; answered here, the answers are inherited by every run (3 ms less per run).
    import importlib

    sys.path.insert(0, os.path.dirname(path))
    try:
        module = importlib.import_module("solution")
        module.warm(1)
        ep = _remote.Endpoint(None, trusted=False)
        ep.decode(ep.encode([1, (2.0, "x"), {3: {4}}, frozenset(), module.warm]))
        _remote.describe_module(module, ep)
    finally:
        sys.modules.pop("solution", None)
        sys.path.remove(os.path.dirname(path))
    cov.stop()
    _statement_lines("def warm(x):\n    return x\n")
    cov.get_data().lines(path)  # creates the in-memory data store once, before any fork
    # No cov.erase(): it would drop the warmed collector and every child would rebuild it
    # (about 6 ms each). Each child only asks for the lines of its own solution.py.
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    _COV = cov


def _undumpable():
    """PR_SET_DUMPABLE 0 for this process and everything it forks: no process of the same
    user without CAP_SYS_PTRACE can ptrace it or open its /proc/<pid>/mem or fds, so the
    solution's process cannot reach into the tests' process or this one."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def main():
    sweep = "--sweep" in sys.argv
    _undumpable()
    try:
        _warm_coverage()
    except Exception:  # noqa: BLE001 - coverage is optional; runs still work without it
        pass
    inp, out = sys.stdin.fileno(), sys.stdout.fileno()
    write_frame(out, {"ready": True, "pid": os.getpid(), "sweep": sweep})
    counter = 0
    while True:
        job = read_frame(inp)
        if job is None:
            return
        counter += 1
        try:
            result = run_job(job, sweep, counter)
        except Exception as exc:  # noqa: BLE001 - the zygote must survive and say why
            result = {"id": job.get("id"), "worker_error": _describe(exc)}
        write_frame(out, result)


if __name__ == "__main__":
    main()
