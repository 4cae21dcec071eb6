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
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import RecordIssue, RecordValidationError

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

_ID_MAX = 200
_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*(\(\))?(\.[A-Za-z_]\w*)*$")


class Origin(BaseModel):
    """Lineage of a problem: the operator that made it, its parents' ids, generation, colony."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operator: Operator = "seed"
    parents: tuple[str, ...] = ()
    generation: int = Field(default=0, ge=0)
    colony: int | None = Field(default=None, ge=0)


class Problem(BaseModel):
    """A coding problem with optional reference solution and pytest tests.

    Immutable: use ``problem.model_copy(update={...})`` to derive an edited copy.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=_ID_MAX)
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
        if any(c in v for c in "\r\n\t"):
            raise ValueError("must be a single line without tabs")
        return v

    @field_validator("problem")
    @classmethod
    def _statement_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the problem statement must not be blank")
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
                if t:
                    seen.setdefault(t, None)
            return tuple(seen)
        return v

    @field_validator("metadata")
    @classmethod
    def _metadata_is_json(cls, v: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(v, allow_nan=False)
        except (TypeError, ValueError) as exc:
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
    records: Iterable[tuple[str, dict[str, Any]]], *, source: str
) -> list[Problem]:
    """Validate ``(where, record)`` pairs into Problems, or raise with every issue found.

    ``where`` locates each record for the message ("line 3"). Duplicate ids are issues too.
    Raises :class:`RecordValidationError` listing all issues; returns the problems otherwise.
    """
    problems: list[Problem] = []
    issues: list[RecordIssue] = []
    first_seen: dict[str, str] = {}
    for where, record in records:
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
