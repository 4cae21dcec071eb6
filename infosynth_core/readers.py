"""Read tabular input files (JSONL, JSON arrays, CSV, Parquet) into located records.

Every record comes with ``where`` ("line 7", "row 3", "item 2") so that validation errors can
point at it. Nothing is guessed and nothing is skipped silently:

- **Size**: a file over ``max_bytes`` (``max_import_mb``) on disk is refused before it is
  parsed; Parquet is also measured by its uncompressed size (from its metadata, before
  decoding) and by the bytes it decodes to (see :mod:`infosynth_core.readers_parquet`).
  Reading stops as soon as the file holds more than ``max_records`` records.
- **Text** (JSONL, JSON, CSV) must be UTF-8 (a UTF-8 byte-order mark is allowed); UTF-16/32
  files, NUL bytes and undecodable bytes are refused with the line they are on.
- **JSONL**: one JSON object per line, split on ``\\n`` only (a JSON string may hold U+2028);
  blank lines are skipped. **JSON**: one array of objects. Both are decoded strictly (see
  :mod:`infosynth_core.limits`: nesting depth, long numbers, NaN, duplicate keys).
- **CSV**: a header row with distinct, non-empty names (an unnamed column is allowed only when
  it is empty in every row); every row has exactly as many cells as the header; quoting is
  strict (an unterminated or misplaced quote is an error, never a cell that swallows the rows
  after it). Empty cells are absent values.

Malformed records are all collected (up to :data:`MAX_ISSUES`) and reported together in one
:class:`~infosynth_core.errors.RecordValidationError`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import FileTooLargeError, RecordIssue, RecordValidationError, UnsupportedFileError
from .limits import ImportLimits, JSONProblem, loads_strict

__all__ = ["RawTable", "read_table", "SUPPORTED_EXTENSIONS", "MAX_ISSUES"]

SUPPORTED_EXTENSIONS = (".jsonl", ".ndjson", ".json", ".csv", ".parquet", ".pq")
#: Reading stops after this many malformed records (they are reported; nothing is imported).
MAX_ISSUES = 1000

_BOMS = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)


@dataclass(frozen=True)
class RawTable:
    """Records read from one file, before any format is applied."""

    source: str  # file name, for messages
    kind: str  # jsonl | json | csv | parquet
    records: list[tuple[str, dict[str, Any]]]  # (where, record)
    sha256: str

    @property
    def columns(self) -> list[str]:
        """Every key seen in any record, in first-seen order."""
        seen: dict[str, None] = {}
        for _, rec in self.records:
            for k in rec:
                seen.setdefault(k, None)
        return list(seen)


def read_table(
    source: str | Path | bytes,
    *,
    filename: str | None = None,
    max_bytes: int | None = None,
    max_records: int | None = None,
    limits: ImportLimits | None = None,
) -> RawTable:
    """Read ``source`` (a path, or bytes with ``filename``) into a :class:`RawTable`.

    ``limits`` gives every import limit; ``max_bytes``/``max_records``, when given, override
    its two size limits (defaults: 50 MiB, 200,000 records).

    Raises
    ------
    FileTooLargeError
        The file is over ``max_bytes`` (on disk or decoded) or holds over ``max_records``
        records.
    UnsupportedFileError
        Unknown extension, text that is not UTF-8, NUL bytes, or unreadable Parquet.
    RecordValidationError
        Records that are not JSON objects, JSON over the nesting/number limits, malformed CSV.
    """
    overrides = {"max_bytes": max_bytes, "max_records": max_records}
    limits = replace(
        limits or ImportLimits(), **{k: v for k, v in overrides.items() if v is not None}
    )
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not filename:
            raise ValueError("read_table needs filename= when given bytes")
        name, data = filename, bytes(source)
        if len(data) > limits.max_bytes:
            raise FileTooLargeError(limits.bytes_message(name, len(data)))
    else:
        path = Path(source)
        name = filename or path.name
        if not path.is_file():
            raise UnsupportedFileError(f"'{path}' is not a file; check the path.")
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise FileTooLargeError(limits.bytes_message(name, size))
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise UnsupportedFileError(f"'{name}' cannot be read ({exc.strerror}).") from None
    ext = Path(name).suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise UnsupportedFileError(
            f"'{name}': unsupported file type '{ext or '(none)'}'. Use one of "
            f"{', '.join(SUPPORTED_EXTENSIONS)}."
        )
    digest = hashlib.sha256(data).hexdigest()
    if ext in (".parquet", ".pq"):
        from .readers_parquet import read_parquet

        kind, records = "parquet", read_parquet(name, data, limits)
    else:
        text = _decode(name, data)
        if ext == ".csv":
            kind, records = "csv", _read_csv(name, text, limits)
        elif ext == ".json" and text.lstrip().startswith("["):
            kind, records = "json", _read_json_array(name, text, limits)
        else:
            kind, records = "jsonl", _read_jsonl(name, text, limits)
    if not records:
        raise RecordValidationError(name, [RecordIssue("file", "", "", "holds no records")])
    return RawTable(source=name, kind=kind, records=records, sha256=digest)


def _decode(name: str, data: bytes) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            raise UnsupportedFileError(
                f"'{name}' is {encoding} text (it starts with a {encoding} byte-order mark); "
                "save it as UTF-8 and import again."
            )
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise UnsupportedFileError(
            f"'{name}' holds a NUL byte on line {line}: it is binary, or UTF-16/UTF-32 text. "
            "Save it as UTF-8 text (or use the .parquet extension for Parquet) and import again."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UnsupportedFileError(
            f"'{name}' is not UTF-8 text (bad byte 0x{data[exc.start]:02x} on line {line}, "
            f"byte {column}). Save it as UTF-8 and import again."
        ) from None


def _short(text: str, limit: int = 60) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _too_many(name: str, limits: ImportLimits) -> FileTooLargeError:
    return FileTooLargeError(limits.records_message(name, f"over {limits.max_records:,}"))


class _Issues(list):
    """RecordIssues of one file; raises once :data:`MAX_ISSUES` are collected."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name

    def add(self, issue: RecordIssue) -> None:
        self.append(issue)
        if len(self) >= MAX_ISSUES:
            self.append(
                RecordIssue("file", "", "", f"reading stopped after {MAX_ISSUES:,} problems")
            )
            raise RecordValidationError(self.name, self)

    def raise_any(self) -> None:
        if self:
            raise RecordValidationError(self.name, self)


def _read_jsonl(name: str, text: str, limits: ImportLimits) -> list[tuple[str, dict[str, Any]]]:
    records: list[tuple[str, dict[str, Any]]] = []
    issues = _Issues(name)
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        where = f"line {lineno}"
        try:
            obj = loads_strict(line)
        except JSONProblem as exc:
            issues.add(RecordIssue(where, "", _short(line), exc.reason))
            continue
        if not isinstance(obj, dict):
            issues.add(RecordIssue(where, "", _short(line), "is not a JSON object"))
            continue
        records.append((where, obj))
        if len(records) > limits.max_records:
            raise _too_many(name, limits)
    issues.raise_any()
    return records


def _read_json_array(
    name: str, text: str, limits: ImportLimits
) -> list[tuple[str, dict[str, Any]]]:
    try:
        arr = loads_strict(text)
    except JSONProblem as exc:
        where = f"line {exc.line}" if exc.line else "file"
        raise RecordValidationError(name, [RecordIssue(where, "", "", exc.reason)]) from None
    if not isinstance(arr, list):  # pragma: no cover - the caller checked the leading '['
        raise RecordValidationError(name, [RecordIssue("file", "", "", "is not a JSON array")])
    if len(arr) > limits.max_records:
        raise FileTooLargeError(limits.records_message(name, len(arr)))
    issues = _Issues(name)
    for i, o in enumerate(arr, 1):
        if not isinstance(o, dict):
            issues.add(RecordIssue(f"item {i}", "", _short(repr(o)), "is not a JSON object"))
    issues.raise_any()
    return [(f"item {i}", o) for i, o in enumerate(arr, 1)]


def _check_header(name: str, header: list[str], rows: list[list[str]]) -> None:
    issues = _Issues(name)
    first: dict[str, int] = {}
    for col, h in enumerate(header, 1):
        if not h.strip():
            if any(len(r) >= col and r[col - 1] != "" for r in rows):
                issues.add(
                    RecordIssue("header", "", "", f"column {col} has values but no name; name it")
                )
        elif h in first:
            issues.add(
                RecordIssue(
                    "header",
                    h,
                    "",
                    f"is the name of columns {first[h]} and {col}; every column needs its own "
                    "name (rename one)",
                )
            )
        else:
            first[h] = col
    issues.raise_any()


def _read_csv(name: str, text: str, limits: ImportLimits) -> list[tuple[str, dict[str, Any]]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # the file size is limited already
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    issues = _Issues(name)
    rows: list[tuple[int, list[str]]] = []  # (first line, cells)
    start = 1
    try:
        for row in reader:
            if row:  # blank lines are no rows
                rows.append((start, row))
                if len(rows) > limits.max_records + 1:  # + 1: the header
                    raise _too_many(name, limits)
            start = reader.line_num + 1
    except csv.Error as exc:
        what = "a quoted cell is never closed" if "end of data" in str(exc) else str(exc)
        raise RecordValidationError(
            name,
            [
                RecordIssue(
                    f"line {start}",
                    "",
                    "",
                    f"is not valid CSV ({what}; the record starts on line {start}). Check its "
                    "quotes: a cell with commas, quotes or line breaks is quoted, and a quote "
                    'inside it is doubled ("")',
                )
            ],
        ) from None
    if not rows:
        raise RecordValidationError(name, [RecordIssue("file", "", "", "has no header row")])
    (_, header), body = rows[0], rows[1:]
    _check_header(name, header, [r for _, r in body])
    records = []
    for i, (line, row) in enumerate(body, 1):
        where = f"row {i}" if line == i + 1 else f"row {i} (line {line})"
        if len(row) != len(header):
            extra = row[len(header) :]
            issues.add(
                RecordIssue(
                    where,
                    "",
                    _short(",".join(extra)) if extra else "",
                    f"has {len(row)} cells; the header has {len(header)}",
                )
            )
            continue
        # csv gives '' for empty cells; treat them as absent.
        records.append((where, {h: v for h, v in zip(header, row, strict=True) if v != ""}))
    issues.raise_any()
    return records
