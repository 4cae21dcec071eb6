"""Isolated execution of untrusted solutions against their tests.

See ``isolation.py`` for the isolation levels, ``caps.py`` for the kernel caps on each worker, ``worker.py`` for what happens inside, and
``pool.py`` for the pool and the verdict rules.
"""

from .caps import CAPS_LEVELS, CapsError, caps_problem, detect_caps
from .isolation import (
    FALLBACK_WARNING,
    ISOLATION_LEVELS,
    detect_isolation,
    fallback_warning,
    isolation_problem,
)
from .pool import Job, Sandbox, collect_tests
from .result import Limits, RunResult, sanitize_output

__all__ = [
    "Sandbox",
    "Job",
    "Limits",
    "RunResult",
    "collect_tests",
    "detect_isolation",
    "sanitize_output",
    "ISOLATION_LEVELS",
    "FALLBACK_WARNING",
    "fallback_warning",
    "isolation_problem",
    "CAPS_LEVELS",
    "CapsError",
    "caps_problem",
    "detect_caps",
]
