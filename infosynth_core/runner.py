"""The runner: one synthesis run in its own OS process, resumable, controlled through the store.

``infosynth run`` (or the dashboard, through :func:`spawn`) creates a run row and executes it.
The runner is the only writer of its run; it writes every step to SQLite as it happens and
reads ``runs.control`` between steps:

- ``pause``  → status ``paused`` until the control is cleared (``resume``) or set to stop;
- ``stop``   → status ``stopped`` after the current steps finish (SIGTERM does the same).

After ``kill -9`` the run row still says ``running`` with a dead pid; :func:`run_status` reports
it as ``interrupted`` and ``infosynth run --resume RUN_ID`` continues from the last checkpoint
(see ``evolve.py``). A budget cap reached mid-run ends with status ``stopped`` and the reason
in ``error``; a resumed run with a larger budget continues.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import os
import secrets
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .config import RunConfig, validated
from .errors import InfoSynthError, NotFoundError, RunControlError
from .store import RunInfo, Store
from .store._sql import utc_now

__all__ = [
    "create_run",
    "execute",
    "spawn",
    "request",
    "run_status",
    "pid_alive",
    "run_config_of",
    "benchmark_problems",
]

CONTROLS = ("pause", "resume", "stop")


def new_run_id() -> str:
    """A readable, unique run id: ``run-YYYYMMDD-HHMMSS-xxxx``."""
    now = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"run-{now}-{secrets.token_hex(2)}"


def pid_alive(pid: int | None) -> bool:
    """Whether a process with this pid exists (and is not a zombie)."""
    if not pid or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def create_run(store: Store, config: RunConfig, *, run_id: str | None = None) -> RunInfo:
    """Store a new run (status ``created``) for ``config``; the seed set must exist (the
    bundled set is created on first use)."""
    if config.seed_set == "bundled":
        from .seeds import ensure_bundled_seed_set

        ensure_bundled_seed_set(store)
    if not store.has_seed_set(config.seed_set):
        names = ", ".join(s.name for s in store.list_seed_sets()) or "none"
        raise NotFoundError(
            f"The run config's seed_set '{config.seed_set}' is not in the store (have: "
            f"{names}); import it first with `infosynth import FILE --name NAME`."
        )
    return store.create_run(
        run_id=run_id or new_run_id(),
        seed_set=config.seed_set,
        config=config.to_dict(),
        name=config.name,
    )


def run_config_of(run: RunInfo) -> RunConfig:
    """The validated config a run was created with."""
    return validated(RunConfig, run.config, what=f"config of run '{run.id}'")


def run_status(store: Store, run_id: str) -> dict[str, Any]:
    """Status for display: ``interrupted`` when the row says running/paused but its process
    is gone; plus progress (steps, ETA in seconds, verified) and cumulative usage."""
    run = store.get_run(run_id)
    status = run.status
    if status in ("running", "paused") and not pid_alive(run.pid):
        status = "interrupted"
    state = run.state or {}
    return {
        "id": run.id,
        "name": run.name,
        "status": status,
        "control": run.control,
        "pid": run.pid,
        "error": run.error,
        "progress": state.get("progress", {}),
        "usage": state.get("llm_spent", state.get("usage", {})),
        "generation": state.get("generation"),
        "verified": state.get("verified", 0),
    }


def request(store: Store, run_id: str, action: str) -> RunInfo:
    """Ask a run to ``pause``, ``resume`` (a paused one) or ``stop``, through its control row.

    Resuming an interrupted or stopped run needs a new runner process (:func:`spawn`)."""
    if action not in CONTROLS:
        raise RunControlError(f"Run control must be one of {', '.join(CONTROLS)}; got {action!r}.")
    run = store.get_run(run_id)
    if run.status in ("finished", "failed") and action != "resume":
        raise RunControlError(f"Run '{run_id}' is {run.status}; there is nothing to {action}.")
    if action == "resume":
        return store.update_run(run_id, control=None)
    return store.update_run(run_id, control=action)


def spawn(
    db_path: str | Path,
    run_id: str,
    *,
    log_path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Start ``python -m infosynth_core run --resume RUN_ID`` as a detached process (its own
    session, so closing the dashboard or the terminal does not stop it). Output goes to
    ``log_path`` (default: ``<db folder>/runs/<run_id>.log``). Returns the pid."""
    db_path = Path(db_path)
    log = Path(log_path) if log_path else db_path.parent / "runs" / f"{run_id}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ if environ is None else environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "infosynth_core", "run", "--resume", run_id, "--db", str(db_path)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    return proc.pid


def benchmark_problems(store: Store, run_id: str) -> list:
    """The run's benchmark: verified problems that are not cross-colony duplicates, as
    :class:`~infosynth_core.store.StoredProblem` in generation order."""
    return [
        sp
        for sp in store.problems(run_id=run_id)
        if sp.problem.status == "passed" and "duplicate_of" not in sp.problem.metadata
    ]


# ============================================================================ execution
def _claim(store: Store, run_id: str) -> RunInfo:
    run = store.get_run(run_id)
    if run.status in ("running", "paused") and pid_alive(run.pid) and run.pid != os.getpid():
        raise RunControlError(
            f"Run '{run_id}' is already being executed by process {run.pid}; stop it first "
            f"(`infosynth control {run_id} stop`) or wait for it."
        )
    if run.status == "finished":
        raise RunControlError(f"Run '{run_id}' has already finished; nothing to resume.")
    control = None if run.control == "stop" or run.status == "stopped" else run.control
    return store.update_run(run_id, status="running", pid=os.getpid(), error=None, control=control)


def _build_engine(config: RunConfig, store: Store, run_id: str, sandbox, environ, api_key):
    if config.engine == "offline":
        from .engines.offline import OfflineEngine

        return OfflineEngine(sandbox, random_state=config.random_state), None
    from .engines.base import Usage
    from .engines.llm import LLMEngine
    from .llm.client import LLMClient

    state = store.get_run(run_id).state or {}
    spent = Usage(**state.get("llm_spent", state.get("usage", {})))  # before a restart
    client = LLMClient(
        config.llm,
        store=store,
        run_id=run_id,
        api_key=api_key,
        environ=environ,
        spent=spent,
        random_state=config.random_state,
    )
    return LLMEngine(client, random_state=config.random_state), client


def execute(
    store: Store,
    run_id: str,
    *,
    progress: Callable[[dict[str, Any]], None] | None = None,
    environ: Mapping[str, str] | None = None,
    api_key: str | None = None,
    poll_s: float = 0.5,
) -> str:
    """Execute (or resume) a stored run in this process until it finishes, is stopped or
    spends its budget. Returns the final status: ``finished`` or ``stopped``.

    Every outcome is written to the run row; an unexpected error marks the run ``failed``
    with the message in ``error`` (and is raised again).
    """
    from .embed import DEFAULT_MODEL, Embedder
    from .evolve import Evolution
    from .sandbox import Limits, Sandbox
    from .topics import TopicTagger

    run = _claim(store, run_id)
    config = run_config_of(run)
    term = {"stop": False}

    def on_term(signum, frame):  # SIGTERM: stop cleanly between steps
        term["stop"] = True

    old_handler = None
    try:
        old_handler = signal.signal(signal.SIGTERM, on_term)
    except ValueError:  # not the main thread (tests, dashboard threads)
        old_handler = None

    paused = {"now": False}  # shared by the colonies, which all wait while paused

    async def control() -> str | None:
        while True:
            if term["stop"]:
                return "stop"
            current = store.run_control(run_id)
            if current == "stop":
                return "stop"
            if current == "pause":
                if not paused["now"]:
                    paused["now"] = True
                    store.update_run(run_id, status="paused")
                    store.add_event(run_id, "info", "control", "paused between steps")
                await asyncio.sleep(poll_s)
                continue
            if paused["now"]:
                paused["now"] = False
                store.update_run(run_id, status="running")
                store.add_event(run_id, "info", "control", "resumed")
            return None

    sandbox = Sandbox(
        workers=config.sandbox.workers,
        limits=Limits(timeout_s=config.sandbox.timeout_s, memory_mb=config.sandbox.memory_mb),
        isolation=config.sandbox.isolation,
    )
    if sandbox.warning:
        store.add_event(run_id, "warning", "sandbox", sandbox.warning)
    engine = client = None
    try:
        engine, client = _build_engine(config, store, run_id, sandbox, environ, api_key)
        model = config.metrics.embedding_model
        embedder = Embedder(DEFAULT_MODEL if model == "default" else model, store=store)
        if config.metrics.enabled:
            from .projection import warm_up

            warm_up()  # UMAP's JIT compile, in the background while the first steps run
        evo = Evolution(
            store,
            run_id,
            config,
            engine,
            sandbox,
            embedder=embedder,
            tagger=TopicTagger(embedder),
            control=control,
            progress=progress,
            spent=(lambda: client.meter.spent) if client is not None else None,
        )
        store.add_event(run_id, "info", "runner", f"runner started (pid {os.getpid()})")
        outcome = asyncio.run(_run_and_close(evo, engine))
    except BaseException as exc:
        message = str(exc) if isinstance(exc, InfoSynthError) else _describe(exc)
        status = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
        store.update_run(run_id, status=status, error=message[:4000])
        store.add_event(run_id, "error", "runner", message[:4000])
        raise
    finally:
        sandbox.close()
        if old_handler is not None:
            signal.signal(signal.SIGTERM, old_handler)
    if outcome == "finished":
        store.update_run(run_id, status="finished", control=None, finished_at=utc_now())
        store.add_event(run_id, "info", "runner", "run finished")
        return "finished"
    if outcome == "budget":
        message = "stopped: the run's budget is spent (raise llm.budget_* and resume to go on)"
        store.update_run(run_id, status="stopped", error=message)
        store.add_event(run_id, "warning", "runner", message)
        return "stopped"
    store.update_run(run_id, status="stopped", control=None)
    store.add_event(run_id, "info", "runner", "run stopped on request")
    return "stopped"


async def _run_and_close(evo, engine) -> str:
    try:
        return await evo.run()
    finally:
        await engine.aclose()


def _describe(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"
