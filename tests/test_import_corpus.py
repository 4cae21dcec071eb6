"""A corpus of malformed and hostile import files: each one is a clear error, never a crash.

Every file is built here (nothing checked in). For each: the library raises an InfoSynthError
whose message names the file and the reason, the store (already holding a seed set) is
unchanged byte for byte, and the same bytes through the page path (``load_problems(bytes)``)
fail the same way. A sample goes through the CLI (non-zero exit, message on stderr, no
traceback) and through the Seeds page (the error is shown, no exception).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, run_cli

from infosynth_core import (
    DroppedDataError,
    FileTooLargeError,
    FormatDetectionError,
    InfoSynthError,
    RecordValidationError,
    Settings,
    Store,
    UnsupportedFileError,
    import_seed_file,
    load_problems,
)

FIX = Path(__file__).parent / "fixtures"

GOOD = {
    "id": "h-1",
    "problem": "Return the sum of a and b.",
    "solution": "def add(a, b):\n    return a + b\n",
    "tests": "from solution import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n",
}
HUMANEVAL = {
    "task_id": "HumanEval/0",
    "prompt": 'def add(a, b):\n    """Sum."""\n',
    "canonical_solution": "    return a + b\n",
    "test": "def check(f):\n    assert f(1, 2) == 3\n",
    "entry_point": "add",
}


def rec(**changes) -> dict:
    return {**GOOD, **changes}


def jsonl(*records: dict, raw: str = "") -> bytes:
    return ("\n".join(json.dumps(r) for r in records) + "\n" + raw).encode()


def parquet(table: pa.Table, **kwargs) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, **kwargs)
    return buf.getvalue()


def rows(*records: dict, **kwargs) -> bytes:
    return parquet(pa.Table.from_pylist(list(records)), **kwargs)


def good_parquet() -> bytes:
    return rows(*[rec(id=f"h-{i}") for i in range(200)], row_group_size=50)


def flipped(data: bytes, seed: int) -> bytes:
    out, rnd = bytearray(data), random.Random(seed)
    for _ in range(60):
        i = rnd.randrange(4, len(out) // 2)
        out[i] ^= 0xFF
    return bytes(out)


def garbage(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


def deep(n: int) -> str:
    return "[" * n + "]" * n


def csv_bytes(text: str) -> bytes:
    return text.encode()


TINY = {"max_import_mb": 0.05}  # 51 KiB: bombs and big files stay small in the test
FEW = {"max_import_records": 3}
BIG_DIGITS = "9" * 5000
LONG = "x" * 60_000

# (case id, file name, bytes, settings, expected error class, regex the message must match)
# fmt: off
CORPUS = [
    # ------------------------------------------------------------------ JSONL
    ("jsonl-truncated", "t.jsonl", jsonl(GOOD, raw='{"id": "h-2", "problem": "cut'), None,
     RecordValidationError, r"line 2.*not valid JSON"),
    ("jsonl-wrong-type", "t.jsonl", jsonl(rec(problem=123)), None,
     RecordValidationError, r"line 1: field 'problem'"),
    ("jsonl-nested-list-statement", "t.jsonl", jsonl(rec(problem=[["a"]])), None,
     RecordValidationError, r"field 'problem'"),
    ("jsonl-deep-100k", "t.jsonl", jsonl(rec(metadata={"x": 1})).replace(b'{"x": 1}', deep(100_000).encode()),
     None, RecordValidationError, r"line 1: nests arrays/objects more than 64 levels"),
    ("jsonl-deep-65", "t.jsonl", jsonl(rec(), raw=json.dumps({"id": "h-2", "problem": "p", "metadata": {"x": json.loads(deep(65))}})),
     None, RecordValidationError, r"line 2: nests .* 64 levels"),
    ("jsonl-bigint", "t.jsonl", jsonl(rec()).replace(b'"h-1"', f'"h-1", "metadata": {{"n": {BIG_DIGITS}}}'.encode()),
     None, RecordValidationError, r"5,000 digits; the limit is 4,300"),
    ("jsonl-bigint-id", "t.jsonl", jsonl(rec()).replace(b'"h-1"', BIG_DIGITS.encode()),
     None, RecordValidationError, r"5,000 digits"),
    ("jsonl-nan", "t.jsonl", jsonl(rec()).replace(b'"h-1"', b'"h-1", "metadata": {"x": NaN}'),
     None, RecordValidationError, r"NaN, which is not valid JSON"),
    ("jsonl-infinity", "t.jsonl", jsonl(rec()).replace(b'"h-1"', b'"h-1", "difficulty": -Infinity'),
     None, RecordValidationError, r"-Infinity, which is not valid JSON"),
    ("jsonl-utf16-bom", "t.jsonl", json.dumps(GOOD).encode("utf-16"), None,
     UnsupportedFileError, r"UTF-16 text"),
    ("jsonl-utf16-no-bom", "t.jsonl", json.dumps(GOOD).encode("utf-16-le"), None,
     UnsupportedFileError, r"NUL byte on line 1"),
    ("jsonl-utf32", "t.jsonl", json.dumps(GOOD).encode("utf-32"), None,
     UnsupportedFileError, r"UTF-32"),
    ("jsonl-latin1", "t.jsonl", '{"id": "h-1", "problem": "café"}\n'.encode("latin-1"), None,
     UnsupportedFileError, r"not UTF-8 text \(bad byte 0xe9 on line 1"),
    ("jsonl-nul-escaped", "t.jsonl", jsonl(rec(problem="a\x00b")), None,
     RecordValidationError, r"U\+0000"),
    ("jsonl-nul-raw", "t.jsonl", jsonl(GOOD).replace(b"sum", b"s\x00um"), None,
     UnsupportedFileError, r"NUL byte on line 1"),
    ("jsonl-escape-sequence", "t.jsonl", jsonl(rec(problem="red \x1b[31m text")), None,
     RecordValidationError, r"U\+001B"),
    ("jsonl-raw-control-in-string", "t.jsonl", jsonl(GOOD).replace(b"sum", b"s\x01um"), None,
     RecordValidationError, r"Invalid control character"),
    ("jsonl-bell-in-statement", "t.jsonl", jsonl(rec(problem="ding\x07")), None,
     RecordValidationError, r"U\+0007"),
    ("jsonl-huge-statement", "t.jsonl", jsonl(rec(problem=LONG)), None,
     RecordValidationError, r"60,000 characters long; the limit is 50,000 .*max_statement_chars"),
    ("jsonl-too-many-rows", "t.jsonl", jsonl(*[rec(id=f"h-{i}") for i in range(5)]), FEW,
     FileTooLargeError, r"over 3 records; the import limit is 3 .*INFOSYNTH_MAX_IMPORT_RECORDS"),
    ("jsonl-too-big", "t.jsonl", jsonl(*[rec(id=f"h-{i}", problem="p" * 2000) for i in range(40)]),
     TINY, FileTooLargeError, r"limit is 51\.2 KiB .*max_import_mb"),
    ("jsonl-empty", "t.jsonl", b"", None, RecordValidationError, r"holds no records"),
    ("jsonl-blank-lines", "t.jsonl", b"\n  \n\t\n", None, RecordValidationError, r"holds no records"),
    ("jsonl-not-object", "t.jsonl", jsonl(GOOD, raw="[1, 2]"), None,
     RecordValidationError, r"line 2: is not a JSON object"),
    ("jsonl-duplicate-key", "t.jsonl", b'{"id": "h-1", "problem": "a", "problem": "b"}\n', None,
     RecordValidationError, r"has the key 'problem' twice"),
    ("jsonl-bom-mid-file", "t.jsonl", jsonl(GOOD) + "\ufeff".encode() + jsonl(rec(id="h-2")), None,
     RecordValidationError, r"line 2.*BOM"),
    ("jsonl-id-slash", "t.jsonl", jsonl(rec(id="a/b")), None,
     RecordValidationError, r"field 'id' must hold only letters"),
    ("jsonl-id-dotdot", "t.jsonl", jsonl(rec(id="..")), None,
     RecordValidationError, r"field 'id' must hold only letters"),
    ("jsonl-id-traversal", "t.jsonl", jsonl(rec(id="../../etc/passwd")), None,
     RecordValidationError, r"field 'id'"),
    ("jsonl-id-backtick", "t.jsonl", jsonl(rec(id="`rm -rf`")), None,
     RecordValidationError, r"field 'id' must hold only letters"),
    ("jsonl-id-long", "t.jsonl", jsonl(rec(id="a" * 500)), None,
     RecordValidationError, r"field 'id'.*200 characters"),
    ("jsonl-id-empty", "t.jsonl", jsonl(rec(id="")), None, RecordValidationError, r"field 'id'"),
    ("jsonl-parent-unsafe", "t.jsonl", jsonl(rec(origin={"parents": ["../x"]})), None,
     RecordValidationError, r"origin.parents.*parent 1 must hold only letters"),
    ("jsonl-unknown-field", "t.jsonl", jsonl(rec(colour="red")), None,
     DroppedDataError, r"'colour' \(1 non-empty\).*--drop-unused"),
    ("jsonl-humaneval-no-entry-point", "t.jsonl",
     jsonl({k: v for k, v in HUMANEVAL.items() if k != "entry_point"}), None,
     DroppedDataError, r"'canonical_solution'.*'test'.*looks like humaneval but lacks .*'entry_point'"),
    ("jsonl-statements-with-solution", "t.jsonl",
     jsonl({"question": "Add.", "solution": GOOD["solution"], "tests": GOOD["tests"]}), None,
     DroppedDataError, r"'solution' \(1 non-empty\), 'tests'"),
    ("jsonl-binary-garbage", "t.jsonl", garbage(4096), None, UnsupportedFileError, r"t\.jsonl"),
    ("jsonl-nul-in-solution", "t.jsonl", jsonl(rec(solution="x = 1\x00")), None,
     RecordValidationError, r"field 'solution' holds a NUL"),
    ("jsonl-nul-in-topic", "t.jsonl", jsonl(rec(topics=["Array\x00"])), None,
     RecordValidationError, r"field 'topics'.*U\+0000"),
    ("jsonl-nested-topics", "t.jsonl", jsonl(rec(topics=[["Array"]])), None,
     RecordValidationError, r"field 'topics'"),
    ("jsonl-mbpp-numbers-in-test-list", "t.jsonl",
     jsonl({"task_id": 1, "text": "Add.", "code": GOOD["solution"], "test_list": [1, 2]}), None,
     RecordValidationError, r"field 'test_list'.*item 1 must be text"),
    ("jsonl-humaneval-list-prompt", "t.jsonl", jsonl({**HUMANEVAL, "prompt": ["a"]}), None,
     RecordValidationError, r"field 'prompt'.*must be text"),
    ("jsonl-duplicate-ids", "t.jsonl", jsonl(GOOD, GOOD), None,
     RecordValidationError, r"line 2: field 'id' .*duplicates the id at line 1"),
    ("jsonl-blank-statement", "t.jsonl", jsonl(rec(problem="   ")), None,
     RecordValidationError, r"must not be blank"),
    ("jsonl-lone-surrogate", "t.jsonl", jsonl(rec(metadata={"k": "\ud800"})), None,
     RecordValidationError, r"not valid Unicode"),
    ("jsonl-entry-point-injection", "t.jsonl", jsonl(rec(entry_point="f; import os")), None,
     RecordValidationError, r"field 'entry_point'"),
    # ------------------------------------------------------------------ JSON arrays
    ("json-truncated", "t.json", ('[' + json.dumps(GOOD) + ', {"id": "h-2"').encode(), None,
     RecordValidationError, r"not valid JSON"),
    ("json-not-objects", "t.json", b"[1, 2, 3]", None, RecordValidationError, r"item 1: is not a JSON object"),
    ("json-deep", "t.json", deep(100_000).encode(), None, RecordValidationError, r"64 levels"),
    ("json-deep-in-record", "t.json", ("[\n" + json.dumps(GOOD) + ",\n" + json.dumps(rec(id="h-2")).replace('"h-2"', '"h-2", "metadata": {"d": ' + deep(70) + "}") + "]").encode(),
     None, RecordValidationError, r"line 3: nests"),
    ("json-bigint", "t.json", f'[{{"id": "a", "problem": "p", "metadata": {{"n": {BIG_DIGITS}}}}}]'.encode(),
     None, RecordValidationError, r"5,000 digits"),
    ("json-nan", "t.json", b'[\n{"id": "a", "problem": "NaN here"},\n{"id": "b", "problem": NaN}]', None,
     RecordValidationError, r"line 3: holds NaN"),
    ("json-pretty-object", "t.json", json.dumps(GOOD, indent=2).encode(), None,
     RecordValidationError, r"line 1: is not valid JSON"),
    ("json-too-many", "t.json", json.dumps([rec(id=f"h-{i}") for i in range(5)]).encode(), FEW,
     FileTooLargeError, r"holds 5 records; the import limit is 3"),
    ("json-duplicate-key", "t.json", b'[{"id": "a", "id": "b", "problem": "p"}]', None,
     RecordValidationError, r"key 'id' twice"),
    ("json-empty-array", "t.json", b"[]", None, RecordValidationError, r"holds no records"),
    ("json-utf32", "t.json", json.dumps([GOOD]).encode("utf-32"), None, UnsupportedFileError, r"UTF-32"),
    # ------------------------------------------------------------------ CSV
    ("csv-unterminated-quote", "t.csv", csv_bytes('id,problem\na,"never closed\nb,second\nc,third\n'),
     None, RecordValidationError, r"line 2: is not valid CSV \(a quoted cell is never closed"),
    ("csv-stray-quote", "t.csv", csv_bytes('id,problem\na,"quoted"then text\nb,second\n'), None,
     RecordValidationError, r"not valid CSV"),
    ("csv-duplicate-header", "t.csv", csv_bytes("id,problem,problem\na,first,second\n"), None,
     RecordValidationError, r"header: field 'problem' is the name of columns 2 and 3"),
    ("csv-extra-cells", "t.csv", csv_bytes("id,problem\na,one\nb,two,three\n"), None,
     RecordValidationError, r"row 2: has 3 cells; the header has 2"),
    ("csv-missing-cells", "t.csv", csv_bytes("id,problem,solution\na,one,x\nb\n"), None,
     RecordValidationError, r"row 2: has 1 cells; the header has 3"),
    ("csv-only-header", "t.csv", csv_bytes("id,problem\n"), None, RecordValidationError, r"holds no records"),
    ("csv-empty", "t.csv", b"", None, RecordValidationError, r"no header row"),
    ("csv-binary-garbage", "t.csv", garbage(2048, seed=1), None, UnsupportedFileError, r"t\.csv"),
    ("csv-parquet-bytes", "t.csv", rows(GOOD), None, UnsupportedFileError, r"t\.csv"),
    ("csv-nul", "t.csv", b"id,problem\na,one\x00two\n", None, UnsupportedFileError, r"NUL byte on line 2"),
    ("csv-unnamed-column", "t.csv", csv_bytes("id,problem,\na,one,lost\n"), None,
     RecordValidationError, r"column 3 has values but no name"),
    ("csv-deep-topics", "t.csv", csv_bytes(f'id,problem,topics\na,one,"{deep(100)}"\n'), None,
     RecordValidationError, r"field 'topics'.*64 levels"),
    ("csv-bigint-test-list", "t.csv",
     csv_bytes(f'task_id,text,code,test_list\n1,Add.,"def f(): pass","[{BIG_DIGITS}]"\n'), None,
     RecordValidationError, r"field 'test_list'.*5,000 digits"),
    ("csv-bad-literal", "t.csv",
     csv_bytes("task_id,text,code,test_list\n1,Add.,\"def f(): pass\",\"['assert f()'\"\n"), None,
     RecordValidationError, r"field 'test_list' .*neither a JSON list nor a Python list literal"),
    ("csv-huge-statement", "t.csv", csv_bytes(f"id,problem\na,{LONG}\n"), None,
     RecordValidationError, r"row 1: field 'problem'.*60,000 characters"),
    ("csv-statements-with-tests", "t.csv", csv_bytes("question,tests\nAdd.,def test_a(): pass\n"), None,
     DroppedDataError, r"'tests' \(1 non-empty\)"),
    ("csv-control-char", "t.csv", csv_bytes("id,problem\na,clear\x0cscreen\n"), None,
     RecordValidationError, r"U\+000C"),
    ("csv-id-slash", "t.csv", csv_bytes("id,problem,solution\na/b,one,x = 1\n"), None,
     RecordValidationError, r"field 'id' must hold only letters"),
    ("csv-utf16", "t.csv", "id,problem\na,one\n".encode("utf-16"), None, UnsupportedFileError, r"UTF-16"),
    ("csv-too-many-rows", "t.csv", csv_bytes("id,problem\n" + "".join(f"a{i},p\n" for i in range(5))),
     FEW, FileTooLargeError, r"over 3 records"),
    ("csv-bad-origin-json", "t.csv", csv_bytes('id,problem,origin\na,one,"{""parents"": [}"\n'), None,
     RecordValidationError, r"field 'origin'.*not valid JSON"),
    # ------------------------------------------------------------------ Parquet
    ("parquet-truncated", "t.parquet", good_parquet()[:-300], None,
     UnsupportedFileError, r"not a readable Parquet file"),
    ("parquet-truncated-half", "t.parquet", good_parquet()[: len(good_parquet()) // 2], None,
     UnsupportedFileError, r"not a readable Parquet file"),
    ("parquet-garbage", "t.parquet", garbage(5000, seed=2), None, UnsupportedFileError, r"not a readable Parquet"),
    ("parquet-magic-only", "t.parquet", b"PAR1" + b"\x00" * 64 + b"PAR1", None,
     UnsupportedFileError, r"not a readable Parquet"),
    ("parquet-flipped-0", "t.parquet", flipped(good_parquet(), 0), None, InfoSynthError, r"t\.parquet"),
    ("parquet-flipped-1", "t.parquet", flipped(good_parquet(), 1), None, InfoSynthError, r"t\.parquet"),
    ("parquet-flipped-2", "t.parquet", flipped(good_parquet(), 2), None, InfoSynthError, r"t\.parquet"),
    ("parquet-dictionary-bomb", "t.parquet",
     rows(*[rec(id=f"h-{i}", problem="x" * 20_000) for i in range(100)]), TINY,
     FileTooLargeError, r"decodes to at least .*the import limit is 51\.2 KiB"),
    ("parquet-declared-bomb", "t.parquet", rows(rec(problem="y" * 200_000), compression="zstd"), TINY,
     FileTooLargeError, r"holds .* of uncompressed data"),
    ("parquet-nested-bomb", "t.parquet",
     rows(*[rec(id=f"h-{i}", topics=["z" * 5000] * 20) for i in range(30)]), TINY,
     FileTooLargeError, r"decodes to at least"),
    ("parquet-too-many-rows", "t.parquet", rows(*[rec(id=f"h-{i}") for i in range(5)]), FEW,
     FileTooLargeError, r"holds 5 records; the import limit is 3"),
    ("parquet-extra-column", "t.parquet", rows(rec(extra="kept?")), None,
     DroppedDataError, r"'extra' \(1 non-empty\)"),
    ("parquet-statement-fallback", "t.parquet",
     rows({"statement": "Add.", "solution": GOOD["solution"], "tests": GOOD["tests"]}), None,
     DroppedDataError, r"'solution'.*'tests'"),
    ("parquet-humaneval-no-entry-point", "t.parquet",
     rows({k: v for k, v in HUMANEVAL.items() if k != "entry_point"}), None,
     DroppedDataError, r"lacks the column 'entry_point'"),
    ("parquet-duplicate-columns", "t.parquet",
     parquet(pa.Table.from_arrays([pa.array(["a"]), pa.array(["p"]), pa.array(["q"])],
                                  names=["id", "problem", "problem"])), None,
     UnsupportedFileError, r"two columns named 'problem'"),
    ("parquet-nested-list-statement", "t.parquet", rows(rec(problem=[["a"]])), None,
     RecordValidationError, r"field 'problem'"),
    ("parquet-int-statement", "t.parquet", rows(rec(problem=7)), None,
     RecordValidationError, r"field 'problem'"),
    ("parquet-nul-statement", "t.parquet", rows(rec(problem="a\x00b")), None,
     RecordValidationError, r"U\+0000"),
    ("parquet-id-backtick", "t.parquet", rows(rec(id="`x`")), None,
     RecordValidationError, r"field 'id' must hold only letters"),
    ("parquet-huge-statement", "t.parquet", rows(rec(problem=LONG)), None,
     RecordValidationError, r"60,000 characters"),
    ("parquet-empty", "t.parquet", parquet(pa.table({"id": pa.array([], pa.string()), "problem": pa.array([], pa.string())})),
     None, RecordValidationError, r"holds no records"),
    ("parquet-nan-statement", "t.parquet", rows({"id": "a", "problem": float("nan")}), None,
     FormatDetectionError, r"from its columns \['id'\]"),  # NaN is a missing value
    ("parquet-binary-statement", "t.parquet",
     parquet(pa.table({"id": ["a"], "problem": pa.array([b"\xff\xfe"], pa.binary())})), None,
     RecordValidationError, r"field 'problem'"),
    ("pq-garbage", "t.pq", garbage(300, seed=3), None, UnsupportedFileError, r"t\.pq"),
    # ------------------------------------------------------------------ other
    ("wrong-extension", "t.txt", b"hello", None, UnsupportedFileError, r"unsupported file type '.txt'"),
    ("no-extension", "data", jsonl(GOOD), None, UnsupportedFileError, r"unsupported file type"),
]
# fmt: on

IDS = [c[0] for c in CORPUS]
assert len(IDS) == len(set(IDS)) and len(CORPUS) >= 60


def _settings(overrides: dict | None) -> Settings:
    return Settings(**(overrides or {}))


def _db_bytes(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob(db.name + "*")))


def _snapshot(db: Path, *, file_bytes: bool = True) -> tuple:
    """Seed sets, their problems' ids and (unless another connection is open) the file hash."""
    s = Store(db)
    sets = [(i.name, i.n_problems) for i in s.list_seed_sets()]
    problems = {name: [p.content_hash for p in s.seed_set_problems(name)] for name, _ in sets}
    s.close()
    return sets, problems, hashlib.sha256(_db_bytes(db)).hexdigest() if file_bytes else ""


@pytest.fixture(scope="module")
def _seeded_template(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("corpus") / "store.db"
    s = Store(db)
    import_seed_file(s, FIX / "canonical_small.jsonl", name="first")
    s.close()  # checkpoints the WAL: the store is this one file
    return db


@pytest.fixture
def seeded_db(_seeded_template, tmp_path) -> Path:
    """A store that already holds seed set 'first' (2 problems); a fresh copy per test."""
    db = tmp_path / "store" / "store.db"
    db.parent.mkdir()
    db.write_bytes(_seeded_template.read_bytes())
    return db


def _check_message(exc: BaseException, filename: str, pattern: str) -> None:
    msg = str(exc)
    assert filename in msg, msg
    assert "Traceback" not in msg
    assert re.search(pattern, msg, re.S), msg


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_corpus_file_is_a_clear_error_and_store_is_unchanged(case, seeded_db, tmp_path):
    case_id, filename, data, overrides, error, pattern = case
    before = _snapshot(seeded_db)
    path = tmp_path / filename
    path.write_bytes(data)
    store = Store(seeded_db)
    try:
        with pytest.raises(error) as info:
            import_seed_file(store, path, name="hostile", settings=_settings(overrides))
    finally:
        store.close()
    assert isinstance(info.value, InfoSynthError)
    _check_message(info.value, filename, pattern)
    assert _snapshot(seeded_db) == before
    # the page path: the same bytes, uploaded
    with pytest.raises(error) as info:
        load_problems(data, filename=filename, settings=_settings(overrides))
    _check_message(info.value, filename, pattern)


CLI_SAMPLE = [
    "jsonl-deep-100k",
    "jsonl-bigint",
    "jsonl-huge-statement",
    "jsonl-humaneval-no-entry-point",
    "json-deep",
    "csv-unterminated-quote",
    "csv-duplicate-header",
    "parquet-flipped-0",
    "parquet-truncated",
    "parquet-extra-column",
]


def test_cli_sample_exits_nonzero_with_one_clear_message(seeded_db, tmp_path):
    before = _snapshot(seeded_db)
    by_id = {c[0]: c for c in CORPUS}
    for case_id in CLI_SAMPLE:
        _, filename, data, overrides, _, pattern = by_id[case_id]
        assert overrides is None
        path = tmp_path / case_id / filename
        path.parent.mkdir()
        path.write_bytes(data)
        r = run_cli("import", path, "--name", "hostile", "--db", seeded_db, timeout=120)
        assert r.returncode == 1, (case_id, r.returncode, r.stderr[-2000:])
        assert r.stderr.startswith("error: "), (case_id, r.stderr[-2000:])
        assert "Traceback" not in r.stderr and r.stdout == "", case_id
        _check_message(r.stderr, filename, pattern)
    assert _snapshot(seeded_db) == before


def test_cli_bomb_and_record_limits_name_the_flag(seeded_db, tmp_path):
    path = tmp_path / "bomb.parquet"
    path.write_bytes(rows(*[rec(id=f"h-{i}", problem="x" * 20_000) for i in range(100)]))
    r = run_cli("import", path, "--name", "b", "--db", seeded_db, "--max-mb", "0.05")
    assert r.returncode == 1 and "--max-mb" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("import", path, "--name", "b", "--db", seeded_db, "--max-records", "3")
    assert r.returncode == 1 and "--max-records" in r.stderr
    r = run_cli("import", path, "--name", "b", "--db", seeded_db, "--max-statement-chars", "100")
    assert (
        r.returncode == 1
        and "20,000 characters" in r.stderr
        and "--max-statement-chars" in r.stderr
    )


def test_cli_drop_unused_imports_with_a_warning_naming_what_was_dropped(tmp_path):
    path = tmp_path / "he.jsonl"
    path.write_bytes(jsonl({k: v for k, v in HUMANEVAL.items() if k != "entry_point"}))
    db = tmp_path / "s.db"
    r = run_cli("import", path, "--name", "he", "--db", db, "--drop-unused")
    assert r.returncode == 0, r.stderr
    assert (
        "warning: he.jsonl: dropped column(s) 'canonical_solution' (1 non-empty cells)" in r.stderr
    )
    assert "'test' (1 non-empty cells)" in r.stderr
    [p] = Store(db).seed_set_problems("he")
    assert p.id == "HumanEval-0" and p.metadata["source_id"] == "HumanEval/0"
    assert p.solution is None and p.tests is None and p.problem == HUMANEVAL["prompt"]


def test_cli_error_for_a_missing_file_is_clear(tmp_path):
    r = run_cli("import", tmp_path / "nope.jsonl", "--name", "x", "--db", tmp_path / "s.db")
    assert r.returncode == 1 and "is not a file" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "s.db").exists()  # a failed import does not even create the store


# ---------------------------------------------------------------------- the Seeds page
PAGE_SAMPLE = [
    "jsonl-deep-100k",
    "jsonl-bigint",
    "csv-unterminated-quote",
    "parquet-flipped-1",
    "jsonl-humaneval-no-entry-point",
]


@pytest.fixture
def page(tmp_path, monkeypatch, seeded_db):
    from streamlit.testing.v1 import AppTest

    db = seeded_db
    monkeypatch.setenv("INFOSYNTH_DB", str(db))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/seeds.py").run()
    at.radio(key="seeds_source").set_value("Upload a file").run()
    assert not at.exception
    return at, db


def test_seeds_page_shows_each_import_error_in_place(page):
    at, db = page
    before = _snapshot(db, file_bytes=False)  # the page holds the store open
    by_id = {c[0]: c for c in CORPUS}
    for case_id in PAGE_SAMPLE:
        _, filename, data, _, _, _ = by_id[case_id]
        at.file_uploader(key="seeds_upload").set_value((filename, data, "application/octet-stream"))
        at.run()
        assert not at.exception, (case_id, [e.message for e in at.exception])
        errors = " ".join(e.value for e in at.error)
        assert filename.replace(".", "\\.") in errors or filename in errors, (case_id, errors)
        assert "Traceback" not in errors and "/work/" not in errors and str(ROOT) not in errors
        assert "seeds_save" not in [b.key for b in at.button], case_id  # nothing to save
    assert _snapshot(db, file_bytes=False) == before


def test_seeds_page_drop_unused_checkbox_imports_with_a_warning(page):
    at, _ = page
    data = jsonl({k: v for k, v in HUMANEVAL.items() if k != "entry_point"})
    at.file_uploader(key="seeds_upload").set_value(("he.jsonl", data, "application/json"))
    at.run()
    assert any("entry" in e.value for e in at.error)
    at.checkbox(key="seeds_drop_unused").check().run()
    assert not at.exception and not at.error
    warnings = " ".join(w.value for w in at.warning).replace("\\", "")  # markdown-escaped
    assert "he.jsonl: dropped column(s) 'canonical_solution' (1 non-empty cells)" in warnings
