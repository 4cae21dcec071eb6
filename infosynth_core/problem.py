"""The canonical problem record (see DESIGN.md, "Contracts").

One record per line in JSONL::

    {"id": "seed-001", "problem": "...", "solution": "def f(...): ...",
     "tests": "from solution import f\\n\\ndef test_basic():\\n    assert f(1) == 2\\n",
     "entry_point": "f", "topics": ["Array"], "difficulty": "easy",
     "origin": {"operator": "seed", "parents": [], "generation": 0, "colony": null},
     "status": "unverified", "review": "pending", "metadata": {}}

``tests`` is pytest-style source (``test_*`` functions with asserts) that imports the solution
as module ``solution``. ``origin`` carries the lineage: which operator made the problem, from
which parents, in which generation and colony.

Rules checked on every record:

- ``id`` and every ``origin.parents`` id follow :data:`infosynth_core.ids.ID_RULE` (ASCII
  letters, digits, ``.``, ``_``, ``-``; starts with a letter or digit; no ``..``; at most 200
  characters). Surrounding whitespace is stripped.
- ``problem`` (the statement) is not blank and holds no control characters other than line
  breaks and tabs (no NUL, no escape sequences). Imports also cap its length
  (``max_statement_chars``, see :func:`validate_records`).
- ``solution``, ``tests`` and ``entry_point`` hold no NUL character; ``topics`` hold no control
  characters.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import RecordIssue, RecordValidationError
from .ids import check_id

__all__ = [
    "DIFFICULTIES",
    "OPERATORS",
    "STATUSES",
    "REVIEWS",
    "Origin",
    "Problem",
    "issues_from_validation_error",
    "validate_records",
]

DIFFICULTIES = ("easy", "medium", "hard")
OPERATORS = (
    "seed",
    "mutation-easy",
    "mutation-medium",
    "mutation-hard",
    "crossover",
    "rephrase",
    "edit",
)
STATUSES = ("unverified", "passed", "failed", "error", "timeout", "unparsable")
REVIEWS = ("pending", "accepted", "rejected")

Difficulty = Literal["easy", "medium", "hard"]
Operator = Literal[
    "seed", "mutation-easy", "mutation-medium", "mutation-hard", "crossover", "rephrase", "edit"
]
Status = Literal["unverified", "passed", "failed", "error", "timeout", "unparsable"]
Review = Literal["pending", "accepted", "rejected"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*(\(\))?(\.[A-Za-z_]\w*)*$")


class Origin(BaseModel):
    """Lineage of a problem: the operator that made it, its parents' ids, generation, colony."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operator: Operator = "seed"
    parents: tuple[str, ...] = ()
    generation: int = Field(default=0, ge=0)
    colony: int | None = Field(default=None, ge=0)

    @field_validator("parents")
    @classmethod
    def _parents_are_ids(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for i, parent in enumerate(v, 1):
            try:
                check_id(parent)
            except ValueError as exc:
                raise ValueError(f"parent {i} {exc}") from None
        return v


def _control_message(text: str, match: re.Match[str], allowed: str) -> str:
    c = match.group()
    name = unicodedata.name(c, "") or {"\x00": "NUL"}.get(c, "control character")
    line = text.count("\n", 0, match.start()) + 1
    return f"holds the control character U+{ord(c):04X} ({name}) on line {line}; {allowed}"


class Problem(BaseModel):
    """A coding problem with optional reference solution and pytest tests.

    Immutable: use ``problem.model_copy(update={...})`` to derive an edited copy.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str  # checked by _id_is_clean: ids.ID_RULE, at most ids.ID_MAX_CHARS characters
    problem: str = Field(min_length=1)
    solution: str | None = None
    tests: str | None = None
    entry_point: str | None = None
    topics: tuple[str, ...] = ()
    difficulty: Difficulty | None = None
    origin: Origin = Origin()
    status: Status = "unverified"
    review: Review = "pending"
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _id_is_clean(cls, v: str) -> str:
        v = v.strip()
        if not v:
            raise ValueError("must not be blank")
        return check_id(v)

    @field_validator("problem")
    @classmethod
    def _statement_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the problem statement must not be blank")
        bad = _CONTROL.search(v)
        if bad:
            raise ValueError(
                _control_message(v, bad, "a statement may hold only text, line breaks and tabs")
            )
        return v

    @field_validator("solution", "tests", "entry_point")
    @classmethod
    def _no_nul(cls, v: str | None) -> str | None:
        if v is not None and "\x00" in v:
            line = v.count("\n", 0, v.index("\x00")) + 1
            raise ValueError(f"holds a NUL character on line {line}; Python source cannot")
        return v

    @field_validator("solution", "tests", "entry_point", mode="before")
    @classmethod
    def _blank_is_none(cls, v: Any) -> Any:
        if isinstance(v, str) and not v.strip():
            return None
        return v

    @field_validator("entry_point")
    @classmethod
    def _entry_point_shape(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = v.strip()
        if not _ENTRY_POINT.match(v):
            raise ValueError(
                "must be a function name such as 'two_sum' or a method path such as "
                "'Solution().twoSum'"
            )
        return v

    @field_validator("difficulty", mode="before")
    @classmethod
    def _difficulty_case(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = v.strip().lower()
            return v or None
        return v

    @field_validator("topics", mode="before")
    @classmethod
    def _topics_unique(cls, v: Any) -> Any:
        if isinstance(v, (list, tuple)):
            seen: dict[str, None] = {}
            for t in v:
                if not isinstance(t, str):
                    raise ValueError(f"every topic must be a string; got {t!r}")
                t = t.strip()
                bad = _ANY_CONTROL.search(t)
                if bad:
                    raise ValueError(
                        "topic " + _control_message(t, bad, "topics are one line of text")
                    )
                if t:
                    seen.setdefault(t, None)
            return tuple(seen)
        return v

    @field_validator("metadata")
    @classmethod
    def _metadata_is_json(cls, v: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(v, allow_nan=False, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"holds text that is not valid Unicode ({exc.reason}: "
                f"U+{ord(exc.object[exc.start]):04X})"
            ) from None
        except (TypeError, ValueError, RecursionError) as exc:
            raise ValueError(f"must be JSON-serialisable ({exc})") from None
        return v

    # ------------------------------------------------------------------ helpers
    def to_record(self) -> dict[str, Any]:
        """The canonical JSON-ready dict (lists, not tuples)."""
        return self.model_dump(mode="json")

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of statement, solution and tests: equal content, equal hash."""
        h = hashlib.sha256()
        for part in (self.problem, self.solution or "", self.tests or ""):
            h.update(part.encode("utf-8"))
            h.update(b"\x00")
        return h.hexdigest()

    @property
    def has_reference(self) -> bool:
        """True when the problem carries both a reference solution and tests."""
        return bool(self.solution and self.tests)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def issues_from_validation_error(where: str, exc: ValidationError) -> list[RecordIssue]:
    """Turn a pydantic ValidationError into one RecordIssue per failing field."""
    issues = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = (
                "is not a field of the canonical record (allowed: "
                + ", ".join(Problem.model_fields)
                + "); map or drop it"
            )
        elif err["type"] == "missing":
            msg = "is required"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        value = "" if err["type"] == "missing" else _short(err.get("input"))
        issues.append(RecordIssue(where=where, field=field, value=value, reason=msg))
    return issues


def validate_records(
    records: Iterable[tuple[str, dict[str, Any]]],
    *,
    source: str,
    max_statement_chars: int | None = None,
) -> list[Problem]:
    """Validate ``(where, record)`` pairs into Problems, or raise with every issue found.

    ``where`` locates each record for the message ("line 3"). Duplicate ids are issues too,
    and so are statements longer than ``max_statement_chars`` characters (None: no limit).
    Raises :class:`RecordValidationError` listing all issues; returns the problems otherwise.
    """
    problems: list[Problem] = []
    issues: list[RecordIssue] = []
    first_seen: dict[str, str] = {}
    for where, record in records:
        statement = record.get("problem") if isinstance(record, dict) else None
        if (
            max_statement_chars is not None
            and isinstance(statement, str)
            and len(statement) > max_statement_chars
        ):
            issues.append(
                RecordIssue(
                    where,
                    "problem",
                    _short(statement),
                    f"is {len(statement):,} characters long; the limit is "
                    f"{max_statement_chars:,} (max_statement_chars / "
                    "INFOSYNTH_MAX_STATEMENT_CHARS, or --max-statement-chars on the command "
                    "line)",
                )
            )
            continue
        try:
            p = Problem.model_validate(record)
        except ValidationError as exc:
            issues.extend(issues_from_validation_error(where, exc))
            continue
        if p.id in first_seen:
            issues.append(
                RecordIssue(where, "id", _short(p.id), f"duplicates the id at {first_seen[p.id]}")
            )
            continue
        first_seen[p.id] = where
        problems.append(p)
    if issues:
        raise RecordValidationError(source, issues)
    return problems
