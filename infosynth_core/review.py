"""Curating a run: review table, bulk decisions, edits re-verified in the sandbox, export.

Everything the dashboard's Review page shows or does is computed here, so it can be tested
without Streamlit:

- :func:`review_frame` — one row per problem of a run, filtered and searched;
- :func:`set_review` — accept / reject / reset many problems in one transaction;
- :func:`edit_problem` — change statement, solution or tests; the new content is run in the
  sandbox at once and stored with its verdict, an attempt and an ``edited`` review row;
- :func:`problem_detail` — one problem with its attempts, reviews, lineage and a diff
  against its first parent;
- :func:`export_accepted` — the accepted problems as JSONL, Parquet or a HF dataset folder;
  :func:`export_target` turns a typed name into a path under :func:`export_dir`.

Example
-------
>>> frame = review_frame(store, run_id, search="prime", status="passed")  # doctest: +SKIP
>>> set_review(store, frame["pk"].tolist(), "accepted")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from .errors import ConfigError, ExportError, NotFoundError, VerdictError
from .export import EXPORT_FORMATS, ExportResult, export_from_store
from .ids import check_id
from .problem import REVIEWS, Problem
from .sandbox import Limits, RunResult, Sandbox
from .store import Attempt, Store, StoredProblem, utc_now
from .strength import check_min_score, score_of, stored_mutation_score

__all__ = [
    "REVIEW_DECISIONS",
    "FRAME_COLUMNS",
    "EditResult",
    "review_frame",
    "review_summary",
    "set_review",
    "edit_problem",
    "problem_detail",
    "export_accepted",
    "outcome_rows",
    "default_export_path",
    "default_export_name",
    "export_dir",
    "export_folder",
    "export_target",
    "accepted_jsonl",
    "accepted_count",
    "sandbox_for_run",
]

REVIEW_DECISIONS = ("accepted", "rejected", "pending")  # REVIEWS, in button order
FRAME_COLUMNS = (
    "pk",
    "id",
    "statement",
    "operator",
    "generation",
    "colony",
    "topics",
    "difficulty",
    "status",
    "review",
    "rounds",
    "coverage",
    "test_strength",
)
_EDITABLE = {"problem": "statement", "solution": "solution", "tests": "tests"}
_EXTENSIONS = {"jsonl": ".jsonl", "parquet": ".parquet", "hf": ""}
_NAME_SUFFIX = {"jsonl": "", "parquet": "-parquet", "hf": "-hf"}


def _short(text: str, n: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _wanted(value: Any, name: str) -> set | None:
    """A filter value (None, one value or several) as a set; None means 'any'."""
    if value is None:
        return None
    if isinstance(value, (str, int)):
        return {value}
    if isinstance(value, Iterable):
        return set(value)
    raise ConfigError(
        f"The '{name}' filter of review_frame must be None, a value or a list of values; "
        f"got {value!r}."
    )


def _passing_coverage(attempts: Sequence[Attempt]) -> float | None:
    passing = [a for a in attempts if a.status == "passed"]
    return passing[-1].details.get("coverage") if passing else None


def review_frame(
    store: Store,
    run_id: str,
    *,
    search: str = "",
    status: str | Iterable[str] | None = None,
    review: str | Iterable[str] | None = None,
    operator: str | Iterable[str] | None = None,
    generation: int | Iterable[int] | None = None,
    min_mutation_score: float | None = None,
) -> pd.DataFrame:
    """The run's problems as a review table, one row each, in generation order.

    Columns (:data:`FRAME_COLUMNS`): ``pk``, ``id``, ``statement`` (shortened), ``operator``,
    ``generation``, ``colony``, ``topics`` (comma-separated), ``difficulty``, ``status``,
    ``review``, ``rounds`` (verification attempts), ``coverage`` (share of the solution's
    statements run by the tests in the last passing attempt; None when none passed) and
    ``test_strength`` (the stored mutation score, killed / total in [0, 1]; NaN when the
    problem has none: see :mod:`infosynth_core.strength`).

    ``search`` matches the statement, id or topics, case-insensitively; each filter takes
    one value or several (any of them matches); None keeps every row.
    ``min_mutation_score`` (a fraction in [0, 1], e.g. 0.8 = "tests reject ≥ 80% of
    mutants") keeps only problems scored at least that; unscored ones are dropped.
    Raises NotFoundError for an unknown run, ConfigError for a bad filter value.
    """
    min_score = check_min_score(min_mutation_score, "review_frame")
    store.get_run(run_id)
    wanted = {
        "status": _wanted(status, "status"),
        "review": _wanted(review, "review"),
        "operator": _wanted(operator, "operator"),
        "generation": _wanted(generation, "generation"),
    }
    needle = search.strip().lower()
    rows = []
    for sp in store.problems(run_id=run_id):
        p = sp.problem
        topics = ", ".join(p.topics)
        values = {
            "status": p.status,
            "review": p.review,
            "operator": p.origin.operator,
            "generation": p.origin.generation,
        }
        if any(w is not None and values[k] not in w for k, w in wanted.items()):
            continue
        if needle and not any(needle in s.lower() for s in (p.problem, p.id, topics)):
            continue
        score = score_of(p)
        if min_score is not None and (score is None or score < min_score):
            continue
        attempts = store.attempts(sp.pk)
        rows.append(
            {
                "pk": sp.pk,
                "id": p.id,
                "statement": _short(p.problem),
                "operator": p.origin.operator,
                "generation": p.origin.generation,
                "colony": p.origin.colony,
                "topics": topics,
                "difficulty": p.difficulty or "",
                "status": p.status,
                "review": p.review,
                "rounds": len(attempts),
                "coverage": _passing_coverage(attempts),
                "test_strength": score,
            }
        )
    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    types = {"pk": "int64", "generation": "int64", "rounds": "int64", "test_strength": "float64"}
    return frame.astype(types)


def review_summary(store: Store, run_id: str) -> dict[str, Any]:
    """Counts for a run's review header and filter options (cheap: no attempts read).

    ``problems``, ``passed``, ``review`` (count per review state), ``accepted_not_passed``
    (accepted but not verified), ``generations`` and ``operators`` present in the run.
    """
    problems = [sp.problem for sp in store.problems(run_id=run_id)]
    return {
        "problems": len(problems),
        "passed": sum(p.status == "passed" for p in problems),
        "review": {r: sum(p.review == r for p in problems) for r in REVIEWS},
        "accepted_not_passed": sum(
            p.review == "accepted" and p.status != "passed" for p in problems
        ),
        "generations": sorted({p.origin.generation for p in problems}),
        "operators": sorted({p.origin.operator for p in problems}),
    }


def _unique_pks(pks: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(int(pk) for pk in pks))


def set_review(
    store: Store,
    pks: Iterable[int],
    decision: str,
    *,
    note: str = "",
    override: bool = False,
) -> int:
    """Set the review state of problems ``pks`` to ``decision``, all in one transaction.

    ``decision`` is accepted, rejected or pending. A review row is recorded for every problem
    (the audit trail); returns how many problems changed state. Unknown pks are refused
    before anything is written (NotFoundError naming them); a bad decision is a ConfigError.

    Verdict-aware: accepting a problem whose status is not ``passed`` (failed, unparsable, no
    tests, never verified) raises VerdictError naming them, and nothing is written, unless
    ``override=True``. An overridden acceptance is marked on the problem
    (``metadata["accepted_override"] = {"status", "note", "at"}``, so every export carries
    it) and in its review row's ``changes``.
    """
    if decision not in REVIEW_DECISIONS:
        raise ConfigError(
            f"The 'decision' parameter of set_review must be one of "
            f"{', '.join(REVIEW_DECISIONS)}; got {decision!r}."
        )
    pks = _unique_pks(pks)
    current: dict[int, Problem] = {}
    missing = []
    for pk in pks:
        try:
            current[pk] = store.get_problem(pk).problem
        except NotFoundError:
            missing.append(pk)
    if missing:
        raise NotFoundError(
            f"set_review: no problem with pk {', '.join(map(str, missing))} in the store at "
            f"'{store.path}'; nothing was changed. Reload the run's problems and try again."
        )
    unverified = {pk: None for pk in pks if current[pk].status != "passed"}  # ordered set
    if decision == "accepted" and unverified and not override:
        named = ", ".join(f"{current[pk].id} ({current[pk].status})" for pk in list(unverified)[:5])
        more = f" and {len(unverified) - 5} more" if len(unverified) > 5 else ""
        raise VerdictError(
            f"set_review: {len(unverified)} of the {len(pks)} problem(s) did not pass "
            f"verification: {named}{more}; nothing was changed. Accept only the passed ones, "
            "fix them with an edit (re-verified), or accept anyway with override=True (the "
            "dashboard's 'Accept problems that did not pass'); they are marked "
            "accepted_override in exports."
        )
    with store.transaction():
        for pk in pks:
            problem = current[pk]
            marked = decision == "accepted" and pk in unverified  # overridden above
            changes = {"override": {"status": problem.status}} if marked else None
            if marked:
                meta = dict(problem.metadata)
                meta["accepted_override"] = {
                    "status": problem.status,
                    "note": note,
                    "at": utc_now(),
                }
                store.update_problem(pk, problem.model_copy(update={"metadata": meta}))
            store.add_review(pk, decision, note=note, changes=changes)
    return sum(current[pk].review != decision for pk in pks)


@dataclass(frozen=True)
class EditResult:
    """What an edit did: the stored problem, the sandbox verdict and the attempt recorded.

    ``changes`` maps each changed field (``problem``, ``solution``, ``tests``, ``status``)
    to ``[old, new]``, as in the ``edited`` review row.
    """

    pk: int
    problem: Problem
    result: RunResult
    attempt: Attempt
    changes: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.result.status == "passed"


def _validated_edit(old: Problem, updates: dict[str, str]) -> Problem:
    for name, value in updates.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"The edited {_EDITABLE[name]} ('{name}') of problem '{old.id}' must not be "
                f"blank; got {value!r}. Write it and save again; nothing was changed."
            )
    try:
        return Problem.model_validate({**old.to_record(), **updates})
    except ValidationError as exc:
        err = exc.errors()[0]
        name = ".".join(str(p) for p in err["loc"])
        raise ConfigError(
            f"The edited '{name}' of problem '{old.id}' is invalid: {err['msg']}. Fix it and "
            "save again; nothing was changed."
        ) from None


def edit_problem(
    store: Store,
    pk: int,
    *,
    problem: str | None = None,
    solution: str | None = None,
    tests: str | None = None,
    sandbox: Sandbox,
    note: str = "",
) -> EditResult:
    """Change a problem's statement, solution and/or tests, and re-verify it in the sandbox.

    The new solution runs against the new tests in ``sandbox`` (``Sandbox.run``); then, in
    one transaction, the problem is stored with the new content, the verdict as its
    ``status`` (passed, failed, error, timeout, unparsable) and ``origin.operator`` "edit"
    (parents, generation and colony kept); an attempt with the next round number and the
    execution output is added; and an ``edited`` review row records the changed fields as
    ``[old, new]``. The first edit keeps the original statement, solution, tests, operator
    and status in ``metadata["before_edit"]``. The review state is kept, except that an
    accepted problem whose edit does not pass goes back to ``pending`` (with its own review
    row saying why, and ``changes["review"]``).

    Raises ConfigError naming the field when a given value is blank or invalid, or when
    nothing differs from the stored content; NotFoundError for an unknown pk. Either way
    nothing in the store changes.
    """
    old = store.get_problem(pk).problem
    given = {"problem": problem, "solution": solution, "tests": tests}
    updates = {k: v for k, v in given.items() if v is not None and v != getattr(old, k)}
    if not updates:
        raise ConfigError(
            f"edit_problem got nothing new for problem '{old.id}' (pk {pk}): pass a "
            "'problem', 'solution' or 'tests' that differs from the stored one."
        )
    edited = _validated_edit(old, updates)
    result = sandbox.run(edited.solution or "", edited.tests or "", id=old.id)

    metadata = dict(old.metadata)
    metadata.setdefault(
        "before_edit",
        {
            "problem": old.problem,
            "solution": old.solution,
            "tests": old.tests,
            "operator": old.origin.operator,
            "status": old.status,
        },
    )
    metadata["edits"] = int(metadata.get("edits", 0)) + 1
    new = edited.model_copy(
        update={
            "status": result.status,
            "origin": edited.origin.model_copy(update={"operator": "edit"}),
            "metadata": metadata,
        }
    )
    changes: dict[str, list[Any]] = {k: [getattr(old, k), v] for k, v in updates.items()}
    if old.status != new.status:
        changes["status"] = [old.status, new.status]
    rounds = [a.round for a in store.attempts(pk)]
    attempt = result.to_attempt(max(rounds, default=-1) + 1, solution=new.solution, tests=new.tests)
    attempt = dataclasses.replace(attempt, details={**attempt.details, "edit": True})
    demote = old.review == "accepted" and new.status != "passed"
    if demote:  # an accepted problem whose edit fails verification is no longer accepted
        changes["review"] = ["accepted", "pending"]
    with store.transaction() as conn:
        store.update_problem(pk, new)
        store.add_attempt(pk, attempt)
        # add_review accepts only review states; "edited" is a history row, not a state
        conn.execute(
            "INSERT INTO reviews (problem_pk, decision, note, changes, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (pk, "edited", note, json.dumps(changes, ensure_ascii=False), utc_now()),
        )
        if demote:
            store.add_review(
                pk,
                "pending",
                note=f"edit failed verification ({new.status}); accept it again after a fix",
            )
    return EditResult(pk=pk, problem=new, result=result, attempt=attempt, changes=changes)


def _owner_run(store: Store, pk: int) -> str:
    for run in store.list_runs():
        if any(sp.pk == pk for sp in store.problems(run_id=run.id)):
            return run.id
    raise NotFoundError(
        f"Problem pk {pk} belongs to no run in the store at '{store.path}'; pass run_id= or "
        "pick a problem of a run."
    )


def _diff(old: str | None, new: str | None, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(
        (old or "").splitlines(),
        (new or "").splitlines(),
        fromfile=old_name,
        tofile=new_name,
        lineterm="",
    )
    return "\n".join(lines)


def problem_detail(store: Store, pk: int, *, run_id: str | None = None) -> dict[str, Any]:
    """Everything about one problem of a run, for the detail view.

    Returns a dict with ``pk``, ``run_id``, ``problem`` (Problem), ``attempts`` (every
    verification attempt with its execution output, by round), ``reviews`` (decisions and
    edits, oldest first), ``parents`` (one dict per parent id: ``id``, ``where`` — "run",
    "seed set" or None when not found — ``pk`` and ``problem``), ``children``
    (StoredProblem) and ``diff_against_parent``: None without a resolvable parent, else
    ``{"parent": id, "statement": diff, "solution": diff}`` as unified diffs (difflib)
    against the first parent; ``mutation_score``: the stored test strength
    (:func:`~infosynth_core.strength.stored_mutation_score`: ``score``, ``killed``,
    ``total``, ``survivors``, ``notes``; None when unscored) and ``degenerate``: the
    degeneracy findings that kept it out of the benchmark (``[{"kind", "detail"}]``, empty
    when none). Stored text is returned as is, not escaped. ``run_id`` is looked up when
    not given.
    """
    sp = store.get_problem(pk)
    run_id = run_id or _owner_run(store, pk)
    run = store.get_run(run_id)
    in_run = {s.problem.id: s for s in store.problems(run_id=run_id)}
    if pk not in {s.pk for s in in_run.values()}:
        raise NotFoundError(f"Problem pk {pk} is not in run '{run_id}'; pick one of its problems.")
    seed_name = next((s.name for s in store.list_seed_sets() if s.id == run.seed_set_id), None)
    in_seeds: dict[str, StoredProblem] = {}
    if seed_name is not None and any(pid not in in_run for pid in sp.problem.origin.parents):
        in_seeds = {s.problem.id: s for s in store.problems(seed_set=seed_name)}
    parents = []
    for pid in sp.problem.origin.parents:
        found, where = (in_run[pid], "run") if pid in in_run else (in_seeds.get(pid), "seed set")
        parents.append(
            {
                "id": pid,
                "where": where if found else None,
                "pk": found.pk if found else None,
                "problem": found.problem if found else None,
            }
        )
    first = parents[0] if parents and parents[0]["problem"] is not None else None
    diff = None
    if first is not None:
        parent, me = first["problem"], sp.problem
        diff = {
            "parent": parent.id,
            "statement": _diff(parent.problem, me.problem, parent.id, me.id),
            "solution": _diff(parent.solution, me.solution, parent.id, me.id),
        }
    return {
        "pk": pk,
        "run_id": run_id,
        "problem": sp.problem,
        "attempts": store.attempts(pk),
        "reviews": store.reviews(pk),
        "parents": parents,
        "children": store.children(pk),
        "diff_against_parent": diff,
        "mutation_score": stored_mutation_score(sp.problem),
        "degenerate": _findings(sp.problem),
    }


def outcome_rows(attempt: Attempt) -> list[dict[str, str]]:
    """One attempt's test outcomes as ``{"test", "outcome", "error"}`` rows, in natural order
    of the test names (``test_case_2`` before ``test_case_10``; the store keeps them sorted
    as text)."""
    errors = attempt.details.get("errors", {})

    def natural(name: str) -> list:
        return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]

    return [
        {"test": name, "outcome": attempt.outcomes[name], "error": errors.get(name, "")}
        for name in sorted(attempt.outcomes, key=natural)
    ]


def _findings(problem: Problem) -> list[dict[str, str]]:
    found = problem.metadata.get("degenerate")
    if not isinstance(found, list):
        return []
    return [
        {"kind": str(f.get("kind", "degenerate")), "detail": str(f.get("detail", ""))}
        if isinstance(f, dict)
        else {"kind": "degenerate", "detail": str(f)}
        for f in found
    ]


def _check_format(format: str) -> None:
    if format not in EXPORT_FORMATS:
        raise ConfigError(
            f"The 'format' parameter must be one of {', '.join(EXPORT_FORMATS)}; got {format!r}."
        )


def export_dir(store: Store) -> Path:
    """The folder exports go to by default: ``exports/`` beside the store's database."""
    return store.path.parent / "exports"


def default_export_name(run_id: str, format: str) -> str:
    """``<run>-accepted`` plus ``-parquet`` / ``-hf``: one name per format, so that the JSONL
    and Parquet exports of a run do not share a ``.manifest.json``."""
    _check_format(format)
    return f"{run_id}-accepted{_NAME_SUFFIX[format]}"


def export_target(
    store: Store, name: str, format: str, *, folder: str | Path | None = None
) -> Path:
    """The path an export called ``name`` gets: ``<folder>/<name>.jsonl``, ``.parquet``, or
    the folder ``<folder>/<name>`` for hf.

    ``name`` must be a safe id (letters, digits, ``.``, ``_``, ``-``); a ``.jsonl`` /
    ``.parquet`` ending is not doubled. ``folder`` defaults to :func:`export_dir`; a relative
    folder is taken relative to the store's folder. The export itself still applies every
    guard of :func:`infosynth_core.export.export_problems` (the store is protected).
    Raises ConfigError for a bad name or format.
    """
    _check_format(format)
    try:
        check_id(name)
    except ValueError as exc:
        raise ConfigError(f"The export name {exc}.") from exc
    ext = _EXTENSIONS[format]
    return export_folder(store, folder) / (name if name.endswith(ext) else name + ext)


def export_folder(store: Store, folder: str | Path | None = None) -> Path:
    """``folder`` as exports use it: :func:`export_dir` when None, a relative folder taken
    relative to the store's folder, ``~`` expanded. Raises ConfigError for a blank one."""
    if folder is None:
        return export_dir(store)
    if not str(folder).strip():
        raise ConfigError("The export folder is empty; type a folder or use the exports folder.")
    base = Path(str(folder).strip()).expanduser()
    return base if base.is_absolute() else store.path.parent / base


def default_export_path(store: Store, run_id: str, format: str) -> Path:
    """``exports/<run>-accepted.jsonl`` (``-accepted-parquet.parquet``, ``-accepted-hf``
    folder) in the store's folder."""
    return export_target(store, default_export_name(run_id, format), format)


def _accepted(
    store: Store, run_id: str, min_mutation_score: float | None = None, where: str = ""
) -> list[Problem]:
    minimum = check_min_score(min_mutation_score, where or "the accepted-problems filter")
    store.get_run(run_id)
    out = [sp.problem for sp in store.problems(run_id=run_id) if sp.problem.review == "accepted"]
    if minimum is not None:
        out = [p for p in out if (s := score_of(p)) is not None and s >= minimum]
    return out


def accepted_count(store: Store, run_id: str, *, min_mutation_score: float | None = None) -> int:
    """How many of the run's accepted problems an export with this filter would hold
    (``min_mutation_score``: a fraction in [0, 1]; unscored problems do not count)."""
    return len(_accepted(store, run_id, min_mutation_score, "accepted_count"))


def accepted_jsonl(store: Store, run_id: str, *, min_mutation_score: float | None = None) -> bytes:
    """The run's accepted problems (those whose tests reject at least ``min_mutation_score``
    of the mutants, when given) as canonical JSONL bytes (for a download)."""
    chosen = _accepted(store, run_id, min_mutation_score, "accepted_jsonl")
    return "".join(json.dumps(p.to_record(), ensure_ascii=False) + "\n" for p in chosen).encode(
        "utf-8"
    )


def export_accepted(
    store: Store,
    run_id: str,
    format: str,
    out: str | Path,
    *,
    overwrite: bool = False,
    min_mutation_score: float | None = None,
) -> ExportResult:
    """Export the run's accepted problems (``export_from_store(..., review="accepted")``),
    only those whose tests reject at least ``min_mutation_score`` of the mutants (a fraction
    in [0, 1]; 0.8 = 80%) when it is given; the filter is recorded in the manifest.

    Raises ExportError when no accepted problem passes the filter, when ``out`` exists and
    ``overwrite`` is False, or when ``out`` is refused (the store, a folder holding it, or
    anything but a previous InfoSynth export: see :mod:`infosynth_core.export`);
    ConfigError for an unknown format or a bad threshold; NotFoundError for a bad run.
    """
    _check_format(format)
    if not _accepted(store, run_id):
        raise ExportError(
            f"Run '{run_id}' has no accepted problems to export; accept some first "
            "(Review page, or set_review) and export again."
        )
    if min_mutation_score is not None and not _accepted(
        store, run_id, min_mutation_score, "export_accepted"
    ):
        raise ExportError(
            f"None of run '{run_id}'s accepted problems has tests that reject at least "
            f"{min_mutation_score:.0%} of the mutants (min_mutation_score={min_mutation_score!r}); "
            "lower the threshold or accept problems with stronger tests."
        )
    return export_from_store(
        store,
        run_id,
        format=format,
        out=out,
        review="accepted",
        min_mutation_score=min_mutation_score,
        overwrite=overwrite,
    )


def sandbox_for_run(store: Store, run_id: str, *, workers: int = 1) -> Sandbox:
    """A sandbox with the run's limits (``[sandbox]`` timeout, memory, isolation) for edits.

    Not started: use it as a context manager (``with sandbox_for_run(...) as sb:``).
    """
    cfg = store.get_run(run_id).config.get("sandbox") or {}
    return Sandbox(
        workers=workers,
        limits=Limits(timeout_s=cfg.get("timeout_s", 10.0), memory_mb=cfg.get("memory_mb", 512)),
        isolation=cfg.get("isolation", "auto"),
    )
