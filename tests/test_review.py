"""Curating a finished offline run through infosynth_core.review: the review table and its
filters, bulk decisions, edits re-verified in the real sandbox, the detail view, exports."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from infosynth_core import (
    ConfigError,
    ExportError,
    NotFoundError,
    Store,
    VerdictError,
    load_problems,
    runner,
)
from infosynth_core.config import load_run_config
from infosynth_core.review import (
    FRAME_COLUMNS,
    accepted_count,
    accepted_jsonl,
    default_export_path,
    edit_problem,
    export_accepted,
    export_target,
    problem_detail,
    review_frame,
    review_summary,
    set_review,
)
from infosynth_core.sandbox import Limits, Sandbox

SMALL_RUN = {
    "generations": 1,
    "colonies": 2,
    "seeds_per_colony": 6,
    "steps_per_generation": 2,
    "feedback_rounds": 1,
    "metrics": {"enabled": False},
}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, str]:
    """One finished offline run per module; tests work on copies of its store file."""
    db = tmp_path_factory.mktemp("review") / "template.db"
    store = Store(db)
    run = runner.create_run(store, load_run_config(overrides=SMALL_RUN))
    runner.execute(store, run.id)
    assert store.get_run(run.id).status == "finished"
    store.close()
    return db, run.id


@pytest.fixture
def run(template, tmp_path) -> tuple[Store, str]:
    db, run_id = template
    copy = tmp_path / "store" / "infosynth.db"
    copy.parent.mkdir()
    src, dst = sqlite3.connect(db), sqlite3.connect(copy)
    src.backup(dst)  # reads through the WAL, unlike a file copy
    src.close()
    dst.close()
    store = Store(copy)
    yield store, run_id
    store.close()


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=1, limits=Limits(timeout_s=10)) as sb:
        yield sb


def _passed(store: Store, run_id: str):
    return next(sp for sp in store.problems(run_id=run_id) if sp.problem.status == "passed")


def _snapshot(store: Store, pk: int):
    return store.get_problem(pk), store.attempts(pk), store.reviews(pk)


# ---------------------------------------------------------------------------- the table
def test_review_frame_has_one_row_per_problem_with_attempt_facts(run):
    store, run_id = run
    frame = review_frame(store, run_id)
    problems = store.problems(run_id=run_id)
    assert tuple(frame.columns) == FRAME_COLUMNS
    assert frame["pk"].tolist() == [sp.pk for sp in problems]
    assert len(frame) >= 2
    for row, sp in zip(frame.itertuples(), problems, strict=True):
        assert row.rounds == len(store.attempts(sp.pk)) >= 1
        assert row.review == "pending" and row.generation == 1
        if row.status == "passed":
            assert 0 < row.coverage <= 1


def test_search_and_filters(run):
    store, run_id = run
    frame = review_frame(store, run_id)
    first = store.get_problem(int(frame["pk"][0])).problem
    # search: id, topic and statement, case-insensitive
    assert review_frame(store, run_id, search=first.id.upper())["id"].tolist() == [first.id]
    topic = first.topics[0]
    by_topic = review_frame(store, run_id, search=topic.lower())
    assert first.id in by_topic["id"].tolist()
    for pk in by_topic["pk"]:
        p = store.get_problem(int(pk)).problem
        assert topic.lower() in " ".join([p.id, p.problem, *p.topics]).lower()
    assert review_frame(store, run_id, search="no such text anywhere").empty
    # filters: one value or several
    op = first.origin.operator
    assert set(review_frame(store, run_id, operator=op)["operator"]) == {op}
    every_operator = ["crossover", "mutation-easy", "mutation-medium", "mutation-hard"]
    assert len(review_frame(store, run_id, operator=every_operator)) == len(frame)
    assert len(review_frame(store, run_id, generation=1)) == len(frame)
    assert review_frame(store, run_id, generation=[0, 2]).empty
    n_passed = int((frame["status"] == "passed").sum())
    assert len(review_frame(store, run_id, status="passed")) == n_passed
    set_review(store, frame["pk"][:2], "accepted")
    accepted = review_frame(store, run_id, review="accepted", status="passed")
    assert accepted["pk"].tolist() == frame["pk"][:2].tolist()
    assert len(review_frame(store, run_id, review="pending")) == len(frame) - 2
    with pytest.raises(ConfigError, match="'status' filter"):
        review_frame(store, run_id, status=3.5)
    with pytest.raises(NotFoundError):
        review_frame(store, "no-such-run")


def test_review_summary_counts_states(run):
    store, run_id = run
    frame = review_frame(store, run_id)
    set_review(store, frame["pk"][:2], "accepted")
    set_review(store, frame["pk"][2:3], "rejected")
    summary = review_summary(store, run_id)
    assert summary["problems"] == len(frame)
    assert summary["passed"] == int((frame["status"] == "passed").sum())
    assert summary["review"] == {"pending": len(frame) - 3, "accepted": 2, "rejected": 1}
    assert summary["accepted_not_passed"] == 0
    assert summary["generations"] == [1]
    assert set(summary["operators"]) == set(frame["operator"])


# ---------------------------------------------------------------------------- decisions
def test_bulk_accept_reject_in_one_go_with_review_rows(run):
    store, run_id = run
    pks = review_frame(store, run_id)["pk"].tolist()
    assert set_review(store, pks[:3], "accepted", note="looks good") == 3
    assert set_review(store, pks[:4], "accepted") == 1  # three already were
    assert [store.get_problem(pk).problem.review for pk in pks[:4]] == ["accepted"] * 4
    assert [r["decision"] for r in store.reviews(pks[0])] == ["accepted", "accepted"]
    assert store.reviews(pks[0])[0]["note"] == "looks good"
    assert set_review(store, pks[:2], "rejected") == 2
    assert set_review(store, [pks[0], pks[0]], "pending") == 1  # duplicates count once
    assert store.get_problem(pks[0]).problem.review == "pending"
    assert store.get_problem(pks[1]).problem.review == "rejected"


def test_bad_decision_or_unknown_pk_changes_nothing(run):
    store, run_id = run
    pk = review_frame(store, run_id)["pk"][0]
    before = _snapshot(store, int(pk))
    with pytest.raises(ConfigError, match="accepted, rejected, pending; got 'edited'"):
        set_review(store, [pk], "edited")
    with pytest.raises(NotFoundError, match="no problem with pk 999999"):
        set_review(store, [pk, 999999], "accepted")
    assert _snapshot(store, int(pk)) == before


def test_accepting_a_problem_that_did_not_pass_needs_an_override_and_is_marked(run, tmp_path):
    store, run_id = run
    passed = _passed(store, run_id)
    bad = store.problems(run_id=run_id)[-1]
    failed = bad.problem.model_copy(update={"status": "unparsable", "tests": None})
    store.update_problem(bad.pk, failed)
    before = _snapshot(store, bad.pk), _snapshot(store, passed.pk)
    with pytest.raises(VerdictError, match=rf"1 of the 2 .*{bad.problem.id} \(unparsable\)"):
        set_review(store, [passed.pk, bad.pk], "accepted")
    assert (_snapshot(store, bad.pk), _snapshot(store, passed.pk)) == before  # nothing written
    set_review(store, [bad.pk], "rejected")  # rejecting needs no override
    assert set_review(store, [passed.pk, bad.pk], "accepted", note="kept", override=True) == 2
    marked = store.get_problem(bad.pk).problem
    assert marked.review == "accepted"
    assert marked.metadata["accepted_override"]["status"] == "unparsable"
    assert marked.metadata["accepted_override"]["note"] == "kept"
    assert store.reviews(bad.pk)[-1]["changes"] == {"override": {"status": "unparsable"}}
    assert "accepted_override" not in store.get_problem(passed.pk).problem.metadata
    out = tmp_path / "accepted.jsonl"
    export_accepted(store, run_id, "jsonl", out)
    by_id = {p.id: p for p in load_problems(out).problems}
    assert by_id[bad.problem.id].metadata["accepted_override"]["status"] == "unparsable"
    assert "accepted_override" not in by_id[passed.problem.id].metadata


def test_an_accepted_problem_whose_edit_fails_goes_back_to_pending(run, sandbox):
    store, run_id = run
    sp = _passed(store, run_id)
    set_review(store, [sp.pk], "accepted")
    name = sp.problem.entry_point
    broken = sp.problem.solution + f"\n\ndef {name}(*args, **kwargs):\n    return None\n"
    res = edit_problem(store, sp.pk, solution=broken, sandbox=sandbox)
    assert not res.passed and res.changes["review"] == ["accepted", "pending"]
    stored = store.get_problem(sp.pk).problem
    assert stored.review == "pending" and stored.status == "failed"
    assert [r["decision"] for r in store.reviews(sp.pk)][-2:] == ["edited", "pending"]
    assert "failed verification" in store.reviews(sp.pk)[-1]["note"]
    # a passing edit of a pending problem leaves the decision to the reviewer
    assert edit_problem(store, sp.pk, solution=sp.problem.solution, sandbox=sandbox).passed
    assert store.get_problem(sp.pk).problem.review == "pending"


# ---------------------------------------------------------------------------- edits
def test_correct_edit_is_reverified_and_passes(run, sandbox):
    store, run_id = run
    sp = _passed(store, run_id)
    old = sp.problem
    n_attempts = len(store.attempts(sp.pk))
    statement = old.problem + "\n\nThe inputs are never modified."
    res = edit_problem(store, sp.pk, problem=statement, sandbox=sandbox, note="clarified")
    assert res.passed and res.problem.status == "passed"
    new = store.get_problem(sp.pk).problem
    assert new.problem == statement and new.solution == old.solution
    assert new.origin.operator == "edit" and new.origin.parents == old.origin.parents
    assert new.metadata["before_edit"]["problem"] == old.problem
    assert new.metadata["before_edit"]["operator"] == old.origin.operator
    attempts = store.attempts(sp.pk)
    assert len(attempts) == n_attempts + 1
    assert attempts[-1].round == attempts[-2].round + 1 and attempts[-1].status == "passed"
    assert attempts[-1].details["edit"] is True and attempts[-1].details["n_asserts"] > 0
    review = store.reviews(sp.pk)[-1]
    assert review["decision"] == "edited" and review["note"] == "clarified"
    assert review["changes"] == {"problem": [old.problem, statement]}
    assert new.review == old.review  # an edit records history, not a decision
    # a second edit keeps the original content in before_edit
    edit_problem(store, sp.pk, problem=statement + " Really.", sandbox=sandbox)
    again = store.get_problem(sp.pk).problem
    assert again.metadata["before_edit"]["problem"] == old.problem
    assert again.metadata["edits"] == 2


def test_edit_that_breaks_the_solution_fails_and_is_recorded(run, sandbox):
    store, run_id = run
    sp = _passed(store, run_id)
    old = sp.problem
    name = old.entry_point
    assert name and "." not in name
    broken = old.solution + f"\n\ndef {name}(*args, **kwargs):\n    return None\n"
    res = edit_problem(store, sp.pk, solution=broken, sandbox=sandbox)
    assert not res.passed and res.result.status == "failed"
    assert "failed" in res.result.tests.values()
    stored = store.get_problem(sp.pk).problem
    assert stored.status == "failed" and stored.solution == broken
    last = store.attempts(sp.pk)[-1]
    assert last.status == "failed" and last.solution == broken and last.tests == old.tests
    assert set(last.outcomes.values()) >= {"failed"}
    changes = store.reviews(sp.pk)[-1]["changes"]
    assert changes["status"] == ["passed", "failed"]
    assert changes["solution"] == [old.solution, broken]
    # fixing it again passes
    assert edit_problem(store, sp.pk, solution=old.solution, sandbox=sandbox).passed


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"problem": "   "}, r"statement \('problem'\).*must not be blank"),
        ({"solution": ""}, r"solution \('solution'\).*must not be blank"),
        ({"tests": "\n"}, r"tests \('tests'\).*must not be blank"),
        ({}, "got nothing new"),
    ],
)
def test_invalid_edit_leaves_the_store_unchanged(run, sandbox, fields, message):
    store, run_id = run
    sp = _passed(store, run_id)
    before = _snapshot(store, sp.pk)
    if not fields:  # the same content again is no edit
        fields = {"problem": sp.problem.problem}
    with pytest.raises(ConfigError, match=message):
        edit_problem(store, sp.pk, sandbox=sandbox, **fields)
    assert _snapshot(store, sp.pk) == before


# ---------------------------------------------------------------------------- detail
def test_problem_detail_has_attempts_lineage_and_diff(run):
    store, run_id = run
    sp = _passed(store, run_id)
    detail = problem_detail(store, sp.pk, run_id=run_id)
    assert detail["problem"] == sp.problem and detail["run_id"] == run_id
    assert detail["attempts"] and detail["attempts"][0].outcomes
    assert all(a.details.get("n_asserts", 0) > 0 for a in detail["attempts"])
    parents = detail["parents"]
    assert [p["id"] for p in parents] == list(sp.problem.origin.parents)
    assert parents and all(p["where"] == "seed set" and p["problem"] for p in parents)
    diff = detail["diff_against_parent"]
    assert diff["parent"] == parents[0]["id"]
    for part in ("statement", "solution"):
        assert diff[part].startswith(f"--- {parents[0]['id']}\n+++ {sp.problem.id}\n@@ ")
        assert any(line.startswith("+") for line in diff[part].splitlines()[2:])
    # the run is found without being named; unknown pks are NotFound
    assert problem_detail(store, sp.pk)["run_id"] == run_id
    with pytest.raises(NotFoundError):
        problem_detail(store, 999999)


# ---------------------------------------------------------------------------- export
def test_export_accepted_round_trips_through_load_problems(run, tmp_path):
    store, run_id = run
    out = tmp_path / "accepted.jsonl"
    with pytest.raises(ExportError, match="no accepted problems"):
        export_accepted(store, run_id, "jsonl", out)
    pks = review_frame(store, run_id)["pk"].tolist()
    set_review(store, pks[:2], "accepted")
    set_review(store, pks[2:3], "rejected")
    expected = [store.get_problem(pk).problem for pk in pks[:2]]
    res = export_accepted(store, run_id, "jsonl", out)
    assert res.data_path == out and res.manifest["n_problems"] == 2
    assert res.manifest["source"]["review"] == "accepted"
    assert load_problems(out).problems == expected
    with pytest.raises(ExportError, match="already exists"):
        export_accepted(store, run_id, "jsonl", out)
    assert export_accepted(store, run_id, "jsonl", out, overwrite=True).manifest["n_problems"] == 2
    parquet = export_accepted(store, run_id, "parquet", tmp_path / "accepted-pq.parquet")
    assert load_problems(parquet.data_path).problems == expected
    data = accepted_jsonl(store, run_id)
    assert load_problems(data, filename="accepted.jsonl").problems == expected
    with pytest.raises(ConfigError, match="'format'"):
        export_accepted(store, run_id, "csv", tmp_path / "x.csv")


def test_export_accepted_with_a_test_strength_threshold_keeps_only_strong_tests(run, tmp_path):
    from infosynth_core.strength import score_of

    store, run_id = run
    pks = review_frame(store, run_id)["pk"].tolist()
    set_review(store, pks, "accepted")
    scores = {pk: score_of(store.get_problem(pk).problem) for pk in pks}
    scored = sorted(s for s in scores.values() if s is not None)
    assert len(set(scored)) >= 2, "the fixture run needs problems of different test strength"
    cut = scored[len(scored) // 2]
    strong = {pk for pk, s in scores.items() if s is not None and s >= cut}
    assert 0 < len(strong) < len(pks)
    assert accepted_count(store, run_id) == len(pks)
    assert accepted_count(store, run_id, min_mutation_score=cut) == len(strong)
    res = export_accepted(store, run_id, "jsonl", tmp_path / "strong.jsonl", min_mutation_score=cut)
    assert res.manifest["n_problems"] == len(strong)
    assert res.manifest["source"]["min_mutation_score"] == cut
    exported = {p.id for p in load_problems(res.data_path).problems}
    assert exported == {store.get_problem(pk).problem.id for pk in strong}
    data = accepted_jsonl(store, run_id, min_mutation_score=cut)
    assert len(load_problems(data, filename="a.jsonl").problems) == len(strong)
    # a threshold above every score: a clear error and nothing written
    set_review(store, [pk for pk in pks if scores[pk] == 1.0], "rejected")
    with pytest.raises(ExportError, match="reject at least 100%"):
        export_accepted(store, run_id, "jsonl", tmp_path / "none.jsonl", min_mutation_score=1.0)
    assert not (tmp_path / "none.jsonl").exists()
    for bad in (1.5, -0.1, "0.8", True):
        with pytest.raises(ConfigError, match="min_mutation_score"):
            export_accepted(store, run_id, "jsonl", tmp_path / "x.jsonl", min_mutation_score=bad)
    assert not (tmp_path / "x.jsonl").exists()


def test_default_export_path_is_beside_the_store(run):
    store, run_id = run
    base = store.path.parent / "exports"
    assert default_export_path(store, run_id, "jsonl") == base / f"{run_id}-accepted.jsonl"
    assert default_export_path(store, run_id, "parquet").suffix == ".parquet"
    assert default_export_path(store, run_id, "hf").name == f"{run_id}-accepted-hf"


def test_export_target_takes_a_safe_name_and_the_store_stays_protected(run):
    store, run_id = run
    base = store.path.parent
    assert export_target(store, "bench", "hf") == base / "exports" / "bench"
    assert export_target(store, "b.jsonl", "jsonl") == base / "exports" / "b.jsonl"
    assert export_target(store, "b", "parquet", folder="..") == base / ".." / "b.parquet"
    for bad in ("../x", ".", "..", "/etc/x", "a b", ""):
        with pytest.raises(ConfigError, match="The export name"):
            export_target(store, bad, "jsonl")
    set_review(store, review_frame(store, run_id)["pk"].tolist()[:1], "accepted")
    before = sorted(p.name for p in base.iterdir())
    # a name in the folder above that is the store's own folder: refused, nothing touched
    out = export_target(store, base.name, "hf", folder="..")
    for overwrite in (False, True):
        with pytest.raises(ExportError, match="holds the InfoSynth store"):
            export_accepted(store, run_id, "hf", out, overwrite=overwrite)
    assert sorted(p.name for p in base.iterdir()) == before
    assert len(review_frame(store, run_id)) > 1


def test_test_outcomes_are_listed_in_natural_order():
    from infosynth_core.review import outcome_rows
    from infosynth_core.store import Attempt

    names = [f"test_case_{i}" for i in (1, 10, 11, 2, 3)] + ["test_empty"]
    attempt = Attempt(
        round=0,
        status="failed",
        outcomes={n: "passed" for n in names} | {"test_case_10": "failed"},
        details={"errors": {"test_case_10": "AssertionError"}},
    )
    rows = outcome_rows(attempt)
    assert [r["test"] for r in rows] == [
        "test_case_1", "test_case_2", "test_case_3", "test_case_10", "test_case_11", "test_empty"
    ]  # fmt: skip
    assert rows[3] == {"test": "test_case_10", "outcome": "failed", "error": "AssertionError"}
