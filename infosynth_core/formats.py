"""Input formats: detection from columns and conversion to the canonical record.

Known formats
-------------
canonical        InfoSynth's own record (``id``, ``problem``, ``solution``, ``tests``, …)
mbpp             MBPP (``text``/``prompt``, ``code``, ``test_list``, ``test_setup_code``,
                 ``test_imports``), original and sanitized
humaneval        HumanEval (``prompt``, ``canonical_solution``, ``test``, ``entry_point``)
leetcodedataset  LeetCodeDataset (``problem_description``, ``completion``, ``test``,
                 ``entry_point``, ``tags``)
statements       statements only (``problem``/``statement``/``question``/``text``/…)

Or an explicit column mapping ``{canonical field: column}``. Conversions never execute code;
they only rearrange text. In every converted ``tests`` file the solution is importable as
module ``solution``.

Nothing is dropped silently
---------------------------
- **Adapters** (every format but canonical, and mappings) keep each non-empty column they do
  not use in ``metadata['extra_columns']`` (``{column: value}``), so MBPP's
  ``challenge_test_list`` or LeetCode's ``title`` travel with the problem.
- **Solution or test columns that would go unused** are refused: when a file falls back to
  *statements* although it has columns such as ``canonical_solution``, ``test``, ``code``,
  ``test_list``, ``completion``, ``solution`` or ``tests`` (typically a HumanEval file without
  ``entry_point``), the error names the format it nearly matched and what it lacks.
- **Canonical files** accept only canonical fields; any other field is an error per record.
- With ``allow_dropped_columns=True`` (CLI ``--drop-unused``, the Seeds page checkbox) those
  two cases import anyway: the refused columns/fields are dropped and
  :class:`Conversion` ``.dropped`` says exactly which, with how many non-empty cells.

Ids
---
Ids follow :data:`infosynth_core.ids.ID_RULE`. Adapters turn an unsafe source id into a safe
one (``HumanEval/0`` → ``HumanEval-0``) and keep the original in ``metadata['source_id']``;
canonical ids are checked, never rewritten. Cells of the wrong type (a list where text is
expected, a number in ``test_list``) are errors that name the column: see
:mod:`infosynth_core.cells`.
"""

from __future__ import annotations

import ast
import textwrap
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .cells import CellError, id_cell, jsonable, list_cell, object_cell, text_cell
from .errors import DroppedDataError, FormatDetectionError, RecordIssue, RecordValidationError
from .ids import is_safe_id, safe_id_from
from .problem import Problem

__all__ = ["FORMATS", "Conversion", "detect_format", "convert_records"]

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
#: Columns that hold solutions or tests in some known format.
REFERENCE_COLUMNS = (
    "solution",
    "tests",
    "code",
    "test_list",
    "test_setup_code",
    "canonical_solution",
    "test",
    "completion",
)
SIGNATURES = {
    "leetcodedataset": ("problem_description", "completion", "test", "entry_point"),
    "humaneval": ("prompt", "canonical_solution", "test", "entry_point"),
    "mbpp": ("code", "test_list", "text or prompt"),
}
#: Source code longer than this is not parsed to find the entry point (characters).
_MAX_PARSE_CHARS = 1_000_000


def _absent(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _first_column(rec: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    return next((n for n in names if not _absent(rec.get(n))), None)


def _canonical(rec: Mapping[str, Any], n: int) -> dict[str, Any]:
    out = dict(rec)
    if "topics" in out:
        out["topics"] = list_cell(out, "topics")
    for key in ("origin", "metadata"):
        if key in out:
            out[key] = object_cell(out[key], key)
    if isinstance(out.get("origin"), dict) and isinstance(out["origin"].get("parents"), str):
        out["origin"] = {**out["origin"], "parents": list_cell(out["origin"], "parents")}
    if isinstance(out.get("id"), int) and not isinstance(out["id"], bool):
        out["id"] = str(out["id"])
    return out


def _adapter_id(raw: str | None, fallback: str, meta: dict[str, Any]) -> str:
    """A safe id from a source id (original kept in ``meta['source_id']``)."""
    if raw is None:
        return fallback
    if not is_safe_id(raw):
        meta["source_id"] = raw
        return safe_id_from(raw)
    return raw


def _parse(source: str) -> ast.Module | None:
    """Parse without executing; None on syntax errors (old code may warn: silenced)."""
    if len(source) > _MAX_PARSE_CHARS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return None


def _called_names(source: str) -> list[str]:
    tree = _parse(source)
    if tree is None:
        return []
    return [
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    ]


def _defined_functions(source: str) -> list[str]:
    tree = _parse(source)
    if tree is None:
        return []
    return [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _indent(src: str) -> str:
    return textwrap.indent(src.strip("\n"), "    ")


def _mbpp(rec: Mapping[str, Any], n: int) -> dict[str, Any]:
    code = (text_cell(rec, "code") or "").replace("\r\n", "\n")
    test_list = list_cell(rec, "test_list") or []
    test_imports = list_cell(rec, "test_imports") or []
    setup = (text_cell(rec, "test_setup_code") or "").replace("\r\n", "\n").strip()
    defined = _defined_functions(code)
    called = [c for c in _called_names("\n".join(test_list)) if c in defined]
    header = ["from solution import *"]
    private = sorted({c for c in called if c.startswith("_")})
    if private:  # `import *` skips _names: import the ones the tests call explicitly
        header.append(f"from solution import {', '.join(private)}")
    header += test_imports
    if setup:  # after the import: some setup code uses names the solution defines
        header.append(setup)
    bodies = [
        f"def test_{i}():\n{_indent(t.replace(chr(13) + chr(10), chr(10)))}\n"
        for i, t in enumerate(test_list, 1)
    ]
    tests = "\n".join(header) + "\n\n\n" + "\n\n".join(bodies) if bodies else None
    entry = called[0] if called else (defined[0] if defined else None)
    task_id = id_cell(rec, "task_id")
    meta: dict[str, Any] = {"source_format": "mbpp", "source_id": task_id or str(n)}
    column = _first_column(rec, ("text", "prompt"))
    return {
        "id": _adapter_id(None if task_id is None else f"mbpp-{task_id}", f"mbpp-{n}", meta),
        "problem": text_cell(rec, column) if column else None,
        "solution": code or None,
        "tests": tests,
        "entry_point": entry,
        "metadata": meta,
    }


def _humaneval(rec: Mapping[str, Any], n: int) -> dict[str, Any]:
    prompt, entry = text_cell(rec, "prompt") or "", text_cell(rec, "entry_point") or ""
    test = text_cell(rec, "test") or ""
    tests = (
        f"import solution as _solution\nfrom solution import *\n\n{test.strip()}\n\n\n"
        f"def test_check():\n    check(_solution.{entry})\n"
    )
    task_id = id_cell(rec, "task_id")
    meta: dict[str, Any] = {"source_format": "humaneval", "source_id": task_id or str(n)}
    return {
        "id": _adapter_id(task_id, f"humaneval-{n}", meta),
        "problem": prompt,
        "solution": prompt + (text_cell(rec, "canonical_solution") or ""),
        "tests": tests if test.strip() else None,
        "entry_point": entry or None,
        "metadata": meta,
    }


def _leetcodedataset(rec: Mapping[str, Any], n: int) -> dict[str, Any]:
    entry = text_cell(rec, "entry_point") or ""
    prelude = text_cell(rec, "prompt") or ""
    test = text_cell(rec, "test") or ""
    tests = f"from solution import *\n\n{test.strip()}\n\n\ndef test_check():\n    check({entry})\n"
    task_id = id_cell(rec, "task_id")
    meta: dict[str, Any] = {"source_format": "leetcodedataset", "source_id": task_id or str(n)}
    starter = text_cell(rec, "starter_code")
    if starter:
        meta["starter_code"] = starter
    completion = text_cell(rec, "completion") or ""
    return {
        "id": _adapter_id(task_id, f"leetcode-{n}", meta),
        "problem": text_cell(rec, "problem_description"),
        "solution": (prelude.rstrip() + "\n\n\n" + completion).lstrip(),
        "tests": tests if test.strip() else None,
        "entry_point": entry or None,
        "topics": list_cell(rec, "tags") or [],
        "difficulty": rec.get("difficulty"),
        "metadata": meta,
    }


def _statements(rec: Mapping[str, Any], n: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"source_format": "statements"}
    id_col, text_col, topic_col, level_col = _statement_columns(rec)
    out: dict[str, Any] = {
        "id": _adapter_id(id_cell(rec, id_col) if id_col else None, f"problem-{n}", meta),
        "problem": text_cell(rec, text_col) if text_col else None,
        "topics": (list_cell(rec, topic_col) if topic_col else None) or [],
        "metadata": meta,
    }
    if level_col is not None:
        out["difficulty"] = rec[level_col]
    return out


def _statement_columns(rec: Mapping[str, Any]) -> tuple[str | None, ...]:
    return tuple(
        _first_column(rec, names)
        for names in (ID_COLUMNS, STATEMENT_COLUMNS, TOPIC_COLUMNS, DIFFICULTY_COLUMNS)
    )


#: name -> converter(record, 1-based record number) -> canonical dict (not yet validated)
FORMATS: dict[str, Callable[[Mapping[str, Any], int], dict[str, Any]]] = {
    "canonical": _canonical,
    "mbpp": _mbpp,
    "humaneval": _humaneval,
    "leetcodedataset": _leetcodedataset,
    "statements": _statements,
}

#: name -> the columns of a record that its converter reads
_USES: dict[str, Callable[[Mapping[str, Any]], set[str]]] = {
    "canonical": lambda rec: set(CANONICAL_FIELDS),
    "mbpp": lambda rec: (
        {"task_id", "code", "test_list", "test_imports", "test_setup_code"}
        | {_first_column(rec, ("text", "prompt")) or "text"}
    ),
    "humaneval": lambda rec: {"task_id", "prompt", "canonical_solution", "test", "entry_point"},
    "leetcodedataset": lambda rec: {
        "task_id",
        "problem_description",
        "prompt",
        "completion",
        "test",
        "entry_point",
        "tags",
        "difficulty",
        "starter_code",
    },
    "statements": lambda rec: {c for c in _statement_columns(rec) if c is not None},
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


def _near_miss(columns: set[str]) -> str:
    """'It looks like humaneval but lacks 'entry_point'.' for the closest signature."""
    best = None
    for fmt, sig in SIGNATURES.items():
        have = [c for c in sig if any(part in columns for part in c.split(" or "))]
        if len(have) >= 2 and (best is None or len(have) > best[1]):
            missing = [c for c in sig if c not in have]
            best = (fmt, len(have), missing)
    if best is None:
        return ""
    missing = " and ".join(f"'{m}'" for m in best[2])
    return f" It looks like {best[0]} but lacks the column {missing}."


@dataclass(frozen=True)
class Conversion:
    """The result of :func:`convert_records`.

    ``kept_columns``: columns kept in ``metadata['extra_columns']``. ``dropped``: ``{column:
    non-empty cells dropped}`` (only with ``allow_dropped_columns=True``).
    """

    format: str
    records: list[tuple[str, dict[str, Any]]]
    kept_columns: tuple[str, ...] = ()
    dropped: dict[str, int] = field(default_factory=dict)


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
    return [
        (where, {f: rec[col] for f, col in mapping.items() if not _absent(rec.get(col))})
        for where, rec in records
    ]


def _mapped(rec: Mapping[str, Any], n: int) -> dict[str, Any]:
    """A record whose columns were mapped to canonical fields: ids made safe (an adapter)."""
    out = _canonical(rec, n)
    if "id" not in out:
        out["id"] = f"problem-{n}"
    elif isinstance(out["id"], str) and not is_safe_id(out["id"]):
        meta = out.get("metadata", {})
        if isinstance(meta, dict):
            out["metadata"] = {**meta, "source_id": out["id"]}
            out["id"] = safe_id_from(out["id"])
    return out


def convert_records(
    records: list[tuple[str, dict[str, Any]]],
    *,
    format: str = "auto",
    mapping: Mapping[str, str] | None = None,
    columns: list[str] | None = None,
    source: str = "input",
    allow_dropped_columns: bool = False,
) -> Conversion:
    """Convert located records to canonical dicts (see the module docstring).

    ``format`` is ``"auto"`` (detect), one of :data:`FORMATS`, or ignored when a ``mapping``
    is given (the format is then ``"mapping"``).

    Raises
    ------
    FormatDetectionError
        Unknown format, or columns that match none.
    DroppedDataError
        Solution/test columns would go unused (unless ``allow_dropped_columns``).
    RecordValidationError
        Cells of the wrong type, unknown canonical fields; every record is checked.
    """
    if columns is None:
        columns = list(dict.fromkeys(k for _, r in records for k in r))
    inputs = records
    if mapping:
        fmt, mapped_columns = "mapping", set(mapping.values())
        inputs = _apply_mapping(records, mapping, columns, source)
        convert: Callable[[Mapping[str, Any], int], dict[str, Any]] = _mapped

        def used_of(rec: Mapping[str, Any]) -> set[str]:
            return mapped_columns

    else:
        fmt = detect_format(columns, source=source) if format == "auto" else format
        if fmt not in FORMATS:
            raise FormatDetectionError(
                f"Unknown format '{fmt}' for '{source}'; use auto or one of {', '.join(FORMATS)}."
            )
        convert, used_of = FORMATS[fmt], _USES[fmt]
    refused = _refused_columns(fmt, records, used_of)
    if refused and not allow_dropped_columns:
        listed = ", ".join(f"'{c}' ({k:,} non-empty)" for c, k in refused.items())
        hint = _near_miss(set(columns)) if fmt == "statements" else ""
        what = (
            "solution/test column(s) that the statements format does not use"
            if fmt != "canonical"
            else "field(s) that are not canonical fields (allowed: "
            + ", ".join(CANONICAL_FIELDS)
            + ")"
        )
        raise DroppedDataError(
            f"'{source}' read as {fmt} would drop {what}: {listed}.{hint} Nothing was imported. "
            "Name the format (--format) or map the columns (--map solution=COLUMN "
            "--map tests=COLUMN), or accept the loss with --drop-unused (Python: "
            "allow_dropped_columns=True; the Seeds page: 'Import even if columns are dropped')."
        )
    out, issues, kept = [], [], {}
    for n, ((where, rec), (_, given)) in enumerate(zip(records, inputs, strict=True), 1):
        rec = {k: v for k, v in rec.items() if k not in refused}
        try:
            converted = convert(given if mapping else rec, n)
        except CellError as exc:
            value = repr(exc.value)
            value = value if len(value) <= 60 else value[:59] + "…"
            issues.append(RecordIssue(where, exc.field, value, exc.reason))
            continue
        except (TypeError, ValueError, AttributeError, RecursionError) as exc:
            issues.append(RecordIssue(where, "", "", f"cannot be read as {fmt} ({exc})"))
            continue
        converted = {k: v for k, v in converted.items() if v is not None}
        if fmt != "canonical":
            used = used_of(rec)
            extra = {k: jsonable(v) for k, v in rec.items() if k not in used and not _absent(v)}
            extra = {k: v for k, v in extra.items() if v is not None}
            if extra:
                meta = converted.setdefault("metadata", {})
                if isinstance(meta, dict):
                    converted["metadata"] = {**meta, "extra_columns": extra}
                kept.update(dict.fromkeys(extra))
        out.append((where, converted))
    if issues:
        raise RecordValidationError(f"{source} (read as {fmt})", issues)
    return Conversion(fmt, out, tuple(kept), refused if allow_dropped_columns else {})


def _refused_columns(
    fmt: str, records: list[tuple[str, dict[str, Any]]], used_of: Callable
) -> dict[str, int]:
    """``{column: non-empty cells}`` of the columns that this format would lose."""
    counts: dict[str, int] = {}
    if fmt == "canonical":
        for _, rec in records:
            for k, v in rec.items():
                if k not in CANONICAL_FIELDS and not _absent(v):
                    counts[k] = counts.get(k, 0) + 1
    elif fmt == "statements":
        for _, rec in records:
            used = used_of(rec)
            for k in REFERENCE_COLUMNS:
                if k not in used and not _absent(rec.get(k)):
                    counts[k] = counts.get(k, 0) + 1
    return counts
