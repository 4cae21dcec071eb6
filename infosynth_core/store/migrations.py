"""Numbered schema migrations of the SQLite store.

The schema version lives in ``PRAGMA user_version``. Migration ``n`` takes a database at
version ``n - 1`` to version ``n``; each one runs in its own transaction, so a failed
migration leaves the file at the previous version. Never edit a released migration: add one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

__all__ = ["MIGRATIONS", "LATEST_VERSION", "current_version", "migrate"]

_V1 = """
CREATE TABLE seed_sets (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    source      TEXT NOT NULL,          -- file name, 'bundled', or a URL
    format      TEXT NOT NULL,          -- canonical | mbpp | humaneval | leetcodedataset | ...
    n_problems  INTEGER NOT NULL,
    manifest    TEXT NOT NULL DEFAULT '{}',   -- JSON
    created_at  TEXT NOT NULL
);

CREATE TABLE runs (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL DEFAULT '',
    seed_set_id  INTEGER REFERENCES seed_sets(id) ON DELETE RESTRICT,
    status       TEXT NOT NULL DEFAULT 'created',   -- created|running|paused|stopped|finished|failed
    config       TEXT NOT NULL DEFAULT '{}',        -- JSON of the validated run config
    control      TEXT,                              -- pause | stop | NULL (read between steps)
    pid          INTEGER,
    error        TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    finished_at  TEXT
);

CREATE TABLE problems (
    pk           INTEGER PRIMARY KEY,
    id           TEXT NOT NULL,
    seed_set_id  INTEGER REFERENCES seed_sets(id) ON DELETE CASCADE,
    run_id       TEXT REFERENCES runs(id) ON DELETE CASCADE,
    problem      TEXT NOT NULL,
    solution     TEXT,
    tests        TEXT,
    entry_point  TEXT,
    topics       TEXT NOT NULL DEFAULT '[]',        -- JSON list
    difficulty   TEXT,
    operator     TEXT NOT NULL DEFAULT 'seed',
    parents      TEXT NOT NULL DEFAULT '[]',        -- JSON list of problem ids
    generation   INTEGER NOT NULL DEFAULT 0,
    colony       INTEGER,
    status       TEXT NOT NULL DEFAULT 'unverified',
    review       TEXT NOT NULL DEFAULT 'pending',
    metadata     TEXT NOT NULL DEFAULT '{}',        -- JSON
    content_hash TEXT NOT NULL,
    position     INTEGER NOT NULL,                  -- order within its seed set or run
    created_at   TEXT NOT NULL,
    CHECK ((seed_set_id IS NULL) <> (run_id IS NULL))
);
CREATE UNIQUE INDEX problems_seed_set_id ON problems(seed_set_id, id) WHERE seed_set_id IS NOT NULL;
CREATE UNIQUE INDEX problems_run_id ON problems(run_id, id) WHERE run_id IS NOT NULL;
CREATE INDEX problems_seed_set_position ON problems(seed_set_id, position) WHERE seed_set_id IS NOT NULL;
CREATE INDEX problems_run_position ON problems(run_id, position) WHERE run_id IS NOT NULL;

CREATE TABLE lineage (
    child_pk   INTEGER NOT NULL REFERENCES problems(pk) ON DELETE CASCADE,
    parent_id  TEXT NOT NULL,
    PRIMARY KEY (child_pk, parent_id)
);
CREATE INDEX lineage_parent ON lineage(parent_id);

CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY,
    problem_pk  INTEGER NOT NULL REFERENCES problems(pk) ON DELETE CASCADE,
    round       INTEGER NOT NULL,
    status      TEXT NOT NULL,          -- passed|failed|error|timeout|unparsable
    solution    TEXT,
    tests       TEXT,
    outcomes    TEXT NOT NULL DEFAULT '{}',   -- JSON: test name -> outcome
    output      TEXT NOT NULL DEFAULT '',     -- sanitized, capped stdout/stderr
    duration_s  REAL,
    details     TEXT NOT NULL DEFAULT '{}',   -- JSON: isolation level, limits, coverage, asserts
    created_at  TEXT NOT NULL
);
CREATE INDEX attempts_problem ON attempts(problem_pk);

CREATE TABLE generation_metrics (
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    generation  INTEGER NOT NULL,
    data        TEXT NOT NULL,          -- JSON: counts per operator, tokens, seconds, metrics
    created_at  TEXT NOT NULL,
    PRIMARY KEY (run_id, generation)
);

CREATE TABLE reviews (
    id          INTEGER PRIMARY KEY,
    problem_pk  INTEGER NOT NULL REFERENCES problems(pk) ON DELETE CASCADE,
    decision    TEXT NOT NULL,          -- accepted | rejected | pending | edited
    note        TEXT NOT NULL DEFAULT '',
    changes     TEXT NOT NULL DEFAULT '{}',   -- JSON: field -> [old, new] for edits
    created_at  TEXT NOT NULL
);
CREATE INDEX reviews_problem ON reviews(problem_pk);
"""

_V2 = """
CREATE TABLE llm_cache (
    key               TEXT PRIMARY KEY,  -- sha256 of canonical JSON (model, messages, params, prompt version)
    model             TEXT NOT NULL,
    request           TEXT NOT NULL,     -- the canonical JSON itself
    response          TEXT NOT NULL,     -- JSON of the completion
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL
);

CREATE TABLE embedding_cache (
    model      TEXT NOT NULL,
    text_hash  TEXT NOT NULL,            -- sha256 of the embedded text
    dim        INTEGER NOT NULL,
    vector     BLOB NOT NULL,            -- float32, little-endian
    created_at TEXT NOT NULL,
    PRIMARY KEY (model, text_hash)
);

CREATE TABLE run_events (
    id         INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    level      TEXT NOT NULL,            -- info | warning | error
    kind       TEXT NOT NULL,            -- api_error | parse_error | sandbox | progress | ...
    message    TEXT NOT NULL,
    data       TEXT NOT NULL DEFAULT '{}',
    created_at TEXT NOT NULL
);
CREATE INDEX run_events_run ON run_events(run_id, id);
CREATE INDEX problems_content_hash ON problems(content_hash);
"""

_V3 = """
-- The runner's checkpoint: colony pools, random states, step counters, progress (JSON).
ALTER TABLE runs ADD COLUMN state TEXT NOT NULL DEFAULT '{}';
"""


def _v4_safe_ids(conn: sqlite3.Connection) -> None:
    """Rename problem ids that break :data:`infosynth_core.ids.ID_RULE` (stores written before
    ids were checked: ``HumanEval/0`` → ``HumanEval-0``), everywhere they are referenced.

    Within each seed set or run the new id is :func:`~infosynth_core.ids.safe_id_from` of the
    old one (``-2``, ``-3`` … on a clash); the old id is kept in ``metadata.source_id`` unless
    one is there. Parents lists and the colony pools of run checkpoints follow: a run's
    references resolve through its own renames, then its seed set's.
    """
    from ..ids import is_safe_id, safe_id_from

    rows = conn.execute("SELECT pk, id, seed_set_id, run_id, metadata FROM problems").fetchall()
    taken: dict[tuple, set[str]] = {}
    for _pk, pid, seed_set_id, run_id, _meta in rows:
        taken.setdefault((seed_set_id, run_id), set()).add(pid)
    renames: dict[tuple, dict[str, str]] = {}
    for pk, pid, seed_set_id, run_id, meta in rows:
        if is_safe_id(pid):
            continue
        owner = (seed_set_id, run_id)
        base = new = safe_id_from(pid)
        n = 1
        while new in taken[owner]:
            n += 1
            new = f"{base[:190]}-{n}"
        taken[owner].add(new)
        renames.setdefault(owner, {})[pid] = new
        data = json.loads(meta or "{}")
        data.setdefault("source_id", pid)
        conn.execute(
            "UPDATE problems SET id = ?, metadata = ? WHERE pk = ?", (new, json.dumps(data), pk)
        )
    if not renames:
        return
    run_seed = dict(conn.execute("SELECT id, seed_set_id FROM runs").fetchall())

    def lookup(run_id, seed_set_id):
        mine = renames.get((None, run_id), {}) if run_id is not None else {}
        seed = renames.get((run_seed.get(run_id) if run_id else seed_set_id, None), {})
        return lambda i: mine.get(i, seed.get(i, i))

    for pk, parents, seed_set_id, run_id in conn.execute(
        "SELECT pk, parents, seed_set_id, run_id FROM problems"
    ).fetchall():
        old = json.loads(parents or "[]")
        new = [lookup(run_id, seed_set_id)(i) for i in old]
        if new != old:
            conn.execute("UPDATE problems SET parents = ? WHERE pk = ?", (json.dumps(new), pk))
    for run_id, state in conn.execute("SELECT id, state FROM runs").fetchall():
        data = json.loads(state or "{}")
        colonies = data.get("colonies") or []
        to_new = lookup(run_id, None)
        changed = False
        for col in colonies:
            pool = [to_new(i) for i in col.get("pool", [])]
            changed |= pool != col.get("pool", [])
            col["pool"] = pool
        if changed:
            conn.execute("UPDATE runs SET state = ? WHERE id = ?", (json.dumps(data), run_id))


_V5 = """
-- The spend ledger: one row per billed LLM answer, written in the transaction that caches it
-- (a run's spend is the sum of its rows; see infosynth_core.llm.client).
CREATE TABLE llm_spend (
    id                INTEGER PRIMARY KEY,
    run_id            TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    scope             TEXT NOT NULL DEFAULT 'run',  -- run | evaluation
    key               TEXT NOT NULL,                -- the llm_cache key it answered
    purpose           TEXT NOT NULL,                -- mutation | crossover | solve | feedback | ...
    prompt_tokens     INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    cost_usd          REAL NOT NULL,
    estimated         INTEGER NOT NULL DEFAULT 0,   -- 1: the server reported no token counts
    created_at        TEXT NOT NULL
);
CREATE INDEX llm_spend_run ON llm_spend(run_id, scope);
"""


#: version -> SQL script (or a function of the connection, run inside the same transaction)
#: taking the database from version - 1 to version
MIGRATIONS: dict[int, str | Callable[[sqlite3.Connection], None]] = {
    1: _V1,
    2: _V2,
    3: _V3,
    4: _v4_safe_ids,
    5: _V5,
}
LATEST_VERSION = max(MIGRATIONS)


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in the database file (0 for a new file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Apply the missing migrations up to ``target`` (default: latest); return the version.

    Each migration runs inside ``BEGIN IMMEDIATE … COMMIT`` together with its
    ``user_version`` bump, so concurrent openers serialise and a failure rolls back whole.
    """
    target = LATEST_VERSION if target is None else target
    if target not in MIGRATIONS and target != 0:
        raise ValueError(f"unknown schema version {target}; known: {sorted(MIGRATIONS)}")
    version = current_version(conn)
    while version < target:
        nxt = version + 1
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            if current_version(conn) >= nxt:
                conn.execute("COMMIT")
                version = current_version(conn)
                continue
            step = MIGRATIONS[nxt]
            if callable(step):
                step(conn)
            else:
                for statement in _split_sql(step):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {nxt}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version = nxt
    return version


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (our scripts hold no ';' inside literals)."""
    lines = [ln.split("--", 1)[0] for ln in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
