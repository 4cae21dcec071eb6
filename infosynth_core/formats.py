"""Input formats: detection from columns and conversion to the canonical record.

Known formats
-------------
canonical        InfoSynth's own record (``id``, ``problem``, ``solution``, ``tests``, …)
mbpp             MBPP (``text``/``prompt``, ``code``, ``test_list``, ``test_setup_code``),
                 original and sanitized
humaneval        HumanEval (``prompt``, ``canonical_solution``, ``test``, ``entry_point``)
leetcodedataset  LeetCodeDataset (``problem_description``, ``completion``, ``test``,
                 ``entry_point``, ``tags``)
statements       statements only (``problem``/``statement``/``question``/``text``/…)

Or an explicit column mapping ``{canonical field: column}``. Conversions never execute code;
they only rearrange text. In every converted ``tests`` file the solution is importable as
module ``solution``.
"""

from __future__ import annotations

import ast
import json
import textwrap
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from .errors import FormatDetectionError, RecordIssue, RecordValidationError
from .problem import Problem

__all__ = ["FORMATS", "detect_format", "convert_records"]

STATEMENT_COLUMNS = (
    "problem",
    "statement",
    "question",
    "text",
    "prompt",
    "description",
    "problem_description",
    "content",
)
ID_COLUMNS = ("id", "task_id", "question_id", "slug", "problem_id")
TOPIC_COLUMNS = ("topics", "tags")
DIFFICULTY_COLUMNS = ("difficulty", "level")
CANONICAL_FIELDS = tuple(Problem.model_fields)


def _parse_list(value: Any) -> Any:
    """Lists may arrive as lists, JSON/Python list literals, or 'a; b' strings (CSV)."""
    if value is None or isinstance(value, (list, tuple)):
        return value
    if isinstance(value, str):
        s = value.strip()
        if not s:
            return []
        if s.startswith("["):
            try:
                return json.loads(s)
            except json.JSONDecodeError:
                try:
                    return ast.literal_eval(s)
                except (ValueError, SyntaxError):
                    return value  # let validation name it
        sep = next((c for c in ";|," if c in s), None)
        return [t.strip() for t in s.split(sep)] if sep else [s]
    return value


def _parse_json_obj(value: Any) -> Any:
    if isinstance(value, str) and value.strip().startswith("{"):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _canonical(rec: Mapping[str, Any], n: int) -> dict[str, Any]:
    out = dict(rec)
    if "topics" in out:
        out["topics"] = _parse_list(out["topics"])
    for key in ("origin", "metadata"):
        if key in out:
            out[key] = _parse_json_obj(out[key])
    if isinstance(out.get("origin"), dict) and "parents" in out["origin"]:
        out["origin"] = {**out["origin"], "parents": _parse_list(out["origin"]["parents"])}
    if isinstance(out.get("id"), int):
        out["id"] = str(out["id"])
    return out


def _first_present(rec: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if rec.get(name) not in (None, ""):
            return rec[name]
    return None


def _record_id(rec: Mapping[str, Any], n: int, *, fallback: str, prefix: str = "") -> str:
    """``prefix`` + the record's task_id, or ``fallback-n`` when it has none."""
    value = rec.get("task_id")
    if value in (None, ""):
        return f"{fallback}-{n}"
    return f"{prefix}{value}"


def _parse(source: str) -> ast.Module | None:
    """Parse without executing; None on syntax errors (old code may warn: silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError):
            return None


def _called_names(source: str) -> list[str]:
    tree = _parse(source)
    if tree is None:
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            names.append(node.func.id)
    return names


def _defined_functions(source: str) -> list[str]:
    tree = _parse(source)
    if tree is None:
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _indent(src: str) -> str:
    return textwrap.indent(src.strip("\n"), "    ")


def _mbpp(rec: Mapping[str, Any], n: int) -> dict[str, Any]:
    code = str(rec.get("code") or "").replace("\r\n", "\n")
    test_list = _parse_list(rec.get("test_list")) or []
    test_imports = _parse_list(rec.get("test_imports")) or []
    setup = str(rec.get("test_setup_code") or "").replace("\r\n", "\n").strip()
    defined = _defined_functions(code)
    called = [c for c in _called_names("\n".join(map(str, test_list))) if c in defined]
    header = ["from solution import *"]
    private = sorted({c for c in called if c.startswith("_")})
    if private:  # `import *` skips _names: import the ones the tests call explicitly
        header.append(f"from solution import {', '.join(private)}")
    header += [str(i) for i in test_imports]
    if setup:  # after the import: some setup code uses names the solution defines
        header.append(setup)
    bodies = [
        f"def test_{i}():\n{_indent(str(t).replace(chr(13) + chr(10), chr(10)))}\n"
        for i, t in enumerate(test_list, 1)
    ]
    tests = "\n".join(header) + "\n\n\n" + "\n\n".join(bodies) if bodies else None
    entry = called[0] if called else (defined[0] if defined else None)
    return {
        "id": _record_id(rec, n, fallback="mbpp", prefix="mbpp-"),
        "problem": _first_present(rec, ("text", "prompt")),
        "solution": code or None,
        "tests": tests,
        "entry_point": entry,
        "metadata": {"source_format": "mbpp", "source_id": str(rec.get("task_id", n))},
    }


def _humaneval(rec: Mapping[str, Any], n: int) -> dict[str, Any]:
    prompt, entry = str(rec.get("prompt") or ""), str(rec.get("entry_point") or "")
    test = str(rec.get("test") or "")
    tests = (
        f"import solution as _solution\nfrom solution import *\n\n{test.strip()}\n\n\n"
        f"def test_check():\n    check(_solution.{entry})\n"
    )
    return {
        "id": _record_id(rec, n, fallback="humaneval"),
        "problem": prompt,
        "solution": prompt + str(rec.get("canonical_solution") or ""),
        "tests": tests if test.strip() else None,
        "entry_point": entry or None,
        "metadata": {"source_format": "humaneval", "source_id": str(rec.get("task_id", n))},
    }


def _leetcodedataset(rec: Mapping[str, Any], n: int) -> dict[str, Any]:
    entry = str(rec.get("entry_point") or "")
    prelude = str(rec.get("prompt") or "")
    test = str(rec.get("test") or "")
    tests = f"from solution import *\n\n{test.strip()}\n\n\ndef test_check():\n    check({entry})\n"
    meta = {"source_format": "leetcodedataset", "source_id": str(rec.get("task_id", n))}
    if rec.get("starter_code"):
        meta["starter_code"] = str(rec["starter_code"])
    return {
        "id": _record_id(rec, n, fallback="leetcode"),
        "problem": rec.get("problem_description"),
        "solution": (prelude.rstrip() + "\n\n\n" + str(rec.get("completion") or "")).lstrip(),
        "tests": tests if test.strip() else None,
        "entry_point": entry or None,
        "topics": _parse_list(rec.get("tags")) or [],
        "difficulty": rec.get("difficulty"),
        "metadata": meta,
    }


def _statements(rec: Mapping[str, Any], n: int) -> dict[str, Any]:
    ident = _first_present(rec, ID_COLUMNS)
    out: dict[str, Any] = {
        "id": str(ident) if ident is not None else f"problem-{n}",
        "problem": _first_present(rec, STATEMENT_COLUMNS),
        "topics": _parse_list(_first_present(rec, TOPIC_COLUMNS)) or [],
        "metadata": {"source_format": "statements"},
    }
    difficulty = _first_present(rec, DIFFICULTY_COLUMNS)
    if difficulty is not None:
        out["difficulty"] = difficulty
    return out


#: name -> converter(record, 1-based record number) -> canonical dict (not yet validated)
FORMATS: dict[str, Callable[[Mapping[str, Any], int], dict[str, Any]]] = {
    "canonical": _canonical,
    "mbpp": _mbpp,
    "humaneval": _humaneval,
    "leetcodedataset": _leetcodedataset,
    "statements": _statements,
}


def detect_format(columns: list[str], *, source: str = "input") -> str:
    """Name the format whose signature the ``columns`` match (see the module docstring)."""
    cols = set(columns)
    if {"problem_description", "completion", "test", "entry_point"} <= cols:
        return "leetcodedataset"
    if {"prompt", "canonical_solution", "test", "entry_point"} <= cols:
        return "humaneval"
    if {"code", "test_list"} <= cols and cols & {"text", "prompt"}:
        return "mbpp"
    if {"id", "problem"} <= cols and (
        cols & {"solution", "tests", "origin"} or cols <= set(CANONICAL_FIELDS)
    ):
        return "canonical"
    if cols & set(STATEMENT_COLUMNS):
        return "statements"
    raise FormatDetectionError(
        f"Cannot tell the format of '{source}' from its columns {sorted(cols)}. Known formats: "
        f"{', '.join(FORMATS)}. Name the format (--format) or map columns to fields "
        "(--map problem=COLUMN --map solution=COLUMN …)."
    )


def _apply_mapping(
    records: list[tuple[str, dict[str, Any]]],
    mapping: Mapping[str, str],
    columns: list[str],
    source: str,
) -> list[tuple[str, dict[str, Any]]]:
    unknown = [k for k in mapping if k not in CANONICAL_FIELDS]
    missing = [c for c in mapping.values() if c not in columns]
    if unknown or missing or "problem" not in mapping:
        parts = []
        if unknown:
            parts.append(f"unknown field(s) {unknown} (fields: {', '.join(CANONICAL_FIELDS)})")
        if missing:
            parts.append(f"column(s) {missing} not in the file (columns: {', '.join(columns)})")
        if "problem" not in mapping:
            parts.append("no column is mapped to 'problem' (the statement)")
        raise FormatDetectionError(f"Column mapping for '{source}' is invalid: " + "; ".join(parts))
    out = []
    for n, (where, rec) in enumerate(records, 1):
        mapped = {
            field: rec[col] for field, col in mapping.items() if rec.get(col) not in (None, "")
        }
        mapped.setdefault("id", f"problem-{n}")
        out.append((where, _canonical(mapped, n)))
    return out


def convert_records(
    records: list[tuple[str, dict[str, Any]]],
    *,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    columns: list[str] | None = None,
    source: str = "input",
) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    """Convert located records to canonical dicts; returns ``(format used, records)``.

    ``format`` is ``"auto"`` (detect), one of :data:`FORMATS`, or ignored when a ``mapping``
    is given (the format is then ``"mapping"``).
    """
    if columns is None:
        columns = list(dict.fromkeys(k for _, r in records for k in r))
    if mapping:
        return "mapping", _apply_mapping(records, mapping, columns, source)
    if format == "auto":
        format = detect_format(columns, source=source)
    if format not in FORMATS:
        raise FormatDetectionError(
            f"Unknown format '{format}' for '{source}'; use auto or one of {', '.join(FORMATS)}."
        )
    convert = FORMATS[format]
    out, issues = [], []
    for n, (where, rec) in enumerate(records, 1):
        try:
            converted = convert(rec, n)
            out.append((where, {k: v for k, v in converted.items() if v is not None}))
        except (TypeError, ValueError, AttributeError) as exc:  # malformed cell types
            issues.append(RecordIssue(where, "", "", f"cannot be read as {format} ({exc})"))
    if issues:
        raise RecordValidationError(source, issues)
    return format, out
