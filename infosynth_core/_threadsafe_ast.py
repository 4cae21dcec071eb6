"""Serialise ``ast.parse`` across threads on the CPython versions where it is not thread-safe.

CPython 3.11 and early 3.12 track the AST constructor's recursion depth in per-interpreter
state, so two threads parsing at once can fail with ``SystemError: AST constructor recursion
depth mismatch`` (python/cpython#106905). InfoSynth parses in the event loop thread (engines,
parsers) while sandbox calls parse test files in worker threads; the genetic loop hit this on
CI-like load. Wrapping ``ast.parse`` (which ``ast.literal_eval`` also calls) in one re-entrant
lock removes the race; it changes nothing else. Newer interpreters are left alone.
"""

from __future__ import annotations

import ast
import functools
import sys
import threading

AFFECTED = sys.version_info < (3, 13)

if AFFECTED and not getattr(ast.parse, "_infosynth_locked", False):
    _lock = threading.RLock()
    _parse = ast.parse

    @functools.wraps(_parse)
    def _locked_parse(*args, **kwargs):
        with _lock:
            return _parse(*args, **kwargs)

    _locked_parse._infosynth_locked = True  # type: ignore[attr-defined]
    ast.parse = _locked_parse
