"""SQLite store: migrations, WAL, transactions, concurrent readers, every table's API."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time

import numpy as np
import pytest

from infosynth_core import (
    Attempt,
    NotFoundError,
    Origin,
    Problem,
    SeedSetExistsError,
    Store,
    StoreError,
)
from infosynth_core.store import LATEST_VERSION, MIGRATIONS, current_version, migrate

TABLES = {
    "seed_sets",
    "runs",
    "problems",
    "lineage",
    "attempts",
    "generation_metrics",
    "reviews",
    "llm_cache",
    "embedding_cache",
    "run_events",
}


def _problems(n: int, prefix: str = "p") -> list[Problem]:
    return [
        Problem(id=f"{prefix}{i}", problem=f"statement {i}", topics=("Array",)) for i in range(n)
    ]


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _columns(db_path, table):
    with sqlite3.connect(db_path) as conn:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def test_store_migrates_from_empty_to_latest_in_wal_mode(store, db_path):
    assert store.schema_version == LATEST_VERSION == max(MIGRATIONS)
    assert TABLES <= _tables(db_path)
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_store_migrates_from_previous_version_keeping_data(db_path):
    old = Store(db_path, migrate_to=2)
    assert old.schema_version == 2
    assert "state" not in _columns(db_path, "runs")  # added by migration 3
    old.create_seed_set("kept", _problems(3), source="test", format="canonical")
    old.close()
    new = Store(db_path)
    assert new.schema_version == LATEST_VERSION
    assert "state" in _columns(db_path, "runs")
    assert [p.id for p in new.seed_set_problems("kept")] == ["p0", "p1", "p2"]
    Store(db_path).close()  # reopening at the latest version is a no-op


def test_store_migration_4_renames_unsafe_ids_everywhere_they_are_referenced(db_path):
    """Stores written before ids were checked (``HumanEval/0``) open with safe ids, the old
    one kept in metadata.source_id, parents and checkpoint pools following the renames."""
    import json

    old = Store(db_path, migrate_to=3)
    old.create_seed_set("he", _problems(2), source="test", format="canonical")
    old.close()
    with sqlite3.connect(db_path) as conn:  # what an old importer wrote
        conn.execute("UPDATE problems SET id = 'HumanEval/0' WHERE id = 'p0'")
        conn.execute("UPDATE problems SET id = 'Human Eval/0' WHERE id = 'p1'")
        seed_set = conn.execute("SELECT id FROM seed_sets WHERE name = 'he'").fetchone()[0]
        now = "2026-01-01T00:00:00Z"
        state = {"colonies": [{"pool": ["HumanEval/0", "g1-c0-s0-0"], "steps_done": 1}]}
        conn.execute(
            "INSERT INTO runs (id, seed_set_id, config, created_at, updated_at, state) "
            "VALUES ('r1', ?, '{}', ?, ?, ?)",
            (seed_set, now, now, json.dumps(state)),
        )
        conn.execute(
            "INSERT INTO problems (id, run_id, problem, operator, parents, generation, "
            "content_hash, position, created_at) VALUES ('g1-c0-s0-0', 'r1', 'A child task.', "
            "'crossover', ?, 1, 'h', 0, ?)",
            (json.dumps(["HumanEval/0", "Human Eval/0"]), now),
        )
    new = Store(db_path)
    assert new.schema_version == LATEST_VERSION
    seeds = new.seed_set_problems("he")
    assert [p.id for p in seeds] == ["HumanEval-0", "Human-Eval-0"]
    assert [p.metadata["source_id"] for p in seeds] == ["HumanEval/0", "Human Eval/0"]
    (child,) = [sp.problem for sp in new.problems(run_id="r1")]
    assert child.origin.parents == ("HumanEval-0", "Human-Eval-0")
    assert new.get_run("r1").state["colonies"][0]["pool"] == ["HumanEval-0", "g1-c0-s0-0"]


def test_store_failed_migration_rolls_back(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    migrate(conn, 1)
    conn.execute("CREATE TABLE llm_cache (x)")  # makes migration 2 fail half-way
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn)
    assert current_version(conn) == 1
    assert (
        conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name='embedding_cache'").fetchone()[
            0
        ]
        == 0
    )


def test_store_refuses_a_file_that_is_not_sqlite(tmp_path):
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="Cannot open the store"):
        Store(bad)


def test_store_transaction_rolls_back_whole_write(store):
    store.create_seed_set("a", _problems(2), source="t", format="canonical")
    with pytest.raises(StoreError, match="already in"):
        store.create_seed_set("b", _problems(3) + _problems(1), source="t", format="canonical")
    assert [s.name for s in store.list_seed_sets()] == ["a"]
    with store._conn() as conn:  # noqa: SLF001 - checking that no orphan rows were left
        assert conn.execute("SELECT COUNT(*) FROM problems").fetchone()[0] == 2
    with pytest.raises(SeedSetExistsError):
        store.create_seed_set("a", _problems(1), source="t", format="canonical")
    store.delete_seed_set("a")
    assert store.list_seed_sets() == []
    with store._conn() as conn:  # problems and lineage go with their seed set
        assert conn.execute("SELECT COUNT(*) FROM problems").fetchone()[0] == 0
    with pytest.raises(StoreError, match="empty"):
        store.create_seed_set("c", [], source="t", format="canonical")


def _writer(path: str, n: int, started) -> None:
    s = Store(path)
    started.set()
    for i in range(n):
        s.create_seed_set(f"set{i}", _problems(50, prefix=f"s{i}-"), source="w", format="canonical")


def test_store_reads_while_another_process_writes(db_path):
    Store(db_path).close()
    ctx = mp.get_context("spawn")
    started = ctx.Event()
    proc = ctx.Process(target=_writer, args=(str(db_path), 40, started))
    proc.start()
    started.wait(30)
    reader = Store(db_path)
    seen = []
    deadline = time.monotonic() + 60
    while proc.is_alive() and time.monotonic() < deadline:
        sets = reader.list_seed_sets()
        # every set the reader sees is complete: writes are atomic
        for s in sets[-2:]:
            assert len(reader.seed_set_problems(s.name)) == 50
        seen.append(len(sets))
    proc.join(30)
    assert proc.exitcode == 0
    assert seen == sorted(seen)  # never goes backwards
    assert len(reader.list_seed_sets()) == 40


def test_store_runs_problems_lineage_and_updates(store):
    store.create_seed_set("s", _problems(2), source="t", format="canonical")
    run = store.create_run(run_id="r1", seed_set="s", config={"n": 10}, name="demo")
    with pytest.raises(StoreError, match="used by run.*r1"):
        store.delete_seed_set("s")
    assert run.status == "created" and run.config == {"n": 10}
    with pytest.raises(StoreError):
        store.create_run(run_id="r1", seed_set="s", config={})
    parent = Problem(id="g1", problem="parent")
    kids = [
        Problem(
            id=f"g2-{i}",
            problem="kid",
            origin=Origin(operator="mutation-hard", parents=("g1",), generation=1, colony=0),
        )
        for i in range(2)
    ]
    pks = store.add_problems("r1", [parent, *kids])
    assert [c.problem.id for c in store.children(pks[0])] == ["g2-0", "g2-1"]
    got = store.problems(run_id="r1")
    assert [sp.problem for sp in got] == [parent, *kids]
    store.update_problem(pks[1], kids[0].model_copy(update={"status": "passed"}))
    assert store.get_problem(pks[1]).problem.status == "passed"
    assert store.update_run("r1", status="running", pid=123).status == "running"
    with pytest.raises(ValueError, match="unknown field"):
        store.update_run("r1", colour="red")
    with pytest.raises(NotFoundError, match="No run with id 'nope'"):
        store.get_run("nope")
    with pytest.raises(NotFoundError, match="known: s"):
        store.get_seed_set("nope")


def test_store_attempts_metrics_reviews_and_events(store):
    store.create_seed_set("s", _problems(1), source="t", format="canonical")
    store.create_run(run_id="r", seed_set="s", config={})
    [pk] = store.add_problems("r", [Problem(id="x", problem="y")])
    store.add_attempt(
        pk,
        Attempt(
            round=0,
            status="failed",
            outcomes={"test_a": "failed"},
            output="AssertionError",
            duration_s=0.5,
        ),
    )
    store.add_attempt(pk, Attempt(round=1, status="passed", outcomes={"test_a": "passed"}))
    assert [a.status for a in store.attempts(pk)] == ["failed", "passed"]
    store.record_generation("r", 0, {"proposed": 3, "kept": 2})
    store.record_generation("r", 0, {"proposed": 4, "kept": 2})  # replaced, not duplicated
    store.record_generation("r", 1, {"proposed": 5, "kept": 3})
    assert [m["proposed"] for m in store.generation_metrics("r")] == [4, 5]
    store.add_review(pk, "accepted", note="good")
    assert store.get_problem(pk).problem.review == "accepted"
    assert store.reviews(pk)[0]["note"] == "good"
    with pytest.raises(ValueError):
        store.add_review(pk, "maybe")
    store.add_event("r", "error", "api_error", "HTTP 429", {"attempt": 1})
    assert store.events("r")[0]["data"] == {"attempt": 1}


def test_store_llm_and_embedding_caches(store):
    assert store.llm_cache_get("k") is None
    store.llm_cache_put("k", model="m", request="{}", response={"text": "hi"}, prompt_tokens=3)
    assert store.llm_cache_get("k") == {"text": "hi"}
    vecs = {f"h{i}": np.arange(4, dtype=np.float32) + i for i in range(700)}
    store.embedding_cache_put("mini", vecs)
    got = store.embedding_cache_get("mini", ["h0", "h699", "missing"])
    assert set(got) == {"h0", "h699"}
    np.testing.assert_array_equal(got["h699"], vecs["h699"])
    assert store.embedding_cache_get("other-model", ["h0"]) == {}
