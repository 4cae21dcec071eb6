"""Keep numba's compiled kernels on disk between processes: ``NUMBA_CACHE_DIR``.

Numba compiles a jitted function the first time it is called in a process. Functions
declared with ``cache=True`` are also written to disk and loaded, not compiled, by later
processes. Which ones are:

* InfoSynth's blocked k-NN kernel (:mod:`infosynth_core.metrics`);
* 173 of pynndescent's 341 kernels (0.7.0), the neighbour search that UMAP uses;
* one of umap-learn's 117 kernels (0.5.12). Most of UMAP's first-use compile time (spectral
  layout, the SGD layout loops, transform) is paid again in every process whatever this
  module does; ``bench/metrics.py`` measures what the cache saves (key ``umap_compile``).

Without ``NUMBA_CACHE_DIR`` numba writes next to the installed sources (``__pycache__`` in
site-packages) when that is writable, else to ``~/.cache/numba``. :func:`configure` points it
at one private per-user directory instead, ``$XDG_CACHE_HOME/infosynth/numba`` (default
``~/.cache/infosynth/numba``, mode 0700: numba loads pickled code from it, so it must not
be writable by others). It runs when ``infosynth_core`` is imported, before anything imports
numba (numba reads the variable when a cached function is defined). A ``NUMBA_CACHE_DIR``
the user set is left alone; where the directory cannot be made, nothing is set and numba
keeps its own defaults. Deleting the directory clears the cache; numba rebuilds it.

This is the one place below the entry points that reads the environment: it has to act
before numba loads, earlier than any configuration object exists.
"""

from __future__ import annotations

import os
import stat
from collections.abc import MutableMapping
from pathlib import Path

__all__ = ["ENV_VAR", "configure", "default_dir"]

ENV_VAR = "NUMBA_CACHE_DIR"


def default_dir(environ: MutableMapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/infosynth/numba``, or ``~/.cache/infosynth/numba``."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CACHE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root / "infosynth" / "numba"


def _private_dir(path: Path) -> bool:
    """Make ``path`` (0700) if needed; True when it is ours, private and writable."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if not stat.S_ISDIR(info.st_mode):
        return False
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return False
    if stat.S_IMODE(info.st_mode) & 0o077:
        path.chmod(0o700)
    return os.access(path, os.W_OK | os.X_OK)


def configure(environ: MutableMapping[str, str] | None = None) -> str | None:
    """Set ``NUMBA_CACHE_DIR`` to the per-user cache directory unless it is already set.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read and update; ``os.environ`` by default.

    Returns
    -------
    str or None
        The cache directory in effect (the user's own setting, or the one set here), or
        None where the directory could not be made: then nothing is set.
    """
    environ = os.environ if environ is None else environ
    if environ.get(ENV_VAR):
        return environ[ENV_VAR]
    try:
        path = default_dir(environ)
        if not _private_dir(path):
            return None
    except (OSError, RuntimeError):  # no home directory, read-only or foreign file system
        return None
    environ[ENV_VAR] = str(path)
    return str(path)


configure()
