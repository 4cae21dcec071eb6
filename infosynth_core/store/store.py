"""SQLite store: seed sets, runs, problems with lineage, attempts, metrics, reviews, caches.

WAL mode (readers never block the writer), numbered migrations applied on open, and every
multi-row write inside one ``BEGIN IMMEDIATE`` transaction: an import or a generation step is
stored whole or not at all. Connections are per thread, so one ``Store`` may be shared by
the threads of a server (e.g. Streamlit's ``cache_resource``); a runner process opens its own.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, NotFoundError, SeedSetExistsError, StoreError
from ..ids import check_id
from ..problem import Origin, Problem
from ._sql import _dumps, utc_now
from .caches import CacheMixin
from .migrations import LATEST_VERSION, current_version, migrate
from .records import Attempt, RunRecordsMixin

__all__ = ["Store", "SeedSetInfo", "RunInfo", "StoredProblem", "Attempt", "utc_now"]

RUN_STATUSES = ("created", "running", "paused", "stopped", "finished", "failed")


@dataclass(frozen=True)
class SeedSetInfo:
    id: int
    name: str
    source: str
    format: str
    n_problems: int
    manifest: dict[str, Any]
    created_at: str


@dataclass(frozen=True)
class RunInfo:
    id: str
    name: str
    seed_set_id: int | None
    status: str
    config: dict[str, Any]
    control: str | None
    pid: int | None
    error: str | None
    created_at: str
    updated_at: str
    finished_at: str | None
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredProblem:
    """A problem with its row key (``pk``), the handle for attempts and reviews."""

    pk: int
    problem: Problem


_PROBLEM_COLS = (
    "id, problem, solution, tests, entry_point, topics, difficulty, operator, parents, "
    "generation, colony, status, review, metadata"
)


def _problem_values(p: Problem) -> tuple:
    """The values of ``_PROBLEM_COLS`` for a problem, in that order."""
    return (
        p.id,
        p.problem,
        p.solution,
        p.tests,
        p.entry_point,
        _dumps(list(p.topics)),
        p.difficulty,
        p.origin.operator,
        _dumps(list(p.origin.parents)),
        p.origin.generation,
        p.origin.colony,
        p.status,
        p.review,
        _dumps(p.metadata),
    )


def _problem_from_row(row: sqlite3.Row) -> Problem:
    return Problem.model_construct(
        id=row["id"],
        problem=row["problem"],
        solution=row["solution"],
        tests=row["tests"],
        entry_point=row["entry_point"],
        topics=tuple(json.loads(row["topics"])),
        difficulty=row["difficulty"],
        origin=Origin.model_construct(
            operator=row["operator"],
            parents=tuple(json.loads(row["parents"])),
            generation=row["generation"],
            colony=row["colony"],
        ),
        status=row["status"],
        review=row["review"],
        metadata=json.loads(row["metadata"]),
    )


class Store(RunRecordsMixin, CacheMixin):
    """The InfoSynth SQLite store.

    Parameters
    ----------
    path
        Database file; its folder is created if missing. Default ``data/infosynth.db``.
    timeout_s
        How long a writer waits for another writer's lock, in seconds (default 30).
    migrate_to
        Schema version to migrate to on open (default: latest). Tests use older versions.
    """

    def __init__(
        self,
        path: str | Path = Path("data") / "infosynth.db",
        *,
        timeout_s: float = 30.0,
        migrate_to: int | None = LATEST_VERSION,
    ):
        self.path = Path(path)
        self.timeout_s = timeout_s
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            if migrate_to is not None:
                migrate(conn, migrate_to)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"Cannot open the store at '{self.path}': {exc}. Point INFOSYNTH_DB (or --db) "
                "at another file, or move this one aside."
            ) from exc

    # ------------------------------------------------------------------ plumbing
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout_s * 1000)}")
            self._local.conn = conn
            self._local.depth = 0
        return conn

    @property
    def schema_version(self) -> int:
        return current_version(self._conn())

    def close(self) -> None:
        """Close this thread's connection (others close when their threads end)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (``BEGIN IMMEDIATE``); nested calls join the outer one."""
        conn = self._conn()
        if self._local.depth:
            self._local.depth += 1
            try:
                yield conn
            finally:
                self._local.depth -= 1
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        finally:
            self._local.depth = 0

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return self._conn().execute(sql, params).fetchall()

    # ------------------------------------------------------------------ problems
    @staticmethod
    def _owner(seed_set_id: int | None, run_id: str | None) -> tuple[str, int | str]:
        """The owner column and value; ``col = ?`` lets SQLite use the partial indexes."""
        return ("seed_set_id", seed_set_id) if seed_set_id is not None else ("run_id", run_id)

    def _insert_problems(
        self,
        conn: sqlite3.Connection,
        problems: Sequence[Problem],
        *,
        seed_set_id: int | None = None,
        run_id: str | None = None,
    ) -> list[int]:
        col, owner = self._owner(seed_set_id, run_id)
        start = conn.execute(
            f"SELECT COALESCE(MAX(position), -1) + 1 FROM problems WHERE {col} = ?", (owner,)
        ).fetchone()[0]
        now = utc_now()
        rows = [
            (*_problem_values(p), seed_set_id, run_id, p.content_hash, start + i, now)
            for i, p in enumerate(problems)
        ]
        try:
            conn.executemany(
                f"INSERT INTO problems ({_PROBLEM_COLS}, seed_set_id, run_id, content_hash, "
                "position, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
        except sqlite3.IntegrityError:
            seen: set[str] = set()
            dup = next((p.id for p in problems if p.id in seen or seen.add(p.id)), None)
            if dup is None:
                taken = {
                    r[0] for r in conn.execute(f"SELECT id FROM problems WHERE {col} = ?", (owner,))
                }
                dup = next((p.id for p in problems if p.id in taken), "?")
            where = f"run '{run_id}'" if run_id is not None else "this seed set"
            raise StoreError(
                f"Problem id '{dup}' is already in {where}; ids must be unique. Nothing was written."
            ) from None
        pks = [
            r[0]
            for r in conn.execute(
                f"SELECT pk FROM problems WHERE {col} = ? AND position >= ? ORDER BY position",
                (owner, start),
            )
        ]
        conn.executemany(
            "INSERT OR IGNORE INTO lineage (child_pk, parent_id) VALUES (?, ?)",
            [
                (pk, parent)
                for pk, p in zip(pks, problems, strict=True)
                for parent in p.origin.parents
            ],
        )
        return pks

    def problems(
        self, *, seed_set: str | None = None, run_id: str | None = None
    ) -> list[StoredProblem]:
        """Problems of one seed set or one run, in insertion order."""
        if (seed_set is None) == (run_id is None):
            raise ValueError("give exactly one of seed_set= or run_id=")
        if seed_set is not None:
            owner_sql, owner = "seed_set_id = ?", self.get_seed_set(seed_set).id
        else:
            owner_sql, owner = "run_id = ?", self.get_run(run_id).id
        rows = self._query(
            f"SELECT pk, {_PROBLEM_COLS} FROM problems WHERE {owner_sql} ORDER BY position",
            (owner,),
        )
        return [StoredProblem(r["pk"], _problem_from_row(r)) for r in rows]

    def get_problem(self, pk: int) -> StoredProblem:
        rows = self._query(f"SELECT pk, {_PROBLEM_COLS} FROM problems WHERE pk = ?", (pk,))
        if not rows:
            raise NotFoundError(f"No problem with pk={pk} in the store at '{self.path}'.")
        return StoredProblem(pk, _problem_from_row(rows[0]))

    def children(self, pk: int) -> list[StoredProblem]:
        """Problems in the same run or seed set that name problem ``pk`` as a parent."""
        parent = self._query("SELECT id, seed_set_id, run_id FROM problems WHERE pk = ?", (pk,))
        if not parent:
            raise NotFoundError(f"No problem with pk={pk} in the store at '{self.path}'.")
        pid, ss, run = parent[0]
        col, owner = self._owner(ss, run)
        rows = self._query(
            f"SELECT p.pk, {', '.join('p.' + c.strip() for c in _PROBLEM_COLS.split(','))} "
            "FROM lineage l JOIN problems p ON p.pk = l.child_pk "
            f"WHERE l.parent_id = ? AND p.{col} = ? ORDER BY p.position",
            (pid, owner),
        )
        return [StoredProblem(r["pk"], _problem_from_row(r)) for r in rows]

    # ------------------------------------------------------------------ seed sets
    def create_seed_set(
        self,
        name: str,
        problems: Sequence[Problem],
        *,
        source: str,
        format: str,
        manifest: dict[str, Any] | None = None,
        replace: bool = False,
    ) -> SeedSetInfo:
        """Store ``problems`` as the seed set ``name``, all or nothing.

        Raises SeedSetExistsError when the name is taken and ``replace`` is False.
        """
        name = name.strip()
        if not name:
            raise StoreError("A seed set needs a non-blank name; got ''.")
        if not problems:
            raise StoreError(f"Seed set '{name}' would be empty; import at least one problem.")
        with self.transaction() as conn:
            old = conn.execute("SELECT id FROM seed_sets WHERE name = ?", (name,)).fetchone()
            if old is not None:
                if not replace:
                    raise SeedSetExistsError(
                        f"A seed set named '{name}' already exists. Choose another name or "
                        "replace it (--replace in the CLI)."
                    )
                used = conn.execute(
                    "SELECT COUNT(*) FROM runs WHERE seed_set_id = ?", (old[0],)
                ).fetchone()[0]
                if used:
                    raise SeedSetExistsError(
                        f"Seed set '{name}' is used by {used} run(s) and cannot be replaced; "
                        "import under a new name."
                    )
                conn.execute("DELETE FROM seed_sets WHERE id = ?", (old[0],))
            cur = conn.execute(
                "INSERT INTO seed_sets (name, source, format, n_problems, manifest, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (name, source, format, len(problems), _dumps(manifest or {}), utc_now()),
            )
            self._insert_problems(conn, problems, seed_set_id=cur.lastrowid)
        return self.get_seed_set(name)

    @staticmethod
    def _seed_set_info(r: sqlite3.Row) -> SeedSetInfo:
        return SeedSetInfo(
            r["id"],
            r["name"],
            r["source"],
            r["format"],
            r["n_problems"],
            json.loads(r["manifest"]),
            r["created_at"],
        )

    def list_seed_sets(self) -> list[SeedSetInfo]:
        return [self._seed_set_info(r) for r in self._query("SELECT * FROM seed_sets ORDER BY id")]

    def has_seed_set(self, name: str) -> bool:
        return bool(self._query("SELECT 1 FROM seed_sets WHERE name = ?", (name,)))

    def get_seed_set(self, name: str) -> SeedSetInfo:
        rows = self._query("SELECT * FROM seed_sets WHERE name = ?", (name,))
        if not rows:
            known = ", ".join(s.name for s in self.list_seed_sets()) or "none yet"
            raise NotFoundError(f"No seed set named '{name}' (known: {known}).")
        return self._seed_set_info(rows[0])

    def seed_set_problems(self, name: str) -> list[Problem]:
        return [sp.problem for sp in self.problems(seed_set=name)]

    def delete_seed_set(self, name: str) -> None:
        """Delete a seed set and its problems; refused while a run uses it."""
        info = self.get_seed_set(name)
        with self.transaction() as conn:
            runs = [
                r[0] for r in conn.execute("SELECT id FROM runs WHERE seed_set_id = ?", (info.id,))
            ]
            if runs:
                raise StoreError(
                    f"Seed set '{name}' is used by run(s) {', '.join(runs)} and cannot be "
                    "deleted; delete those runs first."
                )
            conn.execute("DELETE FROM seed_sets WHERE id = ?", (info.id,))

    # ------------------------------------------------------------------ runs
    def create_run(
        self, *, run_id: str, seed_set: str | None, config: dict[str, Any], name: str = ""
    ) -> RunInfo:
        try:
            check_id(run_id)
        except ValueError as exc:
            raise ConfigError(
                f"The run id {exc}; run ids name files under the store's folder. Pick one "
                "such as 'run-ablation-1' or leave it out for a generated one."
            ) from None
        seed_set_id = self.get_seed_set(seed_set).id if seed_set is not None else None
        now = utc_now()
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                raise StoreError(f"A run with id '{run_id}' already exists; pick another id.")
            conn.execute(
                "INSERT INTO runs (id, name, seed_set_id, config, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, name, seed_set_id, _dumps(config), now, now),
            )
        return self.get_run(run_id)

    @staticmethod
    def _run_info(r: sqlite3.Row) -> RunInfo:
        return RunInfo(
            r["id"],
            r["name"],
            r["seed_set_id"],
            r["status"],
            json.loads(r["config"]),
            r["control"],
            r["pid"],
            r["error"],
            r["created_at"],
            r["updated_at"],
            r["finished_at"],
            json.loads(r["state"]) if "state" in r.keys() else {},
        )

    def list_runs(self) -> list[RunInfo]:
        return [self._run_info(r) for r in self._query("SELECT * FROM runs ORDER BY created_at")]

    def get_run(self, run_id: str) -> RunInfo:
        rows = self._query("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFoundError(f"No run with id '{run_id}' in the store at '{self.path}'.")
        return self._run_info(rows[0])

    def update_run(self, run_id: str, **changes: Any) -> RunInfo:
        """Set ``status``, ``control``, ``pid``, ``error`` or ``finished_at`` of a run."""
        allowed = {"status", "control", "pid", "error", "finished_at", "name"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(
                f"update_run got unknown field(s) {sorted(unknown)}; allowed {sorted(allowed)}"
            )
        if changes.get("status") not in (None, *RUN_STATUSES):
            raise ValueError(f"run status must be one of {RUN_STATUSES}; got {changes['status']!r}")
        self.get_run(run_id)
        sets = ", ".join(f"{k} = ?" for k in changes)
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE runs SET {sets}, updated_at = ? WHERE id = ?",
                (*changes.values(), utc_now(), run_id),
            )
        return self.get_run(run_id)

    def set_run_config(self, run_id: str, config: dict[str, Any]) -> None:
        """Replace a run's stored config (validated by the caller: ``runner.extend``)."""
        self._set_run_json(run_id, "config", config)

    def _set_run_json(self, run_id: str, column: str, value: dict[str, Any]) -> None:
        with self.transaction() as conn:
            cur = conn.execute(
                f"UPDATE runs SET {column} = ?, updated_at = ? WHERE id = ?",
                (_dumps(value), utc_now(), run_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"No run with id '{run_id}' in the store at '{self.path}'.")

    def run_control(self, run_id: str) -> str | None:
        """Only the control of a run (pause | stop | None): the runner's cheap per-step read."""
        rows = self._query("SELECT control FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise NotFoundError(f"No run with id '{run_id}' in the store at '{self.path}'.")
        return rows[0]["control"]

    def save_run_state(self, run_id: str, state: dict[str, Any]) -> None:
        """Replace the runner's checkpoint of a run (JSON-serializable ``state``)."""
        self._set_run_json(run_id, "state", state)

    def add_problems(self, run_id: str, problems: Sequence[Problem]) -> list[int]:
        """Append problems to a run in one transaction; returns their pks."""
        self.get_run(run_id)
        with self.transaction() as conn:
            return self._insert_problems(conn, problems, run_id=run_id)

    def update_problem(self, pk: int, problem: Problem) -> None:
        """Replace the stored content of problem ``pk`` (its owner and position stay)."""
        self.get_problem(pk)
        p = problem
        with self.transaction() as conn:
            conn.execute(
                f"UPDATE problems SET {', '.join(c.strip() + '=?' for c in _PROBLEM_COLS.split(','))}, "
                "content_hash=? WHERE pk=?",
                (*_problem_values(p), p.content_hash, pk),
            )
            conn.execute("DELETE FROM lineage WHERE child_pk = ?", (pk,))
            conn.executemany(
                "INSERT OR IGNORE INTO lineage (child_pk, parent_id) VALUES (?, ?)",
                [(pk, parent) for parent in p.origin.parents],
            )
