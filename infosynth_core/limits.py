"""Import limits, and JSON decoding that stays inside them.

Every import is checked against these limits while it is read, before anything is stored:

=====================  =========================  ===========================================
limit                  default                    set with
=====================  =========================  ===========================================
bytes                  50 MiB on disk *and* once  ``Settings.max_import_mb``,
                       decoded (Parquet: the      ``INFOSYNTH_MAX_IMPORT_MB``, ``--max-mb``
                       uncompressed data)
records                200,000                    ``Settings.max_import_records``,
                                                  ``INFOSYNTH_MAX_IMPORT_RECORDS``,
                                                  ``--max-records``
statement length       50,000 characters          ``Settings.max_statement_chars``,
                                                  ``INFOSYNTH_MAX_STATEMENT_CHARS``,
                                                  ``--max-statement-chars``
nesting depth          64 levels of ``[``/``{``   fixed (:data:`MAX_DEPTH`)
integer size           4,300 digits               fixed (:data:`MAX_INT_DIGITS`, Python's own
                                                  int/str conversion limit)
=====================  =========================  ===========================================

JSON is read strictly (RFC 8259): ``NaN``/``Infinity`` and objects with the same key twice are
refused (the second value would silently replace the first). Depth and long numbers are found
by a scan *before* :func:`json.loads` runs, so the decoder never recurses past the limit.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MAX_DEPTH",
    "MAX_INT_DIGITS",
    "ImportLimits",
    "JSONProblem",
    "loads_strict",
    "mib",
    "scan_json",
]

#: Deepest nesting of JSON arrays/objects (and Parquet nested types) an import accepts.
MAX_DEPTH = 64
#: Most digits of one number an import accepts (Python refuses longer int strings).
MAX_INT_DIGITS = 4300

_CONSTANT = re.compile(rb"-?\b(?:NaN|Infinity)\b")
_QUOTE, _BACKSLASH, _DIGITS = ord('"'), ord("\\"), (ord("0"), ord("9"))
_OPENERS, _CLOSERS = (ord("["), ord("{")), (ord("]"), ord("}"))


def mib(n: float) -> str:
    """``n`` bytes as MiB with one decimal ("12.5 MiB"); small sizes in KiB or bytes."""
    if n < 1024:
        return f"{int(n):,} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


@dataclass(frozen=True)
class ImportLimits:
    """The limits of one import (see the module docstring); ``max_bytes`` in bytes."""

    max_bytes: int = 50 * 1024 * 1024
    max_records: int = 200_000
    max_statement_chars: int = 50_000

    @classmethod
    def from_settings(cls, settings: Any) -> ImportLimits:
        return cls(
            max_bytes=settings.max_import_bytes,
            max_records=settings.max_import_records,
            max_statement_chars=settings.max_statement_chars,
        )

    def bytes_message(self, name: str, size: int, what: str = "is", detail: str = "") -> str:
        return (
            f"'{name}' {what} {mib(size)}{detail}; the import limit is {mib(self.max_bytes)} "
            "(max_import_mb / INFOSYNTH_MAX_IMPORT_MB, or --max-mb on the command line). "
            "Split the file or raise the limit."
        )

    def records_message(self, name: str, n: int | str) -> str:
        shown = f"{n:,}" if isinstance(n, int) else n
        return (
            f"'{name}' holds {shown} records; the import limit is {self.max_records:,} "
            "(max_import_records / INFOSYNTH_MAX_IMPORT_RECORDS, or --max-records on the "
            "command line). Split the file or raise the limit."
        )


class JSONProblem(ValueError):
    """Why a JSON text was refused; ``line`` (1-based, in that text) when known."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.line = line


def _line_at(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def _string_quotes(b: np.ndarray) -> np.ndarray:
    """Positions of the quotes that open or close JSON strings (escaped quotes left out)."""
    quotes = np.flatnonzero(b == _QUOTE)
    slashes = np.flatnonzero(b == _BACKSLASH)
    if not (quotes.size and slashes.size):
        return quotes
    # runs of consecutive backslashes: [start, end); a quote right after an odd run is escaped
    new_run = np.ones(slashes.size, dtype=bool)
    new_run[1:] = np.diff(slashes) != 1
    first = np.flatnonzero(new_run)
    starts = slashes[first]
    ends = np.append(slashes[first[1:] - 1], slashes[-1]) + 1
    k = np.minimum(np.searchsorted(ends, quotes), ends.size - 1)
    escaped = (ends[k] == quotes) & ((quotes - starts[k]) % 2 == 1)
    return quotes[~escaped]


def _outside_strings(positions: np.ndarray, quotes: np.ndarray) -> np.ndarray:
    return positions[np.searchsorted(quotes, positions) % 2 == 0]


def scan_json(data: bytes) -> JSONProblem | None:
    """Find nesting deeper than :data:`MAX_DEPTH` or a number longer than
    :data:`MAX_INT_DIGITS` digits in UTF-8 JSON ``data``, without decoding it (vectorised:
    about 0.1 s for 50 MiB). Returns the first problem found, or None.
    """
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH and len(data) <= MAX_INT_DIGITS:
        return None  # fast path: too few openers to nest that deep, too short for such numbers
    b = np.frombuffer(data, dtype=np.uint8)
    quotes: np.ndarray | None = None
    brackets = np.flatnonzero(
        (b == _OPENERS[0]) | (b == _OPENERS[1]) | (b == _CLOSERS[0]) | (b == _CLOSERS[1])
    )
    if brackets.size > MAX_DEPTH:
        quotes = _string_quotes(b)
        brackets = _outside_strings(brackets, quotes)
        kinds = b[brackets]
        steps = np.where((kinds == _OPENERS[0]) | (kinds == _OPENERS[1]), 1, -1)
        depth = np.cumsum(steps, dtype=np.int64)
        deepest = int(depth.max(initial=0))
        if deepest > MAX_DEPTH:
            pos = int(brackets[int(np.argmax(depth > MAX_DEPTH))])
            return JSONProblem(
                f"nests arrays/objects more than {MAX_DEPTH} levels deep (the limit; found "
                f"{deepest:,} levels)",
                _line_at(data, pos),
            )
    if len(data) > MAX_INT_DIGITS:
        digit = np.zeros(b.size + 2, dtype=bool)
        digit[1:-1] = (b >= _DIGITS[0]) & (b <= _DIGITS[1])
        edges = np.flatnonzero(digit[1:] != digit[:-1])
        starts, ends = edges[::2], edges[1::2]
        long_runs = starts[(ends - starts) > MAX_INT_DIGITS]
        if long_runs.size:
            quotes = _string_quotes(b) if quotes is None else quotes
            outside = _outside_strings(long_runs, quotes)
            if outside.size:
                start = int(outside[0])
                n = int(ends[np.searchsorted(starts, start)] - start)
                return JSONProblem(
                    f"holds a number with {n:,} digits; the limit is {MAX_INT_DIGITS:,} "
                    "digits (write it as a string)",
                    _line_at(data, start),
                )
    return None


def _refuse_constant(name: str) -> Any:
    raise JSONProblem(f"holds {name}, which is not valid JSON (write null or a string)")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))
        raise JSONProblem(f"has the key {dup!r} twice (the second value would replace the first)")
    return out


def loads_strict(text: str | bytes) -> Any:
    """Decode one JSON text within the limits; raise :class:`JSONProblem` saying why not.

    Refused: nesting deeper than :data:`MAX_DEPTH`, numbers longer than
    :data:`MAX_INT_DIGITS` digits, ``NaN``/``Infinity``, duplicate keys, invalid JSON.
    """
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    problem = scan_json(data)
    if problem is not None:
        raise problem
    try:
        return json.loads(
            text, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicate_keys
        )
    except JSONProblem as exc:
        if exc.line is None and "not valid JSON" in exc.reason:  # locate NaN/Infinity
            found = np.array([m.start() for m in _CONSTANT.finditer(data)], dtype=np.int64)
            b = np.frombuffer(data, dtype=np.uint8)
            outside = _outside_strings(found, _string_quotes(b)) if found.size else found
            exc.line = _line_at(data, int(outside[0])) if outside.size else None
        raise
    except json.JSONDecodeError as exc:
        raise JSONProblem(
            f"is not valid JSON ({exc.msg} at column {exc.colno})", exc.lineno
        ) from None
    except RecursionError:  # safety net: the depth scan should have caught it
        raise JSONProblem(f"nests arrays/objects more than {MAX_DEPTH} levels deep") from None
    except (ValueError, MemoryError) as exc:
        raise JSONProblem(f"cannot be decoded ({type(exc).__name__}: {exc})") from None
