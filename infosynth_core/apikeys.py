"""API keys out of the sandbox's reach: held in memory, passed to child processes by pipe.

Under kernel isolation (bubblewrap) test code sees no host process at all. Under the
process-level fallback it runs as the same user as the process that started it, and can read
that process's ``/proc/<pid>/environ`` — the environment block the process was started with.
So a process that spawns test code must not carry a key in its environment:

* :func:`hold_environment_keys` moves every secret-looking variable (``*API_KEY*``,
  ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``, plus any names given) out of ``os.environ`` into
  this module's memory, and overwrites its value in the process's original environment block
  (what ``/proc/self/environ`` shows), so neither a child nor a reader of ``/proc`` finds it.
  The dashboard, the runner and ``infosynth evaluate`` call it at start.
* :func:`get_key` then reads a key from memory (or the environment, if not held).
* :func:`key_pipe` hands a key to a child process through an inherited pipe whose number the
  child finds in ``INFOSYNTH_API_KEY_FD``; the child's :func:`hold_environment_keys` reads it
  and closes it. No environment ever holds the key.
* :func:`make_undumpable` (Linux ``prctl(PR_SET_DUMPABLE, 0)``) stops processes of the same
  (non-root) user from reading this process's memory and ``/proc`` files; the sandbox calls it
  when it falls back to process-level isolation.

What this cannot protect under the fallback: other processes of the user that hold the key
(the shell that exported it), and anything when test code runs as root. Install bubblewrap.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from collections.abc import Iterable, MutableMapping

__all__ = [
    "KEY_FD_VAR",
    "SECRET_NAME",
    "hold_environment_keys",
    "get_key",
    "child_environment",
    "key_pipe",
    "make_undumpable",
]

KEY_FD_VAR = "INFOSYNTH_API_KEY_FD"
#: variable names treated as secrets
SECRET_NAME = re.compile(r"API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.IGNORECASE)
_held: dict[str, str] = {}


def _scrub_environment_block(names: Iterable[str]) -> None:
    """Overwrite ``NAME=value`` entries of this process's original environment block.

    Linux only (``/proc/self/stat`` gives the block's address range, fields 50-51). The
    value bytes become ``*``; the block keeps its layout, so nothing else moves.
    """
    wanted = {n.encode() + b"=" for n in names}
    if not wanted or not sys.platform.startswith("linux"):
        return
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        # fields after the ")" start at field 3 (state); env_start/env_end are fields 50/51
        start, end = int(fields[50 - 3]), int(fields[51 - 3])
        with open("/proc/self/environ", "rb") as f:
            block = f.read()
    except (OSError, IndexError, ValueError):
        return
    if not start or end <= start or len(block) > end - start:
        return
    offset = 0
    for entry in block.split(b"\0"):
        prefix = next((w for w in wanted if entry.startswith(w)), None)
        if prefix is not None and len(entry) > len(prefix):
            n = len(entry) - len(prefix)
            ctypes.memmove(start + offset + len(prefix), b"*" * n, n)
        offset += len(entry) + 1


def _read_key_pipe(environ: MutableMapping[str, str]) -> dict[str, str]:
    """Read ``NAME=value`` lines from the inherited key pipe, if there is one."""
    fd_text = environ.pop(KEY_FD_VAR, None)
    if fd_text is None:
        return {}
    try:
        fd = int(fd_text)
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        os.close(fd)
    except (ValueError, OSError):
        return {}
    out = {}
    for line in b"".join(chunks).decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition("=")
        if sep and name:
            out[name] = value
    return out


def hold_environment_keys(extra_names: Iterable[str] = ()) -> list[str]:
    """Move secret-looking variables (and ``extra_names``) from the environment into memory.

    Also reads keys handed over by a parent through :func:`key_pipe`. Returns the names now
    held. Safe to call more than once.
    """
    extra = set(extra_names)
    _held.update(_read_key_pipe(os.environ))
    names = [n for n in list(os.environ) if n in extra or SECRET_NAME.search(n)]
    for name in names:
        _held[name] = os.environ.pop(name)  # also unsetenv(): children do not inherit it
    _scrub_environment_block(names)
    return sorted(_held)


def get_key(name: str, environ: MutableMapping[str, str] | None = None) -> str | None:
    """The key in variable ``name``: from memory if held, else from ``environ``."""
    if name in _held:
        return _held[name]
    env = os.environ if environ is None else environ
    return env.get(name)


def child_environment(
    keys: dict[str, str] | None = None, environ: MutableMapping[str, str] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """``(environment, keys to hand over)`` for a child process of InfoSynth's.

    The environment is ``environ`` (default ``os.environ``) without secret-looking
    variables; the keys are those variables, every key held in memory, and ``keys``
    (a typed key, say). Pass the keys with :func:`key_pipe`.
    """
    env = dict(os.environ if environ is None else environ)
    env.pop(KEY_FD_VAR, None)
    handover = {n: env.pop(n) for n in list(env) if SECRET_NAME.search(n)}
    handover.update(_held)
    handover.update({k: v for k, v in (keys or {}).items() if v})
    return env, handover


def key_pipe(keys: dict[str, str]) -> int | None:
    """A pipe's read end holding ``keys`` (``NAME=value`` lines), to pass to one child.

    Give the returned fd to ``subprocess.Popen(pass_fds=[fd])`` with ``INFOSYNTH_API_KEY_FD``
    set to its number in the child's environment, then close it in the parent. None when
    there is nothing to pass.
    """
    keys = {k: v for k, v in keys.items() if v}
    if not keys:
        return None
    payload = "".join(f"{k}={v}\n" for k, v in keys.items()).encode()
    if len(payload) > 60_000:  # a pipe buffer holds 64 KiB: never block on write
        raise ValueError("API keys too long to hand over (over 60 kB)")
    r, w = os.pipe()
    try:
        os.write(w, payload)
    finally:
        os.close(w)
    return r


def make_undumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)``: other processes of this user (not root) can no longer
    read this process's memory or ``/proc/<pid>/environ``. True if it took effect."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(4, 0, 0, 0, 0) == 0  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        return False
