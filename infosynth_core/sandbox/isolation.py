"""Isolation levels and the command that starts one sandbox worker.

``bubblewrap`` (kernel isolation, preferred): the worker runs under ``bwrap`` in new user,
PID, network, mount, IPC, UTS and cgroup namespaces, as uid/gid 65534, with no network
(loopback only, and not the host's), a read-only view of the system, the directories that
can hold secrets (``/root``, ``/home``, ``/tmp``, ``/run``, the project's tree, …) replaced
by empty ones, a fresh size-limited tmpfs as its scratch space, an environment built from an
allow-list, and ``--die-with-parent``. Only the Python installation and the worker's own
folder are mapped back in, read-only.

``process`` (fallback, weaker): the worker runs as a plain child process with the same hard
limits, a scrubbed environment and a throw-away working directory, but it shares the host's
filesystem view, network and PID space; a program that escapes into a new session can
outlive its run. InfoSynth says so wherever it reports results.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

__all__ = [
    "ISOLATION_LEVELS",
    "detect_isolation",
    "isolation_problem",
    "worker_command",
    "FALLBACK_WARNING",
    "fallback_warning",
]

ISOLATION_LEVELS = ("bubblewrap", "process")
WORKER = Path(__file__).resolve().parent / "worker.py"
_FALLBACK_RISKS = (
    "candidate code runs only under process-level limits: it can read the host's files and "
    "reach its network, and a program that escapes into a new session can outlive its run. "
    "API keys are kept out of the environment of every process that starts test code, but "
    "test code can read the environment of your other processes (the shell you started "
    "InfoSynth from) and, as root, everything."
)
_FALLBACK_FIX = (
    "Install Debian's 'bubblewrap' package (make test / make run do it when they can) for "
    "full isolation."
)
FALLBACK_WARNING = (
    f"Kernel isolation (bubblewrap) is unavailable, so {_FALLBACK_RISKS} {_FALLBACK_FIX}"
)


def fallback_warning(requested: str = "auto") -> str:
    """Why process-level isolation is in use, what it risks and how to get full isolation.

    ``requested`` is the isolation the user asked for: ``"process"`` (chosen, e.g.
    ``sandbox.isolation = "process"``) or ``"auto"`` (then the reason is what
    :func:`detect_isolation` found: bubblewrap missing, or installed but unable to start).
    """
    if requested == "process":
        return (
            'Process-level isolation was chosen (sandbox.isolation = "process"), so '
            f'{_FALLBACK_RISKS} Set it to "auto" or "bubblewrap" for kernel isolation.'
        )
    reason = isolation_problem() or "bubblewrap cannot start here"
    return f"Kernel isolation is unavailable ({reason}), so {_FALLBACK_RISKS} {_FALLBACK_FIX}"


# Environment of the worker: an allow-list, nothing from the host.
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONHASHSEED": "0",
}
# Directories that may hold secrets or user data; hidden behind empty tmpfs mounts.
# (/tmp is replaced too: by the sandbox's own size-limited scratch space.)
HIDDEN = ("/root", "/home", "/var/tmp", "/run", "/mnt", "/media", "/srv", "/opt")


def _python_paths() -> list[Path]:
    """What the worker's interpreter needs to see: installation, venv, worker folder."""
    paths = {
        Path(sys.base_prefix).resolve(),
        Path(sys.prefix).resolve(),
        Path(sys.executable).resolve().parent,
        Path(sysconfig.get_paths()["purelib"]).resolve(),
        WORKER.parent,
    }
    return sorted(paths, key=lambda p: len(p.parts))


def _project_roots() -> list[str]:
    """The top-level folders holding this checkout and the current directory (hidden)."""
    roots = set()
    for p in (WORKER, Path.cwd().resolve()):
        if len(p.parts) > 1 and p.parts[1] not in ("usr", "lib", "lib64", "bin", "etc"):
            roots.add(str(Path(p.parts[0], p.parts[1])))
    return sorted(roots)


def bwrap_command(tmpfs_mb: int) -> list[str]:
    """The bubblewrap prefix for a worker (see the module docstring)."""
    cmd = [
        "bwrap",
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
        "--uid",
        "65534",
        "--gid",
        "65534",
        "--ro-bind",
        "/",
        "/",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]
    for d in (*HIDDEN, *_project_roots()):
        if os.path.isdir(d):
            cmd += ["--tmpfs", d]
    cmd += ["--size", str(tmpfs_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    for p in _python_paths():  # mapped back last, so no hidden folder covers them
        cmd += ["--ro-bind", str(p), str(p)]
    cmd += ["--clearenv"]
    for k, v in {**BASE_ENV, "HOME": "/tmp", "INFOSYNTH_RUN_ROOT": "/tmp"}.items():
        cmd += ["--setenv", k, v]
    cmd += ["--chdir", "/tmp"]
    return cmd


def worker_command(level: str, *, tmpfs_mb: int = 64) -> list[str]:
    """The full command line of one worker at ``level``."""
    python = [sys.executable, "-I", "-B", str(WORKER)]
    if level == "bubblewrap":
        return bwrap_command(tmpfs_mb) + python + ["--sweep"]
    if level == "process":
        return python
    raise ValueError(f"unknown isolation level {level!r}; use one of {ISOLATION_LEVELS}")


@functools.lru_cache(maxsize=1)
def isolation_problem() -> str | None:
    """Why bubblewrap cannot be used here, or None when it can. Cached per process."""
    if shutil.which("bwrap") is None:
        return "the 'bwrap' program of Debian's bubblewrap package is not installed"
    try:
        probe = subprocess.run(
            bwrap_command(8) + [sys.executable, "-I", "-c", "print('ok')"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap is installed but could not start: {exc}"
    if probe.returncode == 0 and probe.stdout.strip() == "ok":
        return None
    said = (probe.stderr.strip().splitlines() or ["no message"])[-1][:200]
    return (
        f"bubblewrap is installed but could not start a sandbox here ({said}); user "
        "namespaces may be disabled on this machine or in its container"
    )


def detect_isolation() -> str:
    """'bubblewrap' when a bwrap sandbox can start here, else 'process'. Cached per process."""
    return "process" if isolation_problem() else "bubblewrap"
