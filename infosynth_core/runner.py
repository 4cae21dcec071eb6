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

from .apikeys import KEY_FD_VAR, child_environment, key_pipe
from .config import RunConfig, config_value, validated
from .errors import ConfigError, InfoSynthError, NotFoundError, RunControlError
from .ids import check_id
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
    "extend",
    "config_changes",
    "EXTENDABLE",
]

#: settings a run may change between sessions (continue / extend a stopped or finished run)
EXTENDABLE = ("llm.budget_tokens", "llm.budget_usd", "generations", "n_problems")

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
    is gone; plus progress (steps, ETA in seconds, verified), what the endpoint billed
    (``usage``: the spend ledger, :func:`spend_of`) and ``endpoint``: failed API tries
    (``faults``, ``retries``, ``by_kind``) and ``paid_twice`` answers."""
    run = store.get_run(run_id)
    status = run.status
    if status in ("running", "paused") and not pid_alive(run.pid):
        status = "interrupted"
    state = run.state or {}
    spend = spend_of(store, run_id)
    return {
        "id": run.id,
        "name": run.name,
        "status": status,
        "control": run.control,
        "pid": run.pid,
        "error": run.error,
        "progress": state.get("progress", {}),
        "usage": spend if spend["calls"] else state.get("usage", {}),
        "generation": state.get("generation"),
        "verified": state.get("verified", 0),
        "endpoint": {**store.api_fault_counts(run_id), "paid_twice": spend["paid_twice"]},
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


def extend(
    store: Store, run_id: str, changes: Mapping[str, Any], *, who: str = "cli"
) -> dict[str, list[Any]]:
    """Change what a stopped, interrupted or finished run may still do, so it can continue:
    raise (or set) ``llm.budget_tokens`` / ``llm.budget_usd``, add ``generations``, raise
    ``n_problems`` (:data:`EXTENDABLE`; dotted keys). The new config is validated whole; the
    change is a run event (kind ``config``: who, when, ``{key: [old, new]}``) and goes into
    exports' manifests (:func:`config_changes`). A finished run becomes ``stopped`` so that
    ``infosynth run --resume`` (or the dashboard's Continue) continues it; problems left
    ``unverified`` by the stop are verified then. Returns ``{key: [old, new]}`` of the
    settings that changed.

    Raises ConfigError for a key outside :data:`EXTENDABLE`, a value the config refuses, or
    ``generations`` below the generation the run has reached; RunControlError while the
    run's process is running (stop or pause it first).
    """
    unknown = sorted(set(changes) - set(EXTENDABLE))
    if unknown:
        raise ConfigError(
            f"Only {', '.join(EXTENDABLE)} can change when a run continues; got {unknown}. "
            "Start a new run for other settings."
        )
    run = store.get_run(run_id)
    if run.status in ("running", "paused") and pid_alive(run.pid) and run.pid != os.getpid():
        raise RunControlError(
            f"Run '{run_id}' is {run.status} in process {run.pid}; stop it first "
            f"(`infosynth control {run_id} stop`), then change its settings and continue it."
        )
    old_config = run.config
    flat = dict(changes)  # None for a budget = no cap
    if "llm.budget_tokens" in flat or "llm.budget_usd" in flat:
        if not old_config.get("llm"):
            raise ConfigError(
                f"Run '{run_id}' uses the {old_config.get('engine', 'offline')} engine, which "
                "has no budget; only generations and n_problems can change."
            )
    new = run_config_of(run).to_dict()
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = new
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    config = validated(RunConfig, new, what=f"new settings of run '{run_id}'")
    reached = int((run.state or {}).get("generation") or 1)
    if config.generations < min(reached, run_config_of(run).generations):
        raise ConfigError(
            f"generations = {config.generations} is below generation {reached}, which run "
            f"'{run_id}' has already reached; give at least {reached}."
        )
    new_dict = config.to_dict()
    diff = {
        k: [config_value(old_config, k), config_value(new_dict, k)]
        for k in EXTENDABLE
        if config_value(old_config, k) != config_value(new_dict, k)
    }
    if not diff:
        return {}
    store.set_run_config(run_id, new_dict)
    if run.status == "finished":
        store.update_run(run_id, status="stopped", finished_at=None)
    if run.error and "budget" in run.error:
        store.update_run(run_id, error=None)
    described = ", ".join(f"{k} {old!r} → {new!r}" for k, (old, new) in diff.items())
    store.add_event(
        run_id, "info", "config", f"settings changed by {who}: {described}",
        {"changes": diff, "who": who},
    )  # fmt: skip
    return diff


def config_changes(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The run's settings changes (:func:`extend`), oldest first: ``{"at", "who",
    "changes": {key: [old, new]}}``."""
    return [
        {"at": e["created_at"], "who": e["data"].get("who"), "changes": e["data"]["changes"]}
        for e in store.events(run_id)
        if e["kind"] == "config" and "changes" in e["data"]
    ]


def run_file(db_path: str | Path, run_id: str, suffix: str = ".log") -> Path:
    """The path of a runner file of ``run_id`` (its log, its evaluation log): always
    ``<db folder>/runs/<run_id><suffix>``, inside the store's folder.

    Raises ConfigError when the run id is not a safe id (see :mod:`infosynth_core.ids`)
    or the path would leave that folder.
    """
    try:
        check_id(run_id)
    except ValueError as exc:
        raise ConfigError(f"The run id {exc}; run files are named after it.") from None
    folder = (Path(db_path).resolve().parent / "runs").resolve()
    path = (folder / f"{run_id}{suffix}").resolve()
    if path.parent != folder:
        raise ConfigError(
            f"The run file '{run_id}{suffix}' would be written outside {folder}; use a plain "
            "suffix such as '.log'."
        )
    return path


def launch(cmd: list[str], log: Path, *, keys: Mapping[str, str] | None = None) -> int:
    """Start ``cmd`` detached (its own session, so closing the dashboard or the terminal does
    not stop it), output appended to ``log``. Returns the pid.

    API keys (``keys``, and any secret-looking variable of this process) reach the child
    through an inherited pipe, never its environment (see :mod:`infosynth_core.apikeys`):
    the child spawns sandboxed test code, which must not find them in ``/proc``.
    """
    env, handover = child_environment(dict(keys or {}))
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    fd = key_pipe(handover)
    if fd is not None:
        env[KEY_FD_VAR] = str(fd)
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                close_fds=True,
                pass_fds=(fd,) if fd is not None else (),
            )
    finally:
        if fd is not None:
            os.close(fd)
    return proc.pid


def spawn(db_path: str | Path, run_id: str, *, keys: Mapping[str, str] | None = None) -> int:
    """Start ``python -m infosynth_core run --resume RUN_ID`` in the background
    (:func:`launch`); output goes to ``<db folder>/runs/<run_id>.log``. ``keys`` maps
    variable names to API keys for the runner (a key typed in the dashboard). Returns the
    pid."""
    cmd = [sys.executable, "-m", "infosynth_core", "run", "--resume", run_id, "--db", str(db_path)]
    return launch(cmd, run_file(db_path, run_id), keys=keys)


def benchmark_problems(store: Store, run_id: str) -> list:
    """The run's benchmark: verified problems that are neither cross-colony duplicates nor
    degenerate (:func:`~infosynth_core.evolve_records.is_benchmark_item`), as
    :class:`~infosynth_core.store.StoredProblem` in generation order."""
    from .evolve_records import is_benchmark_item

    return [sp for sp in store.problems(run_id=run_id) if is_benchmark_item(sp.problem)]


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
    # A stop left from an earlier session is cleared by resuming; one asked for before the
    # runner first started (status "created") is obeyed at its first step.
    stale = run.status != "created" and (run.control == "stop" or run.status == "stopped")
    control = None if stale else run.control
    return store.update_run(run_id, status="running", pid=os.getpid(), error=None, control=control)


def _build_engine(config: RunConfig, store: Store, run_id: str, sandbox, environ, api_key):
    if config.engine == "offline":
        from .engines.offline import OfflineEngine

        return OfflineEngine(sandbox, random_state=config.random_state), None
    from .engines.llm import LLMEngine
    from .llm.client import LLMClient, ledger_usage

    client = LLMClient(
        config.llm,
        store=store,
        run_id=run_id,
        api_key=api_key,
        environ=environ,
        spent=ledger_usage(spend_of(store, run_id)),  # the ledger (or an older run's checkpoint)
        random_state=config.random_state,
    )
    return LLMEngine(client, random_state=config.random_state), client


def spend_of(store: Store, run_id: str) -> dict[str, Any]:
    """What the run's model endpoint billed: the ledger's sum (:meth:`Store.llm_spend`),
    or the checkpoint's ``llm_spent`` for a run older than the ledger; keys ``calls``,
    ``prompt_tokens``, ``completion_tokens``, ``cost_usd`` (US dollars), ``paid_twice``."""
    spend = store.llm_spend(run_id)
    if not spend["calls"]:
        state = store.get_run(run_id).state or {}
        legacy = state.get("llm_spent") or {}
        for key in ("calls", "prompt_tokens", "completion_tokens", "cost_usd"):
            spend[key] = legacy.get(key, spend[key])
    return spend


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
    spends its budget. Returns the final status: ``finished``, ``stopped`` or ``failed``.

    Every outcome is written to the run row; an unexpected error marks the run ``failed``
    with the message in ``error`` (and is raised again). A run that produced nothing because
    its model endpoint failed ends ``failed`` too, with the reason (:func:`endpoint_failure`),
    and returns ``"failed"``.
    """
    from .embed import Embedder, resolve_model
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
    for warning in (sandbox.warning, sandbox.caps_warning):
        if warning:
            store.add_event(run_id, "warning", "sandbox", warning)
    engine = client = None
    try:
        engine, client = _build_engine(config, store, run_id, sandbox, environ, api_key)
        embedder = Embedder(resolve_model(config.metrics.embedding_model), store=store)
        if config.metrics.enabled:
            from .metrics_worker import warm

            warm()  # UMAP's JIT compile, in the metrics process while the first steps run
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
    failure = endpoint_failure(store.get_run(run_id).state or {}, outcome)
    if failure is not None:
        store.update_run(run_id, status="failed", control=None, error=failure)
        store.add_event(run_id, "error", "runner", failure)
        return "failed"
    if outcome == "finished":
        store.update_run(run_id, status="finished", control=None, finished_at=utc_now())
        store.add_event(run_id, "info", "runner", "run finished")
        return "finished"
    if outcome == "budget":
        message = (
            "stopped: the run's budget is spent; to go on, raise it (`infosynth control "
            f"{run_id} set llm.budget_tokens=…`, or Continue on the Synthesize page) and "
            "resume the run"
        )
        store.update_run(run_id, status="stopped", error=message)
        store.add_event(run_id, "warning", "runner", message)
        return "stopped"
    store.update_run(run_id, status="stopped", control=None)
    store.add_event(run_id, "info", "runner", "run stopped on request")
    return "stopped"


def endpoint_failure(state: dict[str, Any], outcome: str) -> str | None:
    """Why a run whose model endpoint failed must end ``failed``, or None.

    A run fails for its endpoint when the loop gave up on it (``outcome ==
    "endpoint_failed"``: no call ever succeeded and it kept failing), or when it ran to its
    end with no verified problem and at least one call lost to an API error. The message
    gives the counts (the same as the run's ``api_error`` events) and the last error.
    """
    tally = state.get("endpoint") or {}
    lost = tally.get("steps_lost", 0) + tally.get("verifications_lost", 0)
    if outcome != "endpoint_failed" and not (
        outcome == "finished" and state.get("verified", 0) == 0 and lost > 0
    ):
        return None
    steps = tally.get("steps_lost", 0) + tally.get("steps_answered", 0)
    return (
        f"failed: the model endpoint failed — {tally.get('steps_lost', 0)} of {steps} "
        f"operator step(s) and {tally.get('verifications_lost', 0)} verification(s) were lost "
        f"to API errors and no problem was verified. Last error: "
        f"{tally.get('last_error') or 'unknown'}. Check llm.base_url, llm.model and the API "
        "key, then resume the run (`infosynth run --resume ID`) or start a new one."
    )


async def _run_and_close(evo, engine) -> str:
    try:
        return await evo.run()
    finally:
        await engine.aclose()


def _describe(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"
