"""Reading single cells of an input record: text, lists, JSON objects, extra values.

Format adapters read cells through these helpers so that a cell of the wrong type is an error
that names the column, never a value turned into something else (``str([...])``) or dropped.

- text: a string; an integer is accepted for ids only; anything else is an error.
- lists (``topics``, ``tags``, ``test_list``, ``parents``): a list, a JSON list, a Python list
  literal (MBPP in CSV) or ``"a; b"`` / ``"a|b"`` / ``"a, b"`` text. Every item must be text.
  Literals are decoded within the limits of :mod:`infosynth_core.limits`; Python literals only
  up to :data:`MAX_LITERAL_CHARS` characters (``ast`` needs far more memory than the text).
- JSON objects (``origin``, ``metadata`` in CSV): an object or a JSON text of one.
- extra values kept in ``metadata['extra_columns']`` must be JSON: dates become ISO text,
  bytes and other values become text, and float NaN (a missing number) is left out.
"""

from __future__ import annotations

import ast
import datetime as dt
import decimal
import math
import warnings
from typing import Any

from .limits import JSONProblem, loads_strict

__all__ = ["CellError", "MAX_LITERAL_CHARS", "text_cell", "id_cell", "list_cell", "object_cell"]

#: Longest Python list literal (a CSV cell) decoded with :func:`ast.literal_eval`.
MAX_LITERAL_CHARS = 1_000_000


class CellError(ValueError):
    """A cell cannot be read: ``field`` (the column), ``value`` (the cell), ``reason``."""

    def __init__(self, field: str, value: Any, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field, self.value, self.reason = field, value, reason


def _type(value: Any) -> str:
    return type(value).__name__


def text_cell(rec: dict[str, Any], column: str) -> str | None:
    """The text in ``column``; None when absent or empty; CellError for non-text values."""
    value = rec.get(column)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise CellError(column, value, f"must be text (got {_type(value)})")
    return value


def id_cell(rec: dict[str, Any], column: str) -> str | None:
    """An id: text, or an integer written as text."""
    value = rec.get(column)
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise CellError(column, value, f"must be text or a whole number (got {_type(value)})")
    return value


def _literal(text: str, column: str) -> Any:
    if len(text) > MAX_LITERAL_CHARS:
        raise CellError(
            column,
            text,
            f"is a {len(text):,}-character list literal; the limit is {MAX_LITERAL_CHARS:,}",
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            reason = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
            raise CellError(
                column, text, f"is neither a JSON list nor a Python list literal ({reason})"
            ) from None


def list_cell(rec: dict[str, Any], column: str) -> list[str] | None:
    """A list of strings from ``column`` (see the module docstring); None when absent."""
    value = rec.get(column)
    if value is None:
        return None
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return []
        if s.startswith("["):
            try:
                value = loads_strict(s)
            except JSONProblem as exc:
                if "not valid JSON" not in exc.reason:
                    raise CellError(column, value, exc.reason) from None
                value = _literal(s, column)  # e.g. ['assert f(1) == 2'] from a CSV
            if not isinstance(value, list):
                raise CellError(column, s, "must be a list")
        else:
            sep = next((c for c in ";|," if c in s), None)
            return [t.strip() for t in s.split(sep)] if sep else [s]
    if not isinstance(value, (list, tuple)):
        raise CellError(column, value, f"must be a list of text (got {_type(value)})")
    for i, item in enumerate(value, 1):
        if not isinstance(item, str):
            raise CellError(column, item, f"item {i} must be text (got {_type(item)})")
    return list(value)


def object_cell(value: Any, column: str) -> Any:
    """A JSON object given as text (CSV) decoded; other values returned as they are."""
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            return loads_strict(value)
        except JSONProblem as exc:
            raise CellError(column, value, exc.reason) from None
    return value


def jsonable(value: Any) -> Any:
    """``value`` as JSON-ready data (for metadata['extra_columns']); None for a NaN float."""
    if isinstance(value, float):
        return None if math.isnan(value) else (value if math.isfinite(value) else str(value))
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.hex()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return str(value)
