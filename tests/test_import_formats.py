"""Import adapters: detection, conversion, errors, limits, all-or-nothing, CLI."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import run_cli, run_pytest_on

from infosynth_core import (
    DroppedDataError,
    FileTooLargeError,
    FormatDetectionError,
    RecordValidationError,
    SeedSetExistsError,
    Settings,
    UnsupportedFileError,
    detect_format,
    import_seed_file,
    load_problems,
)

FIX = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    "name, fmt, n",
    [
        ("mbpp_small.jsonl", "mbpp", 3),
        ("mbpp_sanitized_small.jsonl", "mbpp", 1),
        ("humaneval_small.jsonl", "humaneval", 2),
        ("leetcodedataset_small.jsonl", "leetcodedataset", 2),
        ("canonical_small.jsonl", "canonical", 2),
        ("statements.csv", "statements", 3),
    ],
)
def test_import_detects_each_format(name, fmt, n):
    loaded = load_problems(FIX / name)
    assert loaded.format == fmt
    assert len(loaded.problems) == n


@pytest.mark.parametrize(
    "name",
    [
        "mbpp_small.jsonl",
        "mbpp_sanitized_small.jsonl",
        "humaneval_small.jsonl",
        "leetcodedataset_small.jsonl",
        "canonical_small.jsonl",
    ],
)
def test_import_converted_tests_pass_against_their_solution(name, tmp_path):
    for i, p in enumerate(load_problems(FIX / name).problems):
        assert p.has_reference
        result = run_pytest_on(p, tmp_path / str(i))
        assert result.returncode == 0, result.stdout[-2000:]


def test_import_mbpp_fields():
    probs = {p.id: p for p in load_problems(FIX / "mbpp_small.jsonl").problems}
    p = probs["mbpp-2"]
    assert p.problem.startswith("Write a function that returns the area")
    assert p.entry_point == "box_area"
    assert "\r" not in p.solution
    # setup code comes after the solution import (it uses the solution's Box class)
    assert p.tests.index("from solution import *") < p.tests.index("b1 = Box(2, 3)")
    assert p.tests.count("def test_") == 3
    assert p.metadata == {"source_format": "mbpp", "source_id": "2"}


def test_import_humaneval_and_leetcodedataset_fields():
    he = load_problems(FIX / "humaneval_small.jsonl").problems[0]
    assert he.id == "Fixture-0" and he.entry_point == "clamp_all"  # safe id from 'Fixture/0'
    assert he.metadata["source_id"] == "Fixture/0"
    assert he.solution.startswith(he.problem)
    lc = {p.id: p for p in load_problems(FIX / "leetcodedataset_small.jsonl").problems}
    a, b = lc["count-even-digit-numbers-fixture"], lc["max-gap-fixture"]
    assert a.topics == ("Array", "Math") and a.difficulty == "easy"
    assert b.topics == ("Array", "Sorting") and b.difficulty == "medium"  # tags as a string
    assert a.entry_point == "Solution().countEvenDigits"
    assert "starter_code" in a.metadata


def test_import_statements_csv_parses_topics_and_multiline_cells():
    probs = load_problems(FIX / "statements.csv").problems
    assert [p.difficulty for p in probs] == ["easy", "medium", "hard"]
    assert probs[0].topics == ("Array", "Sorting")
    assert probs[1].topics == ("Matrix", "Depth-First Search")
    assert "\n" in probs[1].problem
    assert all(p.solution is None and p.tests is None for p in probs)


def test_import_explicit_column_mapping():
    mapping = {
        "id": "qid",
        "problem": "body",
        "solution": "reference",
        "tests": "checks",
        "entry_point": "fn",
    }
    loaded = load_problems(FIX / "custom_columns.csv", mapping=mapping)
    assert loaded.format == "mapping"
    assert [p.id for p in loaded.problems] == ["q1", "q2"]
    assert loaded.problems[0].entry_point == "absdiff"


def test_import_mapping_errors_name_fields_and_columns():
    with pytest.raises(FormatDetectionError) as info:
        load_problems(FIX / "custom_columns.csv", mapping={"statement": "body", "tests": "nope"})
    msg = str(info.value)
    assert "'statement'" in msg and "'nope'" in msg and "qid" in msg and "'problem'" in msg


def test_import_unknown_columns_say_how_to_map():
    with pytest.raises(FormatDetectionError, match=r"--map problem=COLUMN"):
        load_problems(FIX / "wrong_schema.jsonl")
    with pytest.raises(FormatDetectionError, match="Unknown format 'yaml'"):
        load_problems(FIX / "mbpp_small.jsonl", format="yaml")


def test_import_malformed_file_lists_every_bad_line():
    with pytest.raises(RecordValidationError) as info:
        load_problems(FIX / "malformed.jsonl")
    wheres = [i.where for i in info.value.issues]
    assert wheres == ["line 2", "line 4"]  # JSON errors are reported before schema checks
    assert "not valid JSON" in info.value.issues[0].reason
    assert "not a JSON object" in info.value.issues[1].reason


def test_import_schema_errors_after_json_is_fixed(tmp_path):
    lines = (FIX / "malformed.jsonl").read_text().splitlines()
    good = [ln for ln in lines if ln.startswith("{") and ln.endswith("}")]
    (tmp_path / "f.jsonl").write_text("\n".join(good) + "\n")
    with pytest.raises(RecordValidationError) as info:
        load_problems(tmp_path / "f.jsonl")
    [issue] = info.value.issues
    assert (issue.where, issue.field, issue.value) == ("line 2", "difficulty", "'impossible'")


def test_import_refuses_oversized_file_naming_the_limit(tmp_path):
    big = tmp_path / "big.jsonl"
    row = json.dumps({"id": "x", "problem": "y" * 1000})
    big.write_text("\n".join(row.replace('"x"', f'"x{i}"') for i in range(1200)))
    with pytest.raises(FileTooLargeError, match=r"limit is 1\.0 MiB"):
        load_problems(big, settings=Settings(max_import_mb=1))
    with pytest.raises(FileTooLargeError, match="1,000"):
        load_problems(big, settings=Settings(max_import_records=1000))
    with pytest.raises(FileTooLargeError):
        load_problems(big.read_bytes(), filename="big.jsonl", settings=Settings(max_import_mb=1))


def test_import_rejects_unsupported_and_undecodable_files(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(UnsupportedFileError, match="unsupported file type '.txt'"):
        load_problems(tmp_path / "a.txt")
    (tmp_path / "b.jsonl").write_bytes(b'{"id": "a", "problem": "caf\xe9"}\n')
    with pytest.raises(UnsupportedFileError, match="not UTF-8"):
        load_problems(tmp_path / "b.jsonl")
    (tmp_path / "c.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(UnsupportedFileError, match="not a readable Parquet"):
        load_problems(tmp_path / "c.parquet")


def test_import_parquet_and_json_array(tmp_path):
    rows = [json.loads(ln) for ln in (FIX / "humaneval_small.jsonl").read_text().splitlines()]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "he.parquet")
    assert load_problems(tmp_path / "he.parquet").format == "humaneval"
    (tmp_path / "he.json").write_text(json.dumps(rows))
    assert len(load_problems(tmp_path / "he.json").problems) == 2


def test_detect_format_from_columns():
    assert detect_format(["text", "code", "test_list", "task_id"]) == "mbpp"
    assert detect_format(["id", "problem"]) == "canonical"
    assert detect_format(["description", "title"]) == "statements"


def _db_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def test_import_failure_leaves_store_byte_for_byte_unchanged(store, db_path):
    import_seed_file(store, FIX / "canonical_small.jsonl", name="first")
    store.close()  # checkpoint the WAL so the files are stable
    before = hashlib.sha256(_db_bytes(db_path)).hexdigest()
    from infosynth_core import Store

    s2 = Store(db_path)
    with pytest.raises(RecordValidationError):
        import_seed_file(s2, FIX / "malformed.jsonl", name="second")
    with pytest.raises(SeedSetExistsError):
        import_seed_file(s2, FIX / "mbpp_small.jsonl", name="first")
    s2.close()
    assert hashlib.sha256(_db_bytes(db_path)).hexdigest() == before
    assert [s.name for s in Store(db_path).list_seed_sets()] == ["first"]


def test_import_replace_swaps_the_seed_set(store):
    import_seed_file(store, FIX / "canonical_small.jsonl", name="s")
    info = import_seed_file(store, FIX / "mbpp_small.jsonl", name="s", replace=True)
    assert info.n_problems == 3 and info.format == "mbpp"
    assert [p.id for p in store.seed_set_problems("s")] == ["mbpp-1", "mbpp-2", "mbpp-3"]


def _cli(*args, db):
    return run_cli(*args, "--db", db, timeout=120)


def test_cli_import_and_list(db_path):
    r = _cli("import", str(FIX / "humaneval_small.jsonl"), "--name", "he", db=db_path)
    assert r.returncode == 0, r.stderr
    assert "Imported 2 problems (humaneval) as seed set 'he'" in r.stdout
    r = _cli("list", "--json", db=db_path)
    assert json.loads(r.stdout)["seed_sets"][0]["n_problems"] == 2


def test_cli_import_error_is_one_clear_message(db_path):
    r = _cli("import", str(FIX / "malformed.jsonl"), "--name", "bad", db=db_path)
    assert r.returncode == 1
    assert r.stderr.startswith("error: malformed.jsonl")
    assert "line 2" in r.stderr and "Traceback" not in r.stderr
    r = _cli(
        "import", str(FIX / "custom_columns.csv"), "--name", "m", "--map", "problem", db=db_path
    )
    assert r.returncode == 1 and "FIELD=COLUMN" in r.stderr
    r = _cli(
        "import",
        str(FIX / "custom_columns.csv"),
        "--name",
        "m",
        "--map",
        "problem=body",
        "--map",
        "id=qid",
        db=db_path,
    )
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------------- nothing dropped silently
def test_import_keeps_unused_columns_in_metadata_and_says_so(tmp_path):
    (tmp_path / "s.csv").write_text("id,question,title,votes\nq1,Add two numbers.,Add,12\n")
    loaded = load_problems(tmp_path / "s.csv")
    [p] = loaded.problems
    assert loaded.format == "statements" and loaded.kept_columns == ("title", "votes")
    assert p.metadata["extra_columns"] == {"title": "Add", "votes": "12"}
    assert "'title', 'votes'" in loaded.warnings[0] and "extra_columns" in loaded.warnings[0]


def test_import_refuses_unused_solution_columns_unless_allowed(tmp_path):
    rows = [json.loads(ln) for ln in (FIX / "humaneval_small.jsonl").read_text().splitlines()]
    for r in rows:
        del r["entry_point"]
    (tmp_path / "he.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DroppedDataError, match="lacks the column 'entry_point'") as info:
        load_problems(tmp_path / "he.jsonl")
    assert "'canonical_solution' (2 non-empty)" in str(info.value)
    loaded = load_problems(tmp_path / "he.jsonl", allow_dropped_columns=True)
    assert loaded.dropped == {"canonical_solution": 2, "test": 2}
    assert "dropped column(s) 'canonical_solution' (2 non-empty cells)" in loaded.warnings[0]
    assert all(p.solution is None for p in loaded.problems)


def test_import_canonical_unknown_field_is_refused_or_dropped_on_request(tmp_path):
    record = {"id": "a", "problem": "p", "tests": "def test_a():\n    pass\n", "soluton": "x"}
    (tmp_path / "c.jsonl").write_text(json.dumps(record))
    with pytest.raises(DroppedDataError, match=r"'soluton' \(1 non-empty\)"):
        load_problems(tmp_path / "c.jsonl")
    loaded = load_problems(tmp_path / "c.jsonl", allow_dropped_columns=True)
    assert loaded.dropped == {"soluton": 1} and loaded.problems[0].id == "a"


def test_import_mapping_makes_ids_safe_and_keeps_the_original(tmp_path):
    (tmp_path / "m.csv").write_text("qid,body\nset/1,Add.\n")
    [p] = load_problems(tmp_path / "m.csv", mapping={"id": "qid", "problem": "body"}).problems
    assert p.id == "set-1" and p.metadata["source_id"] == "set/1"


def test_import_jsonl_allows_line_separators_inside_strings(tmp_path):
    (tmp_path / "u.jsonl").write_text(
        json.dumps({"id": "a", "problem": "one\u2028two"}, ensure_ascii=False) + "\r\n",
        encoding="utf-8",
    )
    assert load_problems(tmp_path / "u.jsonl").problems[0].problem == "one\u2028two"


def test_import_mbpp_csv_with_python_list_literals(tmp_path):
    (tmp_path / "m.csv").write_text(
        'task_id,text,code,test_list\n7,Double it.,"def dbl(x):\n    return 2 * x\n",'
        "\"['assert dbl(2) == 4', 'assert dbl(0) == 0']\"\n"
    )
    [p] = load_problems(tmp_path / "m.csv").problems
    assert p.id == "mbpp-7" and p.tests.count("def test_") == 2 and p.entry_point == "dbl"


def test_import_parquet_extra_values_become_json(tmp_path):
    import datetime as dt

    table = pa.table(
        {
            "question": ["Add.", "Sub."],
            "score": [float("nan"), 1.5],
            "seen": [dt.date(2024, 1, 2), None],
        }
    )
    pq.write_table(table, tmp_path / "s.parquet")
    a, b = load_problems(tmp_path / "s.parquet").problems
    assert a.metadata["extra_columns"] == {"seen": "2024-01-02"}  # NaN: a missing value
    assert b.metadata["extra_columns"] == {"score": 1.5}


def test_statement_limit_setting_and_environment(tmp_path):
    assert Settings().max_statement_chars == 50_000
    env = {"INFOSYNTH_MAX_STATEMENT_CHARS": "10"}
    settings = Settings.from_env(env)
    assert settings.max_statement_chars == 10
    (tmp_path / "s.jsonl").write_text(json.dumps({"id": "a", "problem": "x" * 11}))
    with pytest.raises(RecordValidationError, match=r"11 characters long; the limit is 10"):
        load_problems(tmp_path / "s.jsonl", settings=settings)
    assert load_problems(tmp_path / "s.jsonl").problems[0].problem == "x" * 11


def test_cli_import_prints_kept_columns_as_a_note(db_path, tmp_path):
    (tmp_path / "s.csv").write_text("id,question,title\nq1,Add two numbers.,Add\n")
    r = _cli("import", str(tmp_path / "s.csv"), "--name", "s", "--json", db=db_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["kept_columns"] == ["title"]
    assert "warning: s.csv: column(s) 'title' are not used" in r.stderr
