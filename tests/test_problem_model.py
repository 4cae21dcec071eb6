"""The canonical Problem record: validation, normalisation, lineage, messages."""

import json

import pytest
from pydantic import ValidationError

from infosynth_core import Origin, Problem, RecordValidationError
from infosynth_core.problem import validate_records


def test_problem_defaults_and_record_roundtrip():
    p = Problem(id="p1", problem="Add two numbers.")
    rec = p.to_record()
    assert rec["origin"] == {"operator": "seed", "parents": [], "generation": 0, "colony": None}
    assert rec["status"] == "unverified" and rec["review"] == "pending"
    assert Problem.model_validate(json.loads(json.dumps(rec))) == p


def test_problem_normalises_difficulty_topics_and_blanks():
    p = Problem(
        id=" p1 ",
        problem="x",
        difficulty="Hard",
        topics=["Array", " Array", "Math", ""],
        solution="  ",
        entry_point="Solution().twoSum",
    )
    assert p.id == "p1"
    assert p.difficulty == "hard"
    assert p.topics == ("Array", "Math")
    assert p.solution is None
    assert p.entry_point == "Solution().twoSum"


def test_problem_lineage_is_recorded():
    p = Problem(
        id="c",
        problem="x",
        origin=Origin(operator="crossover", parents=("a", "b"), generation=2, colony=1),
    )
    assert p.origin.parents == ("a", "b") and p.origin.generation == 2


def test_problem_content_hash_depends_on_content_only():
    a = Problem(id="a", problem="x", solution="s", tests="t")
    b = Problem(id="b", problem="x", solution="s", tests="t", review="accepted")
    c = Problem(id="a", problem="x", solution="s2", tests="t")
    assert a.content_hash == b.content_hash != c.content_hash


def test_validation_errors_name_record_field_and_value():
    records = [
        ("line 1", {"id": "a", "problem": "ok"}),
        ("line 2", {"id": "b", "problem": "ok", "difficulty": "impossible"}),
        ("line 3", {"id": "c", "problem": "ok", "origin": {"operator": "teleport"}}),
        ("line 4", {"id": "d", "problem": "ok", "colour": "red"}),
        ("line 5", {"id": "e"}),
        ("line 6", {"id": "a", "problem": "dup"}),
        ("line 7", {"id": "f", "problem": "x", "entry_point": "not a name!"}),
    ]
    with pytest.raises(RecordValidationError) as info:
        validate_records(records, source="f.jsonl")
    issues = {(i.where, i.field): i for i in info.value.issues}
    assert issues[("line 2", "difficulty")].value == "'impossible'"
    assert ("line 3", "origin.operator") in issues
    assert "not a field" in issues[("line 4", "colour")].reason
    assert issues[("line 5", "problem")].reason == "is required"
    assert "duplicates the id at line 1" in issues[("line 6", "id")].reason
    assert ("line 7", "entry_point") in issues
    msg = str(info.value)
    assert (
        "f.jsonl" in msg and "line 2: field 'difficulty'" in msg and "nothing was imported" in msg
    )


def test_problem_is_immutable_and_rejects_non_json_metadata():
    p = Problem(id="a", problem="x")
    with pytest.raises(ValidationError, match="frozen"):
        p.problem = "y"  # type: ignore[misc]
    with pytest.raises(ValueError, match="JSON"):
        Problem(id="a", problem="x", metadata={"f": float("nan")})


@pytest.mark.parametrize(
    "bad", ["a/b", "..", "a..b", "../x", "`x`", "a b", "-a", ".a", "é", "a" * 201, "a\nb", ""]
)
def test_problem_id_follows_the_id_rule(bad):
    with pytest.raises(ValidationError, match="must"):
        Problem(id=bad, problem="x")


def test_problem_safe_ids_pass_and_are_stripped():
    for good in ("mbpp-12", "HumanEval-0", "g0-c1-s2-0", "two_sum.v2", "1", "a" * 200):
        assert Problem(id=f" {good} ", problem="x").id == good


def test_problem_parent_ids_follow_the_id_rule():
    with pytest.raises(ValidationError, match=r"parent 2 must hold only letters"):
        Origin(parents=("ok", "../etc"))


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x0c", "\x7f", "\x85"])
def test_problem_statement_refuses_control_characters(char):
    with pytest.raises(ValidationError, match=rf"U\+{ord(char):04X}.* on line 2"):
        Problem(id="a", problem=f"first line\nsecond {char} line")


def test_problem_statement_keeps_line_breaks_tabs_and_unicode():
    text = "Line one\r\nline\ttwo — ünïcode ✓ \u2028"
    assert Problem(id="a", problem=text).problem == text


@pytest.mark.parametrize("field", ["solution", "tests"])
def test_problem_source_refuses_nul(field):
    with pytest.raises(ValidationError, match="NUL character on line 1"):
        Problem(id="a", problem="x", **{field: "x = 1\x00"})


def test_problem_topics_refuse_control_characters_and_metadata_lone_surrogates():
    with pytest.raises(ValidationError, match=r"topic holds the control character U\+0000"):
        Problem(id="a", problem="x", topics=["Array\x00"])
    with pytest.raises(ValidationError, match="not valid Unicode"):
        Problem(id="a", problem="x", metadata={"k": "\ud800"})


def test_validate_records_caps_statement_length():
    records = [
        ("line 1", {"id": "a", "problem": "x" * 11}),
        ("line 2", {"id": "b", "problem": "y"}),
    ]
    with pytest.raises(RecordValidationError) as info:
        validate_records(records, source="f.jsonl", max_statement_chars=10)
    [issue] = info.value.issues
    assert (issue.where, issue.field) == ("line 1", "problem")
    assert (
        "11 characters long; the limit is 10" in issue.reason
        and "--max-statement-chars" in issue.reason
    )
    assert len(validate_records(records, source="f.jsonl")) == 2
