"""Read tabular input files (JSONL, JSON arrays, CSV, Parquet) into located records.

Every record comes with ``where`` ("line 7", "row 3") so that validation errors can point at
it. Files over the size limit are refused before they are parsed; malformed lines are all
collected and reported together.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import FileTooLargeError, RecordIssue, RecordValidationError, UnsupportedFileError

__all__ = ["RawTable", "read_table", "SUPPORTED_EXTENSIONS"]

SUPPORTED_EXTENSIONS = (".jsonl", ".ndjson", ".json", ".csv", ".parquet", ".pq")


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


def _mib(n: float) -> str:
    return f"{n / (1024 * 1024):.1f} MiB"


def read_table(
    source: str | Path | bytes,
    *,
    filename: str | None = None,
    max_bytes: int = 50 * 1024 * 1024,
    max_records: int = 200_000,
) -> RawTable:
    """Read ``source`` (a path, or bytes with ``filename``) into a :class:`RawTable`.

    Raises
    ------
    FileTooLargeError
        The file is over ``max_bytes`` or holds over ``max_records`` records.
    UnsupportedFileError
        Unknown extension, undecodable text or unreadable Parquet.
    RecordValidationError
        Lines that are not JSON objects, or CSV rows with more cells than the header.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not filename:
            raise ValueError("read_table needs filename= when given bytes")
        name, data = filename, bytes(source)
        if len(data) > max_bytes:
            raise _too_large(name, len(data), max_bytes)
    else:
        path = Path(source)
        name = filename or path.name
        if not path.is_file():
            raise UnsupportedFileError(f"'{path}' is not a file; check the path.")
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_large(name, size, max_bytes)
        data = path.read_bytes()
    ext = Path(name).suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        raise UnsupportedFileError(
            f"'{name}': unsupported file type '{ext or '(none)'}'. Use one of "
            f"{', '.join(SUPPORTED_EXTENSIONS)}."
        )
    digest = hashlib.sha256(data).hexdigest()
    if ext in (".parquet", ".pq"):
        kind, records = "parquet", _read_parquet(name, data)
    else:
        text = _decode(name, data)
        if ext == ".csv":
            kind, records = "csv", _read_csv(name, text)
        elif ext == ".json" and text.lstrip().startswith("["):
            kind, records = "json", _read_json_array(name, text)
        else:
            kind, records = "jsonl", _read_jsonl(name, text)
    if len(records) > max_records:
        raise FileTooLargeError(
            f"'{name}' holds {len(records):,} records; the import limit is {max_records:,} "
            "(max_import_records / INFOSYNTH_MAX_IMPORT_RECORDS). Split the file."
        )
    if not records:
        raise RecordValidationError(name, [RecordIssue("file", "", "", "holds no records")])
    return RawTable(source=name, kind=kind, records=records, sha256=digest)


def _too_large(name: str, size: int, limit: int) -> FileTooLargeError:
    return FileTooLargeError(
        f"'{name}' is {_mib(size)}; the import limit is {_mib(limit)} (max_import_mb / "
        "INFOSYNTH_MAX_IMPORT_MB, or --max-mb on the command line). Split the file or raise "
        "the limit."
    )


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UnsupportedFileError(
            f"'{name}' is not UTF-8 text (bad byte 0x{data[exc.start]:02x} on line {line}). "
            "Save it as UTF-8 and import again."
        ) from None


def _short(text: str, limit: int = 60) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _read_jsonl(name: str, text: str) -> list[tuple[str, dict[str, Any]]]:
    records, issues = [], []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            issues.append(RecordIssue(where, "", _short(line), f"is not valid JSON ({exc.msg})"))
            continue
        if not isinstance(obj, dict):
            issues.append(RecordIssue(where, "", _short(line), "is not a JSON object"))
            continue
        records.append((where, obj))
    if issues:
        raise RecordValidationError(name, issues)
    return records


def _read_json_array(name: str, text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        arr = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordValidationError(
            name, [RecordIssue(f"line {exc.lineno}", "", "", f"is not valid JSON ({exc.msg})")]
        ) from None
    issues = [
        RecordIssue(f"item {i}", "", _short(json.dumps(o)), "is not a JSON object")
        for i, o in enumerate(arr, 1)
        if not isinstance(o, dict)
    ]
    if issues:
        raise RecordValidationError(name, issues)
    return [(f"item {i}", o) for i, o in enumerate(arr, 1)]


def _read_csv(name: str, text: str) -> list[tuple[str, dict[str, Any]]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise RecordValidationError(name, [RecordIssue("row 0", "", "", "has no header row")])
    records, issues = [], []
    try:
        for i, row in enumerate(reader, 1):
            where = f"row {i}"
            if None in row:
                issues.append(
                    RecordIssue(where, "", _short(str(row[None])), "has more cells than the header")
                )
                continue
            # csv gives '' for empty cells; treat them as absent.
            records.append((where, {k: v for k, v in row.items() if v not in ("", None)}))
    except csv.Error as exc:
        issues.append(RecordIssue(f"line {reader.line_num}", "", "", f"is not valid CSV ({exc})"))
    if issues:
        raise RecordValidationError(name, issues)
    return records


def _read_parquet(name: str, data: bytes) -> list[tuple[str, dict[str, Any]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise UnsupportedFileError(f"'{name}' is not a readable Parquet file ({exc}).") from None
    return [
        (f"row {i}", {k: v for k, v in rec.items() if v is not None})
        for i, rec in enumerate(table.to_pylist(), 1)
    ]
