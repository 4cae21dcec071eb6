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
